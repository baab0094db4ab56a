"""Removing what the engine created: one object quietly (a removal that fails is noted, not raised),
and the sweep of labelled objects crashed runs left behind."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import docker
import docker.errors
import requests.exceptions

from netconform.errors import DaemonUnavailable
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.hermetic.runs import LABEL_OWNER, LABEL_RUN, owner_alive

LABEL_WORKER = "io.netconform.worker"
# What a client raises when the daemon does not answer at all (stopped, socket gone).
_NO_ANSWER = (docker.errors.DockerException, requests.exceptions.RequestException)


def remove_quietly(action: Callable[..., Any], problems: list[str], what: str, **kwargs: Any) -> None:
    try:
        action(**kwargs)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as err:
        problems.append(f"{what}: {err.explanation or err}")
    except _NO_ANSWER as err:
        problems.append(f"{what}: the daemon does not answer ({type(err).__name__})")


def changing_networks(lock: IsolationLock | None, what: str) -> contextlib.AbstractContextManager[None]:
    return lock.network_change(what) if lock is not None else contextlib.nullcontext()


def sweep(client: docker.DockerClient, run_id: str | None = None, worker: str | None = None, *,
          dry_run: bool = False) -> list[str]:
    """Remove labelled containers and networks of dead runs (or of ``run_id``).

    Only objects carrying netconform's run label are considered; of those, only the ones whose
    owner process is gone, unless ``run_id`` names the run to remove (and ``worker`` one xdist
    worker's share of it: a worker that finishes early must not remove its siblings' scenarios).
    With ``dry_run`` nothing is removed, only listed.

    Returns:
        One line per removed (or removable) object: ``"container <name>"``, ``"network <name>"``.

    Raises:
        DaemonUnavailable: the daemon does not answer (what it holds stays labelled for a later sweep).
    """
    try:
        return _sweep(client, run_id, worker, dry_run)
    except _NO_ANSWER as err:
        which = f"run {run_id}'s" if run_id else "stale runs'"
        raise DaemonUnavailable(f"the Docker daemon does not answer ({type(err).__name__}), so {which} containers "
                                "and networks stay with it, labelled: the next run on it (or netconform sweep) "
                                "removes them") from None


def _sweep(client: docker.DockerClient, run_id: str | None, worker: str | None, dry_run: bool) -> list[str]:
    removed: list[str] = []
    label = [f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN]
    if worker is not None:
        label.append(f"{LABEL_WORKER}={worker}")

    def doomed(labels: dict[str, str]) -> bool:
        return run_id is not None or not owner_alive(labels.get(LABEL_OWNER, ""))

    for container in client.containers.list(all=True, filters={"label": label}):
        if doomed(container.labels):
            if not dry_run:
                remove_quietly(container.remove, [], container.name, force=True, v=True)
            removed.append(f"container {container.name}")
    for network in client.networks.list(filters={"label": label}):
        if doomed(network.attrs.get("Labels") or {}):
            if not dry_run:
                remove_quietly(network.remove, [], str(network.name))
            removed.append(f"network {network.name}")
    return removed
