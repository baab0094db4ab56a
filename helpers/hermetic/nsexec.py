"""Run a Python function inside another process's namespaces, from the host.

Observation never executes anything from a container image: a child joins the target's
namespaces with setns(2) and runs a function of ours there (pyroute2 for netlink, plain sockets
for probes), then sends the picklable result back through a pipe. A separate process keeps the
test process's namespaces untouched and lets a hung probe be killed.

The children are forked by a single-threaded fork server (:mod:`netconform.hermetic.forkserver`),
never by this process: its threads (the probes' pool, the docker SDK's) may hold a lock or a pipe
end at any instant, and a fork would copy that into the child. The function and its arguments
therefore go to the server pickled: ``fn`` must be a module-level function.
"""

from __future__ import annotations

import contextlib
import io
import os
import pickle
import select
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from netconform.errors import ProbeError, ProbeTimeout
from netconform.hermetic.forkserver_client import REAP_BOUND, Child, spawn
from netconform.hermetic.nschild import write_all

T = TypeVar("T")

NAMESPACE_KINDS: tuple[str, ...] = ("net", "uts", "ipc", "pid", "mnt", "user", "cgroup")


def namespace_files(pid: int, kinds: Sequence[str]) -> dict[str, str]:
    """The /proc paths naming ``pid``'s namespaces of the given kinds."""
    return {kind: f"/proc/{pid}/ns/{kind}" for kind in kinds}


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
    try:
        child = spawn(ns_files, fn, args, write_fd, None, label)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    answered = False
    try:
        answer, _ = _read_answer(read_fd, timeout, child, label)
        answered = True
    finally:
        os.close(read_fd)
        # Once it has answered, its exit is enough: an exited child holds no namespace any more,
        # and the server reaps it a moment later.
        _end(child, kill=not answered, reaped=not answered)
    return _result(answer, label)  # type: ignore[no-any-return]


def _result(answer: Any, label: str) -> Any:
    """The child's result, or its failure raised as a ProbeError."""
    if answer is None:
        raise ProbeError(f"{label}: the namespace child exited without an answer")
    if answer[0] == "ok":
        return answer[1]
    raise ProbeError(f"{label}: {answer[1]}")


def _read_answer(fd: int, timeout: float, child: Child, label: str, data: bytes = b"") -> tuple[Any, bytes]:
    """:func:`read_message`, killing the child when it does not answer in time."""
    try:
        return read_message(fd, timeout, data)
    except ProbeTimeout:
        child.signal(signal.SIGKILL)
        raise ProbeTimeout(f"{label}: no answer from inside the namespace within {timeout:g}s") from None


def read_message(fd: int, timeout: float, data: bytes = b"") -> tuple[Any, bytes]:
    """The next pickled message from the child (None if the pipe closed first) and the bytes after it.

    Reads until one whole pickle has arrived, after what ``data`` holds already; not until
    end-of-file, which a task reaches only once it returns.

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


def _end(child: Child, kill: bool = False, grace: float = 0.0, reaped: bool = True) -> None:
    """Wait for the child to exit and, if ``reaped``, to be reaped by the server; after SIGKILL
    if ``kill``, or after SIGTERM and, past ``grace`` seconds, SIGKILL if ``grace``. Then let go
    of it."""
    try:
        if grace:
            child.signal(signal.SIGTERM)
            if not child.exited(grace):
                child.signal(signal.SIGKILL)
        elif kill:
            child.signal(signal.SIGKILL)
        if reaped:
            child.wait_gone()
        else:
            child.exited(timeout=REAP_BOUND)
    finally:
        child.close()


class NamespaceTask:
    """A function running in other namespaces: a watcher whose result is collected, or a service.

    Started by :func:`start_in_namespaces` or :func:`spawn_in_namespaces`. :meth:`finish` writes
    to the stop pipe (``stop_fd`` becomes readable), then reads the result; :meth:`stop` signals
    a service that runs until signalled; :meth:`abandon` kills it. The child is held by a pidfd:
    no signal reaches another process that reused its pid.
    """

    def __init__(self, child: Child, what: str, result_fd: int, stop_fd: int) -> None:
        self.pid = child.pid
        self.what = what
        self._child = child
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
            answer, _ = _read_answer(self._result_fd, timeout, self._child, self.what, self._pending)
        finally:
            self._gone()
        return _result(answer, self.what)

    def ask(self, request: Any, timeout: float) -> Any:
        """Send ``request`` (pickled) on the stop pipe and return the task's next answer, for a task
        that serves requests until the pipe closes (:mod:`netconform.hermetic.resident`).

        Raises:
            ProbeTimeout: no answer within ``timeout`` (the task is killed).
            ProbeError: the task has ended, or ended without answering.
        """
        if self._reaped:
            raise ProbeError(f"{self.what}: already finished")
        try:
            write_all(self._stop_fd, pickle.dumps(request))
            answer, self._pending = _read_answer(self._result_fd, timeout, self._child, self.what, self._pending)
        except BaseException:
            self._gone(kill=True)
            raise
        if answer is None:
            self._gone(kill=True)
        return _result(answer, self.what)

    def alive(self) -> bool:
        """Whether the child still runs (one that has ended is let go of here)."""
        if self._reaped:
            return False
        if self._child.exited():
            self._gone()
            return False
        return True

    def stop(self, grace: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` seconds; always waits until the child is gone."""
        if not self._reaped:
            self._gone(grace=grace)

    def abandon(self) -> None:
        """Kill the child unless it is gone already."""
        if not self._reaped:
            self._gone(kill=True)

    def _gone(self, kill: bool = False, grace: float = 0.0) -> None:
        self._reaped = True
        try:
            _end(self._child, kill=kill, grace=grace)
        finally:
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

    ``fn`` (module-level, picklable arguments) calls ``ready()`` once it watches or serves, runs
    until ``stop_fd`` becomes readable, and returns a picklable result for
    :meth:`NamespaceTask.finish`. The child dies with the fork server, which dies with this
    process, so a crashed run leaves nothing running.

    Raises:
        ProbeTimeout: ``ready()`` was not called within ``ready_timeout``.
        ProbeError: the child failed before it was ready.
    """
    label = what or getattr(fn, "__name__", "task")
    read_fd, write_fd = os.pipe()
    stop_read, stop_write = os.pipe()
    try:
        child = spawn(ns_files, fn, args, write_fd, stop_read, label)
    except BaseException:
        os.close(read_fd)
        os.close(stop_write)
        raise
    finally:
        os.close(write_fd)
        os.close(stop_read)
    task = NamespaceTask(child, label, read_fd, stop_write)
    try:
        first, task._pending = read_message(read_fd, ready_timeout)
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
    """Run the service ``fn(ready, *args)``, which ignores the stop pipe (for :func:`spawn_in_namespaces`)."""
    fn(ready, *args)
