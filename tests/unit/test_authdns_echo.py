"""The DNS answers, query log and echo protocol, without sockets or namespaces."""

from __future__ import annotations

from ipaddress import IPv6Address, IPv6Network
from pathlib import Path

import dns.flags
import dns.message
import dns.rcode
import pytest

from netconform.errors import ProbeError
from netconform.hermetic.authdns import DnsQuery, QueryLog, ZoneTable, handle_wire, read_query_log
from netconform.hermetic.echo import parse_reply, reply_line, request_line
from netconform.hermetic.sentinel_veth import parse_slice_range6, slice6
from netconform.hermetic.sockserve import plain_address

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


def test_aaaa_and_ip6_arpa_ptr_beside_a_and_nodata_per_type() -> None:
    table = ZoneTable(ZONE, {"sentinel": "198.18.0.2", "v4only": "198.18.0.3"},
                      {"sentinel": "fd00:198:18::2", "v6only": "fd00:198:18::6"})
    both_a = _ask(table, "sentinel.netconform.test.", "A")
    both_aaaa = _ask(table, "sentinel.netconform.test.", "AAAA")
    ptr6 = _ask(table, "2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.1.0.0.8.9.1.0.0.0.d.f.ip6.arpa.", "PTR")
    nodata_a = _ask(table, "v6only.netconform.test.", "A")
    nodata_aaaa = _ask(table, "v4only.netconform.test.", "AAAA")
    assert [r.to_text() for rrset in both_a.answer for r in rrset] == ["198.18.0.2"]
    assert [r.to_text() for rrset in both_aaaa.answer for r in rrset] == ["fd00:198:18::2"]
    assert [r.to_text() for rrset in ptr6.answer for r in rrset] == ["sentinel.netconform.test."]
    for nodata in (nodata_a, nodata_aaaa):
        assert (nodata.rcode(), nodata.answer, len(nodata.authority)) == (dns.rcode.NOERROR, [], 1)


def test_aaaa_records_must_be_ipv6() -> None:
    with pytest.raises(ValueError, match="not IPv6"):
        ZoneTable(ZONE, {}, {"v6": "198.18.0.2"})


def test_echo_reply_carries_an_ipv6_source() -> None:
    line = reply_line(b"n1\n", ("fd00:198:18::1", 40000))
    assert line == b"n1 fd00:198:18::1 40000\n"
    assert parse_reply(line, "n1") == ("fd00:198:18::1", 40000)


def test_dual_stack_servers_report_ipv4_clients_without_the_mapped_prefix() -> None:
    assert plain_address("::ffff:198.18.0.1") == "198.18.0.1"
    assert plain_address("fd00:198:18::1") == "fd00:198:18::1"
    assert plain_address("::ffff:1") == "::ffff:1"


def test_ipv6_slices_follow_the_ipv4_slot_and_end_with_the_range() -> None:
    cidr6 = parse_slice_range6("fd00:198:18::/64")
    assert slice6(cidr6, 0) == (IPv6Network("fd00:198:18::/126"), IPv6Address("fd00:198:18::1"),
                                IPv6Address("fd00:198:18::2"))
    assert slice6(cidr6, 3) == (IPv6Network("fd00:198:18::c/126"), IPv6Address("fd00:198:18::d"),
                                IPv6Address("fd00:198:18::e"))
    assert slice6(parse_slice_range6("fd00::/125"), 2) is None
    with pytest.raises(ValueError, match="not an IPv6 network"):
        parse_slice_range6("198.18.0.0/24")
    with pytest.raises(ValueError, match="smaller than one"):
        parse_slice_range6("fd00::/127")
