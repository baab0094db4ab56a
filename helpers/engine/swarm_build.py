"""Building a Swarm scenario on the lab: overlays on the manager, containers on their nodes, services.

Every object is labelled with the run and named ``nc-<run>-<scenario>-<key>``; :meth:`SwarmBuild.remove`
removes them in a ``finally`` of the caller, and the lab's daemons go with the lab in any case.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from netconform.engine.image import PAUSE_COMMAND, PAUSE_IN_CONTAINER, ensure_probe_image, pause_binary
from netconform.errors import EngineError
from netconform.hermetic.runs import LABEL_SCENARIO, RunIdentity
from netconform.hermetic.swarm_lab import SwarmLab
from netconform.spec.swarm import PlacedContainer, ServiceSpec, SwarmScenario

TASKS_BOUND = 60.0
_FAILURES = (docker.errors.DockerException, requests.RequestException)


@dataclass
class Endpoint:
    """One running container of the scenario (a placed container or a service's task)."""

    key: str
    node: str
    pid: int
    addresses: dict[str, str] = field(default_factory=dict)  # network key -> IPv4 address


@dataclass
class BuiltService:
    key: str
    vips: dict[str, str] = field(default_factory=dict)  # network key -> VIP (vip endpoint mode)
    tasks: list[Endpoint] = field(default_factory=list)


@dataclass
class SwarmBuild:
    """What was created for one scenario, and how to find it again."""

    scenario: SwarmScenario
    lab: SwarmLab
    run: RunIdentity
    network_names: dict[str, str] = field(default_factory=dict)
    network_ids: dict[str, str] = field(default_factory=dict)
    containers: dict[str, Endpoint] = field(default_factory=dict)
    services: dict[str, BuiltService] = field(default_factory=dict)
    _container_ids: list[tuple[str, str]] = field(default_factory=list)  # (node, id)
    _service_ids: list[str] = field(default_factory=list)

    def name(self, key: str) -> str:
        return self.run.name(self.scenario.name[:20], key)

    @property
    def labels(self) -> dict[str, str]:
        return {**self.run.labels, LABEL_SCENARIO: self.scenario.name}

    # -- build ------------------------------------------------------------------------------

    def create(self) -> SwarmBuild:
        """Create the overlays, the containers and the services, and wait until every task runs.

        Raises:
            EngineError: a daemon refused something, or the tasks did not run in time.
        """
        try:
            for node in self.lab.nodes.values():
                ensure_probe_image(node.client)
            for key, spec in self.scenario.networks.items():
                ipam = None
                if spec.subnet:
                    ipam = docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet=spec.subnet)])
                options = {"encrypted": ""} if spec.encrypted else None
                network = self.lab.manager.client.networks.create(
                    self.name(key), driver="overlay", attachable=True, internal=spec.internal, ipam=ipam,
                    options=options, labels=self.labels)
                self.network_names[key], self.network_ids[key] = network.name or self.name(key), str(network.id)
            self.place_containers()
            for service in self.scenario.services.values():
                self._create_service(service)
            for service in self.scenario.services.values():
                self.services[service.key] = self._wait_tasks(service)
        except _FAILURES as err:
            raise EngineError(f"building Swarm scenario {self.scenario.name!r}: {_words(err)}") from err
        return self

    def place_containers(self, nodes: tuple[str, ...] | None = None) -> None:
        """Run the scenario's containers (those on ``nodes`` only, when given) on their nodes."""
        for spec in self.scenario.containers.values():
            if nodes is None or spec.node in nodes:
                self.containers[spec.key] = self._run_container(spec)

    def _run_container(self, spec: PlacedContainer) -> Endpoint:
        client = self.lab.node(spec.node).client
        api = client.api
        first, *others = [self.network_names[key] for key in spec.networks]
        # The key is an alias on every overlay: the name other containers look up.
        networking = api.create_networking_config({first: api.create_endpoint_config(aliases=[spec.key])})
        response = api.create_container(
            ensure_probe_image(client), name=self.name(spec.key), entrypoint=list(PAUSE_COMMAND), command=[],
            labels=self.labels, hostname=spec.key, networking_config=networking,
            host_config=api.create_host_config(
                network_mode=first, binds={str(pause_binary()): {"bind": PAUSE_IN_CONTAINER, "mode": "ro"}}))
        container = client.containers.get(response["Id"])
        self._container_ids.append((spec.node, str(container.id)))
        for name in others:
            api.connect_container_to_network(container.id, name, aliases=[spec.key])
        _start(container)
        container.reload()
        return Endpoint(spec.key, spec.node, int(container.attrs["State"]["Pid"]),
                        self._addresses(container.attrs["NetworkSettings"]["Networks"]))

    def _addresses(self, networks: dict[str, Any]) -> dict[str, str]:
        by_name = {name: key for key, name in self.network_names.items()}
        return {by_name[name]: str(settings["IPAddress"]) for name, settings in networks.items()
                if name in by_name and settings.get("IPAddress")}

    def _create_service(self, spec: ServiceSpec) -> None:
        client = self.lab.manager.client
        ports = {port: port for port in spec.publish}
        # Named by its key: a service's DNS names are its name and tasks.<name>; the lab is this
        # run's alone, and its labels still mark it.
        service = client.services.create(
            ensure_probe_image(client), command=list(PAUSE_COMMAND), name=spec.key,
            networks=[self.network_names[key] for key in spec.networks], labels=self.labels,
            container_labels=self.labels, hostname=spec.key,
            mode=docker.types.ServiceMode("replicated", replicas=spec.replicas),
            endpoint_spec=docker.types.EndpointSpec(mode=spec.endpoint_mode, ports=ports or None),
            mounts=[docker.types.Mount(PAUSE_IN_CONTAINER, str(pause_binary()), type="bind", read_only=True)])
        self._service_ids.append(str(service.id))

    def _wait_tasks(self, spec: ServiceSpec) -> BuiltService:
        client = self.lab.manager.client
        service = client.services.get(spec.key)
        deadline = time.monotonic() + TASKS_BOUND
        while True:
            tasks = [task for task in service.tasks(filters={"desired-state": "running"})
                     if task["Status"]["State"] == "running"]
            if len(tasks) >= spec.replicas:
                break
            if time.monotonic() >= deadline:
                states = [f"{task['Status']['State']} ({task['Status'].get('Err', '')})" for task in service.tasks()]
                raise EngineError(f"service {spec.key!r}: {len(tasks)} of {spec.replicas} tasks running after "
                                  f"{TASKS_BOUND:g}s; tasks: {', '.join(states) or 'none'}")
            time.sleep(0.5)
        service.reload()
        ids = {value: key for key, value in self.network_ids.items()}
        vips = {ids[vip["NetworkID"]]: vip["Addr"].split("/")[0]
                for vip in service.attrs.get("Endpoint", {}).get("VirtualIPs", []) if vip["NetworkID"] in ids}
        return BuiltService(spec.key, vips, [self._task(spec.key, task) for task in tasks])

    def _task(self, key: str, task: dict[str, Any]) -> Endpoint:
        node = next(node for node in self.lab.nodes.values() if node.node_id == task["NodeID"])
        container = node.client.containers.get(task["Status"]["ContainerStatus"]["ContainerID"])
        return Endpoint(f"{key}.{task['Slot']}", node.name, int(container.attrs["State"]["Pid"]),
                        self._addresses(container.attrs["NetworkSettings"]["Networks"]))

    # -- remove -----------------------------------------------------------------------------

    def remove_containers(self, nodes: tuple[str, ...] | None = None) -> None:
        """Remove the scenario's containers (on ``nodes`` only, when given); best effort."""
        kept = []
        for node, container_id in self._container_ids:
            if nodes is not None and node not in nodes:
                kept.append((node, container_id))
                continue
            with contextlib.suppress(*_FAILURES):
                self.lab.node(node).client.api.remove_container(container_id, force=True)
        self._container_ids = kept

    def remove(self) -> list[str]:
        """Remove the services, containers and overlays; return what could not be removed."""
        problems = []
        manager = self.lab.manager.client
        for service_id in self._service_ids:
            with contextlib.suppress(docker.errors.NotFound):
                try:
                    manager.api.remove_service(service_id)
                except _FAILURES as err:
                    problems.append(f"service {service_id[:12]}: {_words(err)}")
        self.remove_containers()
        deadline = time.monotonic() + 30.0
        for key, network_id in self.network_ids.items():
            while True:  # the tasks' endpoints go a moment after their service
                try:
                    manager.api.remove_network(network_id)
                    break
                except docker.errors.NotFound:
                    break
                except _FAILURES as err:
                    if time.monotonic() >= deadline:
                        problems.append(f"network {key}: {_words(err)}")
                        break
                    time.sleep(0.5)
        return problems


# How long a worker may take to learn of an attachable overlay the manager just created.
ATTACH_BOUND = 15.0


def _start(container: Any) -> None:
    """Start ``container``; while its node does not yet know the overlay (a worker hears of an
    attachable network from the manager a moment after it is created: "could not find a network
    matching network mode"), try again, for at most :data:`ATTACH_BOUND` seconds."""
    deadline = time.monotonic() + ATTACH_BOUND
    while True:
        try:
            container.start()
            return
        except docker.errors.APIError as err:
            if "could not find a network matching" not in _words(err) or time.monotonic() >= deadline:
                raise
            time.sleep(0.5)


def _words(err: BaseException) -> str:
    if isinstance(err, docker.errors.APIError):
        return str(err.explanation or err)
    return str(err) or type(err).__name__
