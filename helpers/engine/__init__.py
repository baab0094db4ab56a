"""Build and tear down a scenario's networks and containers on the daemon under test."""
