"""Swarm scenarios run on a lab swarm (``netconform swarm run``), never on the daemon under test.

``pytest suites`` (``./ci/conform``) must not collect them as single-daemon scenarios.
"""

collect_ignore_glob = ["*.yaml"]
