"""Remove what crashed runs left behind, in dependency order, and forget those runs.

Only runs whose owner process is gone are touched (:func:`netconform.hermetic.runs.stale_runs`), and of
those only resources carrying their label or their ``nc-<run>-`` name.
"""

from __future__ import annotations

import docker

from netconform.engine.builder import sweep as sweep_docker_objects
from netconform.errors import EnvironmentProblem, NetconformError
from netconform.hermetic.daemon_sweep import sweep_stale_daemons
from netconform.hermetic.runs import REGISTRY, stale_runs
from netconform.hermetic.sentinel_sweep import sweep_stale_sentinels
from netconform.hermetic.swarm_lab import sweep_stale_labs
from netconform.observe.nftrace import sweep_stale_traces


def sweep_stale(client: docker.DockerClient, daemon_netns: str, *, dry_run: bool = False) -> list[str]:
    """Dedicated daemons, sentinels, then labelled containers/networks on ``client``'s daemon.

    Args:
        client: the daemon whose labelled containers and networks are considered.
        daemon_netns: that daemon's network namespace (sentinel veths, trace tables).
        dry_run: only list what would be removed; nothing is changed and no run is forgotten.

    Returns:
        One line per removed (or, with ``dry_run``, removable) resource.

    Raises:
        EnvironmentProblem: something stale could not be removed (the rest still is).
    """
    removed: list[str] = []
    problems: list[str] = []
    stale = set(stale_runs())
    try:
        removed.extend(f"daemon {key}" for key in sweep_stale_daemons(dry_run=dry_run))
        removed.extend(f"swarm lab underlay {name}" for name in sweep_stale_labs(dry_run=dry_run))
        removed.extend(sweep_stale_sentinels([daemon_netns], dry_run=dry_run))
        removed.extend(sweep_stale_traces(daemon_netns, dry_run=dry_run))
    except NetconformError as err:
        problems.append(str(err))
    removed.extend(sweep_docker_objects(client, dry_run=dry_run))
    if not problems:
        for run_id in sorted(stale):
            if not dry_run:
                (REGISTRY / run_id).unlink(missing_ok=True)
            removed.append(f"run record {REGISTRY / run_id}")
    if problems:
        raise EnvironmentProblem("leftovers of crashed runs could not be removed: " + "; ".join(problems))
    return removed
