"""The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched).

Sections, in the order a reader needs them: the run (daemon, machine, totals), the conformance
table (scenario x aspect, the same cells as the terminal summary), the failures with their
evidence and artifacts, then each scenario: its description, topology picture, reachability grid
and checks. Stable ids and classes (``#conformance``, ``#failures``, ``.reach-grid``,
``svg.topology``...) let tests and users find each part. The output depends on the document only
(and on where it is written, for relative links to the artifacts), so two renderings of one
report are identical.

This module and :mod:`netconform.report.html_sections` turn the document into plain data (what
each part says, its state); the Jinja templates in ``templates/`` hold the markup. They autoescape
everything, and nothing from the document is marked safe: daemon errors and file contents cannot
become markup.
"""

from __future__ import annotations

import datetime
import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from netconform.report.html_sections import BAD, OUTCOMES, failure_of, scenario_anchor, scenario_of
from netconform.report.terminal import cell_text
from netconform.spec.properties import ASPECTS


@dataclass(frozen=True)
class Count:
    """One of the totals under the title: ``<b>20</b> passed``; ``kind`` is its class."""

    kind: str
    count: int
    word: str


@dataclass(frozen=True)
class TableCell:
    """A cell of the conformance table, as the terminal shows it, with its colour and tooltip."""

    aspect: str
    text: str
    state: str
    tip: str


@dataclass(frozen=True)
class TableRow:
    """A scenario's row of the conformance table (``state`` colours its name)."""

    scenario: str
    anchor: str
    description: str
    state: str
    cells: tuple[TableCell, ...]


def write_html(document: dict[str, Any], path: Path) -> Path:
    """Writes the report of a run as one self-contained HTML file.

    Args:
        document: the report document (see helpers/report/SCHEMA.md).
        path: where to write it; artifact links are made relative to its folder.

    Returns:
        ``path``.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(render_html(document, path.parent), encoding="utf-8")
    partial.replace(path)
    return path


def render_html(document: dict[str, Any], base: Path | None = None) -> str:
    """The report page as text.

    Args:
        document: the report document.
        base: the folder the page will be in, for relative links to artifacts (absolute when ``None``).

    Returns:
        The HTML page.
    """
    checks: list[dict[str, Any]] = document.get("checks") or []
    failures = [check for check in checks if check.get("outcome") in BAD]
    anchors = {check["id"]: f"failure-{index}" for index, check in enumerate(failures, start=1)}
    run = document.get("run") or {}
    aspects, rows, totals = _conformance(document)
    return environment().get_template("report.html").render(
        verdict=_verdict_word(document),
        run_id=str(run.get("id", "?")),
        facts=_facts(document),
        counts=_counts(document),
        aspects=aspects,
        rows=rows,
        totals=totals,
        failures=[failure_of(check, index, base) for index, check in enumerate(failures, start=1)],
        scenarios=[scenario_of(scenario, checks, anchors) for scenario in document.get("scenarios") or []],
        schema=f"{document.get('schema', '?')} v{document.get('schema_version', '?')}",
    )


@functools.cache
def environment() -> jinja2.Environment:
    """The templates' environment, loaded from the package (a checkout or an installed wheel alike).

    Autoescaping is on for the HTML and SVG templates; the stylesheet is constant text, included as
    it is. An undefined name is an error rather than an empty string, so a template cannot drop a
    part of the report silently.
    """
    return jinja2.Environment(
        loader=jinja2.PackageLoader("netconform.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "svg"), disabled_extensions=("css",),
                                            default_for_string=True, default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


# -- header ------------------------------------------------------------------------------------------


def _verdict_word(document: dict[str, Any]) -> str:
    counts = (document.get("summary") or {}).get("counts") or {}
    return "FAIL" if any(counts.get(outcome) for outcome in BAD) else "PASS"


def _facts(document: dict[str, Any]) -> list[tuple[str, str]]:
    """The run's facts under the title, those that are known."""
    run = document.get("run") or {}
    daemon = document.get("daemon") or {}
    facts = [
        ("run", run.get("id")),
        ("started", _when(run.get("started"))),
        ("duration", f"{run['duration_s']:.1f} s" if isinstance(run.get("duration_s"), int | float) else None),
        ("machine", run.get("machine")),
        ("daemon", _join_present(daemon.get("version"), f"API {daemon['api_version']}"
                                 if daemon.get("api_version") else None)),
        ("system", _join_present(daemon.get("os"), daemon.get("kernel") and f"kernel {daemon['kernel']}")),
        ("engine", _join_present(daemon.get("storage_driver"), daemon.get("cgroup_driver") and
                                 f"cgroup {daemon['cgroup_driver']} v{daemon.get('cgroup_version', '?')}",
                                 "userns-remap" if daemon.get("userns_remap") else None)),
        ("command", " ".join(str(arg) for arg in run.get("argv") or []) or None),
    ]
    return [(name, str(value)) for name, value in facts if value]


def _when(value: Any) -> str | None:
    """An ISO-8601 time as ``YYYY-MM-DD HH:MM:SS UTC`` (as written when it does not parse)."""
    if not value:
        return None
    try:
        moment = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    # A time without offset is taken as UTC, not as this machine's zone: the page must not depend on it.
    moment = moment.replace(tzinfo=datetime.UTC) if moment.tzinfo is None else moment.astimezone(datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _join_present(*parts: Any) -> str | None:
    shown = [str(part) for part in parts if part]
    return " · ".join(shown) or None


def _counts(document: dict[str, Any]) -> list[Count]:
    counts = (document.get("summary") or {}).get("counts") or {}
    totals = [Count("total", counts.get("total", 0), "checks")]
    return totals + [Count(outcome + ("" if counts.get(outcome) else " zero"), counts.get(outcome, 0), outcome)
                     for outcome in OUTCOMES]


# -- conformance table -------------------------------------------------------------------------------


def _state(counts: dict[str, int] | None) -> str:
    """The colour of a table cell, by the same rule as the terminal's text for it."""
    if not counts:
        return "none"
    if any(counts.get(outcome) for outcome in BAD):
        return "fail"
    return "skip" if counts.get("skipped") else "ok"


def _conformance(document: dict[str, Any]) -> tuple[list[str], list[TableRow], list[TableCell]]:
    """Scenario x aspect, each cell as the terminal shows it (``14 ok``, ``0/1 FAIL``): the aspects
    (columns), one row per scenario, and the totals row."""
    table: dict[str, dict[str, dict[str, int]]] = (document.get("summary") or {}).get("table") or {}
    aspects = [aspect for aspect in ASPECTS if any(aspect in row for row in table.values())]
    aspects += sorted({aspect for row in table.values() for aspect in row} - set(aspects))
    descriptions = {str(item["name"]): str(item.get("description") or "") for item in document.get("scenarios") or []}
    rows = [TableRow(name, scenario_anchor(name), descriptions.get(name, ""), _state(_sum(table[name].values())),
                     tuple(_table_cell(table[name].get(aspect), aspect) for aspect in aspects))
            for name in sorted(table)]
    totals = [_table_cell(_sum(row[aspect] for row in table.values() if aspect in row), aspect) for aspect in aspects]
    return aspects, rows, totals


def _table_cell(counts: dict[str, int] | None, aspect: str) -> TableCell:
    tip = ", ".join(f"{counts.get(outcome, 0)} {outcome}" for outcome in OUTCOMES) if counts else "no checks"
    return TableCell(aspect, cell_text(counts), _state(counts), tip)


def _sum(cells: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for cell in cells:
        for outcome, count in cell.items():
            total[outcome] = total.get(outcome, 0) + int(count)
    return total
