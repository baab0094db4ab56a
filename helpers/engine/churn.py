"""Network churn for the churn probe: bridge networks created and removed one after another
while a stream of echo requests runs between two of a scenario's networks.

Each creation is what reconfigures the daemon's firewall (Docker up to 27.x re-inserts its FORWARD
jumps then), so each holds the isolation lock alone, as a build's creations do: a probe of another
worker or run that one overlapped is made again carefully, and may be made between two creations
(it holds them off while it runs) rather than after all of them. A removal touches only the
removed bridge's own rules (:mod:`netconform.hermetic.isolation_lock`), so each network is removed
while the next one is created: at most two churn networks exist at once (a pool subnet each), and
a cycle costs the longer of a creation and a removal, not both.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import docker.errors
from docker.models.networks import Network

from netconform.engine.removal import changing_networks, remove_quietly
from netconform.errors import EngineError
from netconform.hermetic.isolation_lock import IsolationLock


def churn_networks(client: docker.DockerClient, lock: IsolationLock | None, names: list[str],
                   labels: list[dict[str, str]], what: str) -> None:
    """Create and remove a bridge network per name (with its labels), holding ``lock`` while each
    is created.

    Raises:
        EngineError: the daemon refused a network, or could not remove one.
    """
    problems: list[str] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="churn-removal") as remover:
        removing: Future[Any] | None = None
        try:
            for name, label in zip(names, labels, strict=True):
                try:
                    with changing_networks(lock, f"{what}: {name}"):
                        network = client.networks.create(name, driver="bridge", labels=label, check_duplicate=True)
                except docker.errors.APIError as err:
                    raise EngineError(f"{what}: the daemon refused churn network {name}: "
                                      f"{err.explanation or err}") from err
                if removing is not None:
                    removing.result()  # the network before is gone: two at most
                removing = remover.submit(_remove, network, name, problems)
        finally:
            if removing is not None:
                removing.result()
    if problems:
        raise EngineError("; ".join(problems))


def _remove(network: Network, name: str, problems: list[str]) -> None:
    remove_quietly(network.remove, problems, f"churn network {name}")
