"""Observed facts: what probes saw, with no opinion on what was expected.

The same facts feed the judge, the JSON report and the diff between two runs, so they are plain
dataclasses of strings, ints and lists (``dataclasses.asdict`` turns them into JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class NamespaceId:
    """A namespace's identity: the (device, inode) of its /proc/<pid>/ns/<kind> file."""

    kind: str
    dev: int
    inode: int

    def __str__(self) -> str:
        return f"{self.kind}:[{self.inode}]"


@dataclass
class Interface:
    index: int
    name: str
    kind: str
    mac: str
    mtu: int
    up: bool
    addresses: list[str] = field(default_factory=list)
    peer_index: int | None = None
    master: str | None = None

    @property
    def ipv4(self) -> list[str]:
        return [cidr.split("/")[0] for cidr in self.addresses if ":" not in cidr]

    def describe(self) -> str:
        addresses = " ".join(self.addresses) or "no address"
        extra = f" master {self.master}" if self.master else ""
        state = "UP" if self.up else "DOWN"
        return f"{self.index}: {self.name} ({self.kind}) {state} mtu {self.mtu} {self.mac} {addresses}{extra}"


@dataclass
class Route:
    dst: str
    gateway: str | None
    dev: str | None

    def describe(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        dev = f" dev {self.dev}" if self.dev else ""
        return f"{self.dst}{via}{dev}"


@dataclass
class NetnsView:
    """One network namespace as netlink and /proc/sys/net show it from inside."""

    interfaces: list[Interface]
    routes: list[Route]
    sysctls: dict[str, str] = field(default_factory=dict)
    neighbours: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """Interfaces, routes and neighbours as an engineer reads them after a failure."""
        return "\n".join([
            *(iface.describe() for iface in self.interfaces),
            *(f"route {route.describe()}" for route in self.routes),
            *(f"neighbour {entry}" for entry in self.neighbours),
        ])

    def interface(self, name: str) -> Interface | None:
        return next((iface for iface in self.interfaces if iface.name == name), None)

    def by_index(self, index: int) -> Interface | None:
        return next((iface for iface in self.interfaces if iface.index == index), None)

    def default_route(self) -> Route | None:
        return next((route for route in self.routes if route.dst == "default"), None)


@dataclass
class ResolvConf:
    nameservers: list[str]
    search: list[str]
    options: list[str]


@dataclass
class LookupResult:
    """One DNS question asked from inside a network namespace, and what came back."""

    qtype: str
    name: str
    server: str | None
    rcode: str
    answers: list[str] = field(default_factory=list)
    attempts: int = 0
    elapsed: float = 0.0
    detail: str = ""
    upstream_sources: list[str] | None = None

    @property
    def outcome(self) -> str | list[str]:
        """Sorted answers; NODATA for an empty NOERROR; else the rcode (or 'timeout')."""
        if self.rcode == "NOERROR":
            return sorted(self.answers) if self.answers else "NODATA"
        return self.rcode

    def describe(self) -> str:
        return (f"{self.qtype} {self.name} @{self.server}: {self.rcode} {self.answers or ''} "
                f"({self.attempts} attempt(s), {self.elapsed:.2f}s){' ' + self.detail if self.detail else ''}")


@dataclass
class Attempt:
    outcome: str
    seen: str | None = None
    elapsed: float = 0.0
    detail: str = ""


@dataclass
class ReachResult:
    """One probe of the reachability matrix and every attempt it took."""

    probe: str
    frm: str
    to: str
    proto: str
    address: str
    port: int | None
    listener: str = ""
    resolved_from: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    error: str = ""

    @property
    def reached(self) -> bool:
        return any(attempt.outcome == "reach" for attempt in self.attempts)

    @property
    def outcome(self) -> str:
        return "reach" if self.reached else "blocked"

    @property
    def seen_source(self) -> str | None:
        return next((attempt.seen for attempt in self.attempts if attempt.outcome == "reach"), None)

    def describe(self) -> str:
        target = f"{self.address}:{self.port}" if self.port else self.address
        via = f" (resolved from {self.resolved_from})" if self.resolved_from else ""
        tries = ", ".join(
            f"{a.outcome}{' from ' + a.seen if a.seen else ''}{' (' + a.detail + ')' if a.detail else ''}"
            f" in {a.elapsed:.2f}s" for a in self.attempts
        )
        listener = f"; listener {self.listener}" if self.listener else ""
        error = f"; error: {self.error}" if self.error else ""
        return f"{self.proto} {self.frm} -> {self.to} {target}{via}: {self.outcome} [{tries}]{listener}{error}"


@dataclass
class SentinelInfo:
    address: str
    gateway_address: str
    zone: str
    netns: str


@dataclass
class EndpointFacts:
    """What the engine reports for one network attachment (inspect NetworkSettings.Networks)."""

    network: str
    ip: str | None
    prefix: int | None
    gateway: str | None
    mac: str | None
    aliases: list[str] = field(default_factory=list)


@dataclass
class ContainerFacts:
    key: str
    name: str
    created: bool
    error: str | None = None
    left_behind: bool = False
    id: str = ""
    pid: int = 0
    network_mode: str = ""
    primary_network: str | None = None
    joined: str | None = None
    config_hostname: str = ""
    endpoints: dict[str, EndpointFacts] = field(default_factory=dict)
    namespaces: dict[str, NamespaceId] = field(default_factory=dict)
    net: NetnsView | None = None
    uts_hostname: str | None = None
    files: dict[str, str] = field(default_factory=dict)
    host_peers: dict[str, Interface] = field(default_factory=dict)
    resolv: ResolvConf | None = None
    hosts_entries: list[str] = field(default_factory=list)
    lookups: dict[str, LookupResult] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass
class NetworkFacts:
    key: str
    name: str
    id: str
    driver: str
    subnet: str | None
    gateway: str | None
    bridge: str
    internal: bool
    options: dict[str, str] = field(default_factory=dict)


@dataclass
class HostFacts:
    """The host as the daemon sees it: the namespaces and network namespace dockerd lives in."""

    daemon_pid: int
    namespaces: dict[str, NamespaceId]
    net: NetnsView
    hostname: str
    cgroup_version: int
    files: dict[str, str] = field(default_factory=dict)
    resolv: ResolvConf | None = None
    hosts_entries: list[str] = field(default_factory=list)


@dataclass
class DaemonFacts:
    version: str
    api_version: str
    os: str
    kernel: str
    storage_driver: str
    cgroup_driver: str
    cgroup_version: str
    userns_remap: bool
    security_options: list[str] = field(default_factory=list)
    default_bridge: dict[str, str] = field(default_factory=dict)


@dataclass
class ScenarioFacts:
    scenario: str
    daemon: DaemonFacts
    host: HostFacts
    networks: dict[str, NetworkFacts]
    containers: dict[str, ContainerFacts]
    sentinel: SentinelInfo | None = None
    reach: dict[str, ReachResult] = field(default_factory=dict)
