"""The test process's side of the fork server: start it, ask it to fork, hold the child by pidfd.

One server per process (each pytest-xdist worker has its own), exec'd on first use: starting a
process with fork+exec (``subprocess``) is safe from any thread, as nothing of this process runs
in between. A forked copy of this process starts its own. The server dies when this process's end
of its socket closes, however this process ends; one that died is replaced on the next request.
At a normal exit :func:`shutdown` also waits for it and reaps it: an orphan would be left to an
init that may never reap it.

The child is not this process's child: it is signalled and watched through a pidfd, which can
never reach another process that reused the pid, and it counts as gone once the server reaped it.
"""

from __future__ import annotations

import array
import atexit
import contextlib
import os
import pickle
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from netconform.errors import ProbeError
from netconform.hermetic.forkserver import MAX_REQUEST

# The server forks at once; the bound covers its first import of the function's module.
SPAWN_BOUND = 30.0
# After a child exits, the server reaps it within microseconds; this bounds the wait for it.
REAP_BOUND = 5.0


class Child:
    """A child of the fork server, held by a pidfd (signals never reach a reused pid)."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self._pidfd = pidfd

    def signal(self, signum: int) -> None:
        """Send ``signum`` unless the child is gone."""
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(self._pidfd, signum)

    def exited(self, timeout: float = 0.0) -> bool:
        """Whether the child has exited, waiting up to ``timeout`` seconds for it."""
        ready, _, _ = select.select([self._pidfd], [], [], max(timeout, 0.0))
        return bool(ready)

    def wait_gone(self) -> None:
        """Wait until the child has exited and the server has reaped it (so no zombie is left)."""
        self.exited(timeout=REAP_BOUND)
        deadline = time.monotonic() + REAP_BOUND
        pause = 0.0002
        while time.monotonic() < deadline:
            try:  # signal 0 reaches a zombie; once reaped, the pidfd's process is gone
                signal.pidfd_send_signal(self._pidfd, 0)
            except ProcessLookupError:
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.05)

    def close(self) -> None:
        if self._pidfd >= 0:
            os.close(self._pidfd)
            self._pidfd = -1


class _Server:
    """A running fork server and this process's end of its socket."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "netconform.hermetic.forkserver", str(theirs.fileno())],
                pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.control = ours
        self.owner = os.getpid()

    def usable(self) -> bool:
        return self.owner == os.getpid() and self.process.poll() is None

    def discard(self) -> None:
        """Close our end (the server exits on it) and reap the server if it is ours."""
        self.control.close()
        if self.owner == os.getpid():
            try:
                self.process.wait(timeout=REAP_BOUND)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


_lock = threading.Lock()
_current: _Server | None = None


def server_pid() -> int:
    """The pid of this process's fork server, started if need be."""
    return _server(None).process.pid


def shutdown() -> None:
    """Stop this process's fork server, if it has one, and reap it; its children die with it.

    Registered with atexit; a forked copy that ends with ``os._exit`` calls it itself.
    """
    global _current
    with _lock:
        if _current is not None and _current.owner == os.getpid():
            _current.discard()
            _current = None


def _server(failed: _Server | None) -> _Server:
    """This process's server; a new one if there is none, it died, or it is ``failed``."""
    global _current
    with _lock:
        current = _current
        if current is not None and (current is failed or not current.usable()):
            if current.owner == os.getpid():
                current.discard()
            else:  # a forked copy: the socket is the parent's, the server is not our child
                current.control.close()
            current = None
        if current is None:
            current = _current = _Server()
            atexit.unregister(shutdown)  # registered once, however often a server is started
            atexit.register(shutdown)
        return current


def spawn(ns_files: Mapping[str, str], fn: Callable[..., Any], args: tuple[Any, ...], answer_fd: int,
          stop_fd: int | None, label: str) -> Child:
    """Have the server fork a child that joins ``ns_files`` and runs ``fn`` (see nschild).

    Raises:
        ProbeError: ``fn`` or its arguments do not pickle, the server could not load or fork it,
            or it did not answer within :data:`SPAWN_BOUND`.
    """
    try:
        message = pickle.dumps((list(sys.path), pickle.dumps((dict(ns_files), fn, args))))
    except Exception as err:
        raise ProbeError(f"{label}: the function and its arguments must pickle: {err}") from err
    if len(message) > MAX_REQUEST:
        raise ProbeError(f"{label}: the request is {len(message)} bytes, more than {MAX_REQUEST}")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        fds = [theirs.fileno(), answer_fd, *([] if stop_fd is None else [stop_fd])]
        _send(message, fds)
        theirs.close()
        ours.settimeout(SPAWN_BOUND)
        try:
            data, ancdata, _, _ = ours.recvmsg(65536, socket.CMSG_SPACE(4))
        except TimeoutError:
            raise ProbeError(f"{label}: the fork server did not fork within {SPAWN_BOUND:g}s") from None
    finally:
        ours.close()
        theirs.close()
    return _child(data, ancdata, label)


def _send(message: bytes, fds: list[int]) -> None:
    ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))]
    failed: _Server | None = None
    last: OSError | None = None
    for _ in range(2):  # a server that died meanwhile is replaced once
        server = _server(failed)
        try:
            server.control.sendmsg([message], ancillary)
            return
        except (BrokenPipeError, ConnectionError) as err:
            failed, last = server, err
    raise ProbeError(f"the fork server is not answering: {last}")


def _child(data: bytes, ancdata: list[tuple[int, int, bytes]], label: str) -> Child:
    fds = array.array("i")
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - (len(payload) % fds.itemsize)])
    if not data:
        raise ProbeError(f"{label}: the fork server exited before it forked")
    reply = pickle.loads(data)
    if reply[0] != "ok" or len(fds) != 1:
        for fd in fds:
            os.close(fd)
        detail = reply[1] if reply[0] == "err" else "no pidfd came with the reply"
        raise ProbeError(f"{label}: the fork server could not start it: {detail}")
    return Child(reply[1], fds[0])
