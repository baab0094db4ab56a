"""The states of a scenario with steps: each step is performed once, in order, when the first
check of it (or of a later step) runs; a state already left, or one after a failed step, is an
error that says so, never facts of another state."""

from __future__ import annotations

import pytest
from test_judge import make_facts

from netconform.errors import EngineError
from netconform.facts import ScenarioFacts
from netconform.harness.stepping import Stepper
from netconform.spec.model import StepSpec

STEPS = (StepSpec("connect", "connect", "c", "side"), StepSpec("disconnect", "disconnect", "c", "side"),
         StepSpec("again", "connect", "c", "side"))


class Daemon:
    """Performs steps by making new facts; refuses the step named ``refuse``."""

    def __init__(self, refuse: str = "") -> None:
        self.performed: list[str] = []
        self.refuse = refuse

    def __call__(self, step: StepSpec, before: ScenarioFacts) -> ScenarioFacts:
        self.performed.append(step.name)
        if step.name == self.refuse:
            raise EngineError(f"the daemon refused to {step.action}")
        facts = make_facts()
        facts.scenario = f"after {step.name}, from {before.scenario}"
        return facts


def test_each_state_is_reached_once_in_order_with_its_own_facts() -> None:
    built, daemon = make_facts(), Daemon()
    stepper = Stepper(STEPS, built)
    assert stepper.facts_at("", daemon) is built
    after = stepper.facts_at("disconnect", daemon)  # performs connect first
    assert daemon.performed == ["connect", "disconnect"]
    assert after.scenario == "after disconnect, from after connect, from s"
    assert stepper.facts_at("disconnect", daemon) is after
    assert daemon.performed == ["connect", "disconnect"]
    assert [(name, facts is not None, why) for name, facts, why in stepper.observed()] == [
        ("connect", True, ""), ("disconnect", True, ""),
        ("again", False, "not performed (no check of it or a later step ran)")]


def test_a_state_already_left_is_an_error() -> None:
    stepper = Stepper(STEPS, make_facts())
    stepper.facts_at("connect", Daemon())
    with pytest.raises(EngineError, match=r"past the state as built \(step connect was performed\)"):
        stepper.facts_at("", Daemon())


def test_a_failed_step_makes_it_and_every_later_state_an_error() -> None:
    daemon = Daemon(refuse="disconnect")
    stepper = Stepper(STEPS, make_facts())
    stepper.facts_at("connect", daemon)
    for step in ("disconnect", "again"):
        with pytest.raises(EngineError, match="step disconnect failed, so the state after step "
                                              f"{step} cannot be judged: the daemon refused to disconnect"):
            stepper.facts_at(step, daemon)
    assert daemon.performed == ["connect", "disconnect"]
    assert stepper.observed()[1][1:] == (None, "the daemon refused to disconnect")
