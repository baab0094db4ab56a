"""The first DNS check of a scenario makes its lookups and those of the scenarios built ahead at
once; lookups of one name never overlap (upstream queries are told apart by name and time)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from netconform.facts import ScenarioFacts
from netconform.facts.relocation import Relocation
from netconform.harness.on_demand import Prober
from netconform.harness.windows import prefetch_lookups
from netconform.spec import Check, load_scenario

SPEC = """\
networks:
  alpha: {subnet: 10.241.2.0/24}
containers:
  a1: {network: alpha, dns: ["${sentinel.address}"]}
  a2: {network: alpha, dns: ["${sentinel.address}"]}
expect:
  a1:
    lookup: {a2: [10.241.2.3], web: [10.241.2.9]}
  a2:
    lookup: {a1: [10.241.2.2]}
"""


def scenario(tmp_path: Path, name: str) -> tuple[ScenarioFacts, list[Check]]:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPEC)
    containers = {key: SimpleNamespace(key=key, created=True, lookups={}) for key in ("a1", "a2")}
    facts = SimpleNamespace(containers=containers, relocation=Relocation())
    return cast(ScenarioFacts, facts), list(load_scenario(path).checks)


class Lookups:
    """Stands in for the prober: each lookup takes a moment; records what overlapped."""

    def __init__(self) -> None:
        self.made: list[tuple[int, str, str]] = []
        self.active: list[str] = []
        self.overlaps: list[str] = []
        self.guard = threading.Lock()

    def lookup(self, facts: ScenarioFacts, container: Any, qtype: str, name: str) -> None:
        with self.guard:
            self.overlaps += [name for other in self.active if other == name]
            self.active.append(name)
        time.sleep(0.05)
        with self.guard:
            self.active.remove(name)
            self.made.append((id(facts), container.key, name))
        container.lookups[f"{qtype} {name}"] = None


def test_lookups_of_the_scenarios_built_ahead_are_made_in_the_same_window(tmp_path: Path) -> None:
    first, first_checks = scenario(tmp_path, "first")
    later, later_checks = scenario(tmp_path, "later")
    prober = Lookups()
    prefetch_lookups(cast(Prober, prober), first, first_checks, {}, ahead=[(later, later_checks)])
    assert sorted(prober.made) == sorted((id(facts), subject, name) for facts in (first, later)
                                         for subject, name in (("a1", "a2"), ("a1", "web"), ("a2", "a1")))
    assert prober.overlaps == []
