"""Plain JSON-able records of facts and verdicts, as they travel from xdist workers and into the report.

The schema is documented in helpers/report/SCHEMA.md; bump SCHEMA_VERSION on any incompatible change.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

from netconform.facts import ScenarioFacts
from netconform.judge import Verdict
from netconform.spec.model import Check, Scenario
from netconform.spec.values import Expectation, Select, choose

SCHEMA = "netconform-report"
SCHEMA_VERSION = 1


def as_json(value: Any) -> Any:
    """Dataclasses, dicts, lists and scalars as JSON values (dict keys as strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: as_json(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(key): as_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set):
        return [as_json(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def check_record(nodeid: str, check: Check, verdict: Verdict | None, outcome: str, duration: float,
                 error: str = "", artifacts: list[str] | None = None) -> dict[str, Any]:
    """One check's result: what was expected and observed, the evidence, and where it is declared."""
    return {
        "id": nodeid,
        "kind": "check",
        "scenario": check.scenario,
        "subject": check.subject,
        "property": check.prop,
        "name": check.name,
        "aspect": check.aspect,
        "step": check.step,
        "probe": check.reach.id if check.reach else None,
        "spec": {"path": check.path, "line": check.line},
        "outcome": outcome,
        "expected": verdict.expected if verdict else None,
        "observed": verdict.observed if verdict else None,
        "note": verdict.note if verdict else "",
        "case": chosen_case(check.expectation, verdict.note) if verdict else "",
        # Evidence is what a failure is explained with; a pass keeps only expected and observed.
        "evidence": verdict.evidence if verdict and outcome != "passed" else {},
        "error": error,
        "artifacts": artifacts or [],
        "duration_s": round(duration, 4),
    }


def python_test_record(nodeid: str, scenario: str, subject: str, function: str, name: str, aspect: str,
                       where: tuple[str, int | None], outcome: str, duration: float, error: str = "",
                       evidence: dict[str, str] | None = None) -> dict[str, Any]:
    """A Python test that used netconform's fixtures, in the shape of a check record.

    It has no declared expectation: ``expected`` and ``observed`` are null, and a failing test's
    assertion is its first evidence section (``failure``).
    """
    return {
        "id": nodeid, "kind": "test", "scenario": scenario, "subject": subject, "property": function,
        "name": name, "aspect": aspect, "probe": None, "spec": {"path": where[0], "line": where[1]},
        "outcome": outcome, "expected": None, "observed": None, "note": "", "case": "",
        "evidence": evidence if evidence and outcome != "passed" else {}, "error": error, "artifacts": [],
        "duration_s": round(duration, 4),
    }


def setting_record(nodeid: str, profile: str, where: tuple[str, int | None], name: str, verdict: Verdict | None,
                   outcome: str, duration: float, error: str = "") -> dict[str, Any]:
    """A host profile's pinned setting against the daemon's effective one, in the shape of a check."""
    return {
        "id": nodeid, "kind": "setting", "scenario": f"profile {profile}", "subject": "daemon",
        "property": f"setting.{name}", "name": f"setting.{name}", "aspect": "settings", "probe": None,
        "spec": {"path": where[0], "line": where[1]}, "outcome": outcome,
        "expected": verdict.expected if verdict else None, "observed": verdict.observed if verdict else None,
        "note": "", "case": "", "evidence": verdict.evidence if verdict and outcome != "passed" else {},
        "error": error, "artifacts": [], "duration_s": round(duration, 4),
    }


def chosen_case(expectation: Expectation, note: str) -> str:
    """The key of the ``by:`` case that applied (``<25``, ``else``; nested ones joined by ``; ``),
    "" without a selection.

    The verdict names the fact each selection branched on (``case for daemon.version=26.1.5``);
    choosing again with that fact gives the key the same way the judge did.
    """
    facts = dict(re.findall(r"case for ([\w.-]+)=([^;]*)", note))
    keys = []
    while isinstance(expectation, Select) and expectation.by in facts:
        # Case by case, in the order `choose` tries them: the first that applies alone is the one.
        tried = [(key, case) for key, case in expectation.cases if key != "else"]
        tried += [(key, case) for key, case in expectation.cases if key == "else"]
        key, picked = next(((key, case) for key, case in tried
                            if choose(Select(expectation.by, ((key, case),)), facts) is not None), ("", None))
        if picked is None:
            break
        keys.append(key)
        expectation = picked
    return "; ".join(keys)


def scenario_record(scenario: Scenario, facts: ScenarioFacts | None, error: str = "",
                    skipped: str = "", steps: Sequence[tuple[str, ScenarioFacts | None, str]] = ()) -> dict[str, Any]:
    """A scenario as declared and as observed (every fact, lookup and probe); ``skipped`` says why it
    was not built at all (a kernel feature it requires is missing). A scenario with steps records
    each one as observed after it (``steps``: name, facts or None, why not)."""
    record: dict[str, Any] = {
        "name": scenario.name,
        "path": scenario.path,
        "description": scenario.description,
        "declared": {
            "networks": as_json(scenario.networks),
            "containers": as_json(scenario.containers),
            "reachability": [as_json(check.reach) for check in scenario.checks
                             if check.reach is not None and check.prop == "reach"],
        },
        "requires": list(scenario.requires),
        "segment": as_json(scenario.segment),
        "build_error": error,
        "skipped": skipped,
        "observed": None,
    }
    if facts is not None:
        record["observed"] = _observed(facts)
    if scenario.steps:
        by_name = {name: (after, why) for name, after, why in steps}
        record["steps"] = [{"name": step.name, "action": step.action, "container": step.container,
                            "network": step.network, "error": by_name.get(step.name, (None, "not built"))[1],
                            "observed": _observed(after) if (after := by_name.get(step.name, (None, ""))[0]) else None}
                           for step in scenario.steps]
    return record


def _observed(facts: ScenarioFacts) -> dict[str, Any]:
    observed: dict[str, Any] = as_json(facts)
    observed.pop("daemon", None)  # once, at the top of the report
    # The outcome is derived (attempts and witnesses): spelled out, so readers need no rules.
    observed["reach"] = [{**record, "outcome": result.outcome, "reason": result.reason}
                         for record, result in zip(observed["reach"].values(), facts.reach.values(), strict=True)]
    return observed
