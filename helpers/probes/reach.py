"""Reachability probes run from inside a network namespace: ICMP echo, TCP and UDP echo.

Each probe makes a bounded number of attempts with a bounded timeout each, and records every
attempt (outcome, source seen by the listener, time). A definite answer (reached, refused,
unreachable) ends the probe; only silence is retried.
"""

from __future__ import annotations

import os
import socket
import struct
import time

from helpers.echo import echo_tcp, echo_udp
from helpers.facts import Attempt, ReachResult

_ICMP_ECHO_REQUEST = 8
_ICMP_ECHO_REPLY = 0
_DEFINITE = {"reach", "refused", "unreachable", "reset"}


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def ping_once(address: str, timeout: float, sequence: int) -> Attempt:
    """One ICMP echo request and the wait for its reply (raw socket; we are root)."""
    started = time.monotonic()
    ident = os.getpid() & 0xFFFF
    payload = b"netconform" + struct.pack("!d", started)
    header = struct.pack("!BBHHH", _ICMP_ECHO_REQUEST, 0, 0, ident, sequence)
    packet = struct.pack("!BBHHH", _ICMP_ECHO_REQUEST, 0, _checksum(header + payload), ident, sequence) + payload
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
            sock.sendto(packet, (address, 0))
            deadline = started + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                try:
                    data, peer = sock.recvfrom(2048)
                except TimeoutError:
                    break
                offset = (data[0] & 0x0F) * 4
                kind, _, _, got_ident, got_seq = struct.unpack("!BBHHH", data[offset : offset + 8])
                if kind == _ICMP_ECHO_REPLY and got_ident == ident and got_seq == sequence:
                    return Attempt("reach", peer[0], time.monotonic() - started)
                if kind == 3:  # destination unreachable, for any of our requests
                    return Attempt("unreachable", peer[0], time.monotonic() - started, "ICMP destination unreachable")
    except OSError as err:
        outcome = "unreachable" if err.errno in (101, 113) else "error"
        return Attempt(outcome, None, time.monotonic() - started, err.strerror or str(err))
    return Attempt("timeout", None, time.monotonic() - started, f"no reply in {timeout:g}s")


def _echo_attempt(proto: str, address: str, port: int, timeout: float) -> Attempt:
    # One datagram per UDP attempt: the retry count is ours, recorded attempt by attempt.
    result = echo_tcp(address, port, timeout) if proto == "tcp" else echo_udp(address, port, timeout, attempts=1)
    if result.ok:
        return Attempt("reach", result.seen_ip, result.elapsed)
    return Attempt(result.failure or "error", None, result.elapsed, result.detail)


def probe(result: ReachResult, timeout: float, attempts: int) -> ReachResult:
    """Fill ``result.attempts`` by probing ``result.address``; call inside the prober's netns.

    Never raises: failures are attempts.
    """
    for number in range(1, attempts + 1):
        if result.proto == "icmp":
            attempt = ping_once(result.address, timeout, number)
        else:
            assert result.port is not None
            attempt = _echo_attempt(result.proto, result.address, result.port, timeout)
        result.attempts.append(attempt)
        if attempt.outcome in _DEFINITE:
            break
    return result
