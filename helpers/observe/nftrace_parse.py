"""What ``nft monitor trace`` printed, as facts: the path each traced packet took.

Pure logic, no root and no subprocess: the ruleset that marks a probe for tracing, the parser of
the monitor's text and the readable story. :mod:`netconform.observe.nftrace` runs the commands.

The text format (nftables 1.0.6; its ``-j`` flag prints trace events as text too) is one event a
line, ``trace id <id> <family> <table> <chain> <what>``, where ``<what>`` is ``packet: <headers>``
when a packet enters a base chain, ``rule <rule> (verdict <verdict>)`` when a rule decided,
``policy <verdict>`` at the end of a base chain, or ``verdict <verdict>``. The trace id is a hash
of the socket buffer: a packet routed between two bridges changes id between prerouting and
forward, so segments are joined back by the header fields no hook rewrites (IP id, lengths, ICMP
id and sequence, TCP flags and window), never by addresses or ports, which NAT rewrites.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

PROTOCOLS = ("icmp", "tcp", "udp")
TRACE_PRIORITY = -350  # before raw (-300) and conntrack (-200): sees every packet as it arrives
CT_PRIORITY = -190  # after conntrack: catches replies whose addresses NAT will restore later
TRACE_TABLE = re.compile(r"^nc_([0-9a-f]{8})_trace(?:_[0-9]+)*$")
_RUN_ID = re.compile(r"^[0-9a-f]{8}$")

_LINE = re.compile(r"^trace id (?P<id>[0-9a-f]+) (?P<family>\S+) (?P<table>\S+) (?P<chain>\S+) (?P<rest>.*)$")
_COUNTER = re.compile(r"\s*\bcounter packets \d+ bytes \d+")
_UNKNOWN = re.compile(r"^unknown rule handle (\d+)$")
_HEADER_WORDS = frozenset(
    ("ip", "ip6", "icmp", "icmpv6", "tcp", "udp", "ether", "vlan", "arp", "th", "sctp", "dccp", "iif", "oif")
)
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
_TERMINAL = ("accept", "drop", "queue", "stolen")
_ICMP_ERRORS = ("destination-unreachable", "time-exceeded", "parameter-problem", "packet-too-big")


@dataclass(frozen=True)
class ProbeMatch:
    """The probe to trace: its destination, protocol and, when known, source and destination port.

    Raises:
        ValueError: an address is malformed, families differ, or a port is given for ICMP.
    """

    dst: str
    protocol: str
    src: str | None = None
    dport: int | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        dst = ipaddress.ip_address(self.dst)
        if self.src is not None and ipaddress.ip_address(self.src).version != dst.version:
            raise ValueError(f"src {self.src} and dst {self.dst} are not of the same IP version")
        if self.dport is not None and (self.protocol == "icmp" or not 0 < self.dport < 65536):
            raise ValueError(f"dport {self.dport!r} needs tcp or udp and 1-65535")

    @property
    def family(self) -> str:
        return "ip6" if ipaddress.ip_address(self.dst).version == 6 else "ip"

    def describe(self) -> str:
        port = f":{self.dport}" if self.dport is not None else ""
        return f"{self.src or 'any'} > {self.dst}{port} {self.protocol}"


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
        hooks = _split_hooks(self.steps)
        lines.extend(f"  {_render_hook(hook)}" for hook in hooks)
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


# --- names and the tracer's ruleset ------------------------------------------------------------


def trace_table_name(run_id: str, *numbers: int) -> str:
    """The name of a trace table of run ``run_id``: ``nc_<run id>_trace[_<number>...]``.

    The numbers (a pid, a sequence) keep the traces of one run's pytest workers apart.

    Raises:
        ValueError: ``run_id`` is not 8 hex digits (as :class:`netconform.hermetic.runs.RunIdentity` makes).
    """
    if not _RUN_ID.match(run_id):
        raise ValueError(f"run id {run_id!r} must be 8 hex digits")
    return "_".join(("nc", run_id, "trace", *(str(int(number)) for number in numbers)))


def trace_run_id(table: str) -> str | None:
    """The run id in a trace table name, or None for a table netconform did not name."""
    found = TRACE_TABLE.match(table)
    return found.group(1) if found else None


def trace_ruleset(table: str, match: ProbeMatch) -> str:
    """An ``nft -f`` script creating ``inet <table>``, whose chains mark the probe for tracing.

    Base chains at prerouting and output, before raw, mark the request (src > dst:dport), the reply
    (dst:dport > src) and ICMP errors sent to src; chains after conntrack mark the packets of the
    probe's connection whose addresses a NAT rewrote (a published port's reply).
    """
    fam = match.family
    l4 = "ipv6-icmp" if match.protocol == "icmp" and fam == "ip6" else match.protocol
    src = f"{fam} saddr {match.src} " if match.src else ""
    request = f"{src}{fam} daddr {match.dst} meta l4proto {l4}"
    reply = f"{fam} saddr {match.dst} " + (f"{fam} daddr {match.src} " if match.src else "") + f"meta l4proto {l4}"
    ct = (f"ct original {fam} saddr {match.src} " if match.src else "") + f"ct original {fam} daddr {match.dst} "
    ct += f"meta l4proto {l4}"
    if match.dport is not None:
        request += f" th dport {match.dport}"
        reply += f" th sport {match.dport}"
        ct += f" ct original proto-dst {match.dport}"
    early = [request, reply]
    if match.src:
        icmp, errors = ("icmpv6", _ICMP_ERRORS) if fam == "ip6" else ("icmp", _ICMP_ERRORS[:3])
        early.append(
            f"{fam} daddr {match.src} meta l4proto {'ipv6-icmp' if fam == 'ip6' else 'icmp'} "
            f"{icmp} type {{ {', '.join(errors)} }}"
        )
    chains = []
    for name, hook, priority, rules in (
        ("pre", "prerouting", TRACE_PRIORITY, early),
        ("out", "output", TRACE_PRIORITY, early),
        ("pre_ct", "prerouting", CT_PRIORITY, [ct]),
        ("out_ct", "output", CT_PRIORITY, [ct]),
    ):
        body = "".join(f"\t\t{rule} meta nftrace set 1\n" for rule in rules)
        chains.append(
            f"\tchain {name} {{\n\t\ttype filter hook {hook} priority {priority}; policy accept;\n{body}\t}}\n"
        )
    return f"table inet {table} {{\n{''.join(chains)}}}\n"


# --- parsing -----------------------------------------------------------------------------------


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
class _Event:
    step: TraceStep
    fields: dict[str, str]


def parse_events(text: str, handles: dict[tuple[str, str, str, int], str] | None = None) -> list[_Event]:
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
        events.append(_Event(step, fields))
    return events


def unknown_rule_tables(text: str) -> set[tuple[str, str]]:
    """(family, table) of rules the monitor could not name (added after it had read the ruleset)."""
    tables = set()
    for event in parse_events(text):
        if event.step.kind == "rule" and _UNKNOWN.match(event.step.rule):
            tables.add((event.step.family, event.step.table))
    return tables


# --- assembling packets ------------------------------------------------------------------------


@dataclass
class _Segment:
    trace_id: str
    key: tuple[tuple[str, str], ...] | None
    events: list[tuple[int, _Event]] = field(default_factory=list)
    ours: bool = False


def _identity(fields: dict[str, str]) -> tuple[tuple[str, str], ...] | None:
    key = tuple((name, fields[name]) for name in _IDENTITY if name in fields)
    return key or None


def assemble(events: list[_Event], own_table: tuple[str, str], match: ProbeMatch) -> tuple[TracedPacket, ...]:
    """Group trace events into the probe's packets, leaving out packets the tracer did not mark.

    Args:
        events: from :func:`parse_events`.
        own_table: (family, name) of the tracer's table; its chains seed the probe's packets and
            are left out of the steps.
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
        segment.ours = segment.ours or (step.family, step.table) == own_table
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
    steps = tuple(event.step for event in events if (event.step.family, event.step.table) != own_table)
    terminals = [step for step in steps if (step.kind == "policy" or step.verdict in _TERMINAL)]
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
    if (fields.get("icmp type") or fields.get("icmpv6 type")) in _ICMP_ERRORS:
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


# --- the story ---------------------------------------------------------------------------------


def _split_hooks(steps: tuple[TraceStep, ...]) -> list[list[TraceStep]]:
    hooks: list[list[TraceStep]] = []
    for step in steps:
        if step.kind == "packet" or not hooks:
            hooks.append([])
        hooks[-1].append(step)
    return hooks


@dataclass
class _Token:
    text: str
    chain: str
    bare: bool = False  # names a chain entered by a plain jump; its first rule is written into it


def _render_hook(steps: list[TraceStep]) -> str:
    """``ip filter FORWARD → DOCKER-USER (return) → X: <rule> jump Y → Y: <rule> drop → verdict DROP``.

    A jump whose rule says nothing else shows only the chain it entered; a chain left without a
    matching rule shows as ``(no rule matched)``.
    """
    entry = steps[0]
    headers = parse_headers(entry.rule) if entry.kind == "packet" else {}
    tokens = [_Token(f"{entry.family} {entry.table} {entry.chain}", entry.chain, bare=True)]

    def put(text: str, chain: str, bare: bool = False) -> None:
        """Write into the bare token of ``chain`` if that is the last one, else add a token."""
        last = tokens[-1]
        if last.bare and last.chain == chain and not bare:
            last.text, last.bare = last.text + text.removeprefix(chain), False
        else:
            tokens.append(_Token(text, chain, bare))

    pending: str | None = None  # the chain a jump entered, until its first event shows up
    for step in steps[1:] if entry.kind == "packet" else steps:
        if pending is not None and step.chain != pending:
            put(f"{pending} (no rule matched)", pending)
        pending = None
        target = step.verdict.split(" ", 1)[1] if step.verdict.startswith(("jump ", "goto ")) else None
        if step.kind == "policy":
            tokens.append(_Token(f"policy {step.verdict.upper()}", step.chain))
        elif step.kind == "verdict" or step.rule == step.verdict == "return":
            put(f"{step.chain} (return)", step.chain)
        elif target is not None and step.rule == step.verdict:
            tokens.append(_Token(target, target, bare=True))
            pending = target
        else:
            put(f"{step.chain}: {step.rule}", step.chain)
            pending = target
            if step.verdict in _TERMINAL:
                tokens.append(_Token(f"verdict {step.verdict.upper()}", step.chain))
    interfaces = " ".join(f'{name} "{headers[name]}"' for name in ("iif", "oif") if name in headers)
    line = " → ".join(token.text for token in tokens)
    return f"{line}  ({interfaces})" if interfaces else line
