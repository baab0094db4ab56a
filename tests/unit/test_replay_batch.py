"""The failed probes and lookups of a scenario are replayed together, bounded, once each; probes
that share a target, protocol and port never overlap (a listener, or the TCP witness, could not
tell them apart), but for TCP probes to the sentinel, which send from ports of their own; nor ICMP
probes to one target (the trace matches by destination), nor lookups of one name (upstream queries
are told apart by name and time)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from netconform.errors import ProbeError
from netconform.facts import ScenarioFacts
from netconform.facts.relocation import Relocation
from netconform.harness.replay import Evidence
from netconform.harness.replay_batch import PARALLEL_REPLAYS, ReplayBatch
from netconform.spec import Check, load_scenario

SPEC = """\
networks:
  alpha: {subnet: 10.241.2.0/24}
containers:
  a1: {network: alpha, dns: ["${sentinel.address}"]}
  a2: {network: alpha, dns: ["${sentinel.address}"]}
  a3: {network: alpha}
expect:
  a1:
    interfaces: [lo, eth0]
    lookup: {a2: [10.241.2.3], a3: [10.241.2.4]}
  a2:
    lookup: {a3: [10.241.2.4]}
reachability:
  - {from: a1, to: a2, proto: tcp, port: 8080, expect: reach}
  - {from: a3, to: a2, proto: tcp, port: 8080, expect: reach}
  - {from: a1, to: a3, proto: udp, port: 8053, expect: reach, source: "${container.a1.ip}"}
  - {from: a1, to: a2, proto: icmp, expect: reach}
  - {from: a3, to: a2, proto: icmp, expect: reach}
  - {from: a2, to: a1, proto: icmp, expect: reach}
  - {from: a3, to: a1, proto: icmp, expect: blocked}
  - {from: a1, to: sentinel, proto: tcp, port: 7, expect: reach}
  - {from: a3, to: sentinel, proto: tcp, port: 7, expect: reach}
  - {from: a3, to: sentinel, proto: udp, port: 7, expect: reach}
"""


def scenario_checks(tmp_path: Path) -> list[Check]:
    path = tmp_path / "s.yaml"
    path.write_text(SPEC)
    return list(load_scenario(path).checks)


def probed(checks: list[Check]) -> ScenarioFacts:
    """Stands in for the facts of a built scenario whose probes and lookups were all made."""
    containers = {key: SimpleNamespace(created=True, lookups={}) for key in ("a1", "a2", "a3")}
    for check in checks:
        if check.prop.startswith("lookup."):
            containers[check.subject].lookups[f"A {check.param}"] = None
    return cast(ScenarioFacts, SimpleNamespace(reach={c.reach.id: None for c in checks if c.reach is not None},
                                               containers=containers, relocation=Relocation()))


def own_port(check: Check) -> bool:
    """A TCP probe to the sentinel: its replay sends from a port of its own."""
    return check.reach is not None and (check.reach.proto, check.reach.to) == ("tcp", "sentinel")


def same_group(one: Check, other: Check) -> bool:
    if one.reach is not None and other.reach is not None:
        if own_port(one) or own_port(other):
            return one.reach.id == other.reach.id
        if one.reach.proto == other.reach.proto == "icmp":  # a trace matches by destination
            return one.reach.to == other.reach.to
        return ((one.reach.to, one.reach.proto, one.reach.listener_port)
                == (other.reach.to, other.reach.proto, other.reach.listener_port))
    return one.reach is None and other.reach is None and one.param == other.param


class Recorder:
    """A replay that takes a moment and records who replayed what, and what overlapped."""

    def __init__(self, fail: tuple[str, str] = ("", "")) -> None:
        self.replayed: list[str] = []
        self.scenarios: set[int] = set()
        self.active: list[tuple[Check, ScenarioFacts | None]] = []
        self.overlaps: list[tuple[str, str]] = []
        self.together: list[tuple[str, str]] = []  # every pair that overlapped
        self.most = 0
        self.fail = fail
        self.guard = threading.Lock()

    def __call__(self, check: Check, facts: ScenarioFacts | None = None) -> Evidence:
        with self.guard:
            self.overlaps += [(other.name, check.name) for other, of in self.active
                              if of is facts and same_group(other, check)]
            self.together += [(other.name, check.name) for other, _ in self.active]
            self.active.append((check, facts))
            self.most = max(self.most, len(self.active))
        time.sleep(0.05)
        with self.guard:
            # By identity: two scenarios' facts stand-ins compare equal (SimpleNamespace), and
            # removing the other's entry left a finished replay "active" (a false overlap).
            self.active = [entry for entry in self.active if not (entry[0] is check and entry[1] is facts)]
            self.replayed.append(check.name)
            self.scenarios.add(id(facts))
        if (check.subject, check.name) == self.fail:
            raise ProbeError(f"replay of {check.name} failed")
        return Evidence([], {"replay": f"replay of {check.name}"})


def failing_all_but_blocked(check: Check, facts: ScenarioFacts | None = None) -> bool:
    """Every probe fails but the one expected blocked, and every lookup."""
    if check.reach is not None:
        return check.reach.id != "a3->a1 icmp"
    return check.prop.startswith("lookup.")


def test_the_first_failure_replays_every_failed_probe_once(tmp_path: Path) -> None:
    checks = scenario_checks(tmp_path)
    facts = probed(checks)
    replay = Recorder()
    batch = ReplayBatch()
    failed = [check for check in checks if failing_all_but_blocked(check)]
    assert len(failed) == 13
    evidence: dict[str, Any] = {}
    for check in failed:
        evidence[check.name] = batch.evidence(check, facts, checks, replay, failing_all_but_blocked, {})
    # The outcome and the [source] of one probe share its one replay.
    source = next(check for check in failed if check.name.endswith(" [source]"))
    assert sorted(replay.replayed) == sorted(check.name for check in failed if check is not source)
    assert evidence[source.name] is evidence[source.name.removesuffix(" [source]")]
    assert {name: kept.sections["replay"] for name, kept in evidence.items() if name != source.name} == {
        check.name: f"replay of {check.name}" for check in failed if check is not source}
    assert replay.overlaps == []
    assert 1 < replay.most <= PARALLEL_REPLAYS


def test_probes_to_one_target_port_are_replayed_one_after_another(tmp_path: Path) -> None:
    checks = scenario_checks(tmp_path)
    replay = Recorder()
    tcp = [check for check in checks if check.reach is not None and check.reach.proto == "tcp"]
    ReplayBatch().evidence(tcp[0], probed(checks), checks, replay, failing_all_but_blocked, {})
    assert set(replay.replayed) >= {check.name for check in tcp}
    assert replay.overlaps == []


def test_tcp_probes_to_the_sentinel_one_port_are_replayed_at_once(tmp_path: Path) -> None:
    checks = scenario_checks(tmp_path)
    replay = Recorder()
    to_sentinel = [check for check in checks if own_port(check) and not check.name.endswith(" [source]")]
    assert len(to_sentinel) == 2
    ReplayBatch().evidence(to_sentinel[0], probed(checks), checks, replay, failing_all_but_blocked, {})
    assert set(replay.replayed) >= {check.name for check in to_sentinel}
    assert (to_sentinel[0].name, to_sentinel[1].name) in replay.together or \
        (to_sentinel[1].name, to_sentinel[0].name) in replay.together
    assert replay.overlaps == []


def test_a_new_scenario_replays_afresh(tmp_path: Path) -> None:
    checks = scenario_checks(tmp_path)
    replay = Recorder()
    batch = ReplayBatch()
    first = next(check for check in checks if failing_all_but_blocked(check))
    batch.evidence(first, probed(checks), checks, replay, failing_all_but_blocked, {})
    replayed = len(replay.replayed)
    batch.evidence(first, probed(checks), checks, replay, failing_all_but_blocked, {})
    assert len(replay.replayed) == 2 * replayed


def test_a_failed_replay_is_raised_for_its_own_check_only(tmp_path: Path) -> None:
    checks = scenario_checks(tmp_path)
    failed = [check for check in checks if failing_all_but_blocked(check)]
    replay = Recorder(fail=(failed[1].subject, failed[1].name))
    batch = ReplayBatch()
    facts = probed(checks)
    assert batch.evidence(failed[0], facts, checks, replay, failing_all_but_blocked, {}).sections
    with pytest.raises(ProbeError, match="failed"):
        batch.evidence(failed[1], facts, checks, replay, failing_all_but_blocked, {})
    assert batch.evidence(failed[2], facts, checks, replay, failing_all_but_blocked, {}).sections
    assert len(replay.replayed) == len(failed) - 1  # the [source] check shares its probe's replay


def test_lookups_of_one_name_are_replayed_one_after_another(tmp_path: Path) -> None:
    checks = scenario_checks(tmp_path)
    replay = Recorder()
    lookups = [check for check in checks if check.prop.startswith("lookup.")]
    ReplayBatch().evidence(lookups[0], probed(checks), checks, replay, failing_all_but_blocked, {})
    assert set(replay.replayed) >= {check.name for check in lookups}
    assert replay.overlaps == []


def test_a_property_check_is_replayed_on_its_own(tmp_path: Path) -> None:
    checks = scenario_checks(tmp_path)
    replay = Recorder()
    prop = next(check for check in checks if check.prop == "interfaces")
    ReplayBatch().evidence(prop, probed(checks), checks, replay, failing_all_but_blocked, {})
    assert replay.replayed == [prop.name]


def test_the_failures_of_scenarios_built_ahead_are_replayed_in_the_same_batch(tmp_path: Path) -> None:
    checks = scenario_checks(tmp_path)
    first, later = probed(checks), probed(checks)
    replay = Recorder()
    batch = ReplayBatch()
    failed = [check for check in checks if failing_all_but_blocked(check)]
    batch.evidence(failed[0], first, checks, replay, failing_all_but_blocked, {}, ahead=[(later, checks)])
    assert replay.scenarios == {id(first), id(later)}
    replayed = len(replay.replayed)
    assert replay.overlaps == []
    # At its own turn the later scenario takes its evidence from that batch, each check its own.
    evidence = {check.name: batch.evidence(check, later, checks, replay, failing_all_but_blocked, {})
                for check in failed}
    assert len(replay.replayed) == replayed
    assert evidence[failed[0].name].sections["replay"] == f"replay of {failed[0].name}"
