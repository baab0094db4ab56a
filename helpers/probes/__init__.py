"""Observation from the host into namespaces. Probes return facts and know nothing of expectations."""
