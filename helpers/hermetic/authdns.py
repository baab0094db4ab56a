"""An authoritative DNS server for the suite's test zone, and the log of the queries it received.

The sentinel runs it as the only upstream resolver the suite gives containers (``--dns``), so it
answers every question at once: A and AAAA records and PTR records (in-addr.arpa and ip6.arpa)
from its table, ``NXDOMAIN`` for every
other name in the zone and outside it, never silence. Answers carry AA and a zero TTL so that no
cache between a container and the sentinel hides a lookup.

Each query is appended to a JSON-lines log *before* its answer is sent, so once a client holds an
answer the query is already in the log. The log is bounded in bytes; the parent reads it with
:func:`read_query_log`.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.reversename
import dns.rrset

from netconform.errors import ProbeError
from netconform.hermetic import sockserve

DEFAULT_ZONE = "netconform.test."
DNS_PORT = 53
# Answers must not be cached by anything in between: every lookup has to reach the log.
TTL = 0
LOG_LIMIT_BYTES = 4 * 1024 * 1024
CONNECTION_DEADLINE = 5.0
MAX_CONNECTIONS = 64

Transport = Literal["udp", "tcp"]


@dataclass(frozen=True)
class DnsQuery:
    """One query as the server received it.

    Attributes:
        qname: the question name, lower-cased and absolute (``"egress.netconform.test."``);
            empty when the message could not be parsed.
        qtype: the question type as text (``"A"``, ``"PTR"``).
        source_ip: the address the query came from.
        source_port: the port the query came from.
        transport: ``"udp"`` or ``"tcp"``.
        rcode: the answer's rcode as text (``"NOERROR"``, ``"NXDOMAIN"``, ``"FORMERR"``).
        answers: the answer data given (addresses or names), in order.
        at: the server's wall-clock time of receipt (``time.time()``).
    """

    qname: str
    qtype: str
    source_ip: str
    source_port: int
    transport: Transport
    rcode: str
    answers: tuple[str, ...]
    at: float


class ZoneTable:
    """The answers the server gives: A and AAAA records of the zone and PTR records for their addresses.

    Args:
        zone: the zone origin, e.g. ``"netconform.test."``.
        records: name -> IPv4 address. Names are relative to the zone unless they end with a
            dot; absolute names must lie inside the zone.
        records6: name -> IPv6 address, served as AAAA (a name may have both).

    Raises:
        ValueError: a name outside the zone or an address of the wrong family.
    """

    def __init__(self, zone: str, records: Mapping[str, str], records6: Mapping[str, str] | None = None) -> None:
        self.origin = dns.name.from_text(zone)
        # name -> record type -> addresses
        self.forward: dict[dns.name.Name, dict[dns.rdatatype.RdataType, list[str]]] = {}
        self.reverse: dict[dns.name.Name, list[dns.name.Name]] = {}
        for family, rdtype, table in ((4, dns.rdatatype.A, records), (6, dns.rdatatype.AAAA, records6 or {})):
            for name_text, address_text in table.items():
                name = dns.name.from_text(name_text, origin=self.origin)
                if not name.is_subdomain(self.origin):
                    raise ValueError(f"DNS record {name_text!r} is outside the zone {zone!r}")
                try:
                    address = ipaddress.ip_address(address_text)
                except ValueError as err:
                    raise ValueError(f"DNS record {name_text!r}: {address_text!r} is not IPv{family}") from err
                if address.version != family:
                    raise ValueError(f"DNS record {name_text!r}: {address_text!r} is not IPv{family}")
                self.forward.setdefault(name, {}).setdefault(rdtype, []).append(str(address))
                self.reverse.setdefault(dns.reversename.from_address(str(address)), []).append(name)
        # The apex needs an SOA so negative answers carry one (RFC 2308).
        self.soa = dns.rrset.from_text(
            self.origin,
            TTL,
            "IN",
            "SOA",
            f"ns.{self.origin} hostmaster.{self.origin} 1 3600 600 86400 {TTL}",
        )

    def answer(self, query: dns.message.Message) -> dns.message.Message:
        """The authoritative response to ``query``."""
        response = dns.message.make_response(query, recursion_available=True)
        # The sentinel is the last resolver in the chain: it speaks with authority for every name.
        response.flags |= dns.flags.AA
        if query.opcode() != dns.opcode.QUERY:
            response.set_rcode(dns.rcode.NOTIMP)
            return response
        if len(query.question) != 1:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        name, rdtype = question.name, question.rdtype
        if question.rdclass != dns.rdataclass.IN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif name in self.forward:
            self._add(response, name, rdtype, self.forward[name])
        elif name in self.reverse:
            targets = [target.to_text() for target in self.reverse[name]]
            self._add(response, name, rdtype, {dns.rdatatype.PTR: targets})
        elif name == self.origin:
            if rdtype in (dns.rdatatype.SOA, dns.rdatatype.ANY):
                response.answer.append(self.soa)
            else:
                response.authority.append(self.soa)
        else:
            response.set_rcode(dns.rcode.NXDOMAIN)
            if name.is_subdomain(self.origin):
                response.authority.append(self.soa)
        return response

    def _add(
        self,
        response: dns.message.Message,
        name: dns.name.Name,
        asked: dns.rdatatype.RdataType,
        held: Mapping[dns.rdatatype.RdataType, list[str]],
    ) -> None:
        matching = [rdtype for rdtype in held if asked in (rdtype, dns.rdatatype.ANY)]
        for rdtype in matching:
            response.answer.append(dns.rrset.from_text_list(name, TTL, "IN", rdtype, held[rdtype]))
        if not matching and name.is_subdomain(self.origin):
            # The name exists but not with this type: NODATA, with the SOA for negative caching.
            response.authority.append(self.soa)


_FULL_MARKER = b'{"full":true}\n'
# Room kept for the markers that tell the reader queries were dropped.
_MARKER_ROOM = 4 * len(_FULL_MARKER)


class QueryLog:
    """The server side of the query log: one JSON line per query, bounded in bytes.

    When a line no longer fits, a ``{"full":true}`` marker is written instead (while there is
    room for it), so the reader can tell a complete log from one that dropped queries.
    """

    def __init__(self, path: str, limit: int = LOG_LIMIT_BYTES) -> None:
        # O_APPEND keeps each line whole when TCP and UDP threads write at once, and lets the
        # parent truncate the file to clear it.
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._limit = limit
        self._lock = threading.Lock()

    def record(self, query: DnsQuery) -> None:
        line = (json.dumps(asdict(query), separators=(",", ":")) + "\n").encode()
        with self._lock:
            size = os.fstat(self._fd).st_size
            if size + len(line) <= self._limit - _MARKER_ROOM:
                os.write(self._fd, line)
            elif size + len(_FULL_MARKER) <= self._limit:
                os.write(self._fd, _FULL_MARKER)


def read_query_log(path: str | Path) -> list[DnsQuery]:
    """The queries recorded in the log at ``path``, oldest first.

    Raises:
        ProbeError: the log cannot be read, or it filled up and later queries were dropped.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise ProbeError(f"cannot read the DNS query log {str(path)!r}: {err}") from err
    if _FULL_MARKER in data:
        raise ProbeError(
            f"the DNS query log {str(path)!r} is full ({len(data)} bytes): later queries were "
            "not recorded; clear it between checks"
        )
    queries = []
    # Lines are written whole (O_APPEND, one write each), so every line parses.
    for line in data.splitlines():
        fields = json.loads(line)
        fields["answers"] = tuple(fields["answers"])
        queries.append(DnsQuery(**fields))
    return queries


def handle_wire(
    table: ZoneTable, log: QueryLog, wire: bytes, source: tuple[str, int], transport: Transport
) -> bytes | None:
    """Answer one DNS message in wire format and log it; None when there is nothing to answer."""
    try:
        query = dns.message.from_wire(wire)
    except dns.message.ShortHeader:
        return None
    except dns.exception.DNSException:
        response = _formerr(wire)
        qname, qtype = "", ""
    else:
        if query.flags & dns.flags.QR:
            return None  # a response sent to us: answering it could start a loop
        response = _answer_or_servfail(table, query)
        question = query.question[0] if query.question else None
        qname = question.name.to_text().lower() if question is not None else ""
        qtype = dns.rdatatype.to_text(question.rdtype) if question is not None else ""
    if response is None:
        return None
    answers = tuple(rdata.to_text() for rrset in response.answer for rdata in rrset)
    log.record(
        DnsQuery(
            qname=qname,
            qtype=qtype,
            source_ip=source[0],
            source_port=source[1],
            transport=transport,
            rcode=dns.rcode.to_text(response.rcode()),
            answers=answers,
            at=time.time(),
        )
    )
    max_size = 65535 if transport == "tcp" else max(512, response.request_payload or 512)
    return response.to_wire(max_size=max_size, prefer_truncation=True)


def _answer_or_servfail(table: ZoneTable, query: dns.message.Message) -> dns.message.Message:
    # A bug in answering one query must not end the service: clients would see timeouts.
    try:
        return table.answer(query)
    except Exception:
        response = dns.message.make_response(query)
        response.set_rcode(dns.rcode.SERVFAIL)
        return response


def _formerr(wire: bytes) -> dns.message.Message | None:
    """A FORMERR response echoing the id of an unparsable message."""
    (message_id, flags) = struct.unpack("!HH", wire[:4])
    if flags & dns.flags.QR:
        return None
    response = dns.message.Message(id=message_id)
    response.flags = dns.flags.QR | dns.flags.AA
    response.set_rcode(dns.rcode.FORMERR)
    return response


def serve_dns(
    ready: Callable[[], None],
    zone: str,
    records: Mapping[str, str],
    log_path: str,
    records6: Mapping[str, str] | None = None,
    port: int = DNS_PORT,
    host: str = sockserve.ANY_HOST,
) -> None:
    """Serve the zone over UDP and TCP on ``host:port`` until killed; for ``spawn_in_namespaces``."""
    table = ZoneTable(zone, records, records6)
    log = QueryLog(log_path)
    udp = sockserve.bind_udp(host, port)
    tcp = sockserve.bind_tcp(host, port)
    ready()

    def on_datagram(data: bytes, source: tuple[str, int]) -> bytes | None:
        return handle_wire(table, log, data, source, "udp")

    def on_stream(conn: socket.socket, source: tuple[str, int], until: float) -> None:
        # RFC 7766: several length-prefixed messages may share one connection.
        while True:
            header = sockserve.read_exactly(conn, 2, until)
            if header is None:
                return
            wire = sockserve.read_exactly(conn, struct.unpack("!H", header)[0], until)
            if wire is None:
                return
            reply = handle_wire(table, log, wire, source, "tcp")
            if reply is None:
                return
            conn.sendall(struct.pack("!H", len(reply)) + reply)

    sockserve.serve_forever(
        lambda: sockserve.serve_udp(udp, on_datagram),
        lambda: sockserve.serve_tcp(tcp, on_stream, max_connections=MAX_CONNECTIONS, deadline=CONNECTION_DEADLINE),
    )
