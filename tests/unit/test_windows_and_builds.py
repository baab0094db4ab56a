"""A probe window waits for other processes' batches of builds, then holds creations off as a whole;
its probes expected to be blocked start first (a churn probe made beside its batch's builds:
test_build_ahead.py)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from netconform.facts import ReachResult, ScenarioFacts
from netconform.facts.relocation import Relocation
from netconform.harness.on_demand import Prober
from netconform.harness.windows import prepare
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.spec import load_scenario
from netconform.spec.model import ReachSpec


@pytest.fixture
def lock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> IsolationLock:
    monkeypatch.setattr("netconform.hermetic.isolation_lock.LOCK_DIR", tmp_path)
    return IsolationLock("/proc/self/ns/net", timeout=5)


def _in_background(action: Any) -> threading.Thread:
    thread = threading.Thread(target=action)
    thread.start()
    return thread


def test_after_builds_waits_for_every_builder_and_gives_up_at_its_bound(lock: IsolationLock) -> None:
    building = threading.Event()

    def batch() -> None:
        with lock.building("a batch"):
            building.set()
            time.sleep(0.4)

    builder = _in_background(batch)
    building.wait()
    assert not lock.after_builds(0.1, "window"), "still building after 0.1 s"
    started = time.monotonic()
    assert lock.after_builds(5, "window")
    assert time.monotonic() - started > 0.2
    builder.join()
    assert lock.after_builds(0.1, "window"), "nobody builds: no wait"


def test_a_window_holds_network_changes_off_until_its_probes_are_made(lock: IsolationLock) -> None:
    prober = Prober(daemon_pid=1, sentinel=None, lock=lock)
    events: list[str] = []
    opened = threading.Event()

    def change() -> None:
        opened.wait()
        with lock.network_change("a step"):
            events.append("network changed")

    changer = _in_background(change)
    with prober._window():
        opened.set()
        time.sleep(0.3)
        assert not lock.changed_since(lock.mark()), "no change gets in while the window is open"
        events.append("window closed")
    changer.join()
    assert events == ["window closed", "network changed"]


def test_while_another_process_builds_a_window_watches_for_creations_instead(
        lock: IsolationLock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netconform.harness.on_demand.WINDOW_WAIT", 0.1)
    prober = Prober(daemon_pid=1, sentinel=None, lock=lock)
    building = threading.Event()
    done = threading.Event()

    def batch() -> None:
        with lock.building("a batch"):
            building.set()
            done.wait()

    builder = _in_background(batch)
    building.wait()
    try:
        with prober._window(), lock.network_change("the batch's creation"):  # not held off: no deadlock
            pass
    finally:
        done.set()
        builder.join()


class OrderProber(Prober):
    """Records the order in which a window starts its probes (one at a time)."""

    def __init__(self) -> None:
        super().__init__(daemon_pid=1, sentinel=None)
        self.made: list[str] = []

    def _reach(self, facts: ScenarioFacts, spec: ReachSpec, context: Any,
               replay_attempts: int | None = None, source_port: int | None = None) -> ReachResult:
        self.made.append(spec.id)
        return ReachResult(spec.id, spec.frm, spec.to, spec.proto, "10.0.0.1", None)


def test_a_window_starts_the_probes_expected_to_be_blocked_first(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netconform.harness.on_demand.PARALLEL_PROBES", 1)
    path = tmp_path / "s.yaml"
    path.write_text("containers:\n  a: {}\n  b: {}\n  c: {}\nreachability:\n"
                    "  - {from: a, to: b, proto: icmp, expect: reach}\n"
                    "  - {from: a, to: c, proto: icmp, expect: {by: daemon.version, cases: {'<28': blocked}}}\n"
                    "  - {from: b, to: c, proto: icmp, expect: {by: daemon.version, cases: {'<28': reach}}}\n"
                    "  - {from: c, to: a, proto: icmp, expect: blocked}\n")
    checks = load_scenario(path).checks
    facts = cast(ScenarioFacts, SimpleNamespace(scenario="s", reach={}, containers={}, relocation=Relocation(),
                                                daemon=SimpleNamespace(version="20.10.24"),
                                                host=SimpleNamespace(cgroup_version=2)))
    prober = OrderProber()
    prepare(prober, checks[0], facts, {}, checks)
    assert prober.made[:2] == ["a->c icmp", "c->a icmp"] and len(prober.made) == 4
