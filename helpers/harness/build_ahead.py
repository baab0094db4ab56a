"""Scenarios built ahead of their turn in a serial run, so that their probes share one waiting window.

A probe expected to be blocked waits out every attempt, and scenario after scenario these windows
added up to most of a run's time. In a serial run the order of the scenario files is known, so
when a file is set up and none is waiting, the next ``--build-ahead`` files are built too; the
first reachability check of the batch makes the probes of all of them at once, under one shared
hold of the isolation lock (no network is created or removed meanwhile), and their own checks
later judge those probes. Each scenario is still built, observed and torn down by itself, in its
own setup and teardown order; a build that fails ahead is reported at that file's own setup.

Off under xdist (a worker does not know which file it gets next) and with ``--build-ahead 0``
(what a run that changes the host between builds needs, such as tests/faults).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from netconform.engine.builder import BuiltScenario
from netconform.errors import NetconformError
from netconform.facts import ScenarioFacts
from netconform.harness.context import RunContext
from netconform.spec.model import Check, Scenario

DEFAULT_DEPTH = 3

Built = tuple[BuiltScenario, ScenarioFacts]


@dataclass
class BuildAhead:
    """The scenario files of a serial run in order, and those built ahead of their turn.

    Args:
        order: the scenarios whose checks run, in the order their files come up.
        depth: how many files to build ahead of the current one (0: none).
    """

    order: list[tuple[Path, Scenario]]
    depth: int = DEFAULT_DEPTH
    _ready: dict[Path, tuple[Scenario, Built] | NetconformError] = field(default_factory=dict)

    def take(self, path: Path) -> Built | None:
        """The scenario of ``path`` if it was built ahead (None: build it now).

        Raises:
            NetconformError: building it ahead failed (reported at its own setup, as without).
        """
        ready = self._ready.pop(path, None)
        if isinstance(ready, NetconformError):
            raise ready
        return ready[1] if ready is not None else None

    def build_after(self, path: Path, context: RunContext) -> None:
        """Build the ``depth`` files after ``path``, unless some are still waiting for their turn."""
        if self.depth <= 0 or self._ready:
            return
        paths = [each for each, _ in self.order]
        if path not in paths:
            return
        start = paths.index(path) + 1
        for later, scenario in self.order[start:start + self.depth]:
            if context.missing_features(scenario):
                continue  # skipped at its own setup, as without
            try:
                self._ready[later] = (scenario, context.build(scenario))
            except NetconformError as err:
                self._ready[later] = err

    def waiting(self) -> Sequence[tuple[ScenarioFacts, Sequence[Check]]]:
        """The facts and checks of the scenarios built ahead and not yet judged: only those of the
        state as built; a step's checks need the step performed first."""
        return [(ready[1][1], [check for check in ready[0].checks if not check.step])
                for ready in self._ready.values() if not isinstance(ready, NetconformError)]
