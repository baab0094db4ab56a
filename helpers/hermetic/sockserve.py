"""Small bounded socket servers for the services that run inside a namespace child.

Each service (echo, DNS) binds its sockets, tells its parent it is ready and then serves until
the child is signalled. TCP connections get a thread each, with a cap on concurrent connections
and a deadline per connection, so a stuck or hostile client cannot pin the service.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

# A UDP handler gets the datagram and its source, and returns the reply (or None for no reply).
DatagramHandler = Callable[[bytes, tuple[str, int]], bytes | None]
# A TCP handler owns the connected socket until it returns; the socket has a timeout set.
StreamHandler = Callable[[socket.socket, tuple[str, int], float], None]

MAX_DATAGRAM = 65535
# Every address of both families: one IPv6 socket that also takes IPv4 (as ::ffff:a.b.c.d), or
# 0.0.0.0 where the namespace has no IPv6.
ANY_HOST = ""


def _socket(host: str, kind: socket.SocketKind) -> tuple[socket.socket, str]:
    if host == ANY_HOST:
        try:
            sock = socket.socket(socket.AF_INET6, kind)
        except OSError:  # no IPv6 in this kernel
            return socket.socket(socket.AF_INET, kind), "0.0.0.0"
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        return sock, "::"
    return socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, kind), host


def plain_address(address: str) -> str:
    """``address`` as its family writes it: an IPv4-mapped ``::ffff:a.b.c.d`` becomes ``a.b.c.d``."""
    return address.removeprefix("::ffff:") if address.startswith("::ffff:") and "." in address else address


def bind_udp(host: str, port: int, share: bool = False) -> socket.socket:
    """A UDP socket bound to ``host:port`` (:data:`ANY_HOST`: every address of both families);
    ``share``: with SO_REUSEPORT, so that other sharing sockets of ours may bind it too."""
    sock, bound = _socket(host, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((bound, port))
    return sock


def bind_tcp(host: str, port: int, backlog: int = 128, share: bool = False) -> socket.socket:
    """A listening TCP socket bound to ``host:port`` (:data:`ANY_HOST`: every address of both
    families); ``share`` as for :func:`bind_udp`."""
    sock, bound = _socket(host, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if share:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((bound, port))
    sock.listen(backlog)
    return sock


def serve_udp(sock: socket.socket, handler: DatagramHandler) -> None:
    """Answer datagrams on ``sock`` forever, one at a time (each answer is computed in memory)."""
    while True:
        data, peer = sock.recvfrom(MAX_DATAGRAM)
        reply = handler(data, (plain_address(peer[0]), peer[1]))
        if reply is not None:
            # The client may be gone (ICMP errors surface here); that must not stop the service.
            with contextlib.suppress(OSError):
                sock.sendto(reply, peer)


def serve_tcp(sock: socket.socket, handler: StreamHandler, *, max_connections: int, deadline: float) -> None:
    """Accept connections on ``sock`` forever, each handled in its own thread.

    Args:
        sock: a listening socket.
        handler: called with the connection, the peer and the absolute ``time.monotonic()``
            deadline of the connection; the connection is closed when it returns.
        max_connections: connections beyond this many at once are closed straight away.
        deadline: seconds one connection may live, in total.
    """
    slots = threading.BoundedSemaphore(max_connections)
    while True:
        conn, peer = sock.accept()
        if not slots.acquire(blocking=False):
            conn.close()
            continue
        thread = threading.Thread(
            target=_handle_stream,
            args=(conn, (plain_address(peer[0]), peer[1]), handler, deadline, slots),
            daemon=True,
        )
        thread.start()


def _handle_stream(
    conn: socket.socket,
    peer: tuple[str, int],
    handler: StreamHandler,
    deadline: float,
    slots: threading.BoundedSemaphore,
) -> None:
    try:
        conn.settimeout(deadline)
        handler(conn, peer, time.monotonic() + deadline)
    except OSError:
        pass  # a client that resets or times out only ends its own connection
    finally:
        conn.close()
        slots.release()


def serve_forever(*loops: Callable[[], None]) -> None:
    """Run each loop in a daemon thread and block until one of them fails, then re-raise.

    The services run until their namespace child is killed; a loop that ends by an exception
    ends the child, so the parent sees a dead service rather than a silently half-working one.
    """
    failures: list[BaseException] = []
    failed = threading.Event()

    def run(loop: Callable[[], None]) -> None:
        try:
            loop()
        except BaseException as err:
            failures.append(err)
        finally:
            failed.set()

    for loop in loops:
        threading.Thread(target=run, args=(loop,), daemon=True).start()
    failed.wait()
    if failures:
        raise failures[0]


def read_exactly(conn: socket.socket, size: int, until: float) -> bytes | None:
    """Read ``size`` bytes before the monotonic time ``until``; None on a clean EOF first.

    Raises:
        TimeoutError: the deadline passed first.
    """
    chunks: list[bytes] = []
    missing = size
    while missing:
        remaining = until - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("connection deadline passed")
        conn.settimeout(remaining)
        chunk = conn.recv(missing)
        if not chunk:
            return None
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def read_line(conn: socket.socket, limit: int, until: float) -> bytes | None:
    """Read one ``\\n``-terminated line of at most ``limit`` bytes; None if none arrived whole."""
    data = b""
    while b"\n" not in data and len(data) <= limit:
        remaining = until - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("connection deadline passed")
        conn.settimeout(remaining)
        chunk = conn.recv(limit + 1 - len(data))
        if not chunk:
            return None
        data += chunk
    line, newline, _ = data.partition(b"\n")
    if not newline or len(line) > limit:
        return None
    return line
