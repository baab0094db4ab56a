"""The network rule, enforced: which addresses a run may send probe traffic to.

Only this run's own test hosts: the scenario's containers (also addresses they held before a
step of the scenario gave them up), its sentinel (also its address on the
scenario's segment, and the segment's parent), the gateways of the networks its containers are
on, and host addresses (the daemon namespace's own, or loopback) that the spec names for a probe.
A loopback address is also allowed from a container with a network namespace of its own (it never
leaves that namespace: the embedded DNS at 127.0.0.11, a joined container's services). Anything
else — the machine's LAN neighbours, the host's upstream resolver, a typo — is refused before a
packet is sent.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Protocol

from netconform.facts import ScenarioFacts

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class SentinelAddresses(Protocol):
    @property
    def address(self) -> str: ...

    @property
    def gateway_address(self) -> str: ...

    @property
    def address6(self) -> str | None: ...

    @property
    def gateway_address6(self) -> str | None: ...


def _addresses(texts: Iterator[str | None]) -> set[Address]:
    found: set[Address] = set()
    for text in texts:
        if text:
            try:
                found.add(ipaddress.ip_address(text.split("/")[0]))
            except ValueError:
                continue
    return found


def _own_netns(facts: ScenarioFacts, key: str) -> bool:
    """Whether ``key`` is a container whose network namespace is not the daemon's."""
    container = facts.containers.get(key)
    if container is None or not container.created:
        return False
    return container.namespaces.get("net") != facts.host.namespaces.get("net")


def allowed_destinations(facts: ScenarioFacts, sentinel: SentinelAddresses | None, frm: str = "",
                         named: bool = False, candidate: str = "") -> set[Address]:
    """The addresses a probe from ``frm`` may be sent to.

    Args:
        facts: the scenario as built and observed.
        sentinel: the run's sentinel, if it has one.
        frm: the prober (a container key, ``host`` or ``sentinel``).
        named: the spec names the destination for this probe (``address:``), which admits the
            host's own addresses and loopback.
        candidate: the destination in question (only used to admit loopback).
    """
    allowed = _addresses(address for container in facts.containers.values() if container.created
                         for endpoint in container.endpoints.values() for address in (endpoint.ip, endpoint.ipv6))
    allowed |= _addresses(iter(facts.former_addresses))
    used = {key for container in facts.containers.values() for key in container.endpoints}
    used.update(key for key in facts.networks if key != "bridge")
    allowed |= _addresses(address for key in used if key in facts.networks
                          for address in (facts.networks[key].gateway, facts.networks[key].gateway6))
    if sentinel is not None:
        allowed |= _addresses(iter((sentinel.address, sentinel.gateway_address, sentinel.address6,
                                    sentinel.gateway_address6)))
    if facts.segment is not None:
        allowed |= _addresses(iter((facts.segment.sentinel, facts.segment.host)))
    if named:
        allowed |= _addresses(address for iface in facts.host.net.interfaces for address in iface.addresses)
    try:
        loopback = ipaddress.ip_address(candidate).is_loopback
    except ValueError:
        loopback = False
    if loopback and (named or _own_netns(facts, frm)):
        allowed.add(ipaddress.ip_address(candidate))
    return allowed
