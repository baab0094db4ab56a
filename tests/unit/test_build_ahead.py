"""Build ahead: scenarios are built in batches, each taken at its own turn; a failure ahead is
reported at that scenario's own setup; features the kernel lacks are left to their own skip; the
probes of a batch are made in one window, each once."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from netconform.errors import EngineError, ProbeError
from netconform.facts import ReachResult, ScenarioFacts
from netconform.facts.relocation import Relocation
from netconform.harness.build_ahead import Budget, BuildAhead
from netconform.harness.context import RunContext
from netconform.harness.on_demand import Prober
from netconform.harness.removals import Removals
from netconform.harness.windows import prepare
from netconform.spec import load_scenario
from netconform.spec.model import NetworkSpec, ReachSpec, Scenario


class Builds:
    """Stands in for the run context: records what it built, refuses or lacks what it is told."""

    def __init__(self, refuse: str = "", lacking: str = "", no_room: str = "") -> None:
        self.built: list[str] = []
        self.refuse = refuse
        self.lacking = lacking
        self.no_room = no_room  # the pool ledger has no room for it now
        self.removals = Removals()
        self.lock = None
        self.context: dict[str, Any] = {}
        self.probed: list[tuple[str, str]] = []  # (scenario, churn probe) as made ahead

    def ready_prober(self) -> Any:
        def reach(facts: str, spec: ReachSpec, context: dict[str, Any]) -> None:
            self.probed.append((facts, spec.id))
        return SimpleNamespace(reach=reach)

    def missing_features(self, scenario: Scenario) -> list[str]:
        return ["ipvlan"] if scenario.name == self.lacking else []

    def reserve_ahead(self, scenario: Scenario) -> bool:
        return scenario.name != self.no_room

    def build(self, scenario: Scenario, reserved: bool = False) -> tuple[Any, Any]:
        if scenario.name == self.refuse:
            raise EngineError(f"the daemon refused {scenario.name}")
        self.built.append(scenario.name)
        return f"built {scenario.name}", f"facts of {scenario.name}"


def run_of(count: int, depth: int) -> BuildAhead:
    order = [(Path(f"s{index}.yaml"), Scenario(f"s{index}", f"s{index}.yaml", "", {}, {})) for index in range(count)]
    return BuildAhead(order, depth)


def turn(ahead: BuildAhead, builds: Builds, index: int) -> tuple[Any, Any]:
    """What a scenario file's setup does: take it if it was built ahead, else build it; then ahead."""
    path = Path(f"s{index}.yaml")
    context = cast(RunContext, builds)
    taken = ahead.take(path) or context.build(Scenario(f"s{index}", str(path), "", {}, {}))
    ahead.build_after(path, context)
    return taken


def test_scenarios_are_built_in_batches_and_taken_at_their_turn() -> None:
    ahead, builds = run_of(6, 2), Builds()
    assert turn(ahead, builds, 0) == ("built s0", "facts of s0")
    assert sorted(builds.built) == ["s0", "s1", "s2"]
    assert [facts for facts, _ in ahead.waiting()] == ["facts of s1", "facts of s2"]
    assert turn(ahead, builds, 1) == ("built s1", "facts of s1")
    assert sorted(builds.built) == ["s0", "s1", "s2"], "nothing more while s2 still waits"
    turn(ahead, builds, 2)
    assert sorted(builds.built) == ["s0", "s1", "s2", "s3", "s4"]
    turn(ahead, builds, 3)
    turn(ahead, builds, 4)
    assert sorted(builds.built) == ["s0", "s1", "s2", "s3", "s4", "s5"]
    turn(ahead, builds, 5)
    assert sorted(builds.built) == ["s0", "s1", "s2", "s3", "s4", "s5"] and ahead.waiting() == []


def test_a_batch_takes_no_more_networks_from_the_daemons_pools_than_its_budget() -> None:
    def pooled(index: int, declared: bool = False) -> Scenario:
        network = NetworkSpec("net", subnet=f"10.9.{index}.0/24" if declared else None)
        return Scenario(f"s{index}", f"s{index}.yaml", "", {"net": network}, {})
    order = [pooled(0), pooled(1), pooled(2, declared=True), pooled(3), pooled(4)]
    ahead, builds = BuildAhead([(Path(s.path), s) for s in order], 10, Budget(networks=3)), Builds()
    taken = ahead.take(Path("s0.yaml")) or cast(RunContext, builds).build(order[0])
    ahead.build_after(Path("s0.yaml"), cast(RunContext, builds))
    assert taken == ("built s0", "facts of s0")
    assert sorted(builds.built) == ["s0", "s1", "s2", "s3"], "a declared subnet takes nothing from the pools"


def test_a_batch_ends_where_the_pool_ledger_has_no_room_left() -> None:
    ahead, builds = run_of(5, 4), Builds(no_room="s2")
    turn(ahead, builds, 0)
    assert sorted(builds.built) == ["s0", "s1"], "s2 and what follows wait for their own turn"
    assert ahead.take(Path("s2.yaml")) is None


def test_a_build_that_fails_ahead_fails_at_its_own_turn() -> None:
    ahead, builds = run_of(3, 2), Builds(refuse="s1")
    turn(ahead, builds, 0)
    assert sorted(builds.built) == ["s0", "s2"]
    assert [facts for facts, _ in ahead.waiting()] == ["facts of s2"]
    with pytest.raises(EngineError, match="refused s1"):
        ahead.take(Path("s1.yaml"))


def test_a_scenario_the_kernel_cannot_build_is_left_to_its_own_skip() -> None:
    ahead, builds = run_of(3, 2), Builds(lacking="s1")
    turn(ahead, builds, 0)
    assert sorted(builds.built) == ["s0", "s2"]
    assert ahead.take(Path("s1.yaml")) is None


def test_depth_zero_builds_one_scenario_at_a_time() -> None:
    ahead, builds = run_of(3, 0), Builds()
    for index in range(3):
        turn(ahead, builds, index)
    assert sorted(builds.built) == ["s0", "s1", "s2"]


# -- probes of a batch made in one window ---------------------------------------------------------

class CountingProber(Prober):
    """Records the probes it is asked to make instead of making them."""

    def __init__(self) -> None:
        super().__init__(daemon_pid=1, sentinel=None)
        self.made: list[tuple[str, str]] = []

    def _reach(self, facts: ScenarioFacts, spec: ReachSpec, context: Mapping[str, Any],
               replay_attempts: int | None = None, source_port: int | None = None) -> ReachResult:
        self.made.append((facts.scenario, spec.id))
        return ReachResult(spec.id, spec.frm, spec.to, spec.proto, "10.0.0.1", None)


def test_one_window_makes_each_probe_of_the_batch_once(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("containers:\n  a: {}\n  b: {}\nreachability:\n"
                    "  - {from: a, to: b, proto: tcp, port: 80, expect: reach, source: \"${container.a.ip}\"}\n"
                    "  - {from: a, to: b, proto: icmp, expect: reach}\n")
    checks = load_scenario(path).checks
    assert len(checks) == 3  # tcp outcome, tcp [source], icmp
    specs = [check.reach for check in checks if check.reach is not None]
    first, later = (cast(ScenarioFacts, SimpleNamespace(scenario=name, reach={}, containers={}))
                    for name in ("s1", "s2"))
    prober = CountingProber()
    prober.prefetch(first, specs, {}, [(later, specs)])
    assert sorted(prober.made) == [("s1", "a->b icmp"), ("s1", "a->b tcp/80"),
                                   ("s2", "a->b icmp"), ("s2", "a->b tcp/80")]
    assert set(first.reach) == set(later.reach) == {"a->b icmp", "a->b tcp/80"}
    prober.prefetch(later, specs, {})
    assert len(prober.made) == 4, "probes already made are not made again"


class OverlapProber(CountingProber):
    """Takes a moment per probe and records which probes overlapped."""

    def __init__(self) -> None:
        super().__init__()
        self.active: set[str] = set()
        self.overlapped: set[frozenset[str]] = set()
        self.guard = threading.Lock()

    def _reach(self, facts: ScenarioFacts, spec: ReachSpec, context: Mapping[str, Any],
               replay_attempts: int | None = None, source_port: int | None = None) -> ReachResult:
        name = f"{facts.scenario} {spec.id}"
        with self.guard:
            self.overlapped.update(frozenset((name, other)) for other in self.active)
            self.active.add(name)
        time.sleep(0.05)
        with self.guard:
            self.active.discard(name)
        return super()._reach(facts, spec, context)


def test_probes_to_the_sentinels_port_overlap_and_those_to_one_containers_port_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("containers:\n  a: {}\n  b: {}\nreachability:\n"
                    "  - {from: a, to: sentinel, proto: tcp, port: 7, expect: reach}\n"
                    "  - {from: b, to: sentinel, proto: tcp, port: 7, expect: blocked}\n"
                    "  - {from: a, to: b, proto: tcp, port: 80, expect: reach}\n"
                    "  - {from: sentinel, to: b, proto: tcp, port: 80, expect: blocked}\n")
    specs = [check.reach for check in load_scenario(path).checks if check.reach is not None]
    first, later = (cast(ScenarioFacts, SimpleNamespace(scenario=name, reach={}, containers={}))
                    for name in ("s1", "s2"))
    prober = OverlapProber()
    prober.prefetch(first, specs, {}, [(later, specs)])
    assert len(prober.made) == 8
    to_sentinel = [f"{s} {spec.id}" for s in ("s1", "s2") for spec in specs if spec.to == "sentinel"]
    assert all(frozenset((one, other)) in prober.overlapped
               for i, one in enumerate(to_sentinel) for other in to_sentinel[i + 1:])
    to_b = [f"s1 {spec.id}" for spec in specs if spec.to == "b"]
    assert frozenset(to_b) not in prober.overlapped, "one listener and witness on b's port 80: one at a time"


def _facts() -> ScenarioFacts:
    """A scenario's facts as far as a window reads them (its expectations pick by the daemon's version)."""
    return cast(ScenarioFacts, SimpleNamespace(scenario="s", reach={}, containers={}, relocation=Relocation(),
                                               daemon=SimpleNamespace(version="20.10.24"),
                                               host=SimpleNamespace(cgroup_version=2)))


def test_a_failing_lookup_made_in_a_probes_window_is_left_to_its_own_check(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("containers:\n  a: {}\n  b: {}\nreachability:\n  - {from: a, to: b, proto: icmp, expect: reach}\n")
    check = load_scenario(path).checks[0]
    facts = _facts()

    def failing_lookups(*_: Any) -> None:
        raise ProbeError("DNS A name from a: the child died")

    monkeypatch.setattr("netconform.harness.windows.prefetch_lookups", failing_lookups)
    prober = CountingProber()
    prepare(prober, check, facts, {}, [check])
    assert prober.made == [("s", "a->b icmp")]  # the probe's check is judged on its own probe

    def failing_probes(*_: Any) -> None:
        raise ProbeError("probe a->b icmp: the child died")

    monkeypatch.setattr(prober, "prefetch", failing_probes)
    with pytest.raises(ProbeError, match="a->b icmp"):  # its own kind's failure is still its own
        prepare(prober, check, _facts(), {}, [check])


def test_no_probe_is_made_to_or_from_a_container_the_daemon_did_not_create(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("containers:\n  a: {}\n  b: {}\nreachability:\n  - {from: a, to: b, proto: icmp, expect: reach}\n")
    specs = [check.reach for check in load_scenario(path).checks if check.reach is not None]
    facts = cast(ScenarioFacts, SimpleNamespace(scenario="s", reach={}, containers={
        "a": SimpleNamespace(created=True), "b": SimpleNamespace(created=False)}))
    prober = CountingProber()
    prober.prefetch(facts, specs, {})
    assert prober.made == [] and facts.reach == {}  # its check is skipped, or makes it at its turn


class Releases(Builds):
    """Also records what was removed in the background."""

    def __init__(self) -> None:
        super().__init__()
        self.context: dict[str, Any] = {}
        self.removed_later: list[str] = []

    def teardown_later(self, built: Any) -> None:
        self.removed_later.append(built)


def test_after_the_window_a_scenario_whose_checks_all_hold_is_removed_at_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    holding = {"facts of s1", "facts of s3"}
    judged: list[str] = []

    def holds(check: Any, siblings: Any, facts: str, context: Any) -> bool:
        judged.append(facts)
        return facts in holding

    monkeypatch.setattr("netconform.harness.build_ahead._holds", holds)
    checks = (cast(Any, SimpleNamespace(step="", reach=None)),)  # judged by the stand-in above
    order = [(Path(f"s{i}.yaml"), Scenario(f"s{i}", f"s{i}.yaml", "", {}, {}, checks=checks)) for i in range(4)]
    order[3] = (order[3][0], dataclasses.replace(order[3][1], steps=(cast(Any, "a step"),)))
    ahead, context = BuildAhead(order, 10), Releases()
    turn(ahead, context, 0)
    ahead.release_settled(cast(RunContext, context))
    assert context.removed_later == ["built s1"], "s2 fails, s3 has a step to come"
    assert [facts for facts, _ in ahead.waiting()] == ["facts of s2", "facts of s3"]
    assert ahead.released(Path("s1.yaml")) and not ahead.released(Path("s2.yaml"))
    ahead.release_settled(cast(RunContext, context))
    assert context.removed_later == ["built s1"] and judged.count("facts of s2") == 1, "each is weighed once"


def test_before_the_window_only_the_scenarios_it_makes_nothing_for_are_removed(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netconform.harness.build_ahead._holds", lambda *_: True)
    probe = ReachSpec("a", "b", "icmp")
    plain = (cast(Any, SimpleNamespace(step="", reach=None, prop="mtu")),)
    kinds = {"s1": plain, "s2": (*plain, cast(Any, SimpleNamespace(step="", reach=probe, prop="reach"))),
             "s3": (*plain, cast(Any, SimpleNamespace(step="", reach=None, prop="lookup.a")))}
    order = [(Path("s0.yaml"), Scenario("s0", "s0.yaml", "", {}, {})),
             *((Path(f"{name}.yaml"), Scenario(name, f"{name}.yaml", "", {}, {}, checks=checks))
               for name, checks in kinds.items())]
    ahead, context = BuildAhead(order, 10), Releases()
    turn(ahead, context, 0)
    ahead.release_settled(cast(RunContext, context), windowless=True)
    assert context.removed_later == ["built s1"], "s2 has a probe to make, s3 a lookup"
    ahead.release_settled(cast(RunContext, context))
    assert context.removed_later == ["built s1", "built s2", "built s3"], "after the window, they are weighed too"


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
    context = Builds()
    ahead = BuildAhead(order)
    ahead.build_after(order[0][0], cast(RunContext, context))
    assert context.built[0] == "churn", "its network changes overlap the rest of the batch's builds"
    assert context.probed == [("facts of churn", "a->b icmp during 3 network changes")]
