"""Trace events grouped into the probe's packets, each with its path and the verdict on it.

Pure logic, no root and no subprocess. The trace id of an event is a hash of the socket buffer:
a packet routed between two bridges changes id between prerouting and forward, so segments are
joined back by the header fields no hook rewrites (IP id, lengths, ICMP id and sequence, TCP flags
and window), never by addresses or ports, which NAT rewrites.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from netconform.observe.nftrace_events import TERMINAL_VERDICTS, TraceEvent, TraceStep
from netconform.observe.nftrace_ruleset import ICMP_ERRORS, ProbeMatch, trace_run_id
from netconform.observe.nftrace_story import hook_lines

# Header fields no hook rewrites: they tie the segments of one packet together across trace ids.
_IDENTITY = tuple(
    f"{proto} {name}"
    for proto, names in (
        ("ip", "id length"),
        ("ip6", "flowlabel length"),
        ("icmp", "type id sequence"),
        ("icmpv6", "type id sequence"),
        ("tcp", "flags window"),
        ("udp", "length"),
    )
    for name in names.split()
)
_TCP_FLAGS = ("fin", "syn", "rst", "psh", "ack", "urg", "ecn", "cwr")


@dataclass(frozen=True)
class TracedPacket:
    """One packet of the probe (``request``, ``reply``, ``error`` or ``other``) and its path."""

    direction: str
    summary: str
    trace_ids: tuple[str, ...]
    steps: tuple[TraceStep, ...]
    verdict: str
    decided_by: TraceStep | None = None

    def describe(self) -> list[str]:
        """The packet on one line, then one line per base chain it went through."""
        if self.decided_by is not None:
            decider = self.decided_by
            what = f"policy {decider.verdict}" if decider.kind == "policy" else decider.rule
            head = f"{self.verdict.upper()} by {decider.family} {decider.table} {decider.chain}: {what}"
        else:
            head = self.verdict.upper()
        lines = [f"{self.direction} {self.summary}: {head}  [trace {', '.join(self.trace_ids)}]"]
        hooks = hook_lines(self.steps)
        lines.extend(f"  {hook}" for hook in hooks)
        if not hooks:
            lines.append("  no firewall chain besides the tracer's own saw it")
        return lines


@dataclass(frozen=True)
class TraceResult:
    """What tracing a replayed probe found in one network namespace; picklable plain fields.

    ``available`` is False, with ``reason``, when tracing could not run (no nft, an
    iptables-legacy firewall nft cannot see, no root); ``notes`` hold caveats of a trace that ran.
    ``raw`` is the monitor's output as it came.
    """

    available: bool
    netns: str
    table: str
    match: ProbeMatch
    packets: tuple[TracedPacket, ...] = ()
    reason: str = ""
    notes: tuple[str, ...] = ()
    raw: str = field(default="", repr=False)

    def describe(self) -> str:
        where = f"nft trace of {self.match.describe()} in {self.netns}"
        if not self.available:
            lines = [f"{where}: unavailable: {self.reason}"]
        elif not self.packets:
            lines = [f"{where}: no packet of the probe was traced (none sent, or none reached this namespace)"]
        else:
            lines = [f"{where}: {len(self.packets)} packet(s)"]
            for packet in self.packets:
                lines.extend(packet.describe())
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)


@dataclass
class _Segment:
    trace_id: str
    key: tuple[tuple[str, str], ...] | None
    events: list[tuple[int, TraceEvent]] = field(default_factory=list)
    ours: bool = False


def is_tracer(step: TraceStep) -> bool:
    """Whether ``step`` is in a tracer's own table (ours or another replay's, which only marks
    packets and accepts): never part of the firewall's path."""
    return step.family == "inet" and trace_run_id(step.table) is not None


def _identity(fields: dict[str, str]) -> tuple[tuple[str, str], ...] | None:
    key = tuple((name, fields[name]) for name in _IDENTITY if name in fields)
    return key or None


def assemble(events: list[TraceEvent], own_table: tuple[str, str], match: ProbeMatch) -> tuple[TracedPacket, ...]:
    """Group trace events into the probe's packets, leaving out packets the tracer did not mark.

    Args:
        events: from :func:`parse_events`.
        own_table: (family, name) of the tracer's table; its rules seed the probe's packets. Every
            tracer's chains are left out of the steps.
        match: the probe, to tell request from reply.
    """
    segments: list[_Segment] = []
    current: dict[str, _Segment] = {}
    for index, event in enumerate(events):
        step = event.step
        segment = current.get(step.trace_id)
        if step.kind == "packet":
            key = _identity(event.fields)
            if segment is None or (segment.key is not None and key != segment.key):
                segment = _Segment(step.trace_id, key)
                segments.append(segment)
                current[step.trace_id] = segment
            elif segment.key is None:
                segment.key = key
        elif segment is None:
            segment = _Segment(step.trace_id, None)
            segments.append(segment)
            current[step.trace_id] = segment
        segment.events.append((index, event))
        # Ours once one of our rules marked it: a packet another tracer marked (in the same
        # namespace, maybe to the same port from another source port) passes our chains too.
        segment.ours = segment.ours or ((step.family, step.table) == own_table and step.kind == "rule")
    groups: list[list[_Segment]] = []
    by_key: dict[tuple[tuple[str, str], ...], list[_Segment]] = {}
    for segment in segments:
        if segment.key is not None and segment.key in by_key:
            by_key[segment.key].append(segment)
        elif segment.ours:
            groups.append([segment])
            if segment.key is not None:
                by_key[segment.key] = groups[-1]
    return tuple(_packet(group, own_table, match) for group in groups)


def _packet(group: list[_Segment], own_table: tuple[str, str], match: ProbeMatch) -> TracedPacket:
    events = [
        event for _, event in sorted((pair for segment in group for pair in segment.events), key=lambda pair: pair[0])
    ]
    first = next((event.fields for event in events if event.step.kind == "packet"), {})
    steps = tuple(event.step for event in events if not is_tracer(event.step))
    terminals = [step for step in steps if (step.kind == "policy" or step.verdict in TERMINAL_VERDICTS)]
    if not steps:
        verdict, decided_by = "accept", None
    elif not terminals:
        verdict, decided_by = "incomplete", None
    elif any(step.verdict == "drop" for step in terminals):
        decided_by = next(step for step in terminals if step.verdict == "drop")
        verdict = "drop"
    else:
        verdict = terminals[-1].verdict
        rules = [step for step in terminals if step.kind == "rule" and step.verdict == verdict]
        decided_by = rules[-1] if rules else terminals[-1]
    return TracedPacket(
        direction=_direction(first, match),
        summary=_summary(first),
        trace_ids=tuple(dict.fromkeys(segment.trace_id for segment in group)),
        steps=steps,
        verdict=verdict,
        decided_by=decided_by,
    )


def _address(fields: dict[str, str], which: str) -> str | None:
    value = fields.get(f"ip {which}") or fields.get(f"ip6 {which}")
    try:
        return str(ipaddress.ip_address(value)) if value else None
    except ValueError:
        return None


def _direction(fields: dict[str, str], match: ProbeMatch) -> str:
    src, dst = _address(fields, "saddr"), _address(fields, "daddr")
    want_src = str(ipaddress.ip_address(match.src)) if match.src else None
    want_dst = str(ipaddress.ip_address(match.dst))
    if (fields.get("icmp type") or fields.get("icmpv6 type")) in ICMP_ERRORS:
        return "error"
    if dst == want_dst and want_src in (None, src):
        return "request"
    if src == want_dst and want_src in (None, dst):
        return "reply"
    return "reply" if want_src is not None and dst == want_src else "other"


def _summary(fields: dict[str, str]) -> str:
    src, dst = _address(fields, "saddr") or "?", _address(fields, "daddr") or "?"
    for icmp in ("icmp", "icmpv6"):
        if f"{icmp} type" in fields:
            kind = fields[f"{icmp} type"]
            if kind.startswith("echo-"):
                kind += f" id {fields.get(f'{icmp} id', '?')} seq {fields.get(f'{icmp} sequence', '?')}"
            elif f"{icmp} code" in fields:
                kind += f" {fields[f'{icmp} code']}"
            return f"{src} > {dst} {icmp} {kind}"
    for proto in ("tcp", "udp"):
        if f"{proto} sport" in fields:
            flags = f" flags {_tcp_flags(fields['tcp flags'])}" if proto == "tcp" and "tcp flags" in fields else ""
            return f"{src}:{fields[f'{proto} sport']} > {dst}:{fields.get(f'{proto} dport', '?')} {proto}{flags}"
    return f"{src} > {dst}"


def _tcp_flags(value: str) -> str:
    """nft prints combinations it has no name for in hex (``0x14``): spell them out (``rst|ack``)."""
    if not value.startswith("0x"):
        return value.replace(" | ", "|")
    bits = int(value, 16)
    return "|".join(name for bit, name in enumerate(_TCP_FLAGS) if bits & (1 << bit)) or value
