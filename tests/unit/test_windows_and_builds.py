"""A probe window waits for other processes' batches of builds, then holds creations off as a whole;
its probes expected to be blocked start first; a churn probe is made beside its batch's builds."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from netconform.facts import ReachResult, ScenarioFacts
from netconform.facts.relocation import Relocation
from netconform.harness.build_ahead import BuildAhead
from netconform.harness.context import RunContext
from netconform.harness.on_demand import Prober
from netconform.harness.windows import prepare
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.spec import load_scenario
from netconform.spec.model import ReachSpec, Scenario


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


class Churns:
    """Stands in for the run context of a batch that holds a churn probe."""

    def __init__(self) -> None:
        self.built: list[str] = []
        self.probed: list[tuple[str, str]] = []
        self.lock = None
        self.context: dict[str, Any] = {}
        self.removals = SimpleNamespace(wait=lambda: None)

    def missing_features(self, scenario: Scenario) -> list[str]:
        return []

    def reserve_ahead(self, scenario: Scenario) -> bool:
        return True

    def build(self, scenario: Scenario, reserved: bool = False) -> tuple[Any, Any]:
        self.built.append(scenario.name)
        return f"built {scenario.name}", scenario.name

    def ready_prober(self) -> Any:
        def reach(facts: str, spec: ReachSpec, context: Any) -> None:
            self.probed.append((facts, spec.id))
        return SimpleNamespace(reach=reach)


def test_a_churn_probe_is_made_as_its_scenario_is_built_ahead_first_of_its_batch(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("containers:\n  a: {}\n  b: {}\nreachability:\n  - {from: a, to: b, proto: icmp, expect: reach}\n")
    churn = tmp_path / "churn.yaml"
    churn.write_text("containers:\n  a: {}\n  b: {}\nreachability:\n"
                     "  - {from: a, to: b, proto: icmp, churn: 3, expect: reach}\n"
                     "  - {from: b, to: a, proto: icmp, expect: reach}\n")
    later = tmp_path / "later.yaml"
    later.write_text(plain.read_text())
    order = [(path, load_scenario(path)) for path in (plain, later, churn)]
    context = Churns()
    ahead = BuildAhead(order)
    ahead.build_after(order[0][0], cast(RunContext, context))
    assert context.built[0] == "churn", "its network changes overlap the rest of the batch's builds"
    assert context.probed == [("churn", "a->b icmp during 3 network changes")]
