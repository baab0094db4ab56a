"""ICMPv6 echo for the reachability probes: the request, and what an answer says about it.

A raw ICMPv6 socket hands over the ICMPv6 message without its IPv6 header, and the kernel fills in
the checksum of what is sent (RFC 3542), so only the message itself is built and parsed here.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

ECHO_REQUEST = 128
ECHO_REPLY = 129
_UNREACHABLE = 1
_TIME_EXCEEDED = 3
_NEXT_HEADER_ICMP6 = 58
_IPV6_HEADER = 40


def echo_request6(ident: int, sequence: int, payload: bytes) -> bytes:
    """An ICMPv6 echo request; its checksum is left 0 for the kernel to compute."""
    return struct.pack("!BBHHH", ECHO_REQUEST, 0, 0, ident, sequence) + payload


def _same(one: str, other: str) -> bool:
    try:
        return ipaddress.ip_address(one.split("%")[0]) == ipaddress.ip_address(other.split("%")[0])
    except ValueError:
        return False


def classify_icmp6(message: bytes, peer: str, address: str, ident: int, sequence: int, payload: bytes) -> str | None:
    """What an ICMPv6 message (without IPv6 header) says about our echo request, if anything.

    ``reach`` only for an echo reply from the pinged address carrying our id, sequence and payload;
    ``unreachable`` only for an error quoting our own request (to ``address``, our id and
    sequence). Anything else (neighbour discovery, other probes, strays) is None.
    """
    if len(message) < 8:
        return None
    kind, _, _, got_ident, got_seq = struct.unpack("!BBHHH", message[:8])
    if kind == ECHO_REPLY:
        ours = (got_ident, got_seq) == (ident, sequence) and message[8:] == payload
        return "reach" if ours and _same(peer, address) else None
    if kind in (_UNREACHABLE, _TIME_EXCEEDED):
        inner = message[8:]
        if len(inner) < _IPV6_HEADER + 8 or inner[6] != _NEXT_HEADER_ICMP6:
            return None
        if not _same(socket.inet_ntop(socket.AF_INET6, inner[24:40]), address):
            return None
        q_kind, _, _, q_ident, q_seq = struct.unpack("!BBHHH", inner[_IPV6_HEADER:_IPV6_HEADER + 8])
        if (q_kind, q_ident, q_seq) == (ECHO_REQUEST, ident, sequence):
            return "unreachable"
    return None
