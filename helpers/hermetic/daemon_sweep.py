"""Dedicated daemons that outlived their starter: stale ones swept, detached ones stopped by name.

A daemon is stale when the run it belongs to is (its owner process is gone,
:mod:`netconform.hermetic.runs`). A detached daemon (``netconform daemon start``) has a run of its
own, owned by dockerd itself, so it is alive while it runs and is stopped by name.
"""

from __future__ import annotations

from netconform.errors import EnvironmentProblem, NetconformError
from netconform.hermetic.daemon_paths import RUN_DIR, DaemonPaths, daemon_keys, detached_keys
from netconform.hermetic.daemon_teardown import remove_leftovers, stop_dockerd
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity, stale_runs, unregister


def sweep_stale_daemons(stop_timeout: float = 20.0, *, dry_run: bool = False) -> list[str]:
    """Stop and remove the dedicated daemons of runs whose owner process is gone.

    A detached daemon's run existed for it alone, so that run is unregistered too. Only places
    named by :class:`DaemonPaths` are considered (``/run/netconform/daemons/<run>-<name>``,
    ``/var/lib/netconform/daemons/<run>-<name>``) and, for each, its netns, cgroups and processes.
    With ``dry_run`` nothing is stopped or removed.

    Returns:
        The keys (``<run>-<name>``) that were swept (or would be).

    Raises:
        EnvironmentProblem: some leftovers could not be removed; the message names them.
    """
    keys = daemon_keys(stale_runs())
    if dry_run:
        return keys
    problems = []
    for key in keys:
        paths = DaemonPaths(key)
        detached = paths.detached
        try:
            stop_dockerd(paths, None, None, stop_timeout)
            remove_leftovers(paths, keep=False)
        except EnvironmentProblem as err:
            problems.append(str(err))
        else:
            if detached:  # the run existed for this daemon alone
                unregister(RunIdentity(paths.run_id, 0, "0"))
    if problems:
        raise EnvironmentProblem("; ".join(problems))
    return keys


def stop_detached(name: str) -> str:
    """Stop the daemon a ``start`` in another process (the CLI) left running; return its key.

    Raises:
        NetconformError: no such daemon, or several of that name.
    """
    detached = detached_keys(name)
    if len(detached) != 1:
        found = ", ".join(detached) or "none"
        raise NetconformError(f"expected one detached daemon named {name!r} in {RUN_DIR}, found: {found}")
    daemon = DedicatedDaemon.attach(detached[0])
    try:
        daemon.stop()
    finally:
        unregister(daemon.run)
    return detached[0]
