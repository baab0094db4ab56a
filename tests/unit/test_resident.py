"""The resident visitor's protocol, without namespaces: one child serves call after call.

With an empty namespace map it joins nothing, so these run without root; the real namespaces
(joining one, then going back) are in tests/integration/test_resident_namespaces.py.
"""

from __future__ import annotations

import os
import threading
import time

import pytest

from netconform.errors import ProbeError, ProbeTimeout
from netconform.hermetic.forkserver_client import shutdown
from netconform.hermetic.resident import MAX_RESIDENTS, call_resident


def _sleep_then_pid(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


def _exit_now() -> None:
    os._exit(3)


def test_calls_are_served_by_one_long_lived_child_not_this_process() -> None:
    first = call_resident({}, os.getpid, timeout=10, what="pid")
    assert first != os.getpid()
    assert call_resident({}, os.getpid, timeout=10, what="pid") == first


def test_a_failing_call_is_reported_and_the_resident_serves_on() -> None:
    before = call_resident({}, os.getpid, timeout=10, what="pid")
    with pytest.raises(ProbeError, match=r"^divide: ZeroDivisionError"):
        call_resident({}, divmod, 1, 0, timeout=10, what="divide")
    with pytest.raises(ProbeError, match=r"^missing: FileNotFoundError"):
        call_resident({"net": "/proc/self/ns/no-such-kind-file"}, os.getpid, timeout=10, what="missing")
    assert call_resident({}, os.getpid, timeout=10, what="pid") == before


def test_one_that_does_not_answer_in_time_is_killed_and_replaced() -> None:
    before = call_resident({}, os.getpid, timeout=10, what="pid")
    with pytest.raises(ProbeTimeout, match=r"within 0\.2s"):
        call_resident({}, _sleep_then_pid, 5.0, timeout=0.2, what="slow")
    after = call_resident({}, os.getpid, timeout=10, what="pid")
    assert after != before
    with pytest.raises(ProcessLookupError):
        os.kill(before, 0)


def test_one_that_died_is_replaced_on_the_next_call() -> None:
    before = call_resident({}, os.getpid, timeout=10, what="pid")
    with pytest.raises(ProbeError, match="exit"):
        call_resident({}, _exit_now, timeout=10, what="exit")
    assert call_resident({}, os.getpid, timeout=10, what="pid") not in (before, None)


def test_calls_from_several_threads_share_a_few_residents_and_take_turns_beyond() -> None:
    results: list[int] = []

    def call() -> None:
        results.append(call_resident({}, _sleep_then_pid, 0.1, timeout=10, what="turn"))

    count = 3 * MAX_RESIDENTS
    threads = [threading.Thread(target=call) for _ in range(count)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == count and 1 < len(set(results)) <= MAX_RESIDENTS
    assert time.monotonic() - start >= 3 * 0.1


@pytest.mark.parametrize("kind", ["mnt", "pid", "user", "cgroup"])
def test_kinds_it_could_not_leave_again_are_refused(kind: str) -> None:
    with pytest.raises(ValueError, match=f"cannot join and leave {kind}"):
        call_resident({kind: f"/proc/self/ns/{kind}"}, os.getpid, timeout=10, what="refused")


def test_a_forked_copy_of_the_process_starts_its_own_resident() -> None:
    mine = call_resident({}, os.getpid, timeout=10, what="pid")
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(writer, str(call_resident({}, os.getpid, timeout=10, what="pid")).encode())
            shutdown()
        finally:
            os._exit(0)
    os.close(writer)
    theirs = int(os.read(reader, 64).decode())
    os.close(reader)
    os.waitpid(pid, 0)
    assert theirs != mine
    assert call_resident({}, os.getpid, timeout=10, what="pid") == mine
