"""What keeps a run hermetic: entering namespaces, the sentinel host, dedicated daemons, run identity, cleanup."""
