"""Runs across a fleet of Docker hosts: HOSTS.yaml, the helper image, one run per host, the merged report."""
