"""Perform a scenario's steps on what the engine built: ``docker network connect`` / ``disconnect``.

A step only changes the endpoints of the scenario's own containers; teardown removes those
containers (and with them every endpoint a step added) before the networks, so a step needs no
undo of its own on any exit path.
"""

from __future__ import annotations

import docker
import docker.errors

from netconform.engine.builder import BuiltScenario
from netconform.engine.removal import changing_networks
from netconform.errors import EngineError
from netconform.facts import DEFAULT_BRIDGE
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.spec.model import StepSpec


def perform_step(client: docker.DockerClient, built: BuiltScenario, step: StepSpec,
                 lock: IsolationLock | None = None) -> None:
    """Connect or disconnect as ``step`` says, through the Docker API.

    The daemon rewrites its firewall rules for the endpoint, so this holds the isolation lock as
    network creation does: no probe of any run is misled meanwhile.

    Raises:
        EngineError: the container is not running, or the daemon refused the request (its words).
    """
    name = built.scenario.name
    created = built.containers.get(step.container)
    if created is None or created.container is None or not created.running:
        error = created.error if created is not None else "not built"
        raise EngineError(f"scenario {name}: step {step.name}: container {step.container} is not running ({error})")
    try:
        network = client.networks.get(DEFAULT_BRIDGE) if step.network == DEFAULT_BRIDGE else \
            built.networks[step.network]
    except KeyError as err:
        raise EngineError(f"scenario {name}: step {step.name}: network {step.network} was not created") from err
    except docker.errors.APIError as err:
        raise EngineError(f"scenario {name}: step {step.name}: looking up {step.network} failed: "
                          f"{err.explanation or err}") from err
    ip = built.relocation.address(step.ip) if step.ip else None
    try:
        with changing_networks(lock, f"step {step.name} of {name}: {step.action} {created.name}"):
            if step.action == "connect":
                network.connect(created.container, aliases=list(step.aliases) or None, ipv4_address=ip)
            else:
                network.disconnect(created.container)
    except docker.errors.APIError as err:
        raise EngineError(f"scenario {name}: step {step.name}: the daemon refused to {step.action} "
                          f"{step.container} {'to' if step.action == 'connect' else 'from'} {step.network}: "
                          f"{err.explanation or err}") from err
