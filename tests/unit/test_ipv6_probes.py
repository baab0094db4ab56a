"""IPv6 in the probes and the witnesses (pure logic: no daemon).

Each test fails on the behaviour before IPv6: an ICMPv6 answer or error counted whatever it says,
IPv6 packets never seen by a witness (a v6 probe would then read as never sent), a container's or
the sentinel's IPv6 address refused as a destination.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

import pytest
from test_judge import make_facts

from netconform.facts import EndpointFacts, Interface, NetnsView, Route
from netconform.hermetic.destinations import allowed_destinations
from netconform.observe.icmp6 import classify_icmp6, echo_request6
from netconform.observe.witness import ProbeMark, destination, sighting

ME, YOU, OTHER = "fd00:1::1", "fd00:1::2", "fd00:1::3"


def _ip6(src: str, dst: str, payload: bytes, next_header: int = 58) -> bytes:
    return (struct.pack("!IHBB", 6 << 28, len(payload), next_header, 64) + socket.inet_pton(socket.AF_INET6, src)
            + socket.inet_pton(socket.AF_INET6, dst) + payload)


def _reply(ident: int, seq: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHH", 129, 0, 0, ident, seq) + payload


def _error(kind: int, quoted: bytes) -> bytes:
    return struct.pack("!BBHI", kind, 0, 0, 0) + quoted


@pytest.mark.parametrize(("message", "peer", "verdict"), [
    (_reply(7, 1, b"p"), YOU, "reach"),
    (_reply(7, 1, b"p"), "fd00:1:0::0002", "reach"),                       # another spelling of YOU
    (_reply(7, 1, b"p"), OTHER, None),                                       # someone else answered
    (_reply(8, 1, b"p"), YOU, None),                                         # another probe's id
    (_reply(7, 2, b"p"), YOU, None),                                         # another sequence
    (_reply(7, 1, b"q"), YOU, None),                                         # another payload
    (echo_request6(7, 1, b"p"), YOU, None),                                  # a request is no answer
    (struct.pack("!BBH", 135, 0, 0) + bytes(20), YOU, None),                 # neighbour solicitation
    (_error(1, _ip6(ME, YOU, echo_request6(7, 1, b"p"))), ME, "unreachable"),
    (_error(3, _ip6(ME, YOU, echo_request6(7, 1, b"p"))), ME, "unreachable"),  # time exceeded
    (_error(1, _ip6(ME, OTHER, echo_request6(7, 1, b"p"))), ME, None),       # about another host
    (_error(1, _ip6(ME, YOU, echo_request6(9, 1, b"p"))), ME, None),         # about another probe
    (_error(1, _ip6(ME, YOU, echo_request6(7, 1, b"p"), 17)), ME, None),     # about a UDP packet
])
def test_icmpv6_counts_only_what_is_ours(message: bytes, peer: str, verdict: str | None) -> None:
    assert classify_icmp6(message, peer, YOU, 7, 1, b"p") == verdict


def test_witness_sees_ipv6_probe_packets_and_their_answers() -> None:
    mark = ProbeMark("icmp", b"0123456789abcdef")
    payload = b"netconform-" + mark.nonce
    ours = _ip6(ME, YOU, echo_request6(mark.icmp_ident, 1, payload))
    answer = _ip6(YOU, ME, _reply(mark.icmp_ident, 1, payload))
    assert sighting(mark, ours) == f"icmp echo {ME} -> {YOU} seq 1"
    assert sighting(mark, answer) is None
    assert sighting(mark, answer, answer=True) == f"icmp echo reply {YOU} -> {ME} seq 1"
    assert sighting(mark, _ip6(ME, YOU, echo_request6(mark.icmp_ident, 1, b"netconform-x"))) is None
    tcp = ProbeMark("tcp", b"n", 8080, address="fd00:1:0::2")
    syn = _ip6(ME, YOU, struct.pack("!HHIIBBHHH", 40000, 8080, 0, 0, 0x50, 0x02, 0, 0, 0), 6)
    assert sighting(tcp, syn) == f"tcp SYN {ME}:40000 -> {YOU}:8080"
    assert sighting(ProbeMark("tcp", b"n", 8080, address=OTHER), syn) is None
    udp = ProbeMark("udp", b"nonce", 7)
    datagram = _ip6(ME, YOU, struct.pack("!HHHH", 40000, 7, 0, 0) + b"nonce\n", 17)
    assert sighting(udp, datagram) == f"udp {ME}:40000 -> {YOU}:7"
    assert destination(datagram) == YOU


def test_guard_admits_the_runs_ipv6_hosts_only() -> None:
    facts = make_facts()
    facts.containers["web"].endpoints["bridge"] = EndpointFacts("bridge", "172.17.0.2", 16, "172.17.0.1", None,
                                                                ipv6="fd00:1::2", prefix6=64, gateway6="fd00:1::1")

    class Sentinel:
        address, gateway_address = "198.18.0.2", "198.18.0.1"
        address6, gateway_address6 = "fd00:198:18::2", "fd00:198:18::1"

    allowed = allowed_destinations(facts, Sentinel(), "web")
    for address in ("fd00:1::2", "fd00:198:18::2", "fd00:198:18::1"):
        assert ipaddress.ip_address(address) in allowed, address
    assert ipaddress.ip_address("fd00:1::9") not in allowed
    assert ipaddress.ip_address("2001:4860:4860::8888") not in allowed


def test_ipv6_addresses_split_global_from_link_local_and_routes_by_family() -> None:
    eth0 = Interface(2, "eth0", "veth", "02:42:ac:11:00:02", 1500, True,
                     ["172.17.0.2/16", "fd00:1::2/64", "fe80::42:acff:fe11:2/64"])
    assert (eth0.ipv4, eth0.ipv6, eth0.ipv6_link_local) == (["172.17.0.2"], ["fd00:1::2"], ["fe80::42:acff:fe11:2"])
    view = NetnsView([eth0], [Route("default", "172.17.0.1", "eth0")], routes6=[Route("default", "fd00:1::1", "eth0")])
    assert view.default_route() == Route("default", "172.17.0.1", "eth0")
    assert view.default_route(6) == Route("default", "fd00:1::1", "eth0")
    assert NetnsView([eth0], []).default_route(6) is None
