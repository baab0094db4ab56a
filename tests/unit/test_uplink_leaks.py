"""The uplink leak classifier on hand-built frames and on a real report, without sockets."""

from __future__ import annotations

import ipaddress
import json
import struct
from pathlib import Path

import dns.message
import pytest

from netconform.hermetic.echo import request_line
from netconform.hermetic.uplink_leaks import RunTraces, classify

DATA = Path(__file__).resolve().parents[1] / "data"
HOST_MAC = "02:fc:00:00:00:01"
GATEWAY_MAC = "02:fc:00:00:00:05"
HOST = "192.0.2.2"
OUTSIDE = "203.0.113.80"


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ethernet(payload: bytes, src_mac: str = HOST_MAC, ethertype: int = 0x0800, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return _mac(GATEWAY_MAC) + _mac(src_mac) + tag + struct.pack("!H", ethertype) + payload


def ipv4(proto: int, body: bytes, src: str = HOST, dst: str = OUTSIDE, fragment_offset: int = 0) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(body), 1, fragment_offset, 64, proto, 0,
                         ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return header + body


def udp(dport: int, data: bytes, sport: int = 40000) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data


def tcp(dport: int, flags: int, data: bytes = b"", sport: int = 40000) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, flags, 65535, 0, 0) + data


def icmp_echo(payload: bytes) -> bytes:
    return struct.pack("!BBHHH", 8, 0, 0, 0x1234, 1) + payload


def reasons(traces: RunTraces, frame: bytes) -> tuple[str, ...]:
    return traces.leak_reasons(frame)[1]


@pytest.fixture(scope="module")
def traces() -> RunTraces:
    return RunTraces.from_report(json.loads((DATA / "report-pass.json").read_text()))


def test_the_report_gives_the_networks_containers_sentinel_and_probe_ports(traces: RunTraces) -> None:
    assert ipaddress.ip_network("172.19.0.0/16") in traces.networks
    assert traces.networks[ipaddress.ip_network("172.17.0.0/16")].startswith("default bridge docker0")
    assert traces.addresses[ipaddress.ip_address("172.19.0.3")].startswith("container reach-custom/")
    assert traces.macs["02:42:ac:11:00:02"].startswith("container ")
    assert "3a:9a:56:1a:f9:2e" in traces.macs  # the host end of a container's veth
    assert traces.sentinel_ranges == (ipaddress.ip_network("198.18.0.0/24"),)
    assert {8080, 18080, 18082} <= traces.tcp_ports and 8053 not in traces.tcp_ports
    assert traces.zones == ("netconform.test.",)


def test_the_hosts_own_ordinary_traffic_is_not_a_leak(traces: RunTraces) -> None:
    own = [
        ethernet(ipv4(6, tcp(443, 0x02))),
        ethernet(ipv4(6, tcp(443, 0x18, b"\x16\x03\x01" + bytes(200)))),
        ethernet(ipv4(17, udp(53, dns.message.make_query("pypi.org.", "A").to_wire()), dst="10.255.255.53")),
        ethernet(ipv4(1, icmp_echo(b"ping payload"))),
        ethernet(ipv4(17, udp(123, bytes(48)))),
    ]
    assert classify(traces, [("eth0", "out", frame) for frame in own]) == []


def test_the_host_container_shares_the_hosts_interfaces_and_does_not_make_them_leaks(traces: RunTraces) -> None:
    """Scenario ``host`` has a container in the host's netns: eth0's address is the host's own."""
    assert ipaddress.ip_address(HOST) not in traces.addresses
    assert HOST_MAC not in traces.macs


@pytest.mark.parametrize(("source", "why"), [
    ("172.19.0.3", "source 172.19.0.3 is container reach-custom/"),
    ("172.20.0.77", "source 172.20.0.77 is in network reach-custom/"),
    ("172.17.0.9", "source 172.17.0.9 is in default bridge docker0"),
    ("198.18.0.6", "source 198.18.0.6 is in sentinel range 198.18.0.0/24"),
])
def test_a_source_from_the_runs_addresses_is_a_leak(traces: RunTraces, source: str, why: str) -> None:
    found = reasons(traces, ethernet(ipv4(17, udp(9, b"x"), src=source)))
    assert any(reason.startswith(why) for reason in found), found


def test_a_container_mac_is_a_leak_even_behind_a_vlan_tag(traces: RunTraces) -> None:
    frame = ethernet(ipv4(6, tcp(443, 0x02)), src_mac="02:42:AC:11:00:02".lower(), vlan=7)
    assert [reason.split(" is ")[0] for reason in reasons(traces, frame)] == ["source MAC 02:42:ac:11:00:02"]


def test_anything_to_the_sentinel_range_is_a_leak(traces: RunTraces) -> None:
    found = reasons(traces, ethernet(ipv4(6, tcp(443, 0x02), dst="198.18.0.200")))
    assert found == ("destination 198.18.0.200 is in the sentinel range 198.18.0.0/24",)


def test_masqueraded_probes_are_leaks_by_their_marks(traces: RunTraces) -> None:
    nonce = "0123456789abcdef"
    marked = {
        "icmp": ethernet(ipv4(1, icmp_echo(b"netconform-" + nonce.encode()))),
        "udp echo": ethernet(ipv4(17, udp(8053, request_line(nonce)))),
        "tcp echo": ethernet(ipv4(6, tcp(7, 0x18, request_line(nonce)))),
        "tcp syn": ethernet(ipv4(6, tcp(18080, 0x02))),
        "dns udp": ethernet(ipv4(17, udp(53, dns.message.make_query("egress.netconform.test.", "A").to_wire()))),
        "dns tcp": ethernet(ipv4(6, tcp(53, 0x18, _tcp_dns("x.Netconform.Test.")))),
    }
    found = {name: reasons(traces, frame) for name, frame in marked.items()}
    assert all(len(why) == 1 for why in found.values()), found
    assert "probe mark" in found["icmp"][0] and "probe mark" in found["udp echo"][0], found
    assert found["tcp syn"] == ("a TCP SYN to port 18080, a port the run's probes used",)
    assert found["dns tcp"] == ("a DNS query for x.netconform.test., in the run's test zone",)


def _tcp_dns(name: str) -> bytes:
    wire = dns.message.make_query(name, "A").to_wire()
    return struct.pack("!H", len(wire)) + wire


def test_answers_and_other_zones_and_later_fragments_are_not_marks(traces: RunTraces) -> None:
    answer = dns.message.make_response(dns.message.make_query("egress.netconform.test.", "A")).to_wire()
    frames = [
        ethernet(ipv4(17, udp(53, answer))),
        ethernet(ipv4(17, udp(53, dns.message.make_query("netconform.test.example.", "A").to_wire()))),
        ethernet(ipv4(17, udp(9, request_line("abc")), fragment_offset=100)),
        ethernet(ipv4(6, tcp(18080, 0x12))),  # a SYN-ACK from port 18080 somewhere is not our probe
        ethernet(ipv4(17, udp(9, b"two lines\nof text\n"))),
    ]
    assert [reasons(traces, frame) for frame in frames] == [()] * len(frames)


def test_ipv6_and_arp_sources_are_read(traces: RunTraces) -> None:
    header = struct.pack("!IHBB", 6 << 28, 8 + 1, 17, 64)
    v6 = ethernet(header + ipaddress.IPv6Address("fe80::389a:56ff:fe1a:f92e").packed
                  + ipaddress.IPv6Address("2001:db8::1").packed + udp(9, b"x"), ethertype=0x86DD)
    sender, target = ipaddress.IPv4Address("172.17.0.2").packed, ipaddress.IPv4Address("172.17.0.1").packed
    arp = ethernet(struct.pack("!HHBBH", 1, 0x0800, 6, 4, 1) + _mac(HOST_MAC) + sender + bytes(6) + target,
                   ethertype=0x0806)
    assert reasons(traces, v6) and "the host end of" in reasons(traces, v6)[0]
    assert reasons(traces, arp) and reasons(traces, arp)[0].startswith("source 172.17.0.2 is container ")


def test_truncated_and_foreign_frames_do_not_break_the_classifier(traces: RunTraces) -> None:
    frames = [b"", bytes(13), ethernet(b"\x45"), ethernet(bytes(40), ethertype=0x88CC),
              ethernet(ipv4(17, b"\x00\x09"))]
    assert [reasons(traces, frame) for frame in frames] == [()] * len(frames)
