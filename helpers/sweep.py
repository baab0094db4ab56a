"""Remove what crashed runs left behind, in dependency order, and forget those runs.

Only runs whose owner process is gone are touched (:func:`netconform.runs.stale_runs`), and of
those only resources carrying their label or their ``nc-<run>-`` name.
"""

from __future__ import annotations

import docker

from netconform.daemon import sweep_stale_daemons
from netconform.engine import sweep as sweep_docker_objects
from netconform.errors import EnvironmentProblem, NetconformError
from netconform.isolation_lock import IsolationLock
from netconform.probes.nftrace import sweep_stale_traces
from netconform.runs import REGISTRY, stale_runs
from netconform.sentinel import sweep_stale_sentinels


def sweep_stale(client: docker.DockerClient, daemon_netns: str) -> list[str]:
    """Dedicated daemons, sentinels, then labelled containers/networks on ``client``'s daemon.

    Returns:
        One line per removed resource.

    Raises:
        EnvironmentProblem: something stale could not be removed (the rest still is).
    """
    removed: list[str] = []
    problems: list[str] = []
    stale = set(stale_runs())
    try:
        removed.extend(sweep_stale_daemons())
        removed.extend(sweep_stale_sentinels([daemon_netns]))
        removed.extend(sweep_stale_traces(daemon_netns))
    except NetconformError as err:
        problems.append(str(err))
    removed.extend(sweep_docker_objects(client, lock=IsolationLock(daemon_netns)))
    if not problems:
        for run_id in stale:
            (REGISTRY / run_id).unlink(missing_ok=True)
    if problems:
        raise EnvironmentProblem("leftovers of crashed runs could not be removed: " + "; ".join(problems))
    return removed
