"""The one child protocol of nsexec: started tasks and spawned services, without namespaces.

With an empty namespace map the child joins nothing, so these run without root and show what
the parent sees: the result of a finished task, a service that runs until stopped, and a child
that fails or exits before it is ready.
"""

from __future__ import annotations

import os
import select
import time
from collections.abc import Callable

import pytest

from netconform.errors import ProbeError, ProbeTimeout
from netconform.hermetic.forkserver_client import server_pid
from netconform.hermetic.nsexec import call_in_namespaces, spawn_in_namespaces, start_in_namespaces


def _count_until_stopped(ready: Callable[[], None], stop_fd: int, start: int) -> int:
    ready()
    select.select([stop_fd], [], [])
    return start + 1


def _answer_at_once(ready: Callable[[], None], stop_fd: int) -> str:
    ready()
    return "done before finish was called"


def _serve(ready: Callable[[], None]) -> None:
    ready()
    while True:
        time.sleep(1)


def _fail_before_ready(ready: Callable[[], None]) -> None:
    raise RuntimeError("could not bind")


def _exit_before_ready(ready: Callable[[], None]) -> None:
    os._exit(0)


def _never_ready(ready: Callable[[], None]) -> None:
    time.sleep(30)


def test_call_returns_the_childs_result_and_raises_its_failure() -> None:
    assert call_in_namespaces({}, os.getpid, timeout=5) != os.getpid()
    with pytest.raises(ProbeError, match=r"^divide: ZeroDivisionError"):
        call_in_namespaces({}, divmod, 1, 0, timeout=5, what="divide")


def test_a_started_task_runs_until_finished_and_returns_its_result() -> None:
    task = start_in_namespaces({}, _count_until_stopped, 41, ready_timeout=5)
    assert task.alive()
    assert task.finish(timeout=5) == 42
    assert not task.alive()
    with pytest.raises(ProbeError, match="already finished"):
        task.finish(timeout=5)


def test_a_result_that_arrives_with_the_ready_message_is_not_lost() -> None:
    task = start_in_namespaces({}, _answer_at_once, ready_timeout=5)
    time.sleep(0.1)
    assert task.finish(timeout=5) == "done before finish was called"


def test_a_spawned_service_runs_until_stopped_and_is_reaped() -> None:
    service = spawn_in_namespaces({}, _serve, ready_timeout=5, what="test service")
    assert service.what == "test service"
    assert service.alive()
    service.stop(grace=2.0)
    assert not service.alive()
    with pytest.raises(ChildProcessError):
        os.waitpid(service.pid, os.WNOHANG)
    service.stop()  # stopping twice is harmless


@pytest.mark.parametrize(
    ("fn", "error", "message"),
    [
        (_fail_before_ready, ProbeError, r"^svc: RuntimeError: could not bind$"),
        (_exit_before_ready, ProbeError, r"^svc: exited before it was ready$"),
        (_never_ready, ProbeTimeout, r"^svc: not ready within 0.3s$"),
    ],
)
def test_a_service_that_never_gets_ready_is_reported_and_reaped(
    fn: Callable[[Callable[[], None]], None], error: type[Exception], message: str
) -> None:
    before = _children()
    with pytest.raises(error, match=message):
        spawn_in_namespaces({}, fn, ready_timeout=0.3, what="svc")
    assert _children() == before


def _children() -> set[str]:
    """Pids of this process's children and of its fork server's, as the kernel lists them (reaped
    ones are gone); the server is started first, so that it is among them before and after."""
    found: set[str] = set()
    for pid in (os.getpid(), server_pid()):
        with open(f"/proc/{pid}/task/{pid}/children") as listing:
            found |= set(listing.read().split())
    return found
