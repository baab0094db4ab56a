"""Run a Python function inside another process's namespaces, from the host.

Observation never executes anything from a container image: the host forks a child, the child
joins the target's namespaces with setns(2) and runs a function of ours there (pyroute2 for
netlink, plain sockets for probes), then sends the picklable result back through a pipe.
Forking keeps the parent's namespaces untouched and lets a hung probe be killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import pickle
import select
import signal
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from netconform.errors import ProbeError, ProbeTimeout

T = TypeVar("T")

NAMESPACE_KINDS: tuple[str, ...] = ("net", "uts", "ipc", "pid", "mnt", "user", "cgroup")

# setns(2) nstype flags (linux/sched.h).
_CLONE_FLAGS = {
    "net": 0x40000000,
    "uts": 0x04000000,
    "ipc": 0x08000000,
    "pid": 0x20000000,
    "mnt": 0x00020000,
    "user": 0x10000000,
    "cgroup": 0x02000000,
}
_PR_SET_PDEATHSIG = 1

_libc = ctypes.CDLL(None, use_errno=True)


def namespace_files(pid: int, kinds: Sequence[str]) -> dict[str, str]:
    """The /proc paths naming ``pid``'s namespaces of the given kinds."""
    return {kind: f"/proc/{pid}/ns/{kind}" for kind in kinds}


def _setns(path: str, kind: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if _libc.setns(fd, _CLONE_FLAGS[kind]) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns({path}, {kind}): {os.strerror(err)}")
    finally:
        os.close(fd)


def _enter(ns_files: Mapping[str, str]) -> None:
    # The mount namespace goes last: after it, /proc paths of the target may no longer resolve.
    for kind in sorted(ns_files, key=lambda k: k == "mnt"):
        _setns(ns_files[kind], kind)


def _close_inherited(keep: Sequence[int]) -> None:
    """Close every descriptor but stdio and ``keep``: a child forked while another thread had a
    pipe open must not hold that pipe's end (its reader would wait for the child to exit)."""
    low = 3
    for fd in sorted(set(keep)):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


# Held back while forking: a handler raising KeyboardInterrupt inside os.fork's at-fork hooks
# (logging's lock release, say) is swallowed as "unraisable", and the Ctrl-C is lost.
_DEFERRED_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _fork() -> int:
    """os.fork() with SIGINT/SIGTERM held back until it returns (in the parent); the child lets
    them through in :func:`_child_prologue`, once its own handling is set."""
    signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS)
    pid = os.fork()
    if pid != 0:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _DEFERRED_SIGNALS)
    return pid


def _child_prologue(ns_files: Mapping[str, str], keep: Sequence[int]) -> None:
    """In a fresh child: keep only its own pipes, die with the parent, take default signal handling
    (a handler inherited from the test session must not unwind here), then join the namespaces."""
    _close_inherited(keep)
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _DEFERRED_SIGNALS)
    _enter(ns_files)


def _failure(err: BaseException) -> bytes:
    detail = "".join(traceback.format_exception_only(type(err), err)).strip()
    return pickle.dumps(("err", detail, traceback.format_exc()))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def call_in_namespaces(
    ns_files: Mapping[str, str],
    fn: Callable[..., T],
    *args: Any,
    timeout: float,
    what: str = "",
) -> T:
    """Run ``fn(*args)`` in a forked child that has joined ``ns_files``; return its result.

    Args:
        ns_files: namespace kind -> path (``/proc/<pid>/ns/net``, ``/run/netns/x``).
        fn: a module-level function whose arguments and result pickle.
        timeout: seconds before the child is killed.
        what: words naming the call for error messages.

    Raises:
        ProbeTimeout: the child did not answer within ``timeout``.
        ProbeError: joining the namespaces or ``fn`` itself failed.
    """
    label = what or getattr(fn, "__name__", "probe")
    read_fd, write_fd = os.pipe()
    pid = _fork()
    if pid == 0:  # child
        os.close(read_fd)
        status = 0
        try:
            _child_prologue(ns_files, [write_fd])
            payload = pickle.dumps(("ok", fn(*args)))
        except BaseException as err:  # report every failure to the parent, never raise here
            status = 1
            payload = _failure(err)
        try:
            _write_all(write_fd, payload)
        finally:
            os._exit(status)
    os.close(write_fd)
    try:
        data = _read_result(read_fd, timeout, pid, label)
    finally:
        os.close(read_fd)
        _reap(pid)
    return _answer(data, label)  # type: ignore[no-any-return]


def _answer(data: bytes, label: str) -> Any:
    """The child's result, or its failure raised as a ProbeError."""
    if not data:
        raise ProbeError(f"{label}: the namespace child exited without an answer")
    answer = pickle.loads(data)
    if answer[0] == "ok":
        return answer[1]
    raise ProbeError(f"{label}: {answer[1]}")


def _read_result(fd: int, timeout: float, pid: int, label: str) -> bytes:
    """The child's one pickled answer (not end-of-file: a sibling forked meanwhile may hold a copy
    of the pipe's write end for a moment)."""
    try:
        return _read(fd, timeout, first_message=True)
    except ProbeTimeout:
        _kill(pid)
        raise ProbeTimeout(f"{label}: no answer from inside the namespace within {timeout:g}s") from None


def _read(fd: int, timeout: float, first_message: bool) -> bytes:
    """Read until EOF, or (``first_message``) until one whole pickle has arrived.

    Raises:
        ProbeTimeout: ``timeout`` passed first.
    """
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeTimeout(f"no answer within {timeout:g}s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        if first_message:
            try:
                pickle.loads(b"".join(chunks))
            except Exception:  # an incomplete pickle: keep reading
                continue
            return b"".join(chunks)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


@dataclass
class NamespaceChild:
    """A long-running function (a listener, a server) living in other namespaces."""

    pid: int
    what: str

    def alive(self) -> bool:
        try:
            done, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return done == 0

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the child."""
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            _reap(self.pid)
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            try:
                done, _ = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return
            if done:
                return
            time.sleep(0.02)
        _kill(self.pid)
        _reap(self.pid)


def spawn_in_namespaces(
    ns_files: Mapping[str, str],
    fn: Callable[..., None],
    *args: Any,
    ready_timeout: float,
    what: str = "",
) -> NamespaceChild:
    """Start ``fn(ready, *args)`` in a child inside ``ns_files`` and wait until it calls ``ready()``.

    ``fn`` must call ``ready()`` once it serves (e.g. after bind/listen) and then run until it is
    signalled. The child dies with its parent, so a crashed run leaves no listener behind.

    Raises:
        ProbeTimeout: ``ready()`` was not called within ``ready_timeout``.
        ProbeError: the child failed before it was ready.
    """
    label = what or getattr(fn, "__name__", "listener")
    read_fd, write_fd = os.pipe()
    pid = _fork()
    if pid == 0:  # child
        os.close(read_fd)
        status = 0
        try:
            _child_prologue(ns_files, [write_fd])

            def ready() -> None:
                _write_all(write_fd, pickle.dumps(("ok", None)))
                os.close(write_fd)

            fn(ready, *args)
        except BaseException as err:
            status = 1
            with contextlib.suppress(OSError):
                _write_all(write_fd, _failure(err))
        os._exit(status)
    os.close(write_fd)
    child = NamespaceChild(pid, label)
    try:
        data = _read_first_message(read_fd, ready_timeout, label)
    except BaseException:
        child.stop(grace=0.2)
        raise
    finally:
        os.close(read_fd)
    answer = pickle.loads(data) if data else ("err", "exited before it was ready", "")
    if answer[0] != "ok":
        child.stop(grace=0.2)
        raise ProbeError(f"{label}: {answer[1]}")
    return child


def _read_first_message(fd: int, timeout: float, label: str) -> bytes:
    try:
        return _read(fd, timeout, first_message=True)
    except ProbeTimeout:
        raise ProbeTimeout(f"{label}: not ready within {timeout:g}s") from None


class NamespaceTask:
    """A function running in other namespaces until told to stop, whose result is collected then.

    Started by :func:`start_in_namespaces`. :meth:`finish` writes to the stop pipe (``stop_fd``
    becomes readable), then reads its result; :meth:`abandon` kills it.
    """

    def __init__(self, pid: int, what: str, result_fd: int, stop_fd: int, pending: bytes) -> None:
        self.pid = pid
        self.what = what
        self._result_fd = result_fd
        self._stop_fd = stop_fd
        self._pending = pending
        self._reaped = False

    def finish(self, timeout: float) -> Any:
        """Tell the function to stop and return what it returned.

        Raises:
            ProbeTimeout: no result within ``timeout``.
            ProbeError: the function failed.
        """
        if self._reaped:
            raise ProbeError(f"{self.what}: already finished")
        with contextlib.suppress(OSError):
            os.write(self._stop_fd, b"x")
        self._close_stop()
        try:
            data = self._pending or _read_result(self._result_fd, timeout, self.pid, self.what)
        finally:
            os.close(self._result_fd)
            _reap(self.pid)
            self._reaped = True
        return _answer(data, self.what)

    def abandon(self) -> None:
        """Kill the child unless it has been finished (a reaped pid may belong to someone else now)."""
        if self._reaped:
            return
        self._close_stop()
        _kill(self.pid)
        with contextlib.suppress(OSError):
            os.close(self._result_fd)
        _reap(self.pid)
        self._reaped = True

    def _close_stop(self) -> None:
        if self._stop_fd >= 0:
            os.close(self._stop_fd)
            self._stop_fd = -1


def start_in_namespaces(
    ns_files: Mapping[str, str],
    fn: Callable[..., Any],
    *args: Any,
    ready_timeout: float,
    what: str = "",
) -> NamespaceTask:
    """Start ``fn(ready, stop_fd, *args)`` in a child inside ``ns_files``; wait for ``ready()``.

    ``fn`` calls ``ready()`` once it watches or serves, runs until ``stop_fd`` becomes readable,
    and returns a picklable result for :meth:`NamespaceTask.finish`.

    Raises:
        ProbeTimeout: ``ready()`` was not called within ``ready_timeout``.
        ProbeError: the child failed before it was ready.
    """
    label = what or getattr(fn, "__name__", "task")
    read_fd, write_fd = os.pipe()
    stop_read, stop_write = os.pipe()
    pid = _fork()
    if pid == 0:  # child
        os.close(read_fd)
        os.close(stop_write)
        status = 0
        try:
            _child_prologue(ns_files, [write_fd, stop_read])
            payload = pickle.dumps(("ok", fn(lambda: _write_all(write_fd, pickle.dumps(("ok", None))),
                                             stop_read, *args)))
        except BaseException as err:
            status = 1
            payload = _failure(err)
        try:
            _write_all(write_fd, payload)
        finally:
            os._exit(status)
    os.close(write_fd)
    os.close(stop_read)
    task = NamespaceTask(pid, label, read_fd, stop_write, b"")
    try:
        first, rest = _first_pickle(_read_first_message(read_fd, ready_timeout, label))
    except BaseException:
        task.abandon()
        raise
    if first[0] != "ok":
        task.abandon()
        raise ProbeError(f"{label}: {first[1]}")
    task._pending = rest
    return task


def _first_pickle(data: bytes) -> tuple[Any, bytes]:
    """The first pickled object in ``data`` and the bytes after it."""
    if not data:
        return ("err", "exited before it was ready"), b""
    stream = io.BytesIO(data)
    first = pickle.load(stream)
    return first, data[stream.tell():]
