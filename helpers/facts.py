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
class Sighting:
    """A probe's marked packets seen at one place (see :mod:`netconform.probes.witness`)."""

    count: int = 0
    first: list[str] = field(default_factory=list)
    dropped: int = 0
    error: str = ""
    # At a target: how many answers to those packets left its namespace.
    answers: int = 0

    def add(self, description: str, keep: int = 5) -> None:
        self.count += 1
        if len(self.first) < keep:
            self.first.append(description)

    def describe(self) -> str:
        if self.error:
            return f"not watched: {self.error}"
        seen = "; ".join(self.first)
        more = f" (+{self.count - len(self.first)} more)" if self.count > len(self.first) else ""
        lost = f"; the packet socket lost {self.dropped} packet(s)" if self.dropped else ""
        answered = f"; {self.answers} answer(s) left" if self.answers else ""
        return f"{self.count} packet(s){': ' + seen if seen else ''}{more}{answered}{lost}"


# Attempt outcomes that mean the prober itself failed, not the network.
BROKEN_ATTEMPTS = ("error", "protocol")
# The kernel of the prober's namespace had no way to the destination: nothing was sent.
NO_ROUTE = "no route"

OUTCOMES = ("reach", "blocked", "one-way", "inconclusive")


@dataclass
class ReachResult:
    """One probe of the reachability matrix: every attempt, and what the witnesses saw.

    ``sent`` counts the probe's packets seen leaving the prober's namespace, ``arrived`` those seen
    arriving in the target's (None: not watched). The outcome is decided from all three.
    """

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
    sent: Sighting | None = None
    arrived: Sighting | None = None

    @property
    def reached(self) -> bool:
        return any(attempt.outcome == "reach" for attempt in self.attempts)

    @property
    def outcome(self) -> str:
        """reach, blocked, one-way (the request arrived, no answer came back) or inconclusive."""
        return self.decide()[0]

    @property
    def reason(self) -> str:
        """Why the outcome is what it is, in words for the story."""
        return self.decide()[1]

    def decide(self) -> tuple[str, str]:
        if self.error:
            return "inconclusive", self.error
        if not self.attempts:
            return "inconclusive", "no attempt was made"
        arrived = self.arrived
        if arrived is None or arrived.error:
            why = arrived.error if arrived else "no witness ran"
            return "inconclusive", f"{self.to}'s namespace could not be watched ({why})"
        if arrived.dropped:
            return "inconclusive", f"the witness in {self.to}'s namespace lost {arrived.dropped} packet(s)"
        if self.reached:
            if arrived.count:
                return "reach", f"answered; {arrived.count} packet(s) of the probe arrived in {self.to}'s namespace"
            return "inconclusive", (f"an answer came back, but none of the probe's packets arrived in {self.to}'s "
                                    "namespace: something else answered")
        broken = next((a for a in self.attempts if a.outcome in BROKEN_ATTEMPTS), None)
        if broken is not None:
            return "inconclusive", f"the probe itself failed: {broken.outcome} ({broken.detail})"
        if arrived.count and arrived.answers:
            return "one-way", (f"one-way leak: {arrived.count} packet(s) of the probe arrived in {self.to}'s "
                               f"namespace and {arrived.answers} answer(s) left it, but none came back")
        if arrived.count:
            return "one-way", (f"one-way: {arrived.count} packet(s) of the probe arrived in {self.to}'s namespace, "
                               "which sent no answer (dropped inside it)")
        sent = self.sent
        if all(a.outcome == "unreachable" and a.detail.startswith(NO_ROUTE) for a in self.attempts):
            return "blocked", f"{self.frm}'s namespace has no route to {self.address}; nothing arrived"
        if sent is None or sent.error or sent.dropped or not sent.count:
            why = sent.describe() if sent else "not watched"
            return "inconclusive", f"no packet of the probe was seen leaving {self.frm}'s namespace ({why})"
        kinds = sorted({a.outcome for a in self.attempts})
        return "blocked", (f"{sent.count} packet(s) left {self.frm}'s namespace, none arrived in {self.to}'s "
                           f"({', '.join(kinds)})")

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
        outcome, reason = self.decide()
        lines = [f"{self.proto} {self.frm} -> {self.to} {target}{via}: {outcome} [{tries}]{listener}",
                 f"  why: {reason}"]
        if self.sent is not None:
            lines.append(f"  left {self.frm}: {self.sent.describe()}")
        if self.arrived is not None:
            lines.append(f"  arrived in {self.to}: {self.arrived.describe()}")
        return "\n".join(lines)


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
    # Interfaces that came or went while the scenario was observed (other scenarios' veths).
    transient_interfaces: list[str] = field(default_factory=list)

    @property
    def stable_interfaces(self) -> list[str]:
        return [iface.name for iface in self.net.interfaces if iface.name not in self.transient_interfaces]


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
