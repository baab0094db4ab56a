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


def _fork_child(ns_files: Mapping[str, str], keep: Sequence[int], answer_fd: int, run: Callable[[], Any]) -> int:
    """Fork a child that joins ``ns_files``, calls ``run()`` and writes ``("ok", result)`` pickled to
    ``answer_fd``, or its failure (it never raises); returns the child's pid, in the parent only.

    The one child protocol: a function started with :func:`start_in_namespaces` first writes
    ``("ok", None)`` when it is ready.
    """
    pid = _fork()
    if pid == 0:  # child
        status = 0
        try:
            _child_prologue(ns_files, keep)
            payload = pickle.dumps(("ok", run()))
        except BaseException as err:  # report every failure to the parent, never raise here
            status = 1
            payload = _failure(err)
        try:
            _write_all(answer_fd, payload)
        finally:
            os._exit(status)
    return pid


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
    pid = _fork_child(ns_files, [write_fd], write_fd, lambda: fn(*args))
    os.close(write_fd)
    try:
        answer, _ = _read_answer(read_fd, timeout, pid, label)
    finally:
        os.close(read_fd)
        _reap(pid)
    return _result(answer, label)  # type: ignore[no-any-return]


def _result(answer: Any, label: str) -> Any:
    """The child's result, or its failure raised as a ProbeError."""
    if answer is None:
        raise ProbeError(f"{label}: the namespace child exited without an answer")
    if answer[0] == "ok":
        return answer[1]
    raise ProbeError(f"{label}: {answer[1]}")


def _read_answer(fd: int, timeout: float, pid: int, label: str, data: bytes = b"") -> tuple[Any, bytes]:
    """:func:`_read_message`, killing the child when it does not answer in time."""
    try:
        return _read_message(fd, timeout, data)
    except ProbeTimeout:
        _kill(pid)
        raise ProbeTimeout(f"{label}: no answer from inside the namespace within {timeout:g}s") from None


def _read_message(fd: int, timeout: float, data: bytes = b"") -> tuple[Any, bytes]:
    """The next pickled message from the child (None if the pipe closed first) and the bytes after it.

    Reads until one whole pickle has arrived, after what ``data`` holds already; not until
    end-of-file: a sibling forked meanwhile may hold a copy of the pipe's write end for a moment.

    Raises:
        ProbeTimeout: ``timeout`` passed first.
    """
    deadline = time.monotonic() + timeout
    while True:
        if data:
            stream = io.BytesIO(data)
            try:
                return pickle.load(stream), data[stream.tell():]
            except Exception:  # an incomplete pickle: keep reading
                pass
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ProbeTimeout(f"no answer within {timeout:g}s")
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return None, b""
        data += chunk


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _terminate(pid: int, grace: float) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        _reap(pid)
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.02)
    _kill(pid)
    _reap(pid)


class NamespaceTask:
    """A function running in other namespaces: a watcher whose result is collected, or a service.

    Started by :func:`start_in_namespaces` or :func:`spawn_in_namespaces`. :meth:`finish` writes
    to the stop pipe (``stop_fd`` becomes readable), then reads the result; :meth:`stop` signals
    a service that runs until signalled; :meth:`abandon` kills it. Once the child is reaped, no
    signal goes to its pid again (the pid may belong to someone else by then).
    """

    def __init__(self, pid: int, what: str, result_fd: int, stop_fd: int) -> None:
        self.pid = pid
        self.what = what
        self._result_fd = result_fd
        self._stop_fd = stop_fd
        self._pending = b""  # what arrived after the ready message, before finish() reads on
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
            answer, _ = _read_answer(self._result_fd, timeout, self.pid, self.what, self._pending)
        finally:
            _reap(self.pid)
            self._reaped_now()
        return _result(answer, self.what)

    def alive(self) -> bool:
        """Whether the child still runs (one that has ended is reaped here)."""
        if self._reaped:
            return False
        try:
            running = os.waitpid(self.pid, os.WNOHANG)[0] == 0
        except ChildProcessError:
            running = False
        if not running:
            self._reaped_now()
        return running

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; always reaps the child."""
        if self._reaped:
            return
        try:
            _terminate(self.pid, grace)
        finally:
            self._reaped_now()

    def abandon(self) -> None:
        """Kill the child unless it has been reaped already."""
        if self._reaped:
            return
        _kill(self.pid)
        _reap(self.pid)
        self._reaped_now()

    def _reaped_now(self) -> None:
        self._reaped = True
        self._close_stop()
        if self._result_fd >= 0:
            os.close(self._result_fd)
            self._result_fd = -1

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
    and returns a picklable result for :meth:`NamespaceTask.finish`. The child dies with its
    parent, so a crashed run leaves nothing running.

    Raises:
        ProbeTimeout: ``ready()`` was not called within ``ready_timeout``.
        ProbeError: the child failed before it was ready.
    """
    label = what or getattr(fn, "__name__", "task")
    read_fd, write_fd = os.pipe()
    stop_read, stop_write = os.pipe()

    def ready() -> None:
        _write_all(write_fd, pickle.dumps(("ok", None)))

    pid = _fork_child(ns_files, [write_fd, stop_read], write_fd, lambda: fn(ready, stop_read, *args))
    os.close(write_fd)
    os.close(stop_read)
    task = NamespaceTask(pid, label, read_fd, stop_write)
    try:
        first, task._pending = _read_message(read_fd, ready_timeout)
    except BaseException as err:
        task.abandon()
        if isinstance(err, ProbeTimeout):
            raise ProbeTimeout(f"{label}: not ready within {ready_timeout:g}s") from None
        raise
    if first is None or first[0] != "ok":
        task.abandon()
        raise ProbeError(f"{label}: {first[1] if first else 'exited before it was ready'}")
    return task


def spawn_in_namespaces(
    ns_files: Mapping[str, str],
    fn: Callable[..., None],
    *args: Any,
    ready_timeout: float,
    what: str = "",
) -> NamespaceTask:
    """Start ``fn(ready, *args)``, a service that serves until signalled: :func:`start_in_namespaces`
    of a function that ignores ``stop_fd`` and returns nothing; stop it with :meth:`NamespaceTask.stop`.

    ``fn`` must call ``ready()`` once it serves (e.g. after bind/listen).

    Raises:
        ProbeTimeout: ``ready()`` was not called within ``ready_timeout``.
        ProbeError: the child failed before it was ready.
    """
    label = what or getattr(fn, "__name__", "listener")
    return start_in_namespaces(ns_files, _until_signalled, fn, *args, ready_timeout=ready_timeout, what=label)


def _until_signalled(ready: Callable[[], None], stop_fd: int, fn: Callable[..., None], *args: Any) -> None:
    fn(ready, *args)
