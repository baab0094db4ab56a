"""What to trace and the nftables table that marks it: the probe, the table's name, its ruleset.

Pure logic, no root and no subprocess; :mod:`netconform.observe.nftrace` loads the ruleset.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

PROTOCOLS = ("icmp", "tcp", "udp")
TRACE_PRIORITY = -350  # before raw (-300) and conntrack (-200): sees every packet as it arrives
CT_PRIORITY = -190  # after conntrack: catches replies whose addresses NAT will restore later
TRACE_TABLE = re.compile(r"^nc_([0-9a-f]{8})_trace(?:_[0-9]+)*$")
# ICMP types that carry an error about a packet the probe sent (the last one is ICMPv6 only).
ICMP_ERRORS = ("destination-unreachable", "time-exceeded", "parameter-problem", "packet-too-big")
_RUN_ID = re.compile(r"^[0-9a-f]{8}$")


@dataclass(frozen=True)
class ProbeMatch:
    """The probe to trace: its destination, protocol and, when known, its source address and ports
    (``sport``: a port the prober chose, which tells its packets from other probes' to one port).

    Raises:
        ValueError: an address is malformed, families differ, or a port is given for ICMP.
    """

    dst: str
    protocol: str
    src: str | None = None
    dport: int | None = None
    sport: int | None = None

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {', '.join(PROTOCOLS)}")
        dst = ipaddress.ip_address(self.dst)
        if self.src is not None and ipaddress.ip_address(self.src).version != dst.version:
            raise ValueError(f"src {self.src} and dst {self.dst} are not of the same IP version")
        if self.dport is not None and (self.protocol == "icmp" or not 0 < self.dport < 65536):
            raise ValueError(f"dport {self.dport!r} needs tcp or udp and 1-65535")
        if self.sport is not None and (self.protocol == "icmp" or not 0 < self.sport < 65536):
            raise ValueError(f"sport {self.sport!r} needs tcp or udp and 1-65535")

    @property
    def family(self) -> str:
        return "ip6" if ipaddress.ip_address(self.dst).version == 6 else "ip"

    def describe(self) -> str:
        port = f":{self.dport}" if self.dport is not None else ""
        source = f"{self.src or 'any'}" + (f":{self.sport}" if self.sport is not None else "")
        return f"{source} > {self.dst}{port} {self.protocol}"


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
    if match.sport is not None:
        request += f" th sport {match.sport}"
        reply += f" th dport {match.sport}"
        ct += f" ct original proto-src {match.sport}"
    early = [request, reply]
    if match.src:
        icmp, errors = ("icmpv6", ICMP_ERRORS) if fam == "ip6" else ("icmp", ICMP_ERRORS[:3])
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
