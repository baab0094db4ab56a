"""Facts of a report as a flat, comparable map: what carries meaning, without what does not.

Container ids and names, network ids, bridge and veth names, the run id, pids, namespace inodes,
timings and addresses allocated dynamically differ on every run; they are replaced by stable
placeholders (``<ip:web@appnet>``, ``<bridge:appnet>``, ``<short_id:web>``) or left out, so two
reports of the same scenarios compare on behaviour only. Namespaces compare by owner (host,
private, container:<key>), not by inode.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable
from typing import Any

from netconform.facts import Relocation
from netconform.report.fact_values import Fact, canonical, entries, ordered
from netconform.report.firewall import flatten_firewall

Flat = dict[str, Fact]
# Host-side interfaces that come and go with other containers, scenarios and runs.
# Names of veths, bridges, sentinel ends (s) and segment parents (p) of any scenario or run.
_VOLATILE = re.compile(r"^(veth[0-9a-f]{7}|br-[0-9a-f]{12}|nc[0-9a-f]{8}[sp][0-9a-f]{1,4})$")


class Substitutions:
    """Run-specific strings of one scenario -> placeholders, longest first when applied."""

    def __init__(self) -> None:
        self.table: dict[str, str] = {}
        self.dynamic_networks: set[str] = set()
        # A declared subnet the run had to move (another run held it): compared as declared.
        self.moved_back = Relocation()

    def add(self, value: Any, placeholder: str) -> None:
        if value and isinstance(value, str):
            self.table.setdefault(self.moved_back.address(value), placeholder)

    def apply(self, text: str) -> str:
        text = self.moved_back.address(text)
        if text in self.table:  # the scenario's own (its segment's parent), before any other's
            return self.table[text]
        if _VOLATILE.match(text):
            return "<volatile>"
        for value in sorted(self.table, key=len, reverse=True):
            if len(value) >= 7 and value in text:
                # Whole tokens only: 10.236.2.2 must not turn 10.236.2.20 into '<ip:x>0'.
                placeholder = self.table[value].replace("\\", "\\\\")
                text = re.sub(rf"(?<![0-9A-Za-z]){re.escape(value)}(?![0-9A-Za-z])", placeholder, text)
        return _generic(text)


def _generic(text: str) -> str:
    """What no table knows: interfaces of other scenarios' containers, networks and sentinels."""
    return "<volatile>" if _VOLATILE.match(text) else text


def _daemon_error(text: str) -> str:
    """The daemon's words, with the endpoints a refused multi-network create lists sorted: moby
    names them in Go map order, which changes from run to run."""
    head, said, listed = text.partition("network endpoints: ")
    return head + said + ", ".join(sorted(listed.split(", "))) if said else text


def _scenario_substitutions(scenario: dict[str, Any], run_id: str) -> Substitutions:
    subs = Substitutions()
    observed = scenario.get("observed") or {}
    subs.add(run_id, "<run>")
    sentinel = observed.get("sentinel") or {}
    subs.add(sentinel.get("address"), "<sentinel>")
    subs.add(sentinel.get("gateway_address"), "<sentinel-gateway>")
    subs.add(sentinel.get("address6"), "<sentinel6>")
    subs.add(sentinel.get("gateway_address6"), "<sentinel-gateway6>")
    subs.add(sentinel.get("netns"), "<sentinel-netns>")
    segment = observed.get("segment") or {}
    subs.add(segment.get("parent"), "<segment-parent>")
    subs.add(segment.get("parent_mac"), "<segment-parent-mac>")
    for declared, actual in ((observed.get("relocation") or {}).get("subnets") or {}).items():
        subs.moved_back.subnets[actual] = declared
    for key, network in (observed.get("networks") or {}).items():
        subs.add(network.get("id"), f"<id:{key}>")
        subs.add(network.get("name") if key != "bridge" else None, f"<net:{key}>")
        if key != "bridge" and network.get("bridge", "").startswith("br-"):
            subs.add(network["bridge"], f"<bridge:{key}>")
        declared = (scenario.get("declared") or {}).get("networks", {}).get(key) or {}
        if not declared.get("subnet"):
            subs.dynamic_networks.add(key)
            subs.add(network.get("subnet"), f"<subnet:{key}>")
            subs.add(network.get("gateway"), f"<gateway:{key}>")
    declared_ips = {
        (key, net): ip
        for key, spec in ((scenario.get("declared") or {}).get("containers") or {}).items()
        for net, ip in spec.get("ips") or []
    }
    for key, container in (observed.get("containers") or {}).items():
        subs.add(container.get("id"), f"<id:{key}>")
        subs.add((container.get("id") or "")[:12], f"<short_id:{key}>")
        subs.add(container.get("name"), f"<name:{key}>")
        for net, endpoint in (container.get("endpoints") or {}).items():
            if (key, net) not in declared_ips:
                subs.add(endpoint.get("ip"), f"<ip:{key}@{net}>")
            subs.add(endpoint.get("mac"), f"<mac:{key}@{net}>")
    return subs


def _owner(kind: str, inode: Any, host: dict[str, Any], earlier: list[tuple[str, dict[str, Any]]]) -> str:
    if host.get(kind, {}).get("inode") == inode:
        return "host"
    for key, namespaces in earlier:
        if namespaces.get(kind, {}).get("inode") == inode:
            return f"container:{key}"
    return "private"


def _by_network(net: dict[str, Any], subs: Substitutions) -> dict[str, str]:
    """A multi-network container's interfaces named after their network (``<if:appnet>``): the
    order they join in, hence eth0/eth1, is not fixed on every daemon (28 names them as each
    network attaches, in map order)."""
    renames = {}
    for iface in net.get("interfaces") or []:
        match = re.fullmatch(r"<mac:[^@>]+@([^>]+)>", subs.apply(str(iface.get("mac") or "")))
        if match:
            renames[iface["name"]] = f"<if:{match.group(1)}>"
    return renames


def _interfaces(prefix: str, net: dict[str, Any] | None, subs: Substitutions, out: Flat,
                skip_volatile: bool = False, by_network: bool = False) -> None:
    if not net:
        return
    renames = _by_network(net, subs) if by_network else {}
    names = []
    for iface in net.get("interfaces") or []:
        name = renames.get(iface["name"]) or subs.apply(iface["name"])
        if name == "<volatile>" or (skip_volatile and name.startswith("<")):
            continue
        names.append(name)
        base = f"{prefix} interface {name}"
        out[f"{base} kind"] = str(iface.get("kind"))
        out[f"{base} mtu"] = str(iface.get("mtu"))
        out[f"{base} up"] = str(iface.get("up"))
        out[f"{base} addresses"] = entries(_address(subs, address) for address in _stable_addresses(iface))
        out[f"{base} mac"] = _mac(iface, subs)
    out[f"{prefix} interfaces"] = entries(names)
    def dev(route: dict[str, Any]) -> str:
        return renames.get(str(route.get("dev"))) or subs.apply(str(route.get("dev")))

    routes = [route for route in net.get("routes") or [] if dev(route) in names]
    out[f"{prefix} routes"] = entries(
        subs.apply(f"{route['dst']} via {route.get('gateway')} dev ") + dev(route) for route in routes
    )
    for name, value in sorted((net.get("sysctls") or {}).items()):
        out[f"{prefix} sysctl {name}"] = str(value)


def _address(subs: Substitutions, cidr: str) -> str:
    """``<ip:web@net>/<prefix:net>`` when the pool chose the subnet (its length varies too)."""
    text = subs.apply(cidr)
    match = re.fullmatch(r"<ip:[^@>]+@([^>]+)>/\d+", text)
    if match and match.group(1) in subs.dynamic_networks:
        return text.rsplit("/", 1)[0] + f"/<prefix:{match.group(1)}>"
    return text


def _stable_addresses(iface: dict[str, Any]) -> list[str]:
    """Addresses without IPv6 link-local ones, which derive from a random MAC."""
    return [address for address in iface.get("addresses") or []
            if not ipaddress.ip_interface(address).ip.is_link_local]


def _mac(iface: dict[str, Any], subs: Substitutions) -> str:
    mac = str(iface.get("mac") or "")
    placeholder = subs.apply(mac)
    if placeholder != mac:
        return placeholder
    ipv4 = [address.split("/")[0] for address in iface.get("addresses") or [] if ":" not in address]
    if ipv4 and mac == "02:42:" + ":".join(f"{int(byte):02x}" for byte in ipv4[0].split(".")):
        return "<02:42 + ipv4>"
    return "<mac>" if mac not in ("", "00:00:00:00:00:00") else mac


def _list(items: Iterable[object]) -> str:
    """Several values that make one scalar fact (a lookup's answers): sorted, as the diff prints them."""
    return "[" + ", ".join(sorted(str(item) for item in items)) + "]"


def _host_names(entry: str) -> list[str]:
    """An /etc/hosts line -> one ``address name`` per name: a name moved to another line is no change."""
    address, *names = entry.split()
    return [f"{address} {name}" for name in names] or [address]


def flatten_scenario(scenario: dict[str, Any], run_id: str) -> Flat:
    """One scenario's meaningful facts as ``"<scenario> <subject> <fact>" -> text``."""
    name = scenario["name"]
    out: Flat = {}
    if scenario.get("build_error"):
        out[f"{name} build"] = "error: " + scenario["build_error"]
    observed = scenario.get("observed")
    if not observed:
        return out
    subs = _scenario_substitutions(scenario, run_id)
    host_ns = (observed.get("host") or {}).get("namespaces") or {}
    earlier: list[tuple[str, dict[str, Any]]] = []
    for key, container in (observed.get("containers") or {}).items():
        prefix = f"{name} {key}"
        out[f"{prefix} created"] = str(container.get("created"))
        if container.get("error"):
            out[f"{prefix} daemon error"] = _daemon_error(subs.apply(container["error"]))
        out[f"{prefix} left behind"] = str(container.get("left_behind"))
        if not container.get("created"):
            continue
        namespaces = container.get("namespaces") or {}
        for kind, ident in namespaces.items():
            out[f"{prefix} namespace {kind}"] = _owner(kind, ident.get("inode"), host_ns, earlier)
        earlier.append((key, namespaces))
        shares_host_net = namespaces.get("net", {}).get("inode") == host_ns.get("net", {}).get("inode")
        several = len(container.get("endpoints") or {}) > 1
        _interfaces(prefix, container.get("net"), subs, out, skip_volatile=shares_host_net, by_network=several)
        renames = _by_network(container.get("net") or {}, subs) if several else {}
        for ifname, peer in (container.get("host_peers") or {}).items():
            out[f"{prefix} interface {renames.get(ifname, ifname)} host bridge"] = subs.apply(str(peer.get("master")))
        out[f"{prefix} hostname"] = subs.apply(str(container.get("uts_hostname")))
        resolv = container.get("resolv") or {}
        for directive in ("nameservers", "search"):  # in order: the first is asked first
            out[f"{prefix} resolv.conf {directive}"] = ordered(subs.apply(v) for v in resolv.get(directive) or [])
        out[f"{prefix} resolv.conf options"] = entries(subs.apply(v) for v in resolv.get("options") or [])
        out[f"{prefix} /etc/hosts"] = entries(name for entry in container.get("hosts_entries") or []
                                             for name in _host_names(subs.apply(canonical(entry))))
        for lookup in (container.get("lookups") or {}).values():
            answers = _list(subs.apply(answer) for answer in lookup.get("answers") or [])
            out[f"{prefix} lookup {lookup['qtype']} {subs.apply(lookup['name'])}"] = f"{lookup['rcode']} {answers}"
            if lookup.get("upstream_sources") is not None:
                out[f"{prefix} lookup {lookup['qtype']} {subs.apply(lookup['name'])} reached sentinel from"] = \
                    entries(subs.apply(source) for source in lookup["upstream_sources"])
    for result in observed.get("reach") or []:
        prefix = f"{name} reachability {subs.apply(result['probe'])}"
        reached = next((a for a in result.get("attempts") or [] if a.get("outcome") == "reach"), None)
        # The first attempt's way of failing is stable (the next ones may meet a neighbour entry
        # that failed in the meantime and say 'unreachable' instead of 'timeout').
        first = (result.get("attempts") or [{}])[0]
        # Reports since the witnesses carry the decided outcome (one-way, inconclusive...).
        outcome = result.get("outcome") or ("reach" if reached else "blocked")
        out[f"{prefix} outcome"] = "reach" if outcome == "reach" else \
            f"{outcome} ({first.get('outcome', result.get('error'))})"
        if reached:
            out[f"{prefix} source seen"] = subs.apply(str(reached.get("seen")))
    for key, network in (observed.get("networks") or {}).items():
        prefix = f"{name} network {key}"
        out[f"{prefix} subnet"] = subs.apply(str(network.get("subnet")))
        out[f"{prefix} gateway"] = subs.apply(str(network.get("gateway")))
        out[f"{prefix} bridge"] = subs.apply(str(network.get("bridge")))
        for option, value in sorted((network.get("options") or {}).items()):
            out[f"{prefix} option {option}"] = subs.apply(str(value))
    return out


def flatten_report(document: dict[str, Any]) -> Flat:
    """Every scenario's facts plus the daemon's settings, normalised; addresses in canonical form."""
    out = flatten_machine(document)
    for scenario in document.get("scenarios") or []:
        out.update(flatten_scenario(scenario, document["run"]["id"]))
        # Each step's state as a scenario of its own, "<scenario>@<step>", so states stay apart.
        for step in scenario.get("steps") or []:
            after = {**scenario, "name": f"{scenario['name']}@{step.get('name')}", "observed": step.get("observed"),
                     "build_error": step.get("error") or ""}
            out.update(flatten_scenario(after, document["run"]["id"]))
    return {canonical(key): canonical(value) if isinstance(value, str) else value for key, value in out.items()}


def flatten_machine(document: dict[str, Any]) -> Flat:
    """The daemon's settings and the host's facts (``daemon ...``, ``host ...``): no scenario's."""
    out: Flat = {}
    daemon = document.get("daemon") or {}
    for key in ("version", "api_version", "storage_driver", "cgroup_driver", "cgroup_version", "userns_remap"):
        out[f"daemon {key}"] = str(daemon.get(key))
    for key, value in sorted((daemon.get("default_bridge") or {}).items()):
        out[f"daemon default bridge {key}"] = str(value)
    for key, value in sorted((daemon.get("info") or {}).items()):
        if key not in ("Name", "DockerRootDir", "ServerVersion"):
            out[f"daemon info {key}"] = entries(value) if isinstance(value, list) else str(value)
    for name, setting in sorted(((daemon.get("settings") or {}).get("settings") or {}).items()):
        unreadable = setting.get("unreadable")
        out[f"daemon setting {name}"] = f"<unreadable: {unreadable}>" if unreadable else json.dumps(setting["value"])
    out.update(flatten_firewall(daemon.get("firewall_layout"), daemon.get("default_bridge") or {}))
    host = document.get("host") or {}
    for name, version in sorted((host.get("packages") or {}).items()):
        out[f"host package {name}"] = str(version)
    for key in ("distribution", "iptables_backend"):
        if key in host:
            out[f"host {key}"] = str(host[key])
    return out


# Sections of a diff: what the daemon does, its firewall layout, and what it runs on.
BEHAVIOUR, FIREWALL, HOST_CONTEXT = "daemon behaviour", "daemon firewall layout", "host context"
_MACHINE_INFO = ("daemon info KernelVersion", "daemon info OperatingSystem")
_NETNS_FACTS = ("interface ", "interfaces", "routes", "sysctl ")


def section_of(key: str, machine: set[str], *sides: Flat) -> str:
    """Which section a flat fact belongs to (``machine``: the keys of :func:`flatten_machine`;
    ``sides``: the flat reports, to find host-mode containers).

    Host context is what the daemon runs on, not what it does: the machine (``host …`` facts, the
    kernel and OS the daemon reports) and the network namespace the daemon runs in, as seen by a
    container that shares it (``network_mode: host``, or joined to such a container): its
    interfaces, addresses, routes and sysctls are those of the host, or of a dedicated daemon's
    namespace, whoever made them. The firewall layout is ``daemon firewall …``. Everything else
    (scenario facts, the daemon's version, settings and engine info) is daemon behaviour.
    """
    if key.startswith("daemon firewall "):
        return FIREWALL
    if key in machine and (key.startswith("host ") or key in _MACHINE_INFO):
        return HOST_CONTEXT
    parts = key.split(" ", 2)
    if len(parts) == 3 and parts[2].startswith(_NETNS_FACTS) and any(
            side.get(f"{parts[0]} {parts[1]} namespace net") == "host" for side in sides):
        return HOST_CONTEXT
    return BEHAVIOUR
