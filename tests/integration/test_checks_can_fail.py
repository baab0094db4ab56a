"""Every check of the shipped suites passes as declared and fails when its expectation is wrong.

The scenarios are built on the real daemon and observed for real; then each check is judged
twice: as written, and with its expectation replaced by a near miss of what was observed (the
other namespace owner, MTU + 1, the next address, one interface more...). A check that still
passes with a wrong expectation could never fail, and is a defect.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from netconform.engine.builder import BuiltScenario
from netconform.facts import ScenarioFacts
from netconform.harness.context import RunContext, RunOptions
from netconform.harness.stepping import Stepper
from netconform.hermetic.runs import RunIdentity, register, unregister
from netconform.judge import judge, observed_value
from netconform.judge.applicability import not_applicable
from netconform.spec import Check, Scenario, load_scenario
from netconform.spec.properties import PROPERTIES
from netconform.spec.values import Matcher

SUITES = sorted((Path(__file__).resolve().parents[2] / "suites").glob("*.yaml"))


@pytest.fixture(scope="module")
def context() -> Iterator[RunContext]:
    run = RunIdentity.new()
    register(run)
    ctx = RunContext.open(RunOptions(), run)
    try:
        yield ctx
    finally:
        ctx.close()
        unregister(run)


@pytest.fixture(scope="module", params=SUITES, ids=lambda path: path.stem)
def observed(request: pytest.FixtureRequest,
             context: RunContext) -> Iterator[tuple[Scenario, ScenarioFacts, BuiltScenario]]:
    scenario = load_scenario(request.param)
    missing = context.missing_features(scenario)
    if missing:  # tests/integration/test_kernel_features.py shows such a scenario is skipped, with why
        pytest.skip("; ".join(feature.skip_reason() for feature in missing))
    built, facts = context.build(scenario)
    try:
        yield scenario, facts, built
    finally:
        context.teardown(built)


def near_miss(value: Any) -> Any:
    """A value close to ``value`` but different: what a subtly wrong expectation looks like."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, list):
        return [*value, "nc-missing0"]
    text = str(value)
    owners = {"host": "private", "private": "host", "reach": "blocked", "blocked": "reach",
              "NXDOMAIN": "NOERROR", "timeout": "NXDOMAIN", "SERVFAIL": "NXDOMAIN"}
    if text in owners:
        return owners[text]
    if text.startswith("container:"):
        return "private"
    if re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", text):
        return text[:-2] + format((int(text[-2:], 16) + 1) % 256, "02x")
    try:
        return str(ipaddress.ip_address(text) + 1)
    except ValueError:
        pass
    if text.isdigit():
        return str(int(text) + 1)
    return text + "-x" if text != "none" else "192.0.2.254"


def test_every_check_passes_as_declared_and_fails_on_a_near_miss(
    observed: tuple[Scenario, ScenarioFacts, BuiltScenario], context: RunContext,
) -> None:
    scenario, built_facts, built = observed
    problems = []
    # A scenario's checks come as built first, then each step's, judged on the state after it.
    states = Stepper(scenario.steps, built_facts)
    for check in scenario.checks:
        facts = states.facts_at(check.step, lambda step, before: context.step(built, step, before))
        siblings = [other for other in scenario.checks if other.step == check.step]
        if not_applicable(check, siblings, facts, context.context):
            continue  # a container refused as declared on this daemon: its refusal is the check
        context.prepare(check, facts, siblings)
        verdict = judge(check, facts, context.context)
        if not verdict.passed:
            problems.append(f"{check.subject}{'@' + check.step if check.step else ''} {check.name}: "
                            f"declared expectation failed: {verdict.observed}")
            continue
        wrong = near_miss(observed_value(check, facts, context.context))
        mutated: Check = replace(check, expectation=Matcher((("equals", _as_value(wrong)),)))
        if judge(mutated, facts, context.context).passed:
            problems.append(f"{check.subject}{'@' + check.step if check.step else ''} {check.name}: "
                            f"still passes when expecting {wrong!r}")
    assert problems == [], "\n".join(problems)


def _as_value(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def test_the_suites_exercise_every_kind_of_check() -> None:
    used = {check.prop for path in SUITES for check in load_scenario(path).checks}
    unused = [prop.shown for prop in PROPERTIES if not any(prop.matches(name) for name in used)]
    assert unused == [], f"no shipped scenario checks {unused}: each kind of check needs a real use"
