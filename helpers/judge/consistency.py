"""Readings of the host's properties (``expect.host``): whether the daemon's intended settings
agree with the kernel and firewall they run on.

A contradiction already makes behavioural checks fail (isolation, ICC, NAT); these checks name its
cause. Settings come from the run's context (``setting.<name>``); one that could not be read makes
the check unobservable, never consistent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netconform.judge.readings import NotObservable, Observation

CONSISTENT = "consistent"


def _setting(context: Mapping[str, Any], name: str) -> Any:
    key = f"setting.{name}"
    if context.get(key) is None:
        raise NotObservable(f"the daemon setting {name} could not be read in this run")
    return context[key]


def _bridge_netfilter(context: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    names = ("iptables", "br_netfilter", "net.bridge.bridge-nf-call-iptables")
    if not _setting(context, "iptables"):
        return CONSISTENT, names[:1]
    if not _setting(context, "br_netfilter"):
        return ("iptables is true but br_netfilter is absent: bridged traffic bypasses iptables, so ICC-disabled "
                "networks do not isolate their containers", names[:2])
    if int(_setting(context, "net.bridge.bridge-nf-call-iptables")) != 1:
        return ("iptables is true but net.bridge.bridge-nf-call-iptables is 0: bridged traffic bypasses iptables, "
                "so ICC-disabled networks do not isolate their containers", names)
    return CONSISTENT, names


def _ip_forward(context: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    names = ("ip_forward", "net.ipv4.ip_forward")
    if not _setting(context, "ip_forward"):
        return CONSISTENT, names[:1]
    if int(_setting(context, "net.ipv4.ip_forward")) != 1:
        return ("ip_forward is true but net.ipv4.ip_forward is 0: nothing is forwarded between bridges and the "
                "outside", names)
    return CONSISTENT, names


def _nat_chain(context: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    names = ("iptables", "docker_nat_chain")
    if not _setting(context, "iptables"):
        return CONSISTENT, names[:1]
    if not _setting(context, "docker_nat_chain"):
        return ("iptables is true but the nat table has no DOCKER chain: published ports and masquerade are "
                "missing", names)
    return CONSISTENT, names


HOST_OBSERVERS = {
    "consistent.bridge_netfilter": _bridge_netfilter,
    "consistent.ip_forward": _ip_forward,
    "consistent.nat_chain": _nat_chain,
}


def observe_host(prop: str, context: Mapping[str, Any]) -> tuple[Observation, dict[str, str]]:
    """The reading of a host property and, as evidence, the settings it was decided on.

    Raises:
        NotObservable: a setting it needs could not be read.
    """
    value, used = HOST_OBSERVERS[prop](context)
    shown = "\n".join(f"{name}: {context.get(f'setting.{name}')!r}" for name in used)
    return Observation(value, ("settings",)), {"settings": shown}
