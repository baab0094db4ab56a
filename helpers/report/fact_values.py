"""Values of flattened facts: one text, a set of entries, or an ordered list; addresses canonical.

A set-like fact (/etc/hosts entries, routes, interfaces, addresses) is a ``frozenset``, so a diff
can name the entries added and removed instead of printing both lists; an ordered one (resolv.conf
nameservers, a firewall chain's rules) is a ``tuple``, so a change of order alone shows too.
Addresses compare as addresses: ``fe00::0`` and ``fe00::`` are the same, written the same.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

Fact = str | frozenset[str] | tuple[str, ...]
ABSENT = "(absent)"

# Candidates only: what ipaddress then parses is rewritten; a MAC, a version or a time is not an address.
_ADDRESS = re.compile(r"(?<![\w:.])([0-9A-Fa-f]*:[0-9A-Fa-f:.]*:[0-9A-Fa-f.]*|\d{1,3}(?:\.\d{1,3}){3})(/\d{1,3})?"
                      r"(?![\w:.])")


def canonical(text: str) -> str:
    """``text`` with every IPv4/IPv6 address (or CIDR) in it written in its canonical form."""
    return _ADDRESS.sub(_canonical_address, text) if (":" in text or "." in text) else text


def _canonical_address(match: re.Match[str]) -> str:
    address, prefix = match.group(1), match.group(2) or ""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return match.group(0)
    return f"{parsed}{prefix}"


def entries(items: Iterable[object]) -> frozenset[str]:
    """A set-like fact: order and repetition carry no meaning."""
    return frozenset(canonical(str(item)) for item in items)


def ordered(items: Iterable[object]) -> tuple[str, ...]:
    """A list-like fact: order carries meaning (the first nameserver is asked first)."""
    return tuple(canonical(str(item)) for item in items)


def as_text(value: Fact) -> str:
    """How a value prints on one line: a collection as ``[a, b]`` (a set sorted)."""
    if isinstance(value, str):
        return value
    shown = sorted(value) if isinstance(value, frozenset) else list(value)
    return "[" + ", ".join(shown) + "]"


@dataclass(frozen=True)
class Delta:
    """How one fact changed: a value replaced, entries added/removed, or the same entries reordered."""

    kind: str  # "changed", "added", "removed", "reordered"
    was: str = ""  # "changed"/"reordered": the value before; "removed": the entry
    now: str = ""  # "changed"/"reordered": the value after; "added": the entry


def deltas(was: Fact | None, now: Fact | None) -> list[Delta]:
    """The changes from ``was`` to ``now`` (None: the fact is absent on that side); [] when equal.

    A collection absent on one side counts as empty, so a fact that appears is its entries added.
    """
    if was == now:
        return []
    if isinstance(was, str) or isinstance(now, str) or (was is None and now is None):
        return [Delta("changed", ABSENT if was is None else as_text(was), ABSENT if now is None else as_text(now))]
    empty: frozenset[str] | tuple[str, ...] = () if isinstance(was, tuple) or isinstance(now, tuple) else frozenset()
    old = empty if was is None else was
    new = empty if now is None else now
    added = [Delta("added", now=item) for item in _unique(new) if item not in set(old)]
    removed = [Delta("removed", was=item) for item in _unique(old) if item not in set(new)]
    if added or removed:
        return removed + added
    if isinstance(old, tuple) and isinstance(new, tuple) and old != new:
        return [Delta("reordered", as_text(old), as_text(new))]
    return []


def _unique(items: Iterable[str]) -> list[str]:
    return sorted(set(items))
