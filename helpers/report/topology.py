"""A scenario's topology as the report pictures it: the host's netns with its bridges, the
containers with their addresses on each network, the sentinel.

It is read from what was observed (``observed``), or from the spec (``declared``) when the scenario
was not built. Where each part goes in the picture is :mod:`netconform.report.topology_layout`; the
SVG markup is the template ``templates/topology.svg``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netconform.report.declared import value_text


@dataclass(frozen=True)
class Network:
    """A network as drawn: its bridge in the host's netns."""

    key: str
    subnet: str
    bridge: str
    gateway: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Link:
    """A container's attachment to a network, labelled with its interface and address."""

    network: str
    label: str


@dataclass(frozen=True)
class Node:
    """A container. ``mode`` is bridge, network, host, none or container (then ``target``)."""

    key: str
    name: str
    mode: str
    target: str
    links: tuple[Link, ...]
    notes: tuple[str, ...]
    created: bool
    error: str


@dataclass(frozen=True)
class Sentinel:
    """The suite's stand-in for the outside, in its own netns joined to the host's by a veth."""

    address: str
    gateway_address: str
    netns: str
    zone: str


@dataclass(frozen=True)
class Topology:
    """What the picture shows. ``origin`` is ``observed`` or ``declared`` (scenario not built)."""

    origin: str
    host: str
    networks: tuple[Network, ...]
    nodes: tuple[Node, ...]
    sentinel: Sentinel | None

    @property
    def not_created(self) -> tuple[Node, ...]:
        """Containers the daemon refused (or that were never made): listed beside the picture."""
        return tuple(node for node in self.nodes if not node.created)


# -- from a scenario record ------------------------------------------------------------------------


def topology_of(scenario: dict[str, Any]) -> Topology:
    """The topology of a scenario record: as observed, or as declared when it was not built."""
    if scenario.get("observed") and not scenario.get("build_error"):
        return _observed(scenario)
    return _declared(scenario)


def _observed(scenario: dict[str, Any]) -> Topology:
    observed = scenario["observed"]
    declared = scenario["declared"]
    nodes = tuple(_observed_node(key, facts, declared["containers"].get(key, {}))
                  for key, facts in observed["containers"].items())
    keys = _network_keys(declared, nodes)
    known = observed.get("networks") or {}
    networks = tuple(_observed_network(known[key]) if key in known else _stub_network(key) for key in keys)
    host = observed.get("host") or {}
    label = "host network namespace"
    if host.get("hostname"):
        label += f" · {host['hostname']}"
    if host.get("daemon_pid"):
        label += f" · dockerd pid {host['daemon_pid']}"
    return Topology("observed", label, networks, nodes, _sentinel(observed.get("sentinel")))


def _declared(scenario: dict[str, Any]) -> Topology:
    declared = scenario["declared"]
    nodes = tuple(_declared_node(key, spec) for key, spec in declared["containers"].items())
    specs = declared["networks"]
    networks = tuple(_declared_network(specs[key]) if key in specs else _stub_network(key)
                     for key in _network_keys(declared, nodes))
    return Topology("declared", "host network namespace (scenario not built: as declared)", networks, nodes, None)


def _network_keys(declared: dict[str, Any], nodes: tuple[Node, ...]) -> list[str]:
    """Declared networks, then any other one a container is attached to (the default bridge)."""
    keys = list(declared["networks"])
    for node in nodes:
        keys += [link.network for link in node.links if link.network not in keys]
    return keys


def _observed_node(key: str, facts: dict[str, Any], spec: dict[str, Any]) -> Node:
    mode = str(spec.get("mode") or _mode_of(facts))
    target = str(spec.get("target") or facts.get("joined") or "")
    links: list[Link] = []
    if facts.get("created") and mode not in ("host", "none", "container"):
        interfaces = (facts.get("net") or {}).get("interfaces") or []
        for network, endpoint in (facts.get("endpoints") or {}).items():
            if endpoint:
                links.append(Link(network, _endpoint_label(endpoint, interfaces)))
    notes = _notes(mode, target, spec)
    if mode == "none" and facts.get("net"):
        notes += tuple(f"{iface['name']} {' '.join(iface['addresses'])}".strip()
                       for iface in facts["net"].get("interfaces") or [])
    return Node(key, str(facts.get("name") or key), mode, target, tuple(links), notes,
                bool(facts.get("created")), str(facts.get("error") or ""))


def _declared_node(key: str, spec: dict[str, Any]) -> Node:
    mode = str(spec.get("mode") or "bridge")
    fixed = {str(pair[0]): value_text(pair[1]) for pair in spec.get("ips") or []}
    networks = ["bridge"] if mode == "bridge" else list(spec.get("networks") or [])
    attached = mode in ("bridge", "network")
    links = tuple(Link(network, fixed.get(network, "")) for network in networks) if attached else ()
    target = str(spec.get("target") or "")
    return Node(key, key, mode, target, links, _notes(mode, target, spec), True, "")


def _mode_of(facts: dict[str, Any]) -> str:
    network_mode = str(facts.get("network_mode") or "")
    if network_mode in ("host", "none"):
        return network_mode
    if network_mode.startswith("container:") or facts.get("joined"):
        return "container"
    return "bridge" if network_mode in ("bridge", "default") else "network"


def _notes(mode: str, target: str, spec: dict[str, Any]) -> tuple[str, ...]:
    """The lines under a container's name: its mode in words, then what it publishes."""
    words = {
        "bridge": "default bridge",
        "network": "user-defined network",
        "host": "host network mode",
        "none": "none: loopback only",
        "container": f"container:{target}",
    }
    notes = [words.get(mode, mode)]
    for port in spec.get("publish") or []:
        host = f"{port['host_ip']}:" if port.get("host_ip") else ""
        notes.append(f"publish {host}{port.get('host_port') or '*'}→{port['container_port']}/{port['protocol']}")
    return tuple(notes)


def _endpoint_label(endpoint: dict[str, Any], interfaces: list[dict[str, Any]]) -> str:
    """``eth1 172.21.0.3/16``: the interface is the one inside the container that holds the address."""
    ip = str(endpoint.get("ip") or "")
    if not ip:
        return "no address"
    address = f"{ip}/{endpoint['prefix']}" if endpoint.get("prefix") else ip
    name = next((iface["name"] for iface in interfaces
                 if any(str(cidr).startswith(f"{ip}/") for cidr in iface.get("addresses") or [])), "")
    ipv6 = str(endpoint.get("ipv6") or "")
    if ipv6:
        address += f" {ipv6}/{endpoint['prefix6']}" if endpoint.get("prefix6") else f" {ipv6}"
    return f"{name} {address}".strip()


def _observed_network(facts: dict[str, Any]) -> Network:
    options = facts.get("options") or {}
    tags = [] if facts.get("driver") in (None, "bridge") else [str(facts["driver"])]
    if facts.get("key") == "bridge":
        tags.append("default bridge")
    tags += _option_tags(options, internal=bool(facts.get("internal")))
    return Network(str(facts.get("key")), _both(facts.get("subnet") or "no subnet", facts.get("subnet6")),
                   str(facts.get("bridge") or ""), _both(facts.get("gateway"), facts.get("gateway6")), tuple(tags))


def _declared_network(spec: dict[str, Any]) -> Network:
    options = {str(pair[0]): value_text(pair[1]) for pair in spec.get("options") or []}
    tags = [] if spec.get("driver") in (None, "bridge") else [str(spec["driver"])]
    tags += _option_tags(options, internal=bool(spec.get("internal")))
    return Network(str(spec["key"]), _both(value_text(spec.get("subnet")) or "subnet chosen by the daemon",
                                           spec.get("subnet6")), "",
                   _both(value_text(spec.get("gateway")), spec.get("gateway6")), tuple(tags))


def _both(ipv4: Any, ipv6: Any) -> str:
    """An IPv4 value and, where there is one, its IPv6 counterpart after it."""
    return " ".join(str(value) for value in (ipv4, ipv6) if value)


def _stub_network(key: str) -> Network:
    return Network(key, "", "docker0" if key == "bridge" else "", "", ("default bridge",) if key == "bridge" else ())


def _option_tags(options: dict[str, Any], internal: bool) -> list[str]:
    """The options that change reachability, in words."""
    tags = ["internal"] if internal else []
    if str(options.get("com.docker.network.bridge.enable_icc", "")).lower() == "false":
        tags.append("no ICC")
    if str(options.get("com.docker.network.bridge.enable_ip_masquerade", "")).lower() == "false":
        tags.append("no masquerade")
    mtu = options.get("com.docker.network.driver.mtu")
    if mtu and str(mtu) != "1500":
        tags.append(f"mtu {mtu}")
    return tags


def _sentinel(facts: dict[str, Any] | None) -> Sentinel | None:
    if not facts:
        return None
    return Sentinel(_both(facts.get("address"), facts.get("address6")),
                    _both(facts.get("gateway_address"), facts.get("gateway_address6")),
                    str(facts.get("netns") or ""), str(facts.get("zone") or ""))
