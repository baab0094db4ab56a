"""The echo protocol: a server that tells each client the source address it saw, and its clients.

One line each way, over TCP or UDP::

    client -> server   <nonce>\\n                        nonce: 1-64 of [A-Za-z0-9._-]
    server -> client   <nonce> <source ip> <source port>\\n

The server answers with the address the packets arrived from, so a test can tell whether a
container's traffic was masqueraded (the server sees the host's address) or left untranslated.
The clients are plain functions with bounded timeouts and picklable results, meant to run in any
network namespace through :func:`netconform.hermetic.nsexec.call_in_namespaces`.
"""

from __future__ import annotations

import errno
import ipaddress
import re
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from netconform.hermetic import sockserve

DEFAULT_PORT = 7
MAX_LINE = 128
# A TCP client gets this long, in total, to send its line.
CONNECTION_DEADLINE = 5.0
MAX_CONNECTIONS = 128

_NONCE = re.compile(rb"[A-Za-z0-9._-]{1,64}")

Transport = Literal["tcp", "udp"]
Failure = Literal["refused", "timeout", "unreachable", "reset", "protocol", "error"]


@dataclass(frozen=True)
class EchoResult:
    """What one echo exchange observed.

    Attributes:
        transport: ``"tcp"`` or ``"udp"``.
        host: the server address the client aimed at.
        port: the server port the client aimed at.
        ok: the server answered with our nonce.
        seen_ip: the source address the server saw (None unless ``ok``).
        seen_port: the source port the server saw (None unless ``ok``).
        local_ip: the client socket's own address, as the client's namespace chose it.
        local_port: the client socket's own port.
        failure: why there is no answer: refused, timeout, unreachable, reset, protocol, error.
        detail: the error text or the unexpected reply, for the failure story.
        elapsed: seconds the exchange took.
    """

    transport: Transport
    host: str
    port: int
    ok: bool
    seen_ip: str | None = None
    seen_port: int | None = None
    local_ip: str | None = None
    local_port: int | None = None
    failure: Failure | None = None
    detail: str = ""
    elapsed: float = 0.0

    @property
    def translated(self) -> bool | None:
        """Whether the server saw another source than the client's own (None without an answer)."""
        if not self.ok:
            return None
        return (self.seen_ip, self.seen_port) != (self.local_ip, self.local_port)


def request_line(nonce: str) -> bytes:
    """The client's line for ``nonce``.

    Raises:
        ValueError: the nonce is empty, too long or has characters outside [A-Za-z0-9._-].
    """
    data = nonce.encode("ascii", "replace")
    if not _NONCE.fullmatch(data):
        raise ValueError(f"echo nonce {nonce!r} must be 1-64 characters of [A-Za-z0-9._-]")
    return data + b"\n"


def reply_line(request: bytes, source: tuple[str, int]) -> bytes | None:
    """The server's reply to one request line (without its newline); None for a bad request."""
    nonce = request.strip()
    if not _NONCE.fullmatch(nonce):
        return None
    return b"%s %s %d\n" % (nonce, source[0].encode("ascii"), source[1])


def parse_reply(line: bytes, nonce: str) -> tuple[str, int] | None:
    """The (ip, port) in a reply line for ``nonce``; None if the line is not such a reply."""
    parts = line.strip().split(b" ")
    if len(parts) != 3 or parts[0] != nonce.encode("ascii") or not parts[2].isdigit():
        return None
    try:
        address = str(ipaddress.ip_address(parts[1].decode("ascii")))
    except ValueError:
        return None
    return address, int(parts[2])


# --- server ------------------------------------------------------------------------------------


def serve_echo(ready: Callable[[], None], port: int = DEFAULT_PORT, host: str = sockserve.ANY_HOST) -> None:
    """Serve TCP and UDP echo on ``host:port`` until killed; for :func:`spawn_in_namespaces`.
    Echo servers share the port (SO_REUSEPORT): two UDP probes to one port are made at once, each
    answered by either; a process of someone else's holding the port still makes the bind fail."""
    udp = sockserve.bind_udp(host, port, share=True)
    tcp = sockserve.bind_tcp(host, port, share=True)
    ready()
    sockserve.serve_forever(
        lambda: sockserve.serve_udp(udp, reply_line),
        lambda: sockserve.serve_tcp(tcp, _echo_stream, max_connections=MAX_CONNECTIONS, deadline=CONNECTION_DEADLINE),
    )


def _echo_stream(conn: socket.socket, peer: tuple[str, int], until: float) -> None:
    line = sockserve.read_line(conn, MAX_LINE, until)
    reply = reply_line(line, peer) if line is not None else None
    conn.sendall(reply if reply is not None else b"ERR bad request\n")


# --- clients -----------------------------------------------------------------------------------

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN}
_RESET = {errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED}


def _classify(err: OSError) -> Failure:
    if isinstance(err, TimeoutError) or err.errno == errno.ETIMEDOUT:
        return "timeout"
    if err.errno == errno.ECONNREFUSED:
        return "refused"
    if err.errno in _UNREACHABLE:
        return "unreachable"
    if err.errno in _RESET:
        return "reset"
    return "error"


def _describe(err: OSError) -> str:
    name = errno.errorcode.get(err.errno or 0, "")
    return f"{name}: {err.strerror or err}" if name else str(err) or type(err).__name__


def _result(
    transport: Transport,
    host: str,
    port: int,
    local: tuple[str, int] | None,
    started: float,
    *,
    seen: tuple[str, int] | None = None,
    failure: Failure | None = None,
    detail: str = "",
) -> EchoResult:
    return EchoResult(
        transport=transport,
        host=host,
        port=port,
        ok=seen is not None,
        seen_ip=seen[0] if seen else None,
        seen_port=seen[1] if seen else None,
        local_ip=local[0] if local else None,
        local_port=local[1] if local else None,
        failure=failure,
        detail=detail,
        elapsed=time.monotonic() - started,
    )


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _bind_device(sock: socket.socket, device: str | None) -> None:
    if device:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, device.encode())


def echo_tcp(host: str, port: int = DEFAULT_PORT, timeout: float = 3.0, nonce: str = "",
             device: str | None = None, source_port: int | None = None) -> EchoResult:
    """One TCP echo exchange with ``host:port``, all of it within ``timeout`` seconds.

    Args:
        host: the server's IPv4 or IPv6 address.
        port: the server's port.
        timeout: the bound for connecting, sending and reading the answer together.
        nonce: the request token; a random one when empty.
        device: the interface to send through (SO_BINDTODEVICE), whatever the routes prefer.
        source_port: the local port to send from (a witness tells probes to one port apart by it).

    Returns:
        The observation; failures are reported in it, never raised.
    """
    nonce = nonce or secrets.token_hex(8)
    request = request_line(nonce)
    started = time.monotonic()
    until = started + timeout
    local: tuple[str, int] | None = None

    try:
        with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
            _bind_device(sock, device)
            if source_port is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the attempt before's port
                sock.bind(("::" if _family(host) == socket.AF_INET6 else "0.0.0.0", source_port))
            sock.settimeout(timeout)
            sock.connect((host, port))
            name = sock.getsockname()
            local = (name[0], name[1])
            sock.sendall(request)
            line = sockserve.read_line(sock, MAX_LINE, until)
    except OSError as err:
        return _result("tcp", host, port, local, started, failure=_classify(err), detail=_describe(err))
    seen = parse_reply(line, nonce) if line is not None else None
    if seen is None:
        return _result("tcp", host, port, local, started, failure="protocol", detail=f"reply {line!r}")
    return _result("tcp", host, port, local, started, seen=seen)


def echo_udp(
    host: str, port: int = DEFAULT_PORT, timeout: float = 3.0, nonce: str = "", attempts: int = 3,
    device: str | None = None,
) -> EchoResult:
    """One UDP echo exchange with ``host:port`` within ``timeout`` seconds.

    The request is sent up to ``attempts`` times, evenly spread over ``timeout``, so one lost
    datagram does not fail the probe. An ICMP port-unreachable answer reports ``refused``.

    Args:
        host: the server's IPv4 or IPv6 address.
        port: the server's port.
        timeout: the bound for the whole exchange.
        nonce: the request token; a random one when empty.
        attempts: how many times the request may be sent.
        device: the interface to send through (SO_BINDTODEVICE), whatever the routes prefer.

    Returns:
        The observation; failures are reported in it, never raised.
    """
    nonce = nonce or secrets.token_hex(8)
    request = request_line(nonce)
    started = time.monotonic()
    until = started + timeout
    interval = timeout / max(attempts, 1)
    local: tuple[str, int] | None = None
    last_reply = b""

    try:
        with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
            _bind_device(sock, device)
            # connect() makes the kernel report ICMP errors for this peer on recv.
            sock.connect((host, port))
            name = sock.getsockname()
            local = (name[0], name[1])
            for _ in range(max(attempts, 1)):
                sock.send(request)
                resend_at = min(time.monotonic() + interval, until)
                while (remaining := resend_at - time.monotonic()) > 0:
                    sock.settimeout(remaining)
                    try:
                        data = sock.recv(sockserve.MAX_DATAGRAM)
                    except TimeoutError:
                        break
                    seen = parse_reply(data, nonce)
                    if seen is not None:
                        return _result("udp", host, port, local, started, seen=seen)
                    last_reply = data
    except OSError as err:
        return _result("udp", host, port, local, started, failure=_classify(err), detail=_describe(err))
    if last_reply:
        return _result("udp", host, port, local, started, failure="protocol", detail=f"reply {last_reply!r}")
    return _result("udp", host, port, local, started, failure="timeout", detail=f"no answer in {timeout:g}s")
