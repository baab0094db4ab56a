"""Assemble the facts of a built scenario: engine reports plus observation from inside namespaces.

Every container's network namespace is read through its own process, separately from the host's
and from any container it may share it with: "the same as the host" or "the same as X" is then
judged from two independent reads, so it can fail on its own. The host is read before and after
the containers; interfaces that came or went in between (other scenarios' veths) are recorded as
transient and left out of such comparisons.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

import docker

from netconform.facts import (
    DEFAULT_BRIDGE,
    ContainerFacts,
    DaemonFacts,
    EndpointFacts,
    HostFacts,
    NetnsView,
    NetworkFacts,
    ScenarioFacts,
)
from netconform.facts.files import parse_hosts, parse_resolv_conf
from netconform.observe.identity import cgroup_version
from netconform.observe.netlink import observe_interface_names
from netconform.observe.visit import ProcessView, view_between_host_reads, visit_process


class Subject(Protocol):
    """A container the engine was asked for, as observation needs it (the engine's CreatedContainer).

    A protocol, so observation knows nothing of specs or of how the container was built.
    """

    @property
    def key(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def container(self) -> Any: ...
    @property
    def error(self) -> str | None: ...
    @property
    def running(self) -> bool: ...
    @property
    def primary_network(self) -> str | None: ...
    @property
    def joined(self) -> str | None: ...


# Always read for the report; specs may ask for more through sysctl.<name> properties.
DEFAULT_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ping_group_range",
)


class _NetnsReader:
    """Netlink dumps of network namespaces, each through the process it was asked for."""

    def __init__(self, sysctls: Iterable[str], timeout: float) -> None:
        self.sysctls = tuple(dict.fromkeys((*DEFAULT_SYSCTLS, *sysctls)))
        self.timeout = timeout

    def names(self, pid: int, what: str) -> set[str]:
        return observe_interface_names({"net": f"/proc/{pid}/ns/net"}, timeout=self.timeout, what=what)

    def visit(self, pid: int, what: str) -> ProcessView:
        return visit_process(pid, self.sysctls, self.timeout, what)


def observe_host(daemon_pid: int, reader: _NetnsReader) -> HostFacts:
    seen = reader.visit(daemon_pid, "netlink dump of the daemon's network namespace")
    return HostFacts(
        daemon_pid=daemon_pid,
        namespaces=seen.namespaces,
        net=seen.net,
        hostname=seen.hostname,
        cgroup_version=cgroup_version(),
        files=seen.files,
        resolv=parse_resolv_conf(seen.files["/etc/resolv.conf"]),
        hosts_entries=parse_hosts(seen.files["/etc/hosts"]),
    )


def network_facts(key: str, network: Any) -> NetworkFacts:
    attrs = network.attrs
    configs = (attrs.get("IPAM") or {}).get("Config") or []
    # The daemon lists the IPv4 and IPv6 pools in no fixed order.
    config: dict[str, Any] = next((entry for entry in configs if ":" not in str(entry.get("Subnet", ""))), {})
    config6: dict[str, Any] = next((entry for entry in configs if ":" in str(entry.get("Subnet", ""))), {})
    options = {str(k): str(v) for k, v in (attrs.get("Options") or {}).items()}
    bridge = options.get("com.docker.network.bridge.name") or f"br-{attrs['Id'][:12]}"
    return NetworkFacts(
        key=key, name=str(attrs["Name"]), id=str(attrs["Id"]), driver=str(attrs.get("Driver", "")),
        subnet=config.get("Subnet"), gateway=config.get("Gateway"), bridge=bridge,
        internal=bool(attrs.get("Internal")), options=options, enable_ipv6=bool(attrs.get("EnableIPv6")),
        subnet6=config6.get("Subnet"), gateway6=config6.get("Gateway"),
    )


def _endpoints(attrs: dict[str, Any], names_to_keys: dict[str, str]) -> dict[str, EndpointFacts]:
    networks = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
    endpoints = {}
    for name, endpoint in networks.items():
        key = names_to_keys.get(name, name)
        endpoints[key] = EndpointFacts(
            network=key,
            ip=endpoint.get("IPAddress") or None,
            prefix=endpoint.get("IPPrefixLen") or None,
            gateway=endpoint.get("Gateway") or None,
            mac=endpoint.get("MacAddress") or None,
            aliases=list(endpoint.get("Aliases") or []),
            ipv6=endpoint.get("GlobalIPv6Address") or None,
            prefix6=endpoint.get("GlobalIPv6PrefixLen") or None,
            gateway6=endpoint.get("IPv6Gateway") or None,
        )
    return endpoints


def _container_facts(created: Subject, names_to_keys: dict[str, str], reader: _NetnsReader,
                     host: HostFacts) -> ContainerFacts:
    facts = ContainerFacts(
        key=created.key, name=created.name, created=created.running, error=created.error,
        left_behind=not created.running and created.container is not None,
        primary_network=created.primary_network, joined=created.joined,
    )
    if not created.running or created.container is None:
        return facts
    attrs = created.container.attrs
    facts.id = str(attrs["Id"])
    facts.pid = int(attrs["State"]["Pid"])
    facts.network_mode = str(attrs["HostConfig"].get("NetworkMode", ""))
    facts.config_hostname = str(attrs["Config"].get("Hostname", ""))
    facts.endpoints = _endpoints(attrs, names_to_keys)
    facts.published = {port: [f"{bound.get('HostIp')}:{bound.get('HostPort')}" for bound in bindings]
                       for port, bindings in ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).items()
                       if bindings}
    seen = reader.visit(facts.pid, f"netlink dump of {created.name}")
    facts.namespaces, facts.net, facts.uts_hostname, facts.files = seen.namespaces, seen.net, seen.hostname, seen.files
    facts.resolv = parse_resolv_conf(facts.files["/etc/resolv.conf"])
    facts.hosts_entries = parse_hosts(facts.files["/etc/hosts"])
    if facts.namespaces["net"] != host.namespaces["net"]:
        for iface in facts.net.interfaces:
            peer = host.net.by_index(iface.peer_index) if iface.peer_index else None
            if peer is not None and peer.kind == "veth" and peer.peer_index == iface.index:
                facts.host_peers[iface.name] = peer
    return facts


def _bridge_address(view: NetnsView, network: NetworkFacts, subnet_text: str | None) -> str | None:
    """The default bridge's IPAM config has no Gateway unless --bip is set (nor, before 28, an IPv6
    network's unless declared): its gateway is the bridge interface's own address inside the subnet."""
    iface = view.interface(network.bridge)
    if iface is None or subnet_text is None:
        return None
    subnet = ipaddress.ip_network(subnet_text)
    return next((address for address in [*iface.ipv4, *iface.ipv6] if ipaddress.ip_address(address) in subnet),
                None)


def observe_scenario(
    name: str,
    built_networks: Mapping[str, Any],
    built_containers: Mapping[str, Subject],
    client: docker.DockerClient,
    daemon: DaemonFacts,
    daemon_pid: int,
    sysctls: Iterable[str] = (),
    timeout: float = 10.0,
) -> ScenarioFacts:
    """Everything the judge needs about a built scenario, observed once."""
    reader = _NetnsReader(sysctls, timeout)
    networks = {key: network_facts(key, network) for key, network in built_networks.items()}
    networks[DEFAULT_BRIDGE] = network_facts(DEFAULT_BRIDGE, client.networks.get(DEFAULT_BRIDGE))
    names_to_keys = {facts.name: key for key, facts in networks.items()}
    for created in built_containers.values():
        if created.container is not None:
            created.container.reload()
    # The host's view is taken after every container is up, so the host ends of their veths exist.
    host = observe_host(daemon_pid, reader)
    for network in networks.values():
        if network.gateway is None:
            network.gateway = _bridge_address(host.net, network, network.subnet)
        if network.gateway6 is None:
            network.gateway6 = _bridge_address(host.net, network, network.subnet6)
    containers = {
        key: _container_facts(created, names_to_keys, reader, host) for key, created in built_containers.items()
    }
    host.transient_interfaces = _transient_host_interfaces(host, containers.values(), reader)
    return ScenarioFacts(name, daemon, host, networks, containers)


def _names(view: NetnsView | None) -> set[str]:
    return {iface.name for iface in view.interfaces} if view else set()


def _transient_host_interfaces(host: HostFacts, containers: Iterable[ContainerFacts], reader: _NetnsReader,
                               rereads: int = 5) -> list[str]:
    """Interfaces that came or went in the daemon's namespace while the scenario was observed.

    The host is read again after the containers. A container in the host's namespace may have
    caught an interface that lived only between two host reads (another run's veth); it is read
    again, between two host reads milliseconds apart, until everything it saw was seen by a host
    read too (bounded).
    Namespace identity only decides whom to read again: the comparison itself stays between
    separate reads.
    """
    reads = [_names(host.net), reader.names(host.daemon_pid, "interface names of the daemon's namespace, again")]
    for container in containers:
        if not container.created or container.namespaces.get("net") != host.namespaces.get("net"):
            continue
        for _ in range(rereads):
            if _names(container.net) <= set().union(*reads):
                break
            before, container.net, after = view_between_host_reads(
                host.daemon_pid, container.pid, reader.sysctls, reader.timeout,
                f"netlink dump of {container.name} between two of the daemon's namespace, again")
            reads += [before, after]
    seen: set[str] = set().union(*reads)
    return sorted(seen - reads[0].intersection(*reads[1:]))
