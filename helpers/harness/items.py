"""pytest collection of scenario specs: one file -> one scenario -> one item per expectation.

A scenario is one file, so ``--dist loadfile`` (the default in pyproject.toml) keeps all of its
checks on one xdist worker. (``loadgroup`` with an ``xdist_group`` mark would too, but pytest 9.2
broke it: pytest-xdist#1386.)

The scenario is built when pytest sets up its file node and removed when pytest tears it down
(after its last item, on failure, and on Ctrl-C), so all of a scenario's checks share one build.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from netconform.engine.builder import BuiltScenario
from netconform.errors import NetconformError, SpecError
from netconform.facts import ScenarioFacts
from netconform.harness.build_ahead import Budget, BuildAhead
from netconform.harness.context import RunContext, RunOptions, worker_id
from netconform.harness.shares import SHARES_KEY, scenario_cost, share_index, split_files
from netconform.harness.stepping import Stepper, StepUnavailable
from netconform.hermetic.runs import RunIdentity
from netconform.judge import Verdict, judge
from netconform.judge.applicability import not_applicable
from netconform.judge.failure import ConformanceFailure, render_story
from netconform.report.records import scenario_record
from netconform.spec import Check, Scenario, load_scenario
from netconform.spec.profile import HostProfile

spec_errors_key = pytest.StashKey[list[SpecError]]()
options_key = pytest.StashKey[RunOptions]()
identity_key = pytest.StashKey[RunIdentity]()
context_key = pytest.StashKey[RunContext]()
verdict_key = pytest.StashKey[Verdict]()
artifacts_key = pytest.StashKey[list[str]]()
# The host profile given with --profile (harness.profile_items), if any.
profile_key = pytest.StashKey[HostProfile]()
# Scenario records finished in this process, waiting to ride on the next teardown report.
finished_scenarios_key = pytest.StashKey[list[dict[str, Any]]]()
build_ahead_key = pytest.StashKey[BuildAhead]()


def run_context(config: pytest.Config) -> RunContext:
    """This process's run context, opened on first use (so collection alone never needs a daemon)."""
    if context_key not in config.stash:
        worker = worker_id(getattr(config, "workerinput", None))
        context = RunContext.open(config.stash[options_key], config.stash[identity_key], worker)
        if profile_key in config.stash:
            # What the profile pins as a plain value is what setting-dependent expectations follow.
            context.profile_overrides = config.stash[profile_key].overrides()
        config.stash[context_key] = context
    return config.stash[context_key]


def build_ahead(session: pytest.Session) -> BuildAhead:
    """The run's scenarios to build ahead (:mod:`netconform.harness.build_ahead`): the files of the
    items to run, in order; under xdist, those of this worker's share (:mod:`netconform.harness.shares`)
    within its part of the budget, or none where the worker has no share."""
    config = session.config
    if build_ahead_key not in config.stash:
        files = [item.parent.parent for item in session.items
                 if isinstance(item, CheckItem) and item.parent is not None]
        nodes = [node for node in dict.fromkeys(files) if isinstance(node, ScenarioFile)]
        depth, budget = int(config.getoption("build_ahead", 0) or 0), Budget()
        workerinput = getattr(config, "workerinput", None)
        if workerinput is not None:
            count = int(workerinput.get(SHARES_KEY, 0))
            index = share_index(str(workerinput["workerid"]), count) if count else None
            costs = [(node.nodeid, scenario_cost(node.scenario)) for node in nodes]
            mine = split_files(costs, count)[index] if index is not None else []
            nodes = [node for node in nodes if node.nodeid in mine]
            depth, budget = (depth, budget.shared(count)) if mine else (0, budget)
        config.stash[build_ahead_key] = BuildAhead([(node.path, node.scenario) for node in nodes], depth, budget)
    return config.stash[build_ahead_key]


class ScenarioFile(pytest.File):
    """A scenario spec; validated when collected, built when its first check runs."""

    scenario: Scenario
    built: BuiltScenario | None = None
    facts: ScenarioFacts | None = None
    build_error: str = ""
    skipped: str = ""
    stepper: Stepper | None = None

    def collect(self) -> Iterator[pytest.Item | pytest.Collector]:
        root = self.config.rootpath
        display = self.path.relative_to(root) if self.path.is_relative_to(root) else self.path
        try:
            self.scenario = load_scenario(self.path, str(display))
        except SpecError as err:
            self.config.stash.setdefault(spec_errors_key, []).append(err)
            raise
        # The checks of the scenario as built, then each step's: a step changes what later checks see.
        for step, subject in dict.fromkeys((check.step, check.subject) for check in self.scenario.checks):
            group = SubjectGroup.from_parent(self, name=f"{subject}@{step}" if step else subject)
            group.subject, group.step = subject, step
            yield group

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SpecError):
            return f"invalid scenario spec: {excinfo.value}"
        return super().repr_failure(excinfo)

    def setup(self) -> None:
        try:
            context = run_context(self.config)
            missing = context.missing_features(self.scenario)
            if not missing:
                ahead = build_ahead(self.session)
                self.built, self.facts = ahead.take(self.path) or context.build(self.scenario)
                self.stepper = Stepper(self.scenario.steps, self.facts)
                ahead.build_after(self.path, context)
                return
        except NetconformError as err:
            problem = str(err)
        else:
            # Every check of the scenario is reported skipped with this reason, none is built.
            self.skipped = "; ".join(feature.skip_reason() for feature in missing)
            pytest.skip(self.skipped)
        self.build_error = problem
        # Outside the except block, so the report is this one line and not a chained traceback.
        pytest.fail(f"scenario {self.scenario.name} could not be built: {problem}", pytrace=False)

    def facts_at(self, step: str) -> ScenarioFacts:
        """The scenario's facts after ``step`` ("": as built), performing the steps up to it.

        Raises:
            StepUnavailable: a step failed, or the scenario is past that state already.
        """
        assert self.built is not None and self.stepper is not None, "scenario was not built"
        built = self.built
        return self.stepper.facts_at(step, lambda spec, before: run_context(self.config).step(built, spec, before))

    def teardown(self) -> None:
        steps = self.stepper.observed() if self.stepper is not None else []
        self.stepper = None
        record = scenario_record(self.scenario, self.facts, self.build_error, self.skipped, steps)
        self.config.stash.setdefault(finished_scenarios_key, []).append(record)
        if self.built is None:
            return
        built, self.built, self.facts = self.built, None, None
        context, ahead = run_context(self.config), build_ahead(self.session)
        if ahead.depth > 0:  # a serial run: removed while the next scenarios run (harness.removals)
            if not ahead.released(self.path):
                context.teardown_later(built)
            problems = context.removals.failures(wait_all=ahead.last(self.path))
        else:
            try:
                context.teardown(built)
                return
            except NetconformError as err:
                problems = [f"scenario {self.scenario.name} could not be removed: {err}"]
        if problems:
            pytest.fail("; ".join(problems), pytrace=False)


class SubjectGroup(pytest.Collector):
    """The checks of one container of a scenario, as built or after one of its steps (named
    ``<subject>@<step>``, so test ids and report keys keep the states apart)."""

    subject: str = ""
    step: str = ""

    def collect(self) -> Iterator[pytest.Item]:
        scenario_file = self.parent
        assert isinstance(scenario_file, ScenarioFile)
        scenario = scenario_file.scenario
        for check in scenario.checks:
            if check.subject == self.subject and check.step == self.step:
                item = CheckItem.from_parent(self, name=check.name, check=check)
                item.add_marker(getattr(pytest.mark, check.aspect))
                for mode in sorted(scenario.markers_of(check)):
                    item.add_marker(getattr(pytest.mark, mode))
                yield item


class CheckItem(pytest.Item):
    """One expectation of one container."""

    def __init__(self, *, check: Check, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.check = check
        self.keywords[check.scenario] = True

    @property
    def scenario_file(self) -> ScenarioFile:
        node = self.parent.parent if self.parent else None
        assert isinstance(node, ScenarioFile)
        return node

    def runtest(self) -> None:
        facts = self.scenario_file.facts_at(self.check.step)
        self.judge_on(facts, [check for check in self.scenario_file.scenario.checks if check.step == self.check.step])

    def judge_on(self, facts: ScenarioFacts, siblings: Sequence[Check]) -> None:
        """Make the probes ``facts`` still lack (all of ``siblings``' at once), judge, keep evidence.

        Raises:
            ConformanceFailure: the check's expectation does not hold.
        """
        context = run_context(self.config)
        reason = not_applicable(self.check, siblings, facts, context.context)
        if reason:
            pytest.skip(reason)
        builder = build_ahead(self.session)
        builder.release_settled(context, windowless=True)
        ahead = builder.waiting()
        # Once the window has made their probes and lookups, what holds already need not stay up.
        context.prepare(self.check, facts, siblings, ahead,
                        after_window=(lambda: builder.release_settled(context)) if ahead else None)
        verdict = judge(self.check, facts, context.context)
        self.stash[verdict_key] = verdict
        if not verdict.passed:
            self.stash[artifacts_key] = context.keep_evidence(self.check, facts, verdict, siblings, ahead)
            raise ConformanceFailure(self.check, facts.containers.get(self.check.subject), verdict)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, ConformanceFailure):
            failure = excinfo.value
            return render_story(failure.check, failure.container, failure.verdict)
        if isinstance(excinfo.value, StepUnavailable):
            return str(excinfo.value)  # its own words say it all: no traceback
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        line = self.check.line - 1 if self.check.line else None
        step = f"@{self.check.step}" if self.check.step else ""
        return self.path, line, f"{self.check.scenario}::{self.check.subject}{step}::{self.check.name}"

