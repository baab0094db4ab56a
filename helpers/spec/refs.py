"""Resolve ``${...}`` references and templates against a scenario's facts."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from netconform.facts import ContainerFacts, ScenarioFacts
from netconform.spec.values import Ref, Template, Value


class Unresolvable(Exception):
    """A reference names a fact that does not exist in this run (e.g. a refused container)."""


def primary_endpoint(facts: ScenarioFacts, container: ContainerFacts) -> Any:
    """The endpoint of the network the container was created on (its joined peer's for container:X)."""
    if container.joined:
        return primary_endpoint(facts, facts.containers[container.joined])
    endpoint = container.endpoints.get(container.primary_network or "")
    if endpoint is None:
        raise Unresolvable(f"container {container.key} has no network endpoint")
    return endpoint


def _container_fact(facts: ScenarioFacts, key: str, rest: tuple[str, ...]) -> Any:
    container = facts.containers[key]
    if not container.created:
        raise Unresolvable(f"container {key} was not created ({container.error})")
    attribute = rest[0]
    if attribute == "resolv":
        return getattr(container.resolv, rest[1]) if container.resolv else []
    if attribute == "published":
        return _published_port(container, f"{rest[2]}/{rest[1]}")
    if attribute == "networks":
        endpoint = container.endpoints.get(rest[1])
        if endpoint is None:
            raise Unresolvable(f"container {key} is not attached to network {rest[1]}")
        if rest[2] == "interface":
            return _interface_of(container, endpoint.mac, rest[1])
        return getattr(endpoint, rest[2])
    simple: dict[str, Any] = {
        "id": lambda: container.id,
        "short_id": lambda: container.short_id,
        "name": lambda: container.name,
        "hostname": lambda: container.uts_hostname,
        "interfaces": lambda: [iface.name for iface in container.net.interfaces] if container.net else [],
        "hosts_entries": lambda: container.hosts_entries,
        "ip": lambda: primary_endpoint(facts, container).ip,
        "ipv6": lambda: _present(primary_endpoint(facts, container).ipv6, f"container {key} has no IPv6 address"),
        "gateway6": lambda: _present(primary_endpoint(facts, container).gateway6,
                                     f"container {key} has no IPv6 gateway"),
        "mac": lambda: primary_endpoint(facts, container).mac,
        "gateway": lambda: primary_endpoint(facts, container).gateway,
    }
    return simple[attribute]()


def _interface_of(container: ContainerFacts, mac: str | None, network: str) -> str:
    """The name of the container's interface on ``network``, found by the endpoint's MAC: 28 names
    a multi-network container's interfaces in the order its networks join, not a fixed one."""
    names = [iface.name for iface in (container.net.interfaces if container.net else []) if mac and iface.mac == mac]
    if len(names) != 1:
        raise Unresolvable(f"container {container.key} has no one interface with the MAC of its "
                           f"{network} endpoint ({mac})")
    return names[0]


def _present(value: Any, missing: str) -> Any:
    if value is None:
        raise Unresolvable(missing)
    return value


def _published_port(container: ContainerFacts, port: str) -> int:
    """The host port the daemon bound for ``port`` (``8080/tcp``), its IPv4 binding first."""
    bound = sorted(container.published.get(port) or [], key=lambda binding: ":" in binding.rsplit(":", 1)[0])
    if not bound:
        raise Unresolvable(f"container {container.key} publishes no {port}")
    return int(bound[0].rsplit(":", 1)[1])


# What the daemon writes for containers on the default bridge when the host has only loopback
# nameservers (moby libnetwork/internal/resolvconf; DOCKER-NETWORKING.md).
DEFAULT_EXTERNAL_NAMESERVERS = ["8.8.8.8", "8.8.4.4"]


def external_nameservers(nameservers: list[str]) -> list[str]:
    """The host's nameservers without loopback ones, or Docker's fallback when none remain."""
    kept = [server for server in nameservers if not ipaddress.ip_address(server).is_loopback]
    return kept or list(DEFAULT_EXTERNAL_NAMESERVERS)


def _setting(name: str, facts: ScenarioFacts, context: Mapping[str, Any]) -> Any:
    """A daemon setting as intended (``setting.<name>`` in ``context``), or a value derived from them."""
    if name == "pool_bases":
        # Effective pools are {base, size} mappings; a profile spells them base=…,size=….
        pools = _setting("default_address_pools", facts, context)
        return [pool["base"] if isinstance(pool, Mapping) else str(pool).split(",")[0].removeprefix("base=")
                for pool in pools]
    if name in ("bip_subnet", "bip_address"):
        bip = ipaddress.ip_interface(str(_setting("bip", facts, context)))
        return str(bip.network) if name == "bip_subnet" else str(bip.ip)
    if name == "bridge_address_range":
        fixed = context.get("setting.fixed_cidr")
        return str(ipaddress.ip_network(str(fixed), strict=False)) if fixed else _setting("bip_subnet", facts, context)
    if name.startswith("resolv."):
        directive = name.removeprefix("resolv.")
        daemon = {"nameservers": "dns", "host_nameservers": "dns", "search": "dns_search", "options": "dns_options"}
        own = _setting(daemon[directive], facts, context)
        if own:
            return own
        if facts.host.resolv is None:
            raise Unresolvable("the host's /etc/resolv.conf could not be read")
        if directive == "host_nameservers":
            return facts.host.resolv.nameservers
        host = getattr(facts.host.resolv, directive)
        return external_nameservers(host) if directive == "nameservers" else host
    if f"setting.{name}" not in context:
        raise Unresolvable(f"the daemon setting {name} could not be read in this run")
    value = context[f"setting.{name}"]
    if value is None:
        raise Unresolvable(f"the daemon setting {name} is not set")
    return value


def resolve_ref(ref: Ref, facts: ScenarioFacts, context: Mapping[str, Any]) -> Any:
    """The value of one reference.

    Raises:
        Unresolvable: the fact does not exist in this run.
    """
    root, *rest = ref.parts
    if root == "container":
        return _container_fact(facts, rest[0], tuple(rest[1:]))
    if root == "network":
        network = facts.networks.get(rest[0])
        if network is None:
            raise Unresolvable(f"network {rest[0]} was not created")
        return getattr(network, rest[1])
    if root == "host":
        host = facts.host
        if rest[0] == "interfaces":
            return host.stable_interfaces
        if rest[0] == "bridge_gateway":
            return facts.networks["bridge"].gateway
        if rest[0] in ("hostname", "cgroup_version", "hosts_entries"):
            return getattr(host, rest[0])
        if rest[0] == "resolv" and host.resolv is not None:
            if rest[1] == "external_nameservers":
                return external_nameservers(host.resolv.nameservers)
            return getattr(host.resolv, rest[1])
    if root == "daemon":
        return getattr(facts.daemon, rest[0])
    if root == "setting":
        return _setting(rest[0], facts, context)
    if root == "segment":
        if facts.segment is None:
            raise Unresolvable("the run made no segment for this scenario")
        value = getattr(facts.segment, rest[0])
        if value is None:
            raise Unresolvable(f"the segment has no {rest[0]} (not declared)")
        return value
    dotted = ".".join(ref.parts)
    if dotted in context:
        return context[dotted]
    raise Unresolvable(f"{ref} is not known in this run")


def resolve_value(value: Value, facts: ScenarioFacts, context: Mapping[str, Any]) -> Any:
    """Substitute references in a literal, reference, template or list (literal addresses
    inside a subnet this run moved are moved with it)."""
    if isinstance(value, Ref):
        return resolve_ref(value, facts, context)
    if isinstance(value, Template):
        return "".join(
            piece if isinstance(piece, str) else str(resolve_ref(piece, facts, context)) for piece in value.pieces
        )
    if isinstance(value, tuple):
        return [resolve_value(item, facts, context) for item in value]
    if isinstance(value, str):
        return facts.relocation.address(value)  # a declared subnet the run had to move
    return value
