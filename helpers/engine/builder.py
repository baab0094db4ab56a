"""Build and tear down a scenario's networks and containers through the Docker SDK.

Everything created carries the run's labels and a name ``nc-<run>-<worker>-<scenario>-<key>``;
teardown removes exactly what was created, and :func:`sweep` removes what crashed runs left,
found by label, never touching anything unlabelled.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import docker
import docker.errors
from docker.models.containers import Container
from docker.models.networks import Network
from docker.types import IPAMConfig, IPAMPool

from netconform.engine import churn, placement, ports, removal
from netconform.engine.image import PAUSE_COMMAND, PAUSE_IN_CONTAINER
from netconform.engine.removal import changing_networks, remove_quietly, sweep
from netconform.errors import EngineError
from netconform.facts import DEFAULT_BRIDGE, NetworkRefusal, Relocation
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.hermetic.runs import LABEL_SCENARIO, RunIdentity
from netconform.spec.model import ContainerSpec, NetworkSpec, PortSpec, Scenario
from netconform.spec.values import Value

__all__ = ["BuiltScenario", "CreatedContainer", "NetworkRefused", "ScenarioEngine", "sweep"]

LABEL_KEY = "io.netconform.key"
LABEL_WORKER = removal.LABEL_WORKER

ValueResolver = Callable[[Value], str]


@dataclass
class CreatedContainer:
    """A container the scenario asked for: the object if the daemon accepted it, else its error."""

    spec: ContainerSpec
    name: str
    container: Container | None = None
    error: str | None = None

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def running(self) -> bool:
        return self.container is not None and self.error is None

    @property
    def primary_network(self) -> str | None:
        return self.spec.networks[0] if self.spec.networks else None

    @property
    def joined(self) -> str | None:
        return self.spec.target


@dataclass
class BuiltScenario:
    scenario: Scenario
    networks: dict[str, Network] = field(default_factory=dict)
    containers: dict[str, CreatedContainer] = field(default_factory=dict)
    relocation: Relocation = field(default_factory=Relocation)
    # Networks the scenario expected to be refused and the daemon did refuse.
    refused_networks: dict[str, NetworkRefusal] = field(default_factory=dict)


def _literal(value: Value) -> str:
    if isinstance(value, str | int | float):
        return str(value)
    raise EngineError(f"{value} cannot be resolved when the scenario is built")


class _Overlap(Exception):
    """The daemon refused a subnet because one of its networks overlaps it."""


class NetworkRefused(EngineError):
    """The daemon refused to create a network; ``explanation`` is its own words."""

    def __init__(self, message: str, explanation: str) -> None:
        super().__init__(message)
        self.explanation = explanation


class ScenarioEngine:
    """Creates scenarios on one daemon for one run and worker."""

    def __init__(
        self,
        client: docker.DockerClient,
        run: RunIdentity,
        worker: str,
        image: str,
        pause: Path,
        resolve: ValueResolver = _literal,
        start_timeout: float = 30.0,
        lock: IsolationLock | None = None,
    ) -> None:
        self.client = client
        self.run = run
        self.worker = worker
        self.image = image
        self.pause = pause
        self.resolve = resolve
        self.start_timeout = start_timeout
        self.lock = lock

    def name(self, scenario: Scenario, key: str) -> str:
        return self.run.name(self.worker, scenario.name, key)

    def labels(self, scenario: Scenario | str, key: str) -> dict[str, str]:
        name = scenario if isinstance(scenario, str) else scenario.name
        return {**self.run.labels, LABEL_WORKER: self.worker, LABEL_SCENARIO: name, LABEL_KEY: key}

    def churn_networks(self, scenario: str, cycles: int) -> None:
        """Create and remove ``cycles`` bridge networks for ``scenario``'s churn probe
        (:func:`netconform.engine.churn.churn_networks`).

        Raises:
            EngineError: the daemon refused a network.
        """
        keys = [f"churn{cycle}" for cycle in range(cycles)]
        churn.churn_networks(self.client, self.lock, [self.run.name(self.worker, scenario, key) for key in keys],
                             [self.labels(scenario, key) for key in keys],
                             f"{cycles} network changes of {scenario}")

    def build(self, scenario: Scenario) -> BuiltScenario:
        """Create the scenario's networks (look up existing ones), then its containers in order.

        A container the daemon refuses is recorded with its error (that may be what the spec
        expects); a network the daemon refuses aborts the build.

        Raises:
            EngineError: a network could not be created; everything created so far is removed.
        """
        built = BuiltScenario(scenario)
        try:
            for network in scenario.networks.values():
                if network.refusal_expected:
                    self._network_or_refusal(scenario, network, built)
                    continue
                built.networks[network.key] = self._create_network(scenario, network, built.relocation)
            for container in scenario.containers.values():
                built.containers[container.key] = self._create_container(scenario, container, built)
        except BaseException as err:
            try:
                self.teardown(built)
            except EngineError as cleanup:
                err.add_note(f"and cleaning up after it failed: {cleanup}")
            raise
        return built

    def _network_or_refusal(self, scenario: Scenario, spec: NetworkSpec, built: BuiltScenario) -> None:
        """A network the scenario expects to be refused: the refusal is recorded (with whether a
        network of its name exists all the same, which is then removed), and the build goes on."""
        try:
            built.networks[spec.key] = self._create_network(scenario, spec, built.relocation)
            return
        except NetworkRefused as err:
            refusal = NetworkRefusal(err.explanation)
        name = self.name(scenario, spec.key)
        for leftover in self.client.networks.list(names=[name]):
            if leftover.name == name:  # the filter matches substrings
                refusal.left_behind = True
                remove_quietly(leftover.remove, [], name)
        built.refused_networks[spec.key] = refusal

    def _create_network(self, scenario: Scenario, spec: NetworkSpec, relocation: Relocation) -> Network:
        if spec.existing is not None:
            return self._existing_network(scenario, spec.existing)
        if not spec.subnet:
            pools6 = self._pools6(spec, relocation)
            return self._try_network(scenario, spec, IPAMConfig(pool_configs=pools6) if pools6 else None)
        return self._network_with_subnet(scenario, spec, spec.subnet, relocation)

    def _network_with_subnet(self, scenario: Scenario, spec: NetworkSpec, declared: str,
                             relocation: Relocation) -> Network:
        """The network on its declared subnet if free, else on the next free one (moved in
        ``relocation``): another run or a user's network may hold the declared one."""
        others = [net.subnet for net in scenario.networks.values() if net.subnet and net.key != spec.key]
        others += list(relocation.subnets.values())
        taken = placement.subnets_in_use(self.client)
        why = ""
        tried = 0
        for candidate in placement.subnet_candidates(declared, others):
            holder = placement.first_holder(candidate, taken)
            if holder is not None:
                why = why or f"network {holder} holds it"
                continue
            ipam = IPAMConfig(pool_configs=[IPAMPool(
                subnet=str(candidate), gateway=placement.moved_within(spec.gateway, declared, candidate),
                iprange=placement.moved_within(spec.ip_range, declared, candidate)), *self._pools6(spec, relocation)])
            try:
                network = self._try_network(scenario, spec, ipam, overlap_is_error=False)
            except _Overlap as err:
                why = why or f"the daemon said: {err}"
                tried += 1
                if tried >= placement.MAX_SUBNET_TRIES:
                    break
                taken = placement.subnets_in_use(self.client)  # someone took it meanwhile: look again
                continue
            if str(candidate) != declared:
                relocation.move_subnet(declared, str(candidate), why)
            return network
        raise EngineError(f"scenario {scenario.name}: no free subnet for network {spec.key!r}: {declared} "
                          f"is taken ({why}) and so were the {tried} others tried near it")

    def _pools6(self, spec: NetworkSpec, relocation: Relocation) -> list[IPAMPool]:
        """The IPv6 pool of a network with ``subnet6`` (:func:`placement.subnet6_for`)."""
        if not spec.subnet6:
            return []
        subnet, gateway = placement.subnet6_for(self.client, spec.subnet6, spec.gateway6, relocation)
        return [IPAMPool(subnet=subnet, gateway=gateway)]

    def _try_network(self, scenario: Scenario, spec: NetworkSpec, ipam: IPAMConfig | None,
                     overlap_is_error: bool = True) -> Network:
        name = self.name(scenario, spec.key)
        try:
            with changing_networks(self.lock, f"creating network {name}"):
                return self.client.networks.create(
                    name, driver=spec.driver, internal=spec.internal, ipam=ipam, enable_ipv6=spec.subnet6 is not None,
                    options={option: self.resolve(value) for option, value in spec.options},
                    labels=self.labels(scenario, spec.key), check_duplicate=True,
                )
        except docker.errors.APIError as err:
            if not overlap_is_error and placement.is_overlap(err):
                raise _Overlap(str(err.explanation or err)) from err
            explanation = str(err.explanation or err)
            raise NetworkRefused(
                f"scenario {scenario.name}: the daemon refused network {spec.key!r} ({name}): {explanation}",
                explanation) from err

    def _existing_network(self, scenario: Scenario, name: str) -> Network:
        """A network that was there before the run: looked up, never changed (only connected to
        by the scenario's labelled containers), never removed."""
        try:
            return self.client.networks.get(name)
        except docker.errors.NotFound as err:
            raise EngineError(f"scenario {scenario.name}: there is no network {name!r} on the daemon") from err
        except docker.errors.APIError as err:
            raise EngineError(f"scenario {scenario.name}: looking up network {name!r} failed: "
                              f"{err.explanation or err}") from err

    def _network_name(self, built: BuiltScenario, key: str) -> str:
        return DEFAULT_BRIDGE if key == DEFAULT_BRIDGE else str(built.networks[key].name)

    def _network_mode(self, built: BuiltScenario, spec: ContainerSpec) -> str:
        if spec.mode == "container":
            assert spec.target is not None
            return f"container:{built.containers[spec.target].name}"
        if spec.networks:
            return self._network_name(built, spec.networks[0])
        return spec.mode

    def _create_container(self, scenario: Scenario, spec: ContainerSpec, built: BuiltScenario) -> CreatedContainer:
        """The container as declared; if a host port it publishes is taken (by another run, a
        user's container or process), again with the daemon choosing those ports, recorded in
        the scenario's relocation."""
        created, refusal = self._container_attempt(scenario, spec, built, spec.publish)
        fixed = [port for port in spec.publish if port.host_port]
        if refusal is None or not fixed or not placement.is_port_taken(refusal):
            return created
        earlier = [port for other in built.containers.values() for port in other.spec.publish]
        if any(placement.clashes_with_own(port, earlier) for port in fixed):
            return created
        if created.container is not None:
            problems: list[str] = []
            remove_quietly(created.container.remove, problems, created.name, force=True, v=True)
            if problems:
                created.error = f"{created.error}; and removing it to retry failed: {'; '.join(problems)}"
                return created
        chosen = tuple(replace(port, host_port=None) if port.host_port else port for port in spec.publish)
        retried, _ = self._container_attempt(scenario, spec, built, chosen)
        if retried.running and retried.container is not None:
            for port in fixed:
                actual = placement.published_host_port(retried.container.attrs, port)
                if actual is not None and port.host_port is not None:
                    built.relocation.move_port(port.protocol, port.host_port, actual,
                                               f"the daemon said: {created.error}")
        return retried

    def _container_attempt(self, scenario: Scenario, spec: ContainerSpec, built: BuiltScenario,
                           publish: tuple[PortSpec, ...]) -> tuple[CreatedContainer, docker.errors.APIError | None]:
        created = CreatedContainer(spec, self.name(scenario, spec.key))
        moved = built.relocation.address
        aliases = dict(spec.aliases)
        ips = {net: moved(ip) for net, ip in spec.ips}
        mode = self._network_mode(built, spec)
        api = self.client.api
        publish = ports.resolved(publish, self.resolve, moved)
        host_config = api.create_host_config(
            binds={str(self.pause): {"bind": PAUSE_IN_CONTAINER, "mode": "ro"}},
            dns=[moved(self.resolve(value)) for value in spec.dns] or None,
            dns_search=list(spec.dns_search) or None,
            dns_opt=list(spec.dns_options) or None,
            extra_hosts={name: moved(self.resolve(value)) for name, value in spec.add_hosts} or None,
            port_bindings=ports.bindings(publish) or None, publish_all_ports=spec.publish_all or None,
            sysctls=dict(spec.sysctls) or None,
        )
        # Set after the fact: docker-py refuses some combinations (host mode with ports) itself,
        # and what the daemon does with them is what the suite checks.
        host_config["NetworkMode"] = mode
        if spec.userns:
            host_config["UsernsMode"] = spec.userns
        # With at_create every network is an endpoint of the create request (API 1.44+; older
        # daemons refuse it, which is what the suite checks); else the first, the others connected.
        at_create = spec.networks if spec.at_create else spec.networks[:1]
        priorities = dict(spec.gw_priorities)
        networking = None
        if spec.at_create or any(net in aliases or net in ips or net in priorities for net in at_create):
            endpoints = {}
            for net in at_create:
                endpoint = api.create_endpoint_config(aliases=list(aliases.get(net, ())) or None,
                                                      ipv4_address=ips.get(net))
                if net in priorities:
                    endpoint["GwPriority"] = priorities[net]  # API 1.48; docker-py has no argument for it
                endpoints[self._network_name(built, net)] = endpoint
            networking = api.create_networking_config(endpoints)
        try:
            response = api.create_container(
                self.image, name=created.name, entrypoint=list(PAUSE_COMMAND), command=[],
                labels=self.labels(scenario, spec.key), hostname=spec.hostname, mac_address=spec.mac_address,
                ports=ports.exposed(spec, publish),
                host_config=host_config, networking_config=networking,
            )
            created.container = self.client.containers.get(response["Id"])
            for extra in spec.networks[len(at_create):]:
                self.client.networks.get(self._network_name(built, extra)).connect(
                    created.container, aliases=list(aliases.get(extra, ())) or None, ipv4_address=ips.get(extra))
            created.container.start()
            created.container = self._wait_running(created.container)
        except docker.errors.APIError as err:
            created.error = str(err.explanation or err)
            if created.container is None:
                created.container = self._leftover(created.name)
            return created, err
        return created, None

    def _leftover(self, name: str) -> Container | None:
        """A container the daemon kept although it refused part of the request (removed later)."""
        try:
            return self.client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _wait_running(self, container: Container) -> Container:
        deadline = time.monotonic() + self.start_timeout
        while True:
            container.reload()
            state = container.attrs["State"]
            if state.get("Running") and state.get("Pid"):
                return container
            if state.get("Status") in ("exited", "dead") or time.monotonic() > deadline:
                raise EngineError(
                    f"container {container.name} is {state.get('Status')!r}, not running, "
                    f"{self.start_timeout:g}s after start (exit code {state.get('ExitCode')}, "
                    f"error {state.get('Error')!r})"
                )
            time.sleep(0.05)

    def teardown(self, built: BuiltScenario) -> None:
        """Remove the scenario's containers (joiners first) and the networks it created (never an
        existing one it only looked up); report what failed.

        Raises:
            EngineError: something could not be removed (all removals are still attempted).
        """
        problems: list[str] = []
        for created in reversed(list(built.containers.values())):
            if created.container is not None:
                remove_quietly(created.container.remove, problems, created.name, force=True, v=True)
        for key, network in reversed(list(built.networks.items())):
            if built.scenario.networks[key].existing is not None:
                continue  # not ours: its endpoints went with our containers
            remove_quietly(network.remove, problems, f"network {key}")
        built.containers.clear()
        built.networks.clear()
        if problems:
            raise EngineError("teardown left resources behind: " + "; ".join(problems))
