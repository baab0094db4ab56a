"""Finding room for a scenario's declared subnets and host ports on a daemon others use too.

A declared subnet is used when it is free; when a network of the daemon (another run's, a user's)
already holds it, or the daemon reports an overlap, the network moves to the next free subnet of
the same size in the declared one's neighbourhood (the enclosing /16 for a /24). A published host
port that is taken is left to the daemon to choose. Either way the move goes into the scenario's
:class:`~netconform.facts.Relocation`, so its expectations follow.
"""

from __future__ import annotations

import contextlib
import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import docker
import docker.errors

from netconform.facts.relocation import Relocation
from netconform.spec.model import PortSpec

# How many subnets to try before giving up (each failed try is one refused create).
MAX_SUBNET_TRIES = 16
# The neighbourhood a subnet may move within: this many prefix bits wider than it.
NEIGHBOURHOOD_BITS = 8


def is_overlap(err: docker.errors.APIError) -> bool:
    """Whether the daemon refused a network because its subnet overlaps one it has."""
    return "overlap" in str(err.explanation or err).lower()


def is_port_taken(err: docker.errors.APIError) -> bool:
    """Whether the daemon refused to start a container because a host port it publishes is taken."""
    text = str(err.explanation or err).lower()
    return "port is already allocated" in text or "address already in use" in text


def subnets_in_use(client: docker.DockerClient) -> dict[ipaddress.IPv4Network, str]:
    """The IPv4 subnets of every network the daemon has, with the network's name."""
    taken: dict[ipaddress.IPv4Network, str] = {}
    for network in client.api.networks():
        for config in (network.get("IPAM") or {}).get("Config") or []:
            try:
                subnet = ipaddress.ip_network(config.get("Subnet", ""), strict=False)
            except ValueError:
                continue
            if isinstance(subnet, ipaddress.IPv4Network):
                taken[subnet] = str(network.get("Name", ""))
    return taken


def subnet_candidates(declared: str, avoid: Iterable[str]) -> Iterator[ipaddress.IPv4Network]:
    """The declared subnet, then the others of its size in its neighbourhood, in address order
    after it (wrapping round), skipping ``avoid`` (the scenario's other declared subnets)."""
    own = ipaddress.IPv4Network(declared)
    reserved = [ipaddress.IPv4Network(subnet) for subnet in avoid]
    wider = own.supernet(new_prefix=max(8, own.prefixlen - NEIGHBOURHOOD_BITS))
    siblings = list(wider.subnets(new_prefix=own.prefixlen))
    start = siblings.index(own)
    for candidate in siblings[start:] + siblings[:start]:
        if candidate == own or not any(candidate.overlaps(other) for other in reserved):
            yield candidate


def subnets6_in_use(client: docker.DockerClient) -> set[ipaddress.IPv6Network]:
    """The IPv6 subnets of every network the daemon has."""
    taken: set[ipaddress.IPv6Network] = set()
    for network in client.api.networks():
        for config in (network.get("IPAM") or {}).get("Config") or []:
            with contextlib.suppress(ValueError):
                subnet = ipaddress.ip_network(config.get("Subnet", ""), strict=False)
                if isinstance(subnet, ipaddress.IPv6Network):
                    taken.add(subnet)
    return taken


def free_subnet6(declared: str, taken: Iterable[ipaddress.IPv6Network]) -> ipaddress.IPv6Network | None:
    """The declared IPv6 subnet if no network has it, else the next free one of its size in its
    /48 (another run of the same scenario holds the declared one)."""
    own = ipaddress.IPv6Network(declared)
    wider = own.supernet(new_prefix=min(own.prefixlen, 48))
    held = list(taken)
    for index, candidate in enumerate(wider.subnets(new_prefix=own.prefixlen)):
        if index >= 4096:
            break
        if candidate >= own and not any(candidate.overlaps(other) for other in held):
            return candidate
    return None


def moved_within6(address: str | None, declared: str, actual: ipaddress.IPv6Network) -> str | None:
    """An IPv6 address of the declared subnet, at the same offset in ``actual``."""
    if address is None:
        return None
    offset = int(ipaddress.IPv6Address(address)) - int(ipaddress.IPv6Network(declared).network_address)
    return str(ipaddress.IPv6Address(int(actual.network_address) + offset))


def subnet6_for(client: docker.DockerClient, declared: str, gateway: str | None,
                relocation: Relocation) -> tuple[str, str | None]:
    """The declared IPv6 subnet and gateway, or the next free /64 (noted in ``relocation``) when
    another network (another run's) holds it; scenarios name IPv6 addresses by reference."""
    free = free_subnet6(declared, subnets6_in_use(client))
    if free is None or str(free) == declared:
        return declared, gateway
    relocation.notes.append(f"subnet {declared} moved to {free}: another network holds it")
    return str(free), moved_within6(gateway, declared, free)


def first_holder(candidate: ipaddress.IPv4Network, taken: dict[ipaddress.IPv4Network, str]) -> str | None:
    """The name of a network whose subnet overlaps ``candidate``, if any."""
    return next((name or str(subnet) for subnet, name in taken.items() if subnet.overlaps(candidate)), None)


def moved_within(address: str | None, declared: str, actual: ipaddress.IPv4Network) -> str | None:
    """An address (or range) of the declared subnet, at the same offset in ``actual``."""
    if address is None:
        return None
    old = ipaddress.IPv4Network(declared)
    if "/" in address:
        inner = ipaddress.IPv4Network(address)
        start = int(actual.network_address) + int(inner.network_address) - int(old.network_address)
        return f"{ipaddress.IPv4Address(start)}/{inner.prefixlen}"
    offset = int(ipaddress.IPv4Address(address)) - int(old.network_address)
    return str(ipaddress.IPv4Address(int(actual.network_address) + offset))


def clashes_with_own(port: PortSpec, earlier: Iterable[PortSpec]) -> bool:
    """Whether an earlier container of the same scenario publishes the same host port (then a
    refusal is the scenario's own doing, which it may well expect, and nothing moves)."""
    return any(other.host_port == port.host_port and other.protocol == port.protocol
               and (other.host_ip or port.host_ip) in (None, other.host_ip, port.host_ip)
               for other in earlier)


def published_host_port(attrs: Mapping[str, Any], port: PortSpec) -> int | None:
    """The host port the daemon bound for ``port`` (from the container's inspect data)."""
    bindings = ((attrs.get("NetworkSettings") or {}).get("Ports") or {}).get(f"{port.container_port}/{port.protocol}")
    for binding in bindings or []:
        # A host address given by reference matches any binding (its value is the build's).
        if binding.get("HostPort") and (not isinstance(port.host_ip, str) or binding.get("HostIp") == port.host_ip):
            return int(binding["HostPort"])
    return None
