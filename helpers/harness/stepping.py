"""Where a running scenario is in its steps, and the facts each of its states was observed as.

The checks of a scenario run in the order they were collected: those of the scenario as built
first, then each step's. The first check of a step performs it (and any step before it not yet
performed, so one step's checks may be selected alone) and observes the scenario anew; its checks
and their lookups and probes use those facts. A check of a state the scenario has already left
cannot be judged any more: it is an error that says so, never a verdict on the wrong state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from netconform.errors import EngineError, NetconformError
from netconform.facts import ScenarioFacts
from netconform.spec.model import StepSpec


class StepUnavailable(EngineError):
    """The state a check is about cannot be observed: a step up to it failed, or it was left."""


# Performs a step on the running scenario and returns it as observed after (RunContext.step).
Perform = Callable[[StepSpec, ScenarioFacts], ScenarioFacts]


@dataclass
class Stepper:
    """A built scenario's states: as built (step ``""``), then after each step performed."""

    steps: tuple[StepSpec, ...]
    built: ScenarioFacts
    # After each step performed, by name.
    after: dict[str, ScenarioFacts] = field(default_factory=dict)
    # The step that failed and why: no later state exists.
    failed: tuple[str, str] | None = None
    # How many steps were performed (or attempted): the scenario's current state.
    reached: int = 0

    def facts_at(self, step: str, perform: Perform) -> ScenarioFacts:
        """The facts of the state after ``step`` ("" for as built), performing the steps up to it.

        Raises:
            StepUnavailable: the scenario has left that state already, or a step up to it failed.
        """
        index = self._index(step)
        if index < self.reached:
            raise StepUnavailable(f"the scenario is past {_state(step)} (step {self.steps[self.reached - 1].name} was "
                              "performed): a check runs after the checks of the steps before it")
        while self.reached < index and self.failed is None:
            current = self.steps[self.reached]
            before = self.built if self.reached == 0 else self.after[self.steps[self.reached - 1].name]
            self.reached += 1
            try:
                self.after[current.name] = perform(current, before)
            except NetconformError as err:
                self.failed = (current.name, str(err))
        if self.failed is not None:
            name, why = self.failed
            raise StepUnavailable(f"step {name} failed, so {_state(step)} cannot be judged: {why}")
        return self.built if index == 0 else self.after[step]

    def observed(self) -> list[tuple[str, ScenarioFacts | None, str]]:
        """Each step as (name, facts after it or None, why it failed or was not performed)."""
        failed_at = self._index(self.failed[0]) if self.failed else None
        result: list[tuple[str, ScenarioFacts | None, str]] = []
        for number, step in enumerate(self.steps, start=1):
            if step.name in self.after:
                result.append((step.name, self.after[step.name], ""))
            elif failed_at == number and self.failed is not None:
                result.append((step.name, None, self.failed[1]))
            else:
                result.append((step.name, None, "not performed (no check of it or a later step ran)"))
        return result

    def _index(self, step: str) -> int:
        if not step:
            return 0
        return next(number for number, spec in enumerate(self.steps, start=1) if spec.name == step)


def _state(step: str) -> str:
    return f"the state after step {step}" if step else "the state as built"
