"""Packet witnesses: which of a probe's packets left the prober and which arrived at the target.

A probe that gets no answer proves nothing by itself: the request may have been dropped on the
way (blocked), or it may have arrived and only the answer was dropped (a one-way leak), or the
prober may never have sent it. So every probe carries a mark (a nonce in ICMP and UDP payloads, the
destination port for TCP, whose SYN carries no payload, and the source port where the prober chose
one) and packet sockets (AF_PACKET, which see
every IPv4 and IPv6 packet on every interface of a namespace before its firewall) count the marked packets
leaving the prober's namespace and arriving in the target's.

:func:`watch_arrivals` runs in the target's namespace for the duration of a probe
(:func:`netconform.hermetic.nsexec.start_in_namespaces`); :class:`DepartureCounter` runs inside the probe's
own child. Parsing is pure (:func:`sighting`) and unit-tested.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from pyroute2 import IPRoute

from netconform.facts import Sighting

_ETH_P_IP = 0x0800
_ETH_P_IPV6 = 0x86DD
# All protocols: a packet socket bound to one protocol is not shown outgoing packets.
_ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_STATISTICS = 6
_PACKET_OUTGOING = 4
_PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp"}
# IPv6 next headers; ICMPv6 echo counts as the probe's "icmp" (extension headers are not followed:
# the probes send none).
_PROTOCOLS6 = {58: "icmp", 6: "tcp", 17: "udp"}
_ICMP_ECHO_REQUEST = 8
_ICMP6_ECHO_REQUEST = 128
_ICMP6_ECHO_REPLY = 129
_TCP_SYN = 0x02
_TCP_ACK = 0x10
_ICMP_ECHO_REPLY = 0


@dataclass(frozen=True)
class ProbeMark:
    """What identifies a probe's packets: protocol, destination port (tcp/udp) and nonce.

    The nonce rides in ICMP echo and UDP payloads; an ICMP echo's identifier is taken from it too.
    ``port`` is the destination port the packets carry where they are watched (a published port
    at the sender may be DNATed to another one at the target).
    """

    proto: str
    nonce: bytes
    port: int | None = None
    # The destination address where the packets are watched, when it is known there (not behind
    # a DNAT): a TCP SYN carries no nonce, and a namespace other runs probe too (the host's) may
    # see their SYNs to the same port at the same moment.
    address: str | None = None
    # The source port the prober sends from, when it chose one (TCP to the sentinel, which no
    # proxy or DNAT sits in front of): probes to one port at once are told apart by it.
    source_port: int | None = None

    @property
    def icmp_ident(self) -> int:
        return int.from_bytes(self.nonce[:2], "big")


def _parse_ip(packet: bytes) -> tuple[str | None, int, str, str] | None:
    """(protocol, header length, source, destination) of an IPv4 or IPv6 packet, else None."""
    version = packet[0] >> 4 if packet else 0
    if version == 4 and len(packet) >= 20:
        return (_PROTOCOLS.get(packet[9]), (packet[0] & 0x0F) * 4, socket.inet_ntoa(packet[12:16]),
                socket.inet_ntoa(packet[16:20]))
    if version == 6 and len(packet) >= 40:
        return (_PROTOCOLS6.get(packet[6]), 40, socket.inet_ntop(socket.AF_INET6, packet[8:24]),
                socket.inet_ntop(socket.AF_INET6, packet[24:40]))
    return None


def destination(packet: bytes) -> str | None:
    """The destination address of an IPv4 or IPv6 packet."""
    parsed = _parse_ip(packet)
    return parsed[3] if parsed else None


def _is(address: str, wanted: str) -> bool:
    return address == wanted or ipaddress.ip_address(address) == ipaddress.ip_address(wanted)


def sighting(mark: ProbeMark, packet: bytes, answer: bool = False) -> str | None:
    """A one-line description of ``packet`` (an IPv4 or IPv6 packet) if it is one of the probe's
    requests (or, with ``answer``, one of the target's answers to it), else None."""
    parsed = _parse_ip(packet)
    if parsed is None:
        return None
    proto, header, src, dst = parsed
    if proto != mark.proto or len(packet) < header + 8:
        return None
    if mark.address is not None and not _is(src if answer else dst, mark.address):
        return None
    body = packet[header:]
    if proto == "icmp":
        kind, _, _, ident, seq = struct.unpack("!BBHHH", body[:8])
        v6 = packet[0] >> 4 == 6
        wanted = ((_ICMP6_ECHO_REPLY if answer else _ICMP6_ECHO_REQUEST) if v6
                  else (_ICMP_ECHO_REPLY if answer else _ICMP_ECHO_REQUEST))
        if kind != wanted or ident != mark.icmp_ident or mark.nonce not in body[8:]:
            return None
        return f"icmp echo{' reply' if answer else ''} {src} -> {dst} seq {seq}"
    sport, dport = struct.unpack("!HH", body[:4])
    if (sport if answer else dport) != mark.port:
        return None
    if mark.source_port is not None and (dport if answer else sport) != mark.source_port:
        return None
    if proto == "udp":
        if mark.nonce not in body[8:]:
            return None
        return f"udp {src}:{sport} -> {dst}:{dport}"
    flags = body[13] if len(body) > 13 else 0
    # Only the opening SYN (and its SYN-ACK): later segments prove nothing new.
    if not flags & _TCP_SYN or bool(flags & _TCP_ACK) != answer:
        return None
    return f"tcp {'SYN-ACK' if answer else 'SYN'} {src}:{sport} -> {dst}:{dport}"


def open_packet_socket() -> socket.socket:
    """A packet socket on every interface of the current namespace, both ways (non-blocking)."""
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(_ETH_P_ALL))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.setblocking(False)
    return sock


def _lost(sock: socket.socket) -> int:
    """Packets the kernel dropped for this socket (reading the statistics resets them)."""
    _, drops = struct.unpack("II", sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8))
    return int(drops)


def _drain(sock: socket.socket, mark: ProbeMark, keep: Callable[[str, int, str], bool], seen: Sighting,
           started: float | None, answers: Sighting | None = None) -> None:
    """Add the marked packets waiting on ``sock`` to ``seen``; ``started`` None: the packets waited
    until now, so no time is given (it would be the time of reading, not of sending)."""
    while True:
        try:
            packet, address = sock.recvfrom(65535)
        except BlockingIOError:
            return
        ifname, ethertype, pkttype = address[0], address[1], address[2]
        if ethertype not in (_ETH_P_IP, _ETH_P_IPV6):
            continue
        at = f"on {ifname}" + (f" at +{time.monotonic() - started:.3f}s" if started is not None else "")
        description = sighting(mark, packet)
        if description is not None and keep(ifname, pkttype, destination(packet) or ""):
            seen.add(f"{description} {at}")
        if answers is not None and pkttype == _PACKET_OUTGOING:
            answer = sighting(mark, packet, answer=True)
            if answer is not None:
                answers.add(f"{answer} {at}")


class DepartureCounter:
    """Counts a probe's packets leaving the current namespace; use inside the probe's child."""

    def __init__(self, mark: ProbeMark) -> None:
        self.mark = mark
        self.seen = Sighting()
        try:
            self.sock: socket.socket | None = open_packet_socket()
        except OSError as err:
            self.sock = None
            self.seen.error = f"packet socket: {err.strerror or err}"

    def result(self) -> Sighting:
        if self.sock is not None:
            with self.sock:
                _drain(self.sock, self.mark, lambda ifname, pkttype, dst: pkttype == _PACKET_OUTGOING,
                       self.seen, None)
                self.seen.dropped = _lost(self.sock)
            self.sock = None
        return self.seen


Local = ipaddress.IPv4Network | ipaddress.IPv6Network | ipaddress.IPv4Address | ipaddress.IPv6Address


def _local_networks() -> list[Local]:
    """The current namespace's own addresses, IPv4 and IPv6 (all of 127/8 on loopback, as routing has it)."""
    local: list[Local] = []
    with IPRoute() as ipr:
        for addr in ipr.get_addr():
            interface = ipaddress.ip_interface(f"{str(addr.get('address')).split('%')[0]}/{addr['prefixlen']}")
            local.append(interface.network if interface.ip.is_loopback else interface.ip)
    return local


def watch_arrivals(ready: Callable[[], None], stop_fd: int, mark: ProbeMark, grace: float = 0.05) -> Sighting:
    """Count ``mark``'s packets arriving for this namespace's own addresses until ``stop_fd`` reads,
    and the answers to them that left it (``Sighting.answers``).

    For :func:`netconform.hermetic.nsexec.start_in_namespaces`. Packets merely forwarded through the namespace
    (the host's bridges carry everyone's traffic) are not arrivals: only those addressed to one of
    its own addresses count, and only as received (not as sent from here).
    """
    seen = Sighting()
    started = time.monotonic()
    local = _local_networks()

    def arrived(ifname: str, pkttype: int, dst: str) -> bool:
        address = ipaddress.ip_address(dst)
        return pkttype != _PACKET_OUTGOING and any(
            address in item if isinstance(item, ipaddress.IPv4Network | ipaddress.IPv6Network) else address == item
            for item in local)

    answers = Sighting()
    with open_packet_socket() as sock:
        ready()
        while True:
            readable, _, _ = select.select([sock.fileno(), stop_fd], [], [])
            if sock.fileno() in readable:
                _drain(sock, mark, arrived, seen, started, answers)
            if stop_fd in readable:
                os.read(stop_fd, 1)  # a byte, or end-of-file if the parent died
                break
        time.sleep(grace)  # a packet still in flight when the prober gave up
        _drain(sock, mark, arrived, seen, started, answers)
        seen.dropped = _lost(sock)
    seen.answers = answers.count
    return seen
