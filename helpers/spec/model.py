"""The scenario model: what to create and what to expect, as plain frozen dataclasses.

Pure data: no docker, no pyroute2. Built by :mod:`netconform.spec.load`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netconform.spec.values import Expectation, Value

RESERVED_MODES = ("bridge", "host", "none")
# What a scenario file is called.
SCENARIO_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class NetworkSpec:
    """A user-defined network; with ``existing``, the name of one the scenario looks up and neither
    creates nor removes (its driver and options are then its own, not declared)."""

    key: str
    driver: str = "bridge"
    internal: bool = False
    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    options: tuple[tuple[str, Value], ...] = ()
    line: int | None = None
    existing: str | None = None
    # The scenario expects the daemon to refuse it (expect.<key>.refused): the build goes on without it.
    refusal_expected: bool = False
    # IPv6: the network is created with IPv6 enabled on this subnet (never relocated: a fixed ULA).
    subnet6: str | None = None
    gateway6: str | None = None


@dataclass(frozen=True)
class SegmentSpec:
    """A layer-2 segment the run provides: a veth pair, one end (the parent) in the daemon's network
    namespace, the other the sentinel's at ``sentinel``; ``host`` is the parent's own address."""

    subnet: str
    sentinel: str
    host: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class PortSpec:
    """One published (or exposed) port; ``host_ip`` may be a ``${reference}`` resolved at build."""

    container_port: int
    protocol: str = "tcp"
    host_port: int | None = None
    host_ip: Value = None


@dataclass(frozen=True)
class ContainerSpec:
    """A container and how it is attached.

    ``mode`` is one of bridge, host, none, container, network. For ``container`` the peer key is
    ``target``; for ``network`` the user-defined networks are ``networks`` (the first is the one the
    container is created on, the others are connected before it starts).
    """

    key: str
    mode: str
    target: str | None = None
    networks: tuple[str, ...] = ()
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    ips: tuple[tuple[str, str], ...] = ()
    hostname: str | None = None
    userns: str | None = None
    mac_address: str | None = None
    dns: tuple[Value, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    add_hosts: tuple[tuple[str, Value], ...] = ()
    publish: tuple[PortSpec, ...] = ()
    expose: tuple[PortSpec, ...] = ()
    publish_all: bool = False
    line: int | None = None
    # Every network in the create request (API 1.44+), not the first alone then connect.
    at_create: bool = False
    # Endpoint gateway priorities by network (API 1.48+; the highest gives the default route).
    gw_priorities: tuple[tuple[str, int], ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()

    @property
    def mode_marker(self) -> str:
        """The mode as users select it with ``-m``: bridge, host, none, container, custom."""
        return "custom" if self.mode == "network" else self.mode

    @property
    def network_mode(self) -> str:
        """The value of Docker's ``--network`` (before names are given their run prefix)."""
        if self.mode == "container":
            return f"container:{self.target}"
        if self.mode == "network":
            return self.networks[0]
        return self.mode


@dataclass(frozen=True)
class StepSpec:
    """A change made to the running scenario (``docker network connect``/``disconnect``); the
    checks whose ``step`` is its name are judged on the scenario as observed after it."""

    name: str
    action: str  # connect | disconnect
    container: str
    network: str
    aliases: tuple[str, ...] = ()
    ip: str | None = None
    line: int | None = None


ENDPOINTS = ("host", "sentinel")
PROTOCOLS = ("icmp", "tcp", "udp")
REACHABILITY = "reachability"


@dataclass(frozen=True)
class ReachSpec:
    """One probe of the reachability matrix: from a namespace, to an address, by a protocol.

    ``frm``/``to`` are container keys, ``host`` (the daemon's network namespace) or ``sentinel``.
    The prober connects to ``address`` (default: ``to``'s address) on ``port``; a listener is
    started in ``to``'s network namespace on ``listen``:``listen_port`` for tcp/udp. With ``churn``
    the probe is a stream of echo requests sent while that many bridge networks are created and
    removed (how a daemon's isolation holds while it reconfigures its firewall). ``port`` may be a
    reference to a host port the daemon chose (``-P``); ``via: host`` sends the probe out through
    the prober's gateway even to an address local to the prober (the sentinel toward 127.0.0.x).
    """

    frm: str
    to: str
    proto: str
    port: int | Value = None
    address: Value = None
    network: str | None = None
    listen: Value = None
    listen_port: int | None = None
    label: str = ""
    churn: int = 0
    via: str | None = None

    @property
    def listener_port(self) -> int | None:
        """The port the target listens on (a port given by reference always names listen_port)."""
        return self.listen_port or (self.port if isinstance(self.port, int) else None)

    @property
    def id(self) -> str:
        if self.label:
            return self.label
        where = f" {self.address}" if self.address is not None else ""
        port = f"/{self.port}" if self.port is not None else ""
        during = f" during {self.churn} network changes" if self.churn else ""
        return f"{self.frm}->{self.to}{where} {self.proto}{port}{during}"


@dataclass(frozen=True)
class Check:
    """One expectation: one pytest item.

    ``param`` is the variable part of a property (``lookup.<name>``: the name, which may hold
    references); ``reach`` is the probe a reachability check judges.
    """

    scenario: str
    subject: str
    prop: str
    aspect: str
    expectation: Expectation
    path: str
    line: int | None
    param: Value = None
    reach: ReachSpec | None = None
    # The subject is a network key (expect.<network>.refused), not a container.
    of_network: bool = False
    # The step after which it is judged ("": as built, before any step).
    step: str = ""

    @property
    def name(self) -> str:
        if self.reach is not None:
            return self.reach.id + (" [source]" if self.prop == "source" else "")
        return self.prop


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    description: str
    networks: dict[str, NetworkSpec]
    containers: dict[str, ContainerSpec]
    checks: tuple[Check, ...] = field(default=())
    uses_sentinel: bool = False
    # Kernel features it needs (declared, or implied by its drivers and segment).
    requires: tuple[str, ...] = ()
    segment: SegmentSpec | None = None
    # Changes made to the running scenario, in order (see Check.step).
    steps: tuple[StepSpec, ...] = ()

    @property
    def pooled_networks(self) -> int:
        """The networks it creates with a subnet the daemon picks from its default address pools."""
        return sum(1 for network in self.networks.values() if network.subnet is None and network.existing is None)

    def markers_of(self, check: Check) -> set[str]:
        """Mode markers of the containers a check involves (both ends of a probe)."""
        keys = [check.reach.frm, check.reach.to] if check.reach else [check.subject]
        return {self.containers[key].mode_marker for key in keys if key in self.containers}
