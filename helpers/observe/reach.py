"""Reachability probes run from inside a network namespace: ICMP echo, TCP and UDP echo.

Each probe makes a bounded number of attempts with a bounded timeout each, and records every
attempt (outcome, source seen by the listener, time). An answer ends the probe; so does a definite
refusal (refused, unreachable, reset). Every packet carries the probe's mark, and the packets that
left the prober's namespace are counted (:mod:`netconform.observe.witness`), so silence can be told
from a probe that never went out.
"""

from __future__ import annotations

import errno
import os
import select
import socket
import struct
import time
from collections.abc import Callable

from pyroute2 import IPRoute

from netconform.facts import NO_ROUTE, Attempt, ReachResult, Sighting
from netconform.hermetic.echo import echo_tcp, echo_udp
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.observe.dad import await_dad
from netconform.observe.icmp6 import classify_icmp6, echo_request6
from netconform.observe.witness import DepartureCounter, ProbeMark

_ICMP_ECHO_REQUEST = 8
_IFF_UP = 0x1
_NUD_INCOMPLETE = 0x01
_NUD_FAILED = 0x20
_ICMP_ECHO_REPLY = 0
_ICMP_UNREACHABLE = 3
_ICMP_TIME_EXCEEDED = 11
_DEFINITE = {"reach", "refused", "unreachable", "reset"}
# Answered requests of a stream kept as attempts; the count goes on past it.
STREAM_KEEP = 10


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    total += total >> 16
    return int(~total & 0xFFFF)


def echo_request(ident: int, sequence: int, payload: bytes) -> bytes:
    header = struct.pack("!BBHHH", _ICMP_ECHO_REQUEST, 0, 0, ident, sequence)
    return struct.pack("!BBHHH", _ICMP_ECHO_REQUEST, 0, _checksum(header + payload), ident, sequence) + payload


def classify_icmp(packet: bytes, peer: str, address: str, ident: int, sequence: int, payload: bytes) -> str | None:
    """What an ICMP packet (with its IPv4 header) says about our echo request, if anything.

    ``reach`` only for an echo reply from the pinged address carrying our id, sequence and payload;
    ``unreachable`` only for an error that quotes our own request (to ``address``, our id and
    sequence). Anything else (other probes' traffic, strays) is None.
    """
    offset = (packet[0] & 0x0F) * 4
    if len(packet) < offset + 8:
        return None
    kind, _, _, got_ident, got_seq = struct.unpack("!BBHHH", packet[offset: offset + 8])
    if kind == _ICMP_ECHO_REPLY:
        ours = (got_ident, got_seq) == (ident, sequence) and packet[offset + 8:] == payload
        return "reach" if ours and peer == address else None
    if kind in (_ICMP_UNREACHABLE, _ICMP_TIME_EXCEEDED):
        inner = packet[offset + 8:]
        if len(inner) < 20:
            return None
        inner_offset = (inner[0] & 0x0F) * 4
        quoted = inner[inner_offset: inner_offset + 8]
        if inner[9] != socket.IPPROTO_ICMP or socket.inet_ntoa(inner[16:20]) != address or len(quoted) < 8:
            return None
        q_kind, _, _, q_ident, q_seq = struct.unpack("!BBHHH", quoted)
        if (q_kind, q_ident, q_seq) == (_ICMP_ECHO_REQUEST, ident, sequence):
            return "unreachable"
    return None


def ping_once(address: str, timeout: float, sequence: int, mark: ProbeMark) -> Attempt:
    """One ICMP echo request and the wait for its reply (raw socket; we are root)."""
    started = time.monotonic()
    payload = b"netconform-" + mark.nonce
    ident = mark.icmp_ident
    v6 = ":" in address
    request = echo_request6(ident, sequence, payload) if v6 else echo_request(ident, sequence, payload)
    classify = classify_icmp6 if v6 else classify_icmp
    try:
        with socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_RAW,
                           socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP) as sock:
            sock.sendto(request, (address, 0))
            deadline = started + timeout
            while (remaining := deadline - time.monotonic()) > 0:
                sock.settimeout(remaining)
                try:
                    data, peer = sock.recvfrom(2048)
                except TimeoutError:
                    break
                verdict = classify(data, peer[0], address, ident, sequence, payload)
                if verdict == "reach":
                    return Attempt("reach", peer[0], time.monotonic() - started)
                if verdict == "unreachable":
                    return Attempt("unreachable", peer[0], time.monotonic() - started,
                                   f"ICMP error from {peer[0]} quoting our request")
    except OSError as err:
        return _local_failure(err, started)
    return Attempt("timeout", None, time.monotonic() - started, f"no reply in {timeout:g}s")


def _local_failure(err: OSError, started: float) -> Attempt:
    elapsed = time.monotonic() - started
    name = errno.errorcode.get(err.errno or 0, "")
    if err.errno == errno.ENETUNREACH:
        return Attempt("unreachable", None, elapsed, f"{NO_ROUTE}: {name}")
    if err.errno == errno.EHOSTUNREACH:
        return Attempt("unreachable", None, elapsed, f"{name}: {err.strerror}")
    return Attempt("error", None, elapsed, f"{name}: {err.strerror or err}")


def _echo_attempt(proto: str, address: str, port: int, timeout: float, mark: ProbeMark,
                  device: str | None = None) -> Attempt:
    # One datagram per UDP attempt: the retry count is ours, recorded attempt by attempt.
    nonce = mark.nonce.decode("ascii")
    result = (echo_tcp(address, port, timeout, nonce=nonce, device=device, source_port=mark.source_port)
              if proto == "tcp"
              else echo_udp(address, port, timeout, nonce=nonce, attempts=1, device=device))
    if result.ok:
        return Attempt("reach", result.seen_ip, result.elapsed)
    detail = result.detail
    if result.failure == "unreachable" and detail.startswith("ENETUNREACH"):
        detail = f"{NO_ROUTE}: {detail}"
    return Attempt(result.failure or "error", None, result.elapsed, detail)


def ping_stream(ready: Callable[[], None], stop_fd: int, address: str, interval: float, mark: ProbeMark,
                grace: float = 1.0) -> tuple[list[Attempt], Sighting]:
    """Send echo requests to ``address`` every ``interval`` seconds until ``stop_fd`` reads; for
    :func:`netconform.hermetic.nsexec.start_in_namespaces`. Returns one attempt per answered request (the first
    few) and one for the rest, and the requests seen leaving."""
    departures = DepartureCounter(ProbeMark("icmp", mark.nonce))
    payload = b"netconform-" + mark.nonce
    ident = mark.icmp_ident
    started = time.monotonic()
    answered: list[Attempt] = []
    count = 0
    sent = 0
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.setblocking(False)
        ready()
        next_send = time.monotonic()
        stop_at: float | None = None
        while stop_at is None or time.monotonic() < stop_at:
            now = time.monotonic()
            wait = max(0.0, (stop_at if stop_at is not None else next_send) - now)
            readable, _, _ = select.select([sock.fileno(), stop_fd] if stop_at is None else [sock.fileno()], [], [],
                                           wait)
            if stop_fd in readable:
                os.read(stop_fd, 1)
                stop_at = time.monotonic() + grace  # the last requests' answers
            while sock.fileno() in readable:
                try:
                    data, peer = sock.recvfrom(2048)
                except BlockingIOError:
                    break
                offset = (data[0] & 0x0F) * 4
                sequence = struct.unpack("!H", data[offset + 6: offset + 8])[0] if len(data) >= offset + 8 else 0
                if 0 < sequence <= sent and classify_icmp(data, peer[0], address, ident, sequence, payload) == "reach":
                    count += 1
                    if len(answered) < STREAM_KEEP:
                        answered.append(Attempt("reach", peer[0], time.monotonic() - started,
                                                f"echo request {sequence} answered"))
            if stop_at is None and time.monotonic() >= next_send and sent < 0xFFFF:
                sent += 1
                try:
                    sock.sendto(echo_request(ident, sent, payload), (address, 0))
                except OSError as err:
                    return [*answered, _local_failure(err, started)], departures.result()
                next_send += interval
    rest = Attempt("timeout", None, time.monotonic() - started,
                   f"{sent - count} of {sent} echo requests unanswered, one every {interval * 1000:g} ms")
    if count > len(answered):
        rest.detail += f"; {count - len(answered)} more answered"
    return [*answered, rest], departures.result()


def probe(result: ReachResult, timeout: float, attempts: int, mark: ProbeMark,
          device: str | None = None) -> ReachResult:
    """Fill ``result.attempts`` and ``result.sent`` by probing ``result.address``; call inside the
    prober's netns. ``device``: tcp/udp sockets are bound to that interface, so the route out of
    it is taken even to an address the prober's loopback holds. Never raises: failures are attempts."""
    if ":" in result.address:
        await_dad()  # a fresh container's IPv6 address cannot send yet (observe/dad.py)
    departures = DepartureCounter(ProbeMark(mark.proto, mark.nonce, result.port, address=result.address,
                                            source_port=mark.source_port))
    for number in range(1, attempts + 1):
        if result.proto == "icmp":
            attempt = ping_once(result.address, timeout, number, mark)
        else:
            assert result.port is not None
            attempt = _echo_attempt(result.proto, result.address, result.port, timeout, mark, device)
        result.attempts.append(attempt)
        if attempt.outcome in _DEFINITE:
            break
    result.sent = departures.result()
    if not result.sent.count and not result.reached:
        down = _egress_down(result.address) or _no_neighbour(result.address)
        if down:
            # Silence because the way out is a device that is down, or no one on the link answers
            # for the next hop (the kernel held the packets, then said EHOSTUNREACH): the network's
            # state, not ours.
            result.attempts = [Attempt("unreachable", None, a.elapsed, f"{NO_ROUTE}: {down}")
                               if a.outcome in ("timeout", "unreachable") else a for a in result.attempts]
    return result


def probe_noting_creations(creations: IsolationLock | None, result: ReachResult, timeout: float, attempts: int,
                           mark: ProbeMark, device: str | None = None) -> tuple[ReachResult, bool]:
    """:func:`probe`, and whether one of the suite's network creations was under way or made while
    it sent (:mod:`netconform.hermetic.isolation_lock`): only a creation while its packets were on
    their way can have misled it, not one while its witness or listener started."""
    before = creations.mark() if creations is not None else None
    result = probe(result, timeout, attempts, mark, device)
    return result, creations is not None and before is not None and creations.changed_since(before)


def _no_neighbour(address: str) -> str:
    """Why nothing left toward ``address``: the next hop's neighbour entry is incomplete or failed
    (nobody answered ARP on the link), else empty."""
    try:
        with IPRoute() as ipr:
            route = ipr.route("get", dst=address, family=_family(address))[0]
            hop = route.get("gateway") or address
            index = route.get("oif")
            entries = [entry for entry in ipr.get_neighbours(dst=hop, family=_family(address))
                       if entry["ifindex"] == index]
            device = ipr.get_links(index)[0].get("ifname")
    except Exception:  # no route at all is reported by the socket itself
        return ""
    states = [entry["state"] for entry in entries]
    if not states or not all(state & (_NUD_INCOMPLETE | _NUD_FAILED) for state in states):
        return ""
    state = "failed" if states[0] & _NUD_FAILED else "incomplete"
    asked = "neighbour solicitation" if ":" in address else "ARP"
    return f"nothing on {device} answered {asked} for {hop} (neighbour {state})"


def _family(address: str) -> int:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def _egress_down(address: str) -> str:
    """Why nothing can leave toward ``address``: its route's device is down (else empty)."""
    try:
        with IPRoute() as ipr:
            route = ipr.route("get", dst=address, family=_family(address))[0]
            index = route.get("oif")
            link = ipr.get_links(index)[0]
    except Exception:  # no route at all is reported by the socket itself
        return ""
    if link["flags"] & _IFF_UP:
        return ""
    return f"the route to {address} goes through {link.get('ifname')}, which is down"
