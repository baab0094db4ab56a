"""A resident namespace visitor: one long-lived child that joins namespaces, runs a function there
and goes back, call after call.

A fresh child per call (:func:`netconform.hermetic.nsexec.call_in_namespaces`) costs a fork
server round trip and a cold start: reading one container's interfaces, routes, sysctls and
nodename took ~11 ms that way, ~3.5 ms in a process that was already running. A process can join
a network, UTS or IPC namespace and go back to its own with setns(2), so one child of the fork
server (single-threaded, started clean, like every other child) stays and serves calls one at a
time; a few such residents (one per core) serve calls from several threads. Mount, PID, user and
cgroup namespaces cannot be left that way: calls that need them, and calls that wait long, still
take a child of their own.

If the resident cannot go back to its own namespaces it answers and exits; one that died or did
not answer in time is replaced on the next call. It dies with the fork server, and exits when
this process's end of its request pipe closes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from netconform.errors import ProbeError
from netconform.hermetic.forkserver_client import SPAWN_BOUND
from netconform.hermetic.nschild import describe, enter, setns_fd
from netconform.hermetic.nsexec import NamespaceTask, read_message, start_in_namespaces

T = TypeVar("T")

# The kinds a process can join and leave again (setns(2) of the mount namespace needs a
# single-threaded process and cannot return through /proc paths; user and PID are one-way).
RETURNABLE_KINDS = ("net", "uts", "ipc")
_NEVER = 365 * 24 * 3600.0  # the resident waits for its next request without a bound


def _serve(ready: Callable[..., None], requests: int) -> None:
    """The resident's loop: for each request ``(ns_files, fn, args)`` on ``requests``, join
    ``ns_files``, run ``fn(*args)``, go back home, answer ``("ok", result)`` or the failure."""
    home = {kind: os.open(f"/proc/self/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC) for kind in RETURNABLE_KINDS}
    ready()
    pending = b""
    while True:
        request, pending = read_message(requests, _NEVER, pending)
        if request is None:  # the client closed the pipe
            return
        ns_files, fn, args = request
        try:
            enter(ns_files)
            answer: tuple[Any, ...] = ("ok", fn(*args))
        except Exception as err:
            answer = ("err", describe(err))
        try:  # a failure to go back ends the resident, after this answer (the client replaces it)
            for kind, fd in home.items():
                setns_fd(fd, kind, f"its own {kind} namespace")
        finally:
            ready(answer)


class _Resident:
    """A running resident of this process (forked copies start their own)."""

    def __init__(self) -> None:
        self.task: NamespaceTask = start_in_namespaces({}, _serve, ready_timeout=SPAWN_BOUND,
                                                       what="the resident namespace visitor")
        self.owner = os.getpid()

    def usable(self) -> bool:
        return self.owner == os.getpid() and self.task.alive()


# Residents at most: one per core keeps the cores busy; more callers take turns.
MAX_RESIDENTS = max(2, os.cpu_count() or 1)
_slots = threading.BoundedSemaphore(MAX_RESIDENTS)
_guard = threading.Lock()
_idle: list[_Resident] = []


def _take() -> _Resident:
    """An idle resident of this process (the one used last), or a new one."""
    with _guard:
        while _idle:
            resident = _idle.pop()
            if resident.usable():
                return resident
    return _Resident()


def call_resident(ns_files: Mapping[str, str], fn: Callable[..., T], *args: Any, timeout: float, what: str) -> T:
    """``fn(*args)`` run by a resident inside ``ns_files`` (kinds of :data:`RETURNABLE_KINDS`
    only); up to :data:`MAX_RESIDENTS` calls from several threads at once, the rest take turns.

    Raises:
        ValueError: ``ns_files`` names a kind the resident cannot leave again.
        ProbeTimeout: no answer within ``timeout`` (the resident is killed and replaced next time).
        ProbeError: joining the namespaces or ``fn`` failed, or the resident died.
    """
    others = sorted(set(ns_files) - set(RETURNABLE_KINDS))
    if others:
        raise ValueError(f"the resident visitor cannot join and leave {', '.join(others)} namespaces")
    request = (dict(ns_files), fn, args)
    with _slots:
        resident = _take()
        try:
            answer = resident.task.ask(request, timeout)
        except OSError as err:  # its request pipe broke: it died between two calls
            raise ProbeError(f"{what}: the resident namespace visitor is gone ({err})") from err
        with _guard:
            _idle.append(resident)
    if answer[0] == "ok":
        return answer[1]  # type: ignore[no-any-return]
    raise ProbeError(f"{what}: {answer[1]}")
