"""Scenarios and containers as Python tests hold them: observed facts plus on-demand probes.

A scenario is built and observed by the run's :class:`RunContext` exactly as a collected YAML
file is (same engine, labels, names and sweep); lookups and probes go through the run's
:class:`Prober` and are kept in the same facts, so a YAML check and a Python test asking for the
same probe of the same build share one observation, and the report shows every one of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from netconform.errors import NetconformError, ProbeError
from netconform.facts import (
    ContainerFacts,
    HostFacts,
    Interface,
    LookupResult,
    NamespaceId,
    NetnsView,
    NetworkFacts,
    ReachResult,
    ScenarioFacts,
)
from netconform.harness.context import RunContext
from netconform.harness.modes import OTHER
from netconform.harness.on_demand import is_address
from netconform.harness.sources import CallSite, Source, load_source
from netconform.report.records import scenario_record
from netconform.spec import Scenario
from netconform.spec.model import ENDPOINTS, PROTOCOLS, ReachSpec
from netconform.spec.values import Ref

SENTINEL_ECHO_PORT = 7  # the only port the sentinel serves (see netconform.spec.reach_checks.ECHO_PORT)


class Probes:
    """Reachability and DNS from inside a built scenario's namespaces, made when first asked.

    Outcomes are those of a YAML probe: ``reach``, ``blocked``, ``one-way`` or ``inconclusive``
    (:attr:`ReachResult.outcome`, with :attr:`ReachResult.reason`). Only this run's own test hosts
    are ever sent a packet, and a name is only looked up by a container whose resolver asks the
    sentinel, never the host's upstream resolver.
    """

    def __init__(self, under_test: ScenarioUnderTest) -> None:
        self._under_test = under_test

    def reach(self, frm: str, to: str, proto: str = "icmp", port: int | None = None, *, address: str | None = None,
              network: str | None = None, listen: str | None = None, listen_port: int | None = None) -> ReachResult:
        """Probe from ``frm`` to ``to`` (container keys, ``host`` or ``sentinel``).

        Args:
            frm: where the probe is sent from.
            to: where the listener (tcp/udp) and the arrival witness run.
            proto: icmp, tcp or udp.
            port: the port to connect to (tcp/udp; the sentinel serves 7 only).
            address: where to connect, if not ``to``'s address: an address, or a name the prober resolves.
            network: which of ``to``'s networks gives its address.
            listen: the address the listener binds in ``to`` (default 0.0.0.0).
            listen_port: the port the listener binds (default: ``port``).

        Raises:
            ValueError: an unknown endpoint or protocol, or a port that does not fit the protocol.
            ProbeError: the probe would resolve a name through a resolver that is not hermetic.
        """
        under_test = self._under_test
        for end in (frm, to):
            if end not in under_test.scenario.containers and end not in ENDPOINTS:
                raise ValueError(f"unknown endpoint {end!r}; one of: "
                                 f"{', '.join([*under_test.scenario.containers, *ENDPOINTS])}")
        if proto not in PROTOCOLS:
            raise ValueError(f"unknown protocol {proto!r}; one of: {', '.join(PROTOCOLS)}")
        if proto == "icmp" and (port is not None or listen_port is not None):
            raise ValueError("an icmp probe has no port")
        if proto != "icmp" and to == "sentinel":
            port = port or SENTINEL_ECHO_PORT
        if proto != "icmp" and port is None:
            raise ValueError(f"a {proto} probe needs a port")
        if address is not None and not is_address(address):
            self._require_hermetic_resolver(frm, f"probing {address!r}")
        if "sentinel" in (frm, to):
            under_test.context.attach_sentinel(under_test.facts)
        spec = ReachSpec(frm, to, proto, port, address=address, network=network, listen=listen,
                         listen_port=listen_port)
        return under_test.context.ready_prober().reach(under_test.facts, spec, under_test.context.context)

    def lookup(self, container: str, name: str, qtype: str = "A") -> LookupResult:
        """Ask ``container``'s nameserver (first in its resolv.conf) for ``name`` (A, AAAA or PTR).

        Raises:
            ProbeError: the container's resolver would forward unknown names to the host's resolver,
                or the container was not created.
        """
        facts = self._under_test.container_facts(container)
        if qtype not in ("A", "AAAA", "PTR"):
            raise ValueError(f"unknown query type {qtype!r}; one of: A, AAAA, PTR")
        if facts.resolv and facts.resolv.nameservers:
            self._require_hermetic_resolver(container, f"looking up {name!r}")
        under_test = self._under_test
        return under_test.context.ready_prober().lookup(under_test.facts, facts, qtype, name)

    def netns(self, endpoint: str) -> NamespaceId | None:
        """The network namespace of a container (None if not created) or of ``host``."""
        if endpoint == "host":
            return self._under_test.facts.host.namespaces.get("net")
        return self._under_test.container_facts(endpoint).namespaces.get("net")

    def interfaces(self, endpoint: str) -> NetnsView | None:
        """Interfaces, addresses and routes of a container (None if not created) or of ``host``."""
        if endpoint == "host":
            return self._under_test.facts.host.net
        return self._under_test.container_facts(endpoint).net

    def _require_hermetic_resolver(self, key: str, what: str) -> None:
        """Lookups must never reach the host's upstream resolver (the network rule, as for specs)."""
        containers = self._under_test.scenario.containers
        if key not in containers:
            raise ProbeError(f"{what} from {key}: only a container resolves names (its resolver)")
        owner = containers[key]
        while owner.mode == "container" and owner.target:
            owner = containers[owner.target]
        if not any(isinstance(value, Ref) and value.parts == ("sentinel", "address") for value in owner.dns):
            raise ProbeError(f"refusing {what} from {key}: {owner.key} does not use the sentinel as its nameserver, "
                             f"so unknown names would go to the host's upstream resolver; give {owner.key} "
                             "dns: [\"${sentinel.address}\"]")


@dataclass
class ScenarioUnderTest:
    """A built scenario: its model, its observed facts and its probes. Torn down by its fixture."""

    scenario: Scenario
    facts: ScenarioFacts
    context: RunContext
    built: Any
    probe: Probes = field(init=False)

    def __post_init__(self) -> None:
        self.probe = Probes(self)

    @property
    def name(self) -> str:
        return self.scenario.name

    @property
    def host(self) -> HostFacts:
        """The daemon's namespaces and network namespace, as observed with the scenario."""
        return self.facts.host

    def network(self, key: str) -> NetworkFacts:
        """A network of the scenario by key (``bridge`` is the daemon's default bridge)."""
        if key not in self.facts.networks:
            raise KeyError(f"scenario {self.name} has no network {key!r}; it has: {', '.join(self.facts.networks)}")
        return self.facts.networks[key]

    def container_facts(self, key: str) -> ContainerFacts:
        if key not in self.facts.containers:
            raise KeyError(f"scenario {self.name} has no container {key!r}; it has: "
                           f"{', '.join(self.facts.containers)}")
        return self.facts.containers[key]

    def container(self, key: str) -> ContainerUnderTest:
        self.container_facts(key)
        return ContainerUnderTest(self, key)


@dataclass
class ContainerUnderTest:
    """One container of a built scenario, with the shortcuts a test of it reads best with."""

    scenario: ScenarioUnderTest
    key: str
    mode: str = ""

    @property
    def facts(self) -> ContainerFacts:
        return self.scenario.container_facts(self.key)

    @property
    def name(self) -> str:
        """The container's name on the daemon (how a peer on a user-defined network resolves it)."""
        return self.facts.name

    @property
    def host(self) -> HostFacts:
        return self.scenario.host

    @property
    def netns(self) -> NamespaceId | None:
        """Its network namespace (compare with ``host.namespaces["net"]`` or another container's)."""
        return self.facts.namespaces.get("net")

    @property
    def net(self) -> NetnsView:
        if self.facts.net is None:
            raise ProbeError(f"container {self.key} was not created ({self.facts.error})")
        return self.facts.net

    @property
    def interfaces(self) -> list[str]:
        """Interface names in its network namespace, sorted."""
        return sorted(iface.name for iface in self.net.interfaces)

    def interface(self, name: str) -> Interface | None:
        return self.net.interface(name)

    @property
    def network(self) -> NetworkFacts | None:
        """The network it was created on (None in host, none and container:<other> modes)."""
        primary = self.facts.primary_network
        return self.scenario.facts.networks.get(primary) if primary else None

    @property
    def other(self) -> ContainerUnderTest | None:
        """The scenario's other container: the one whose namespace it joined, or its peer."""
        key = self.facts.joined or (OTHER if OTHER in self.scenario.facts.containers and self.key != OTHER else None)
        return self.scenario.container(key) if key else None

    def reach(self, to: str, proto: str = "icmp", port: int | None = None, **options: Any) -> ReachResult:
        """A probe from this container (see :meth:`Probes.reach`)."""
        return self.scenario.probe.reach(self.key, to, proto, port, **options)

    def lookup(self, name: str, qtype: str = "A") -> LookupResult:
        """A lookup by this container's resolver (see :meth:`Probes.lookup`)."""
        return self.scenario.probe.lookup(self.key, name, qtype)


@dataclass
class ScenarioBuilds:
    """The scenarios built for one fixture scope, each once, all torn down when the scope ends.

    Torn-down scenarios are recorded into ``finished`` for the report, as a YAML file's are.
    """

    context: Callable[[], RunContext]
    names: set[str]
    finished: list[dict[str, Any]]
    builds: dict[str, ScenarioUnderTest] = field(default_factory=dict)

    def get(self, source: Source, name: str, site: CallSite) -> ScenarioUnderTest:
        """The scenario ``source`` describes, built on first request in this scope.

        Raises:
            SpecError: the source does not validate.
            NetconformError: the scenario could not be built (recorded for the report).
        """
        key = f"{name}\0{source!r}"
        if key not in self.builds:
            scenario = load_source(source, self._unique(name), site)
            context = self.context()
            try:
                built, facts = context.build(scenario)
            except NetconformError as err:
                self.finished.append(scenario_record(scenario, None, str(err)))
                raise
            self.builds[key] = ScenarioUnderTest(scenario, facts, context, built)
        return self.builds[key]

    def _unique(self, name: str) -> str:
        """Names must not repeat within a process: they name the containers and the report's scenarios."""
        unique, number = name, 1
        while unique in self.names:
            number += 1
            unique = f"{name}-{number}"
        self.names.add(unique)
        return unique

    def close(self) -> None:
        """Tear down every scenario of the scope (all are attempted; the first failure is raised)."""
        failure: BaseException | None = None
        for under_test in reversed(list(self.builds.values())):
            self.finished.append(scenario_record(under_test.scenario, under_test.facts))
            try:
                under_test.context.teardown(under_test.built)
            except BaseException as err:
                failure = failure or err
        self.builds.clear()
        if failure is not None:
            raise failure
