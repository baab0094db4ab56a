"""Probes made while the suite's own networks may be created: which stand, which are made again.

A creation before 28.0 opens a path for an instant, so a probe whose packets were sent across one
and saw something arrive is made again with creations held off; one that saw nothing stands, unless
DOCKER-USER rules accept traffic (skipping them then closes a path).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

import pytest
from test_trust import TIMEOUTS, result

from netconform.facts import Attempt, ReachResult
from netconform.harness.on_demand import Prober
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.observe import reach
from netconform.observe.firewall_layout import only_narrowing
from netconform.observe.reach import probe_noting_creations
from netconform.observe.witness import ProbeMark
from netconform.spec.model import ReachSpec

REACHED = result(Attempt("reach", "10.0.0.1"), arrived=1)
BLOCKED = result(*TIMEOUTS)


@pytest.fixture
def lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IsolationLock:
    monkeypatch.setattr("netconform.hermetic.isolation_lock.LOCK_DIR", tmp_path)
    return IsolationLock("/proc/self/ns/net", timeout=5)


def test_a_creation_between_marks_or_under_way_is_seen(lock: IsolationLock) -> None:
    mark = lock.mark()
    assert not lock.changed_since(mark)
    with lock.network_change("create"):
        assert lock.changed_since(mark)  # under way
        during = lock.mark()
    assert lock.changed_since(mark) and lock.changed_since(during)  # it happened, and was under way
    assert not lock.changed_since(lock.mark())
    with lock.probing("careful"):  # a careful probe is no change
        assert not lock.changed_since(mark := lock.mark())


def _creations_held_off(lock: IsolationLock) -> bool:
    fd = os.open(lock.path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class _Prober(Prober):
    """A prober whose probes return canned results, one of them across a creation."""

    def __init__(self, lock: IsolationLock, outcomes: list[ReachResult], create_during_first: bool) -> None:
        super().__init__(daemon_pid=1, sentinel=None, lock=lock)
        self.outcomes, self.create_during_first = outcomes, create_during_first
        self.made: list[bool] = []  # per probe made: whether creations were held off meanwhile

    def _probe(self, facts: Any, spec: Any, context: Any, replay_attempts: int | None = None,
               source_port: int | None = None, watch: bool = False) -> tuple[ReachResult, bool]:
        assert self.lock is not None
        before = self.lock.mark()
        if self.create_during_first and not self.made:
            with self.lock.network_change("another worker's network"):
                pass
        self.made.append(_creations_held_off(self.lock))
        return self.outcomes[len(self.made) - 1], watch and self.lock.changed_since(before)


SPEC = ReachSpec(frm="a", to="b", proto="tcp", port=80)
MARK = ProbeMark("tcp", b"0123456789abcdef", 80)


@pytest.mark.parametrize(("first", "created", "user_rules_narrow", "probes"), [
    (REACHED, False, True, 1),   # nothing happened meanwhile
    (BLOCKED, False, False, 1),
    (REACHED, True, True, 2),    # something arrived across a creation: made again
    (BLOCKED, True, True, 1),    # nothing arrived: a creation only ever opens a path
    (BLOCKED, True, False, 2),   # ...unless DOCKER-USER accepts what isolation drops
])
def test_only_a_probe_a_creation_may_have_misled_is_made_again(
        lock: IsolationLock, monkeypatch: pytest.MonkeyPatch, first: ReachResult, created: bool,
        user_rules_narrow: bool, probes: int) -> None:
    monkeypatch.setattr("netconform.harness.on_demand.docker_user_only_narrows", lambda *_: user_rules_narrow)
    prober = _Prober(lock, [first, REACHED], created)
    made = prober.make(None, SPEC, {})  # type: ignore[arg-type]
    assert prober.made == [False, True][:probes]  # a probe made again holds creations off
    assert made is (first if probes == 1 else REACHED)


@pytest.mark.parametrize(("rules", "narrow"), [
    ([], True),
    (["-A DOCKER-USER -j RETURN"], True),
    (["-A DOCKER-USER -s 10.0.0.0/8 -j DROP", "-A DOCKER-USER -p tcp -j REJECT --reject-with tcp-reset"], True),
    (["-A DOCKER-USER -i br-0123456789ab -j ACCEPT", "-A DOCKER-USER -j RETURN"], False),
    (["-A DOCKER-USER -j operator-policy"], False),  # a chain of its own may accept
])
def test_docker_user_rules_that_only_return_drop_or_reject_never_pass_what_isolation_drops(
        rules: list[str], narrow: bool) -> None:
    assert only_narrowing(rules) is narrow


def test_only_a_creation_while_the_packets_were_sent_counts(lock: IsolationLock,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    creating = [False]

    def probe(result: ReachResult, *_: Any) -> ReachResult:
        if creating[0]:
            with lock.network_change("another worker's network"):
                pass
        return result

    monkeypatch.setattr(reach, "probe", probe)
    with lock.network_change("before the probe sends"):
        pass
    assert probe_noting_creations(lock, REACHED, 1.0, 3, MARK) == (REACHED, False)
    creating[0] = True
    assert probe_noting_creations(lock, REACHED, 1.0, 3, MARK) == (REACHED, True)
    assert probe_noting_creations(None, REACHED, 1.0, 3, MARK) == (REACHED, False)  # not watched
