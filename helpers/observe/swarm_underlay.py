"""What crossed the lab's underlay while a probe ran: plaintext VXLAN or IPsec ESP.

A watcher in the lab's namespace reads every IPv4 packet on the underlay bridge's ports (a packet
socket, as :mod:`netconform.observe.witness` does) and counts, between node addresses, ESP packets
(IP protocol 50) and VXLAN datagrams (UDP 4789), and the packets whose bytes show the probe's
nonce in plaintext. An encrypted overlay carries the probe as ESP with the nonce nowhere; a plain
one as VXLAN with the nonce readable.
"""

from __future__ import annotations

import os
import select
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

from netconform.observe.witness import open_packet_socket

_ETH_P_IP = 0x0800
_PACKET_OUTGOING = 4
_PROTO_ESP = 50
_PROTO_UDP = 17
_VXLAN_PORT = 4789


@dataclass(frozen=True)
class UnderlayFacts:
    """Counts of the packets between nodes seen on the underlay during one probe."""

    esp: int = 0
    vxlan: int = 0
    plaintext: int = 0  # packets (of any kind) whose bytes hold the probe's nonce
    error: str = ""

    @property
    def carried_as(self) -> str:
        """``esp`` (ESP only, nonce never readable), ``vxlan`` (plaintext VXLAN), or what was seen."""
        if self.esp and not self.vxlan and not self.plaintext:
            return "esp"
        if self.vxlan and self.plaintext and not self.esp:
            return "vxlan"
        return f"mixed or nothing: esp {self.esp}, vxlan {self.vxlan}, nonce readable in {self.plaintext}"

    def describe(self) -> str:
        seen = f"underlay: {self.esp} ESP, {self.vxlan} VXLAN, nonce readable in {self.plaintext} packet(s)"
        return f"{seen} ({self.error})" if self.error else seen


def watch_underlay(ready: Callable[[], None], stop_fd: int, nodes: list[str], nonce: bytes) -> UnderlayFacts:
    """Count ESP, VXLAN and plaintext-nonce packets between ``nodes`` until ``stop_fd`` reads.

    For :func:`netconform.hermetic.nsexec.start_in_namespaces` in the lab's namespace. Each packet
    is counted once, as received on a bridge port (the bridge forwards it out of another).
    """
    counts = {"esp": 0, "vxlan": 0, "plaintext": 0}
    addresses = {socket.inet_aton(address) for address in nodes}
    with open_packet_socket() as sock:
        ready()
        while True:
            readable, _, _ = select.select([sock.fileno(), stop_fd], [], [])
            if sock.fileno() in readable:
                _drain(sock, addresses, nonce, counts)
            if stop_fd in readable:
                os.read(stop_fd, 1)
                break
        time.sleep(0.05)
        _drain(sock, addresses, nonce, counts)
    return UnderlayFacts(counts["esp"], counts["vxlan"], counts["plaintext"])


def _drain(sock: socket.socket, addresses: set[bytes], nonce: bytes, counts: dict[str, int]) -> None:
    while True:
        try:
            packet, address = sock.recvfrom(65535)
        except BlockingIOError:
            return
        if address[1] != _ETH_P_IP or address[2] == _PACKET_OUTGOING or len(packet) < 20:
            continue
        if packet[12:16] not in addresses or packet[16:20] not in addresses:
            continue
        header = (packet[0] & 0x0F) * 4
        if packet[9] == _PROTO_ESP:
            counts["esp"] += 1
        elif packet[9] == _PROTO_UDP and len(packet) >= header + 4:
            (port,) = struct.unpack("!H", packet[header + 2:header + 4])
            counts["vxlan"] += port == _VXLAN_PORT
        counts["plaintext"] += nonce in packet
