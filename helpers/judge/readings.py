"""For each catalogued property: the observed value and the evidence it is judged on.

Observers read facts only. They return plain values (str, int, list of str) so the matcher can
compare them with what the spec resolved, and name the evidence sections worth printing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from netconform.facts import ContainerFacts, ReachResult, ScenarioFacts
from netconform.facts.files import hosts_addresses
from netconform.spec.properties import INTERFACE

# Lookup outcomes that say the prober failed, not what the server answered.
LOOKUP_FAILURES = ("error",)


class NotObservable(Exception):
    """The property cannot be observed for this container (e.g. it was never created)."""


@dataclass(frozen=True)
class Observation:
    value: Any
    evidence: tuple[str, ...]


Observer = Callable[[ScenarioFacts, ContainerFacts, str], Observation]


def _require_running(container: ContainerFacts) -> None:
    if not container.created:
        raise NotObservable(f"the daemon did not create/start the container: {container.error}")


def _namespace(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    """``host`` if shared with the daemon's host, else ``container:<key>`` of the first container
    declared before this one that shares it, else ``private``. Joiners are declared after what
    they join, so the target of ``container:X`` itself still reads ``private``."""
    _require_running(container)
    kind = param
    mine = container.namespaces[kind]
    if facts.host.namespaces[kind] == mine:
        return Observation("host", ("namespaces",))
    for other in facts.containers.values():
        if other.key == container.key:
            break
        if other.created and other.namespaces.get(kind) == mine:
            return Observation(f"container:{other.key}", ("namespaces",))
    return Observation("private", ("namespaces",))


def _interface(container: ContainerFacts, name: str) -> Any:
    _require_running(container)
    assert container.net is not None
    iface = container.net.interface(name)
    if iface is None:
        raise NotObservable(f"there is no interface {name!r} in the container's network namespace")
    return iface


def _interfaces(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    assert container.net is not None
    # Interfaces other scenarios created or removed while this one was observed prove nothing either
    # way; everything else was read from this container's own process.
    transient = set(facts.host.transient_interfaces)
    return Observation([iface.name for iface in container.net.interfaces if iface.name not in transient],
                       ("interfaces", "namespaces"))


def _iface_attr(attribute: str) -> Observer:
    def observe(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
        iface = _interface(container, param)
        values = {
            "ipv4": lambda: iface.ipv4,
            "ipv6": lambda: iface.ipv6,
            "ipv6_link_local": lambda: iface.ipv6_link_local,
            "addresses": lambda: iface.addresses,
            "mtu": lambda: iface.mtu,
            "mac": lambda: iface.mac,
            "kind": lambda: iface.kind,
        }
        return Observation(values[attribute](), ("interfaces", "inspect"))

    return observe


def _bridge(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    iface = _interface(container, param)
    peer = container.host_peers.get(param)
    if peer is None:
        if iface.kind == "veth" and container.namespaces.get("net") != facts.host.namespaces.get("net"):
            raise NotObservable(f"the host end of {param} (a veth) was not found in the daemon's namespace")
        return Observation("none", ("interfaces", "host peer", "inspect"))  # not a veth: nothing to enslave
    return Observation(peer.master or "none", ("interfaces", "host peer", "inspect"))


def _default_route(field: str, family: int = 4) -> Observer:
    def observe(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
        _require_running(container)
        assert container.net is not None
        route = container.net.default_route(family)
        value = getattr(route, field) if route else None
        return Observation(value or "none", ("routes", "inspect"))

    return observe


def _routes(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    assert container.net is not None
    return Observation([route.describe() for route in container.net.routes], ("routes",))


def _routes6(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    assert container.net is not None
    return Observation([route.describe() for route in container.net.routes6], ("routes",))


def _sysctl(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    assert container.net is not None
    if param not in container.net.sysctls:
        raise NotObservable(f"sysctl {param} could not be read in the container's network namespace")
    return Observation(container.net.sysctls[param], ("namespaces",))


def _hostname(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    return Observation(container.uts_hostname, ("hostname", "namespaces"))


def _hostname_file(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    if "/etc/hostname" not in container.files:
        raise NotObservable("/etc/hostname could not be read in the container's mount namespace")
    return Observation(container.files["/etc/hostname"].strip(), ("hostname",))


def _resolv(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    if container.resolv is None:
        raise NotObservable("/etc/resolv.conf could not be read in the container's mount namespace")
    return Observation(getattr(container.resolv, param), ("resolv.conf",))


def _hosts_entries(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    return Observation(container.hosts_entries, ("/etc/hosts",))


def _hosts_name(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    return Observation(hosts_addresses(container.hosts_entries, param), ("/etc/hosts",))


def _lookup(qtype: str) -> Observer:
    def observe(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
        _require_running(container)
        result = container.lookups.get(f"{qtype} {param}")
        if result is None:
            raise NotObservable(f"the {qtype} lookup of {param} was not made")
        if result.rcode in LOOKUP_FAILURES:
            raise NotObservable(f"the {qtype} lookup of {param} failed in the prober: {result.describe()}")
        return Observation(result.outcome, ("lookup", "resolv.conf"))

    return observe


def _forwarded(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    _require_running(container)
    result = container.lookups.get(f"A {param}")
    if result is not None and result.rcode in LOOKUP_FAILURES:
        raise NotObservable(f"the A lookup of {param} failed in the prober: {result.describe()}")
    if result is None or result.upstream_sources is None:
        raise NotObservable(f"the lookup of {param} was not made with a sentinel to see it")
    return Observation(result.upstream_sources, ("lookup", "sentinel queries", "resolv.conf"))


def _created(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    return Observation(container.created, ("daemon error",))


def _refused(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    return Observation(container.error or "none", ("daemon error",))


def _left_behind(facts: ScenarioFacts, container: ContainerFacts, param: str) -> Observation:
    return Observation(container.left_behind, ("daemon error",))


OBSERVERS: dict[str, Observer] = {
    r"namespaces\.(net|uts|ipc|pid|mnt|user|cgroup)": _namespace,
    r"interfaces": _interfaces,
    INTERFACE + r"\.ipv4": _iface_attr("ipv4"),
    INTERFACE + r"\.ipv6": _iface_attr("ipv6"),
    INTERFACE + r"\.ipv6_link_local": _iface_attr("ipv6_link_local"),
    INTERFACE + r"\.addresses": _iface_attr("addresses"),
    INTERFACE + r"\.mtu": _iface_attr("mtu"),
    INTERFACE + r"\.mac": _iface_attr("mac"),
    INTERFACE + r"\.kind": _iface_attr("kind"),
    INTERFACE + r"\.bridge": _bridge,
    r"default_route\.via": _default_route("gateway"),
    r"default_route\.dev": _default_route("dev"),
    r"routes": _routes,
    r"default_route6\.via": _default_route("gateway", 6),
    r"default_route6\.dev": _default_route("dev", 6),
    r"routes6": _routes6,
    r"sysctl\.(.+)": _sysctl,
    r"hostname": _hostname,
    r"hostname_file": _hostname_file,
    r"resolv\.(nameservers|search|options)": _resolv,
    r"hosts_entries": _hosts_entries,
    r"hosts\.(.+)": _hosts_name,
    r"lookup\.(.+)": _lookup("A"),
    r"lookup6\.(.+)": _lookup("AAAA"),
    r"reverse\.(.+)": _lookup("PTR"),
    r"forwarded\.(.+)": _forwarded,
    r"created": _created,
    r"refused": _refused,
    r"left_behind": _left_behind,
}


def observe(prop: str, facts: ScenarioFacts, container: ContainerFacts, param: str | None = None) -> Observation:
    """Observe ``prop`` (a catalogued property path) on ``container``; ``param`` overrides the
    variable part of the path once its references are resolved."""
    for pattern, observer in OBSERVERS.items():
        match = re.fullmatch(pattern, prop)
        if match:
            groups = match.groups()
            return observer(facts, container, param if param is not None else (groups[0] if groups else ""))
    raise KeyError(f"no observer for property {prop!r}")


def observe_network(prop: str, facts: ScenarioFacts, key: str) -> Observation:
    """A network's ``refused`` (the daemon's error, 'none' when it created the network) or
    ``left_behind`` (a network of that name exists although the daemon refused it).

    Raises:
        NotObservable: the network was neither created nor refused (the build stopped before it).
    """
    refusal = facts.refused_networks.get(key)
    if refusal is None and key not in facts.networks:
        raise NotObservable(f"network {key} was neither created nor refused")
    if prop == "refused":
        return Observation(refusal.error if refusal else "none", ("daemon error",))
    return Observation(bool(refusal and refusal.left_behind), ("daemon error",))


def observe_reach(prop: str, result: ReachResult) -> Observation:
    """The outcome (``reach``, ``blocked``, ``one-way``), or the source address the target saw.

    Raises:
        NotObservable: the probe was inconclusive, or (for the source) the request arrived but
            nothing answered. A blocked probe's source is ``none``: nothing arrived to have one.
    """
    outcome, reason = result.decide()
    if outcome == "inconclusive":
        raise NotObservable(f"the probe was inconclusive: {reason}")
    if prop == "reach":
        return Observation(outcome, ("probe",))
    if outcome == "blocked":
        # Judged from evidence (seen leaving, nothing arrived): no source, rather than an unknown one.
        return Observation("none", ("probe",))
    if result.seen_source is None:
        raise NotObservable(f"no answer came back ({outcome}), so no source address was seen")
    return Observation(result.seen_source, ("probe",))
