"""The failures and the scenarios of the HTML report, as data for ``templates/failures.html`` and
``templates/scenario.html``: what each part says and its state, every value already text."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from netconform.report.grid import Grid, grid_of
from netconform.report.topology import topology_of
from netconform.report.topology_layout import Picture, layout

OUTCOMES = ("passed", "failed", "error", "skipped")
BAD = ("failed", "error")
MARKS = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "-"}


@dataclass(frozen=True)
class Artifact:
    """A captured evidence file: its name, a link to it (relative to the page when possible), its path."""

    name: str
    href: str
    path: str


@dataclass(frozen=True)
class Failure:
    """A failed check (or one that could not be judged) with where it is declared and its evidence."""

    anchor: str
    id: str
    outcome: str
    badge: str
    scenario: str
    scenario_anchor: str
    subject: str
    name: str
    where: str
    aspect: str
    fields: tuple[tuple[str, str], ...]
    evidence: tuple[tuple[str, str], ...]
    artifacts: tuple[Artifact, ...]


@dataclass(frozen=True)
class CheckRow:
    """A check in a scenario's table; ``anchor`` links a failure to its evidence above."""

    id: str
    outcome: str
    mark: str
    anchor: str
    subject: str
    name: str
    aspect: str
    expected: str
    observed: str
    note: str
    where: str


@dataclass(frozen=True)
class Refused:
    """A container that does not exist: how it was to be attached, and the daemon's answer."""

    key: str
    how: str
    error: str


@dataclass(frozen=True)
class Scenario:
    """A scenario's section: its state, topology picture, reachability grid and checks."""

    name: str
    anchor: str
    slug: str
    state: str
    path: str
    description: str
    build_error: str
    skipped: str
    picture: Picture
    as_declared: bool
    refused: tuple[Refused, ...]
    grid: Grid | None
    summary: str
    checks: tuple[CheckRow, ...]
    open: bool


def _text(value: Any) -> str:
    """A document value as text; nothing for ``None``."""
    return "" if value is None else str(value)


def scenario_anchor(name: str) -> str:
    """The ``id`` of a scenario's section."""
    return "scenario-" + _slug(name)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name)


def _spec_where(check: dict[str, Any]) -> str:
    spec = check.get("spec") or {}
    line = spec.get("line")
    return f"{spec.get('path', '?')}:{line}" if line else str(spec.get("path", "?"))


# -- failures ----------------------------------------------------------------------------------------


def failure_of(check: dict[str, Any], index: int, base: Path | None) -> Failure:
    """One failure: where it is declared, expected vs observed, the evidence, the captures.

    Args:
        check: the check record.
        index: its number among the failures (its anchor is ``failure-<index>``).
        base: the folder of the page, for relative links to the artifacts.

    Returns:
        The failure, for ``templates/failures.html``.
    """
    outcome = _text(check.get("outcome"))
    fields = [("expected", check.get("expected")), ("observed", check.get("observed")),
              ("note", check.get("note")), ("error", check.get("error"))]
    evidence = check.get("evidence") or {}
    return Failure(
        anchor=f"failure-{index}", id=_text(check.get("id")), outcome=outcome,
        badge="FAIL" if outcome == "failed" else "ERROR", scenario=_text(check.get("scenario")),
        scenario_anchor=scenario_anchor(str(check.get("scenario"))), subject=_text(check.get("subject")),
        name=_text(check.get("name")), where=_spec_where(check), aspect=_text(check.get("aspect")),
        fields=tuple((name, str(value)) for name, value in fields if value not in (None, "")),
        evidence=tuple((str(name), _text(text)) for name, text in evidence.items()),
        artifacts=tuple(Artifact(Path(item).name, _href(item, base), item) for item in check.get("artifacts") or []),
    )


def _href(item: str, base: Path | None) -> str:
    """A link to a captured file, relative to the page so the report folder can move."""
    target = Path(item)
    if base is not None and target.is_absolute():
        return quote(os.path.relpath(target, base.resolve()))
    return quote(str(target)) if not target.is_absolute() else "file://" + quote(str(target))


# -- scenarios ---------------------------------------------------------------------------------------


def scenario_of(scenario: dict[str, Any], checks: list[dict[str, Any]], anchors: dict[str, str]) -> Scenario:
    """A scenario's section.

    Args:
        scenario: the scenario record.
        checks: every check record (the scenario's own are picked).
        anchors: the anchor of each failure, by check id.

    Returns:
        The scenario, for ``templates/scenario.html``.
    """
    name = str(scenario["name"])
    own = [check for check in checks if check.get("scenario") == name]
    bad = sum(check.get("outcome") in BAD for check in own)
    topology = topology_of(scenario)
    counts = {outcome: sum(check.get("outcome") == outcome for check in own) for outcome in OUTCOMES}
    summary = f"{len(own)} checks: " + ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count)
    return Scenario(
        name=name, anchor=scenario_anchor(name), slug=_slug(name),
        state="fail" if bad or scenario.get("build_error") else "ok", path=_text(scenario.get("path")),
        description=_text(scenario.get("description")), build_error=_text(scenario.get("build_error")),
        skipped=_text(scenario.get("skipped")), picture=layout(topology, f"topology of {name}"),
        as_declared=topology.origin == "declared",
        # Containers the daemon refused, named with its answer.
        refused=tuple(Refused(node.key, node.notes[0] if node.notes else node.mode, node.error or "not created")
                      for node in topology.not_created),
        grid=grid_of(scenario, checks, f"reach-{_slug(name)}"),
        summary=summary, checks=tuple(_check_row(check, anchors.get(str(check.get("id")), "")) for check in own),
        open=bool(bad),  # the checks are folded away when they all passed
    )


def _check_row(check: dict[str, Any], anchor: str) -> CheckRow:
    outcome = str(check.get("outcome"))
    observed = check.get("error") if outcome == "error" and check.get("error") else check.get("observed")
    return CheckRow(
        id=_text(check.get("id")), outcome=outcome, mark=MARKS.get(outcome, "?"), anchor=anchor,
        subject=_text(check.get("subject")), name=_text(check.get("name")), aspect=_text(check.get("aspect")),
        expected=_text(check.get("expected")), observed=_text(observed), note=_text(check.get("note")),
        where=_spec_where(check),
    )
