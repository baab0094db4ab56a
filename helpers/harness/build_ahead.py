"""Scenarios built ahead of their turn, so that their probes and lookups share one waiting window.

A probe expected to be blocked waits out every attempt, and scenario after scenario these windows
added up to most of a run's time. In a serial run the order of the scenario files is known, so
when a file is set up and none is waiting, the next files are built too, as many as the daemon's
resources allow (:class:`Budget` and the pool ledger: the shipped suite is one batch) and at most
``--build-ahead``; the first reachability or DNS check of the batch makes the probes and lookups of
all of them at once (one misled by a network creation of another worker or run is made again:
:mod:`netconform.hermetic.isolation_lock`), and their own checks later judge them. Each scenario
is still built and observed by itself; a build that fails ahead is reported at that file's own
setup. One whose every check already holds after the window, with no step to come, is removed
right then, in the background, rather than at its own teardown: a failure keeps its scenario up
for the replay that gathers its evidence.

Under xdist each worker builds ahead the files of its share (:mod:`netconform.harness.shares`),
within its part of the budget. Off with ``--build-ahead 0`` (what a run that changes the host
between builds needs, such as tests/faults).
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import takewhile
from pathlib import Path

from netconform.engine.builder import BuiltScenario
from netconform.errors import NetconformError
from netconform.facts import ScenarioFacts
from netconform.harness.context import RunContext
from netconform.harness.windows import needs_window
from netconform.judge import judge
from netconform.judge.applicability import not_applicable
from netconform.spec.model import Check, ReachSpec, Scenario

DEFAULT_DEPTH = 64

# What one batch may hold at once. Networks without a declared subnet take one from the daemon's
# default address pools (30 on a stock daemon), shared among the suite's processes by the pool
# ledger (netconform.hermetic.pool_ledger): the shipped suite is one batch, or one per xdist worker.
MAX_CONTAINERS = 96
# Builds ahead made at once: the daemon creates containers of several requests in parallel (on 2
# cores, 3 at once took 0.6 of the time one after another did); network changes still take turns
# (the isolation lock).
BUILD_THREADS = 3
MAX_POOLED_NETWORKS = 24

Built = tuple[BuiltScenario, ScenarioFacts]


def _holds(check: Check, siblings: Sequence[Check], facts: ScenarioFacts, context: RunContext) -> bool:
    """Whether ``check`` passes, or does not apply, on ``facts`` (any doubt: no)."""
    try:
        return bool(not_applicable(check, siblings, facts, context.context)
                    or judge(check, facts, context.context).passed)
    except Exception:  # e.g. a probe it needs was not made: its own turn makes and reports it
        return False


def _churn_probes(scenario: Scenario) -> list[ReachSpec]:
    """The scenario's churn probes of its state as built (:attr:`ReachSpec.churn`)."""
    probes = {check.reach.id: check.reach for check in scenario.checks
              if check.reach is not None and check.reach.churn and not check.step}
    return list(probes.values())


@dataclass
class Budget:
    """What a batch of scenarios built at once may hold (the file being set up counts too)."""

    containers: int = MAX_CONTAINERS
    networks: int = MAX_POOLED_NETWORKS

    def shared(self, count: int) -> Budget:
        """One of ``count`` workers' part of this budget (together they hold no more)."""
        return Budget(max(1, self.containers // count), max(1, self.networks // count))

    def fits(self, batch: Sequence[Scenario]) -> bool:
        return (sum(len(scenario.containers) for scenario in batch) <= self.containers
                and sum(scenario.pooled_networks for scenario in batch) <= self.networks)


@dataclass
class BuildAhead:
    """The scenario files of a serial run in order, and those built ahead of their turn.

    Args:
        order: the scenarios whose checks run, in the order their files come up.
        depth: how many files to build ahead of the current one at most (0: none).
        budget: what the current file and those built ahead may hold together.
    """

    order: list[tuple[Path, Scenario]]
    depth: int = DEFAULT_DEPTH
    budget: Budget = field(default_factory=Budget)
    _ready: dict[Path, tuple[Scenario, Built] | NetconformError] = field(default_factory=dict)
    _weighed: set[Path] = field(default_factory=set)  # judged once after their window (release_settled)
    _released: set[Path] = field(default_factory=set)  # being removed already

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
        """Build the files after ``path`` (up to ``depth`` of them, within the budget), unless
        some are still waiting for their turn."""
        if self.depth <= 0 or self._ready:
            return
        paths = [each for each, _ in self.order]
        if path not in paths:
            return
        start = paths.index(path) + 1
        batch = [self.order[start - 1][1]]
        chosen: list[tuple[Path, Scenario]] = []
        for later, scenario in self.order[start:start + self.depth]:
            if not self.budget.fits([*batch, scenario]):
                break
            if context.missing_features(scenario):
                continue  # skipped at its own setup, as without
            batch.append(scenario)
            chosen.append((later, scenario))
        if not chosen:
            return
        # A batch takes subnets from the daemon's pools: those of the last one's removals first,
        # and no more than the pool ledger has free now (the rest is built at its own turn).
        context.removals.wait()
        chosen = list(takewhile(lambda each: context.reserve_ahead(each[1]), chosen))
        if not chosen:
            return
        if any(scenario.uses_sentinel for _, scenario in chosen):
            context.start_sentinel()  # once, before the builds that share it

        prober = context.ready_prober() if any(_churn_probes(scenario) for _, scenario in chosen) else None

        def build(scenario: Scenario) -> Built | NetconformError:
            try:
                built = context.build(scenario, reserved=True)
            except NetconformError as err:
                return err
            for spec in _churn_probes(scenario):
                assert prober is not None
                with contextlib.suppress(NetconformError):  # made again, and reported, at its own turn
                    prober.reach(built[1], spec, context.context)
            return built

        # A segment's names are the context's state while its scenario is built: those alone, first.
        # Other processes' probe windows wait for the batch (netconform.hermetic.isolation_lock).
        # A churn probe's network changes are made beside the batch's builds, as theirs are; so
        # those scenarios are built first.
        building = context.lock.building if context.lock is not None else lambda _: contextlib.nullcontext()
        with building(f"a batch of {len(chosen)} scenarios"):
            alone = {later: build(scenario) for later, scenario in chosen if scenario.segment is not None}
            rest = sorted([(later, scenario) for later, scenario in chosen if scenario.segment is None],
                          key=lambda each: not _churn_probes(each[1]))
            with ThreadPoolExecutor(max_workers=BUILD_THREADS) as pool:
                together = dict(zip([later for later, _ in rest],
                                    pool.map(build, [scenario for _, scenario in rest]), strict=True))
        for later, scenario in chosen:
            built = alone[later] if later in alone else together[later]
            self._ready[later] = built if isinstance(built, NetconformError) else (scenario, built)

    def release_settled(self, context: RunContext, windowless: bool = False) -> None:
        """Remove now, in the background, each scenario built ahead whose every check holds on the
        facts it has; call once its window has made its probes and lookups (``windowless``: before
        the window, for the scenarios that have neither, whose removal then runs while the window
        waits out its blocked probes). Nothing of it is needed any more (no step to perform, no
        failure to replay), and its removal then overlaps the run instead of trailing it. Its
        checks are still judged at their own turn, on the same facts."""
        for path, ready in self._ready.items():
            if isinstance(ready, NetconformError) or path in self._weighed:
                continue
            scenario, (built, facts) = ready
            if windowless and any(map(needs_window, scenario.checks)):
                continue
            self._weighed.add(path)
            if not scenario.steps and all(_holds(check, scenario.checks, facts, context) for check in scenario.checks):
                self._released.add(path)
                context.teardown_later(built)

    def released(self, path: Path) -> bool:
        """Whether ``path``'s scenario was removed ahead of its turn (:meth:`release_settled`)."""
        return path in self._released

    def last(self, path: Path) -> bool:
        """Whether ``path`` is the run's last scenario file (or not one of its files)."""
        return not self.order or self.order[-1][0] == path or path not in [each for each, _ in self.order]

    def waiting(self) -> Sequence[tuple[ScenarioFacts, Sequence[Check]]]:
        """The facts and checks of the scenarios built ahead and not yet judged (nor removed ahead:
        nothing of theirs is made or replayed any more): only those of the state as built; a step's
        checks need the step performed first."""
        return [(ready[1][1], [check for check in ready[0].checks if not check.step])
                for path, ready in self._ready.items()
                if not isinstance(ready, NetconformError) and path not in self._released]
