"""Judge one check against a scenario's facts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from netconform.facts import ContainerFacts, ScenarioFacts
from netconform.judge.consistency import observe_host
from netconform.judge.evidence import render_evidence, render_probe_evidence
from netconform.judge.matchers import describe, holds, show
from netconform.judge.readings import NotObservable, Observation, observe, observe_network, observe_reach
from netconform.spec.model import Check
from netconform.spec.refs import Unresolvable, resolve_value
from netconform.spec.values import Matcher, Ref, Select, Template, Value, choose


@dataclass
class Verdict:
    """A check's result. ``unjudged`` says why it could not be judged at all (an unobservable fact,
    an inconclusive probe, an unresolvable expectation): an error, never a pass or a plain fail."""

    passed: bool
    expected: str
    observed: str
    evidence: dict[str, str] = field(default_factory=dict)
    note: str = ""
    unjudged: str = ""

    @property
    def status(self) -> str:
        """``pass``, ``fail`` or ``error``."""
        if self.unjudged:
            return "error"
        return "pass" if self.passed else "fail"


def selection_facts(facts: ScenarioFacts, context: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The facts a ``by:`` selection may branch on: the daemon's version, the host's cgroup version,
    and the daemon settings as intended (``setting.<name>`` in ``context``; booleans as true/false)."""
    chosen = {"daemon.version": facts.daemon.version, "host.cgroup_version": str(facts.host.cgroup_version)}
    for key, value in (context or {}).items():
        if key.startswith("setting.") and value is not None:
            chosen[key] = str(value).lower() if isinstance(value, bool) else str(value)
    return chosen


def _pick(check: Check, facts: ScenarioFacts, context: Mapping[str, Any]) -> tuple[Matcher | None, str]:
    expectation = check.expectation
    note = ""
    chosen = selection_facts(facts, context)
    while isinstance(expectation, Select):
        picked = choose(expectation, chosen)
        if picked is None:
            keys = ", ".join(key for key, _ in expectation.cases)
            if expectation.by not in chosen:
                return None, f"{expectation.by} could not be read in this run, so no case ({keys}) applies"
            return None, f"no case ({keys}) applies to {expectation.by}={chosen.get(expectation.by)}"
        note += f"case for {expectation.by}={chosen.get(expectation.by)}; "
        expectation = picked
    return expectation, note.rstrip("; ")


def would_pass(check: Check, facts: ScenarioFacts, context: Mapping[str, Any], observed: Any) -> bool | None:
    """Whether ``observed`` would satisfy the expectation that applies to ``check`` (None: none
    applies, or it cannot be resolved yet). A scheduling hint, never a verdict."""
    matcher, _ = _pick(check, facts, context)
    if matcher is None:
        return None
    try:
        return all(holds(op, observed, resolve_value(raw, facts, context)) for op, raw in matcher.ops)
    except Unresolvable:
        return None


def judge(check: Check, facts: ScenarioFacts, context: Mapping[str, Any] | None = None) -> Verdict:
    """Observe the check's property and evaluate its expectation; never raises for a bad result."""
    context = context or {}
    matcher, note = _pick(check, facts, context)
    if matcher is None:
        return Verdict(False, "(no applicable expectation)", "(not judged)", {}, note, unjudged=note)
    try:
        observation, evidence = _observe(check, facts, context)
    except (NotObservable, Unresolvable) as err:
        container = None if check.of_network else facts.containers.get(check.subject)
        probed = facts.reach.get(check.reach.id) if check.reach is not None else None
        if check.reach is not None and probed is not None:
            sections = render_probe_evidence(facts, check.reach, probed)
        else:
            sections = render_evidence(facts, container, ("daemon error", "interfaces")) if container else {}
        return Verdict(False, _expected_text(matcher, facts, context), f"(not observable: {err})", sections, note,
                       unjudged=f"not observable: {err}")
    passed = True
    parts = []
    unresolved = []
    for op, raw in matcher.ops:
        try:
            expected = resolve_value(raw, facts, context)
        except Unresolvable as err:
            unresolved.append(f"{raw}: {err}")
            parts.append(f"{raw} (unresolvable: {err})")
            continue
        parts.append(describe(op, expected, _source(raw)))
        passed = passed and holds(op, observation.value, expected)
    unjudged = f"the expectation could not be resolved ({'; '.join(unresolved)})" if unresolved else ""
    return Verdict(passed and not unresolved, " and ".join(parts), show(observation.value), evidence, note, unjudged)


def observed_value(check: Check, facts: ScenarioFacts, context: Mapping[str, Any] | None = None) -> Any:
    """What ``check`` observes, without judging it (for self-tests and tools).

    Raises:
        NotObservable: the property cannot be observed in this run.
    """
    return _observe(check, facts, context or {})[0].value


def _observe(check: Check, facts: ScenarioFacts, context: Mapping[str, Any]) -> tuple[Observation, dict[str, str]]:
    if check.reach is not None:
        result = facts.reach.get(check.reach.id)
        if result is None:
            raise NotObservable(f"probe {check.reach.id} was not made")
        return observe_reach(check.prop, result), render_probe_evidence(facts, check.reach, result)
    if check.of_network:
        observation = observe_network(check.prop, facts, check.subject)
        refusal = facts.refused_networks.get(check.subject)
        return observation, {"daemon error": refusal.error if refusal else "(the daemon created the network)"}
    if check.subject == "host":
        return observe_host(check.prop, context)
    container: ContainerFacts = facts.containers[check.subject]
    param = str(resolve_value(check.param, facts, context)) if check.param is not None else None
    observation = observe(check.prop, facts, container, param)
    return observation, render_evidence(facts, container, observation.evidence, param)


def _expected_text(matcher: Matcher, facts: ScenarioFacts, context: Mapping[str, Any]) -> str:
    parts = []
    for op, raw in matcher.ops:
        try:
            parts.append(describe(op, resolve_value(raw, facts, context), _source(raw)))
        except Unresolvable:
            parts.append(f"{op} {raw}")
    return " and ".join(parts)


def _source(raw: Value) -> str:
    """The spec's text for a value that involves references (empty for plain literals)."""
    if isinstance(raw, Ref | Template):
        return str(raw)
    if isinstance(raw, tuple) and any(isinstance(item, Ref | Template) for item in raw):
        return "[" + ", ".join(str(item) for item in raw) + "]"
    return ""
