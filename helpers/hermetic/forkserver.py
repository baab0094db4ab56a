"""The fork server: a single-threaded process that forks the namespace children.

Forking the test process itself from one of its threads would copy whatever another thread holds
at that instant (a logging, import or pyroute2 lock, a docker connection pool, a pipe end) into
the child, where nobody ever releases it. This process is exec'd fresh
(``python -m netconform.hermetic.forkserver FD``), never starts a thread, and forks one child per
request from its only thread; it refuses to fork should an imported module have started one.

Protocol, on the SOCK_SEQPACKET socket ``FD`` (:mod:`netconform.hermetic.forkserver_client`):
a request is one message ``pickle((sys.path, pickle((ns_files, fn, args))))`` carrying the
descriptors [reply socket, answer pipe write end, (a task's stop pipe read end)]. The server
loads the function here (its module is imported once, in this process), forks, and sends
``("ok", pid)`` with a pidfd of the child, or ``("err", detail, traceback)``, on the reply socket.
The child (:func:`netconform.hermetic.nschild.run_child`) answers on the answer pipe itself.

The server reaps every child as soon as it exits; it exits when the client's end of ``FD``
closes (the test process ended, however it ended) or its parent changes, and kills and reaps
the children it still has (they would die anyway: PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import array
import contextlib
import gc
import os
import pickle
import select
import signal
import socket
import sys
from typing import Any

from netconform.hermetic.nschild import close_inherited, failure, run_child

# A request is small (a function reference, probe arguments); this bounds one message.
MAX_REQUEST = 128 * 1024
_MAX_FDS = 3
_WATCH_PARENT = 1000  # ms between checks that the parent still lives


def main() -> None:
    """``python -m netconform.hermetic.forkserver FD``: serve on the socket ``FD`` until it closes."""
    # A Ctrl-C reaches the whole foreground process group; the test process decides what stops.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    fd = int(sys.argv[1])
    close_inherited([fd])
    _warm_netlink()
    # Everything imported so far moves out of the collector's reach: a child's collections would
    # otherwise write to every object's header and copy the pages it shares with this process
    # (a child that reads a netns: 12.4 ms of CPU instead of 14.7, an empty one 3.6 instead of 4.4).
    gc.collect()
    gc.freeze()
    serve(socket.socket(fileno=fd))


def _warm_netlink() -> None:
    """Build pyroute2's netlink parsers here once, so that every child inherits them built: a
    child's first socket and dumps took ~4.5 ms cold against ~1.8 ms warm, and nearly every child
    makes one (a probe's DAD wait, a witness; the resident visitor's dumps). Only this process's
    own namespace is read; nothing of pyroute2 outlives the socket (no thread, descriptor or event
    loop: forking stays safe)."""
    from pyroute2 import IPRoute  # the server's only use of it

    with IPRoute() as ipr:
        for dump in (ipr.get_links(), ipr.get_addr(), ipr.get_routes(), ipr.get_neighbours()):
            for _ in dump:
                pass


def serve(control: socket.socket) -> None:
    """Fork a child per request on ``control`` until it closes; then kill and reap the rest."""
    parent = os.getppid()
    children: dict[int, int] = {}  # pidfd -> pid
    poller = select.poll()
    poller.register(control, select.POLLIN)
    try:
        while True:
            events = poller.poll(_WATCH_PARENT)
            if os.getppid() != parent:
                return
            for fd, _ in events:
                if fd != control.fileno():
                    _reap(fd, children, poller)
                elif not _serve_one(control, children, poller):
                    return
    finally:
        _kill_all(children)


def _serve_one(control: socket.socket, children: dict[int, int], poller: select.poll) -> bool:
    """Handle one request; False once the client has gone."""
    message, ancdata, flags, _ = control.recvmsg(MAX_REQUEST, socket.CMSG_SPACE(_MAX_FDS * 4))
    fds = _received_fds(ancdata)
    try:
        if not message and not fds:
            return False
        if len(fds) < 2:  # nowhere to answer: a malformed request is dropped
            return True
        reply, answer, stop = fds[0], fds[1], (fds[2] if len(fds) > 2 else None)
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise ValueError(f"the request exceeds {MAX_REQUEST} bytes or {_MAX_FDS} descriptors")
            ns_files, fn, args = _load(message)
            _require_one_thread()
            server = os.getpid()
            pid = os.fork()
        except Exception as err:
            _send(reply, failure(err))
            return True
        if pid == 0:
            run_child(server, ns_files, fn, args, answer, stop)
        pidfd = os.pidfd_open(pid)
        children[pidfd] = pid
        poller.register(pidfd, select.POLLIN)
        if not _send(reply, pickle.dumps(("ok", pid)), pidfd):
            # The client went away before it learnt the pid: nobody would ever stop this child.
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        return True
    finally:
        for fd in fds:
            os.close(fd)


def _received_fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - (len(data) % fds.itemsize)])
    return list(fds)


def _load(message: bytes) -> tuple[dict[str, str], Any, tuple[Any, ...]]:
    """The request's namespaces, function and arguments; the client's sys.path first, so that the
    function's module (a test module, say) imports here as it did there."""
    path, body = pickle.loads(message)
    if sys.path != path:
        sys.path[:] = path
    ns_files, fn, args = pickle.loads(body)
    return ns_files, fn, args


def _require_one_thread() -> None:
    threads = len(os.listdir("/proc/self/task"))
    if threads != 1:
        raise RuntimeError(f"the fork server has {threads} threads (a module it imported started one); "
                           "it forks only while it has one")


def _send(reply: int, data: bytes, fd: int | None = None) -> bool:
    """Send ``data`` (and ``fd``) on the reply socket; False if the client closed its end."""
    sock = socket.socket(fileno=os.dup(reply))
    try:
        ancillary = [] if fd is None else [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))]
        sock.sendmsg([data], ancillary)
        return True
    except OSError:
        return False
    finally:
        sock.close()


def _reap(pidfd: int, children: dict[int, int], poller: select.poll) -> None:
    pid = children.pop(pidfd)
    poller.unregister(pidfd)
    os.close(pidfd)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _kill_all(children: dict[int, int]) -> None:
    for pidfd, pid in children.items():
        with contextlib.suppress(ProcessLookupError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(pidfd)
    children.clear()


if __name__ == "__main__":
    main()
