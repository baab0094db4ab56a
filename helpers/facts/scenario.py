"""A scenario's facts: the daemon, the host, its networks and containers, as observed once."""

from __future__ import annotations

from dataclasses import dataclass, field

from netconform.facts.files import ResolvConf
from netconform.facts.netns import Interface, NamespaceId, NetnsView
from netconform.facts.outcomes import LookupResult, ReachResult
from netconform.facts.relocation import Relocation

# The daemon's default network: the key and the name are the same everywhere.
DEFAULT_BRIDGE = "bridge"


@dataclass
class SentinelInfo:
    address: str
    gateway_address: str
    zone: str
    netns: str
    address6: str | None = None
    gateway_address6: str | None = None


@dataclass
class SegmentInfo:
    """The layer-2 segment the run made for a scenario: the parent in the daemon's namespace (name,
    MAC, own address if any) and the sentinel's address on it, after any relocation of the subnet."""

    parent: str
    parent_mac: str
    subnet: str
    sentinel: str
    host: str | None = None


@dataclass
class NetworkRefusal:
    """A network the daemon refused to create: its error, and whether a network of that name exists
    afterwards all the same."""

    error: str
    left_behind: bool = False


@dataclass
class EndpointFacts:
    """What the engine reports for one network attachment (inspect NetworkSettings.Networks)."""

    network: str
    ip: str | None
    prefix: int | None
    gateway: str | None
    mac: str | None
    aliases: list[str] = field(default_factory=list)
    ipv6: str | None = None
    prefix6: int | None = None
    gateway6: str | None = None


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
    # Container port/protocol -> the host address:port bindings the daemon made ("8080/tcp": ["0.0.0.0:18080"]).
    published: dict[str, list[str]] = field(default_factory=dict)
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
    enable_ipv6: bool = False
    subnet6: str | None = None
    gateway6: str | None = None


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
    relocation: Relocation = field(default_factory=Relocation)
    segment: SegmentInfo | None = None
    # Networks the scenario expects to be refused, by key, when the daemon did refuse them.
    refused_networks: dict[str, NetworkRefusal] = field(default_factory=dict)
    # Addresses the scenario's containers held before its last step (a disconnect gives one up):
    # still this run's own, so a probe may show they no longer answer.
    former_addresses: list[str] = field(default_factory=list)
