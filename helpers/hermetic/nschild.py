"""What a namespace child does: join the namespaces, run one function, write its pickled answer.

The fork server (:mod:`netconform.hermetic.forkserver`) forks one such child per request, from
its single thread. The answer protocol, read by :mod:`netconform.hermetic.nsexec`: one pickled
``("ok", result)`` or ``("err", detail, traceback)``; a task (``start_in_namespaces``) first
writes ``("ok", None)`` once it is ready.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from typing import Any

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


def _setns(path: str, kind: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        setns_fd(fd, kind, path)
    finally:
        os.close(fd)


def setns_fd(fd: int, kind: str, name: str) -> None:
    """Join the namespace of kind ``kind`` that the open descriptor ``fd`` (named ``name``) refers to."""
    if _libc.setns(fd, _CLONE_FLAGS[kind]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns({name}, {kind}): {os.strerror(err)}")


def enter(ns_files: Mapping[str, str]) -> None:
    """Join the namespaces named by ``ns_files`` (kind -> path)."""
    # The mount namespace goes last: after it, /proc paths of the target may no longer resolve.
    for kind in sorted(ns_files, key=lambda k: k == "mnt"):
        _setns(ns_files[kind], kind)


def close_inherited(keep: Sequence[int]) -> None:
    """Close every descriptor but stdio and ``keep``: the server's socket, other requests' pidfds."""
    low = 3
    for fd in sorted(set(keep)):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def failure(err: BaseException) -> bytes:
    """The pickled ``("err", ...)`` answer for ``err``: its one-line text and the traceback."""
    return pickle.dumps(("err", describe(err), traceback.format_exc()))


def describe(err: BaseException) -> str:
    """``err`` in one line: its type and message."""
    return "".join(traceback.format_exception_only(type(err), err)).strip()


def run_child(parent: int, ns_files: Mapping[str, str], fn: Callable[..., Any], args: tuple[Any, ...],
              answer_fd: int, stop_fd: int | None) -> None:
    """In a freshly forked child of the server: never returns, never raises.

    Keeps only its answer pipe (and a task's stop pipe), dies with the server, takes default
    signal handling, joins the namespaces and runs ``fn(*args)``, or ``fn(ready, stop_fd, *args)``
    for a task, then writes the answer and exits.
    """
    status = 0
    try:
        keep = [answer_fd] if stop_fd is None else [answer_fd, stop_fd]
        close_inherited(keep)
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the server died before prctl: nobody waits for this answer
            os._exit(1)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        enter(ns_files)
        result = fn(*args) if stop_fd is None else fn(_answer_to(answer_fd), stop_fd, *args)
        payload = pickle.dumps(("ok", result))
    except BaseException as err:  # report every failure to the client, never raise here
        status = 1
        payload = failure(err)
    try:
        write_all(answer_fd, payload)
    finally:
        _stop_own_server()
        os._exit(status)


def _answer_to(answer_fd: int) -> Callable[..., None]:
    """A task's ``ready``: ``ready()`` says it is ready; a task that serves requests answers each
    with ``ready(value)`` (read by :meth:`netconform.hermetic.nsexec.NamespaceTask.ask`)."""
    def ready(value: Any = None) -> None:
        write_all(answer_fd, pickle.dumps(("ok", value)))
    return ready


def _stop_own_server() -> None:
    """A child that made namespace calls itself has a fork server of its own; os._exit skips the
    atexit that would stop and reap it, so stop it here (its children die with it)."""
    client = sys.modules.get("netconform.hermetic.forkserver_client")
    if client is not None:
        with contextlib.suppress(BaseException):
            client.shutdown()
