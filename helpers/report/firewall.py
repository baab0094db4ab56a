"""The daemon's firewall layout as flat facts (``daemon firewall …``), without per-run values.

The layout is read before the run creates anything (report.json ``daemon.firewall_layout``), but
a daemon that already serves other networks and published ports has rules for them: their bridge
names, addresses and ports differ from host to host and run to run. They become ``<bridge>``,
``<address>`` and ``<port>``, and rules that are then the same are one rule, so the layout
compares on its shape (chains, policies, jumps) only. The default bridge's subnet, loopback,
link-local, multicast and unspecified addresses are part of that shape and stay.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from netconform.report.fact_values import Fact, canonical, entries, ordered

_BRIDGE = re.compile(r"\bbr-[0-9a-f]{12}\b")
_ADDRESS = re.compile(r"(?<![\w:.<])(\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:]*:[0-9a-fA-F]*)(/\d{1,3})?"
                      r"(?![\w.<])")
_PORTS = re.compile(r"(--(?:dport|sport|to-ports?) |dport |sport |:)(\d+(?:[-:]\d+)?)\b")


def flatten_firewall(layout: Mapping[str, Any] | None, default_bridge: Mapping[str, Any]) -> dict[str, Fact]:
    """``daemon firewall <tool> <family> <table> …`` facts: its chains, each chain's policy (and
    nft hook) and its rules in order; ``daemon firewall unreadable <what>`` for what could not be read.
    A report written before the layout was recorded has none: no fact, so no change either."""
    out: dict[str, Fact] = {}
    if not layout:
        return out
    stable = _stable_network(default_bridge.get("subnet"))
    for table in layout.get("tables") or []:
        prefix = f"daemon firewall {table['tool']} {table['family']} {table['table']}"
        chains = table.get("chains") or {}
        out[f"{prefix} chains"] = entries(chains)
        for name, chain in chains.items():
            if chain.get("policy"):
                out[f"{prefix} {name} policy"] = str(chain["policy"])
            if chain.get("hook"):
                out[f"{prefix} {name} hook"] = str(chain["hook"])
            out[f"{prefix} {name} rules"] = ordered(dict.fromkeys(
                normalise_rule(rule, stable) for rule in chain.get("rules") or []))
    for what, why in sorted((layout.get("unreadable") or {}).items()):
        out[f"daemon firewall unreadable {what}"] = str(why)
    return out


def normalise_rule(rule: str, stable: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None) -> str:
    """A rule with per-run bridge names, addresses and ports replaced by placeholders."""
    rule = _BRIDGE.sub("<bridge>", canonical(rule))
    rule = _ADDRESS.sub(lambda match: _address(match, stable), rule)
    return _PORTS.sub(lambda match: match.group(1) + "<port>" if _is_port(match) else match.group(0), rule)


def _is_port(match: re.Match[str]) -> bool:
    """``:80`` is a port after an address or placeholder, not inside a chain name or a time."""
    if match.group(1) != ":":
        return True
    before = match.string[: match.start()]
    return before.endswith(("<address>", ">")) or bool(re.search(r"\d$", before))


def _address(match: re.Match[str], stable: ipaddress.IPv4Network | ipaddress.IPv6Network | None) -> str:
    text = match.group(0)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return text
    if (network.prefixlen == 0 or network.is_loopback or network.is_unspecified or network.is_multicast
            or network.is_link_local or network == stable):
        return text
    return "<address>"


def _stable_network(subnet: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(str(subnet), strict=False) if subnet else None
    except ValueError:
        return None
