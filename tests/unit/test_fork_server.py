"""Namespace children inherit nothing from the test process's other threads.

A child forked from a thread of the test process gets a copy of every lock another thread holds
at that instant, held forever, and of every descriptor open then. The children come from the fork
server instead; these tests show a held lock and an open pipe of another thread do not reach the
child (and, as a control, that a plain fork does inherit the lock), that the server runs one
thread, and that it and its children die with the process that started it.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from netconform.hermetic.forkserver_client import server_pid, shutdown
from netconform.hermetic.nsexec import call_in_namespaces, start_in_namespaces

ROOT = Path(__file__).resolve().parents[2]
_HELD = threading.Lock()


def _take_held_lock(timeout: float) -> bool:
    """In the child: whether the module's lock can be taken."""
    if not _HELD.acquire(timeout=timeout):
        return False
    _HELD.release()
    return True


def _wait_for_stop(ready: Callable[[], None], stop_fd: int) -> None:
    ready()
    select.select([stop_fd], [], [], 10)


@contextmanager
def _in_another_thread(hold: Callable[[], None], release: Callable[[], None]) -> Iterator[None]:
    """Run ``hold`` in a thread that keeps what it took until the block ends, then ``release``."""
    holding, done = threading.Event(), threading.Event()

    def keep() -> None:
        hold()
        holding.set()
        done.wait(30)
        release()

    thread = threading.Thread(target=keep)
    thread.start()
    try:
        assert holding.wait(10)
        yield
    finally:
        done.set()
        thread.join(10)


def test_a_lock_another_thread_holds_does_not_reach_the_child() -> None:
    with _in_another_thread(_HELD.acquire, _HELD.release):
        assert call_in_namespaces({}, _take_held_lock, 2.0, timeout=10) is True
        # The control: a child forked here, as namespace children were, finds the lock held forever.
        pid = os.fork()
        if pid == 0:
            os._exit(0 if _take_held_lock(0.5) else 1)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 1


def test_a_pipe_another_thread_has_open_is_neither_in_the_child_nor_in_the_server() -> None:
    pipe: list[int] = []
    with _in_another_thread(lambda: pipe.extend(os.pipe()), lambda: [os.close(fd) for fd in pipe]):
        inode = os.fstat(pipe[0]).st_ino
        task = start_in_namespaces({}, _wait_for_stop, ready_timeout=10, what="fd lister")
        try:
            child_fds = _open_fds(task.pid)
            server_fds = _open_fds(server_pid())
        finally:
            task.finish(timeout=10)
    assert f"pipe:[{inode}]" not in child_fds.values()
    assert f"pipe:[{inode}]" not in server_fds.values()
    # Beyond stdio the child holds exactly its answer pipe and its stop pipe.
    assert sorted(link.startswith("pipe:") for fd, link in child_fds.items() if fd > 2) == [True, True]


def test_the_server_runs_one_thread() -> None:
    call_in_namespaces({}, os.getpid, timeout=10)
    assert os.listdir(f"/proc/{server_pid()}/task") == [str(server_pid())]


OWNER = textwrap.dedent("""\
    import time
    from netconform.hermetic.forkserver_client import server_pid
    from netconform.hermetic.nsexec import spawn_in_namespaces
    from test_nsexec_children import _serve
    service = spawn_in_namespaces({}, _serve, ready_timeout=10)
    print(server_pid(), service.pid, flush=True)
    time.sleep(60)
""")
# Kills the owner, then reaps what is orphaned (as a subreaper: the host's init may never reap).
KILLER = textwrap.dedent("""\
    import ctypes, os, select, signal, subprocess, sys
    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    owner = subprocess.Popen([sys.executable, "-c", sys.argv[1]], stdout=subprocess.PIPE, text=True)
    server, service = (int(pid) for pid in owner.stdout.readline().split())
    watched = {name: os.pidfd_open(pid) for name, pid in (("server", server), ("service", service))}
    owner.kill()
    owner.wait()
    for name, pidfd in watched.items():
        print(name, "exited" if select.select([pidfd], [], [], 5)[0] else "still runs", flush=True)
    signal.alarm(5)
    os.waitpid(server, 0)
""")


def test_the_server_and_its_children_die_with_the_process_that_started_it() -> None:
    done = subprocess.run([sys.executable, "-c", KILLER, OWNER], cwd=ROOT / "tests" / "unit",
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:2] == ["server exited", "service exited"], done.stdout


def test_a_forked_copy_of_the_process_starts_its_own_server() -> None:
    mine = server_pid()
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            call_in_namespaces({}, os.getpid, timeout=10)
            os.write(writer, str(server_pid()).encode())
            shutdown()
        finally:
            os._exit(0)
    os.close(writer)
    theirs = os.read(reader, 64).decode()
    os.close(reader)
    os.waitpid(pid, 0)
    assert theirs and int(theirs) != mine


def _open_fds(pid: int) -> dict[int, str]:
    """The descriptors ``pid`` holds and what each names (``pipe:[inode]``, a path...)."""
    found = {}
    for name in os.listdir(f"/proc/{pid}/fd"):
        try:
            found[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
        except FileNotFoundError:  # closed meanwhile
            continue
    return found
