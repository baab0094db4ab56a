"""Observation from the host into namespaces: facts and probes, with no knowledge of specs or verdicts."""
