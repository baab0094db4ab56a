"""The text ``nft monitor trace`` prints, as trace events: one :class:`TraceStep` a line.

Pure logic, no root and no subprocess; :mod:`netconform.observe.nftrace` runs the monitor.

The text format (nftables 1.0.6; its ``-j`` flag prints trace events as text too) is one event a
line, ``trace id <id> <family> <table> <chain> <what>``, where ``<what>`` is ``packet: <headers>``
when a packet enters a base chain, ``rule <rule> (verdict <verdict>)`` when a rule decided,
``policy <verdict>`` at the end of a base chain, or ``verdict <verdict>``. A rule added after the
monitor read the ruleset shows as ``unknown rule handle <n>``; ``nft -a list`` names it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE = re.compile(r"^trace id (?P<id>[0-9a-f]+) (?P<family>\S+) (?P<table>\S+) (?P<chain>\S+) (?P<rest>.*)$")
_COUNTER = re.compile(r"\s*\bcounter packets \d+ bytes \d+")
_UNKNOWN = re.compile(r"^unknown rule handle (\d+)$")
TERMINAL_VERDICTS = ("accept", "drop", "queue", "stolen")  # they end a packet's path
_HEADER_WORDS = frozenset(
    ("ip", "ip6", "icmp", "icmpv6", "tcp", "udp", "ether", "vlan", "arp", "th", "sctp", "dccp", "iif", "oif")
)


@dataclass(frozen=True)
class TraceStep:
    """One event of a traced packet in one chain.

    ``kind`` is ``packet`` (the packet entered a base chain; ``rule`` holds the headers as nft
    printed them), ``rule`` (a rule matched; ``rule`` is its text without counters), ``policy``
    (the base chain's policy applied) or ``verdict`` (a chain ended without a matching rule).
    ``verdict`` is nft's word: ``accept``, ``drop``, ``jump X``, ``goto X``, ``return``, ``continue``.
    """

    family: str
    table: str
    chain: str
    kind: str
    rule: str = ""
    verdict: str = ""
    trace_id: str = ""


def strip_counters(rule: str) -> str:
    """The rule without ``counter packets N bytes M``: the monitor's cached, stale numbers."""
    return " ".join(_COUNTER.sub("", rule).split())


def parse_rule_handles(listing: str) -> dict[tuple[str, str, str, int], str]:
    """Map (family, table, chain, handle) to rule text from ``nft -a list ...`` output."""
    rules: dict[tuple[str, str, str, int], str] = {}
    family = table = chain = ""
    for line in listing.splitlines():
        text, _, handle = line.strip().rpartition(" # handle ")
        words = text.split()
        if words[:1] == ["table"] and len(words) >= 3:
            family, table = words[1], words[2]
        elif words[:1] == ["chain"] and len(words) >= 2:
            chain = words[1]
        elif handle.isdigit() and text:
            rules[(family, table, chain, int(handle))] = strip_counters(text)
    return rules


def parse_headers(text: str) -> dict[str, str]:
    """``iif "br-1" ip saddr 10.0.0.1 tcp flags == syn | ack ...`` as {"ip saddr": "10.0.0.1", ...}."""
    words = text.split()
    fields: dict[str, str] = {}
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("iif", "oif") and i + 1 < len(words):
            fields[word] = words[i + 1].strip('"')
            i += 2
            continue
        if word not in _HEADER_WORDS or i + 2 >= len(words):
            i += 1  # raw payload (@th,64,96 0x...) and anything unknown
            continue
        name = f"{word} {words[i + 1]}"
        j = i + 2
        if words[j] == "==":
            j += 1
        value = [words[j]] if j < len(words) else []
        j += 1
        while j < len(words) and words[j] not in _HEADER_WORDS and not words[j].startswith("@"):
            value.append(words[j])
            j += 1
        fields[name] = " ".join(value)
        i = j
    return fields


@dataclass
class TraceEvent:
    """One parsed trace line: its step and, for a ``packet`` step, the header fields."""

    step: TraceStep
    fields: dict[str, str]


def parse_events(text: str, handles: dict[tuple[str, str, str, int], str] | None = None) -> list[TraceEvent]:
    """Every trace line of the monitor's output, in order; other lines are skipped."""
    events = []
    for line in text.splitlines():
        found = _LINE.match(line.rstrip())
        if found is None:
            continue
        rest = found["rest"].strip()
        where = (found["family"], found["table"], found["chain"])
        fields: dict[str, str] = {}
        if rest.startswith("packet:"):
            headers = rest.removeprefix("packet:").strip()
            fields = parse_headers(headers)
            step = TraceStep(*where, kind="packet", rule=headers, trace_id=found["id"])
        elif rest.startswith("rule ") and rest.endswith(")") and " (verdict " in rest:
            rule, _, verdict = rest.removeprefix("rule ").rpartition(" (verdict ")
            step = TraceStep(*where, kind="rule", rule=strip_counters(rule), verdict=verdict[:-1], trace_id=found["id"])
        elif rest.startswith("unknown rule handle ") and " (verdict " in rest:
            rule, _, verdict = rest.rpartition(" (verdict ")
            handle = _UNKNOWN.match(rule)
            if handle and handles:
                rule = handles.get((*where, int(handle.group(1))), rule)
            step = TraceStep(*where, kind="rule", rule=rule, verdict=verdict[:-1], trace_id=found["id"])
        elif rest.startswith(("policy ", "verdict ")):
            kind, _, verdict = rest.partition(" ")
            verdict = verdict.split(" meta mark ")[0].strip()
            step = TraceStep(*where, kind=kind, verdict=verdict, trace_id=found["id"])
        else:
            continue
        events.append(TraceEvent(step, fields))
    return events


def unknown_rule_tables(text: str) -> set[tuple[str, str]]:
    """(family, table) of rules the monitor could not name (added after it had read the ruleset)."""
    tables = set()
    for event in parse_events(text):
        if event.step.kind == "rule" and _UNKNOWN.match(event.step.rule):
            tables.add((event.step.family, event.step.table))
    return tables
