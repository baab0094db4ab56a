"""The DNS answers, query log and echo protocol, without sockets or namespaces."""

from __future__ import annotations

from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest

from netconform.errors import ProbeError
from netconform.hermetic.authdns import DnsQuery, QueryLog, ZoneTable, handle_wire, read_query_log
from netconform.hermetic.echo import parse_reply, reply_line, request_line

ZONE = "netconform.test."


@pytest.fixture
def table() -> ZoneTable:
    return ZoneTable(ZONE, {"egress": "198.18.0.2", "other.netconform.test.": "198.18.0.9"})


def _ask(table: ZoneTable, name: str, rdtype: str) -> dns.message.Message:
    return table.answer(dns.message.make_query(name, rdtype))


def test_a_ptr_nodata_and_nxdomain_all_carry_aa(table: ZoneTable) -> None:
    a = _ask(table, "Egress.netconform.test.", "A")
    ptr = _ask(table, "9.0.18.198.in-addr.arpa.", "PTR")
    nodata = _ask(table, "egress.netconform.test.", "AAAA")
    missing = _ask(table, "nope.netconform.test.", "A")
    outside = _ask(table, "example.org.", "A")
    assert [r.to_text() for rrset in a.answer for r in rrset] == ["198.18.0.2"]
    assert [r.to_text() for rrset in ptr.answer for r in rrset] == ["other.netconform.test."]
    assert (nodata.rcode(), nodata.answer, len(nodata.authority)) == (dns.rcode.NOERROR, [], 1)
    assert (missing.rcode(), len(missing.authority)) == (dns.rcode.NXDOMAIN, 1)
    assert (outside.rcode(), outside.authority) == (dns.rcode.NXDOMAIN, [])
    for response in (a, ptr, nodata, missing, outside):
        assert response.flags & dns.flags.AA, response.to_text()


def test_records_outside_the_zone_or_not_ipv4_are_refused() -> None:
    with pytest.raises(ValueError, match="outside the zone"):
        ZoneTable(ZONE, {"www.example.org.": "198.18.0.2"})
    with pytest.raises(ValueError, match="not IPv4"):
        ZoneTable(ZONE, {"v6": "fd00::1"})


def test_garbage_gets_formerr_and_is_logged(table: ZoneTable, tmp_path: Path) -> None:
    log_path = tmp_path / "q.jsonl"
    wire = handle_wire(
        table, QueryLog(str(log_path)), b"\x12\x34\x01\x00\x00\x01" + bytes(6) + b"\xff", ("10.0.0.1", 5), "udp"
    )
    assert wire is not None
    response = dns.message.from_wire(wire)
    assert (response.id, response.rcode()) == (0x1234, dns.rcode.FORMERR)
    assert [(q.qname, q.rcode, q.source_ip) for q in read_query_log(log_path)] == [("", "FORMERR", "10.0.0.1")]


def test_a_full_query_log_is_reported_not_silently_short(tmp_path: Path) -> None:
    log_path = tmp_path / "q.jsonl"
    log = QueryLog(str(log_path), limit=400)
    query = DnsQuery("x.netconform.test.", "A", "10.0.0.1", 5, "udp", "NXDOMAIN", (), 0.0)
    log.record(query)
    assert read_query_log(log_path) == [query]
    for _ in range(5):
        log.record(query)
    assert log_path.stat().st_size <= 400
    with pytest.raises(ProbeError, match="full"):
        read_query_log(log_path)


def test_echo_lines_round_trip_and_reject_bad_nonces() -> None:
    assert reply_line(b"abc-1", ("172.17.0.2", 40000)) == b"abc-1 172.17.0.2 40000\n"
    assert parse_reply(b"abc-1 172.17.0.2 40000\n", "abc-1") == ("172.17.0.2", 40000)
    assert parse_reply(b"other 172.17.0.2 40000\n", "abc-1") is None
    assert parse_reply(b"abc-1 not-an-ip 40000\n", "abc-1") is None
    assert reply_line(b"has space", ("1.2.3.4", 1)) is None
    with pytest.raises(ValueError):
        request_line("bad nonce")
