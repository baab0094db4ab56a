"""The HTML report: one self-contained file (inline CSS and SVG, no script, nothing fetched).

Sections, in the order a reader needs them: the run (daemon, machine, totals), the conformance
table (scenario x aspect, the same cells as the terminal summary), the failures with their
evidence and artifacts, then each scenario: its description, topology picture, reachability grid
and checks. Stable ids and classes (``#conformance``, ``#failures``, ``.reach-grid``,
``svg.topology``...) let tests and users find each part. The output depends on the document only
(and on where it is written, for relative links to the artifacts), so two renderings of one
report are identical.
"""

from __future__ import annotations

import datetime
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from netconform.report.grid import render_grid
from netconform.report.markup import Markup, el, join, raw
from netconform.report.terminal import cell_text
from netconform.report.topology import Node, render_svg, topology_of
from netconform.spec.properties import ASPECTS

OUTCOMES = ("passed", "failed", "error", "skipped")
BAD = ("failed", "error")


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
    body = el(
        "body",
        _header(document),
        el("main",
           _conformance(document),
           _failures(failures, base),
           el("section", el("h2", "Scenarios"),
              [_scenario(scenario, checks, anchors) for scenario in document.get("scenarios") or []],
              id="scenarios")),
        el("footer", f"netconform report, schema {document.get('schema', '?')} v{document.get('schema_version', '?')}"
                     f" · run {run.get('id', '?')}"),
    )
    head = el("head", el("meta", charset="utf-8"),
              el("meta", name="viewport", content="width=device-width, initial-scale=1"),
              el("title", f"netconform {_verdict_word(document)}: run {run.get('id', '?')}"),
              el("style", raw(CSS)))
    return join(raw("<!doctype html>\n"), el("html", head, body, lang="en")) + "\n"


# -- header ------------------------------------------------------------------------------------------


def _verdict_word(document: dict[str, Any]) -> str:
    counts = (document.get("summary") or {}).get("counts") or {}
    return "FAIL" if any(counts.get(outcome) for outcome in BAD) else "PASS"


def _header(document: dict[str, Any]) -> Markup:
    run = document.get("run") or {}
    daemon = document.get("daemon") or {}
    verdict = _verdict_word(document)
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
    return el(
        "header",
        el("h1", el("span", verdict, class_=f"verdict-badge {verdict.lower()}"), " netconform conformance report"),
        _totals(document),
        el("dl", [[el("dt", name), el("dd", value)] for name, value in facts if value], class_="run-facts"),
        id="summary",
    )


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


def _totals(document: dict[str, Any]) -> Markup:
    counts = (document.get("summary") or {}).get("counts") or {}
    items = [el("span", el("b", counts.get("total", 0)), " checks", class_="count total")]
    items += [el("span", el("b", counts.get(outcome, 0)), f" {outcome}",
                 class_=f"count {outcome}" + (" zero" if not counts.get(outcome) else ""))
              for outcome in OUTCOMES]
    return el("p", items, id="totals")


# -- conformance table -------------------------------------------------------------------------------


def _state(counts: dict[str, int] | None) -> str:
    """The colour of a table cell, by the same rule as the terminal's text for it."""
    if not counts:
        return "none"
    if any(counts.get(outcome) for outcome in BAD):
        return "fail"
    return "skip" if counts.get("skipped") else "ok"


def _conformance(document: dict[str, Any]) -> Markup:
    """Scenario x aspect, each cell as the terminal shows it (``14 ok``, ``0/1 FAIL``), coloured."""
    table: dict[str, dict[str, dict[str, int]]] = (document.get("summary") or {}).get("table") or {}
    aspects = [aspect for aspect in ASPECTS if any(aspect in row for row in table.values())]
    aspects += sorted({aspect for row in table.values() for aspect in row} - set(aspects))
    head = el("tr", el("th", "scenario", scope="col"), [el("th", aspect, scope="col") for aspect in aspects])
    descriptions = {str(item["name"]): str(item.get("description") or "") for item in document.get("scenarios") or []}
    rows = [el("tr", el("th", el("a", name, href=f"#{_scenario_id(name)}", title=descriptions.get(name) or None),
                        scope="row"),
               [_table_cell(table[name].get(aspect), aspect) for aspect in aspects],
               data_scenario=name, class_=f"row-{_state(_sum(table[name].values()))}")
            for name in sorted(table)]
    totals = el("tr", el("th", "all", scope="row"),
                [_table_cell(_sum(row[aspect] for row in table.values() if aspect in row), aspect)
                 for aspect in aspects])
    return el("section", el("h2", "Conformance"),
              el("table", el("thead", head), el("tbody", rows), el("tfoot", totals), id="conformance"),
              id="conformance-section")


def _table_cell(counts: dict[str, int] | None, aspect: str) -> Markup:
    tip = ", ".join(f"{counts.get(outcome, 0)} {outcome}" for outcome in OUTCOMES) if counts else "no checks"
    return el("td", cell_text(counts), class_=f"cell {_state(counts)}", data_aspect=aspect, title=tip)


def _sum(cells: Any) -> dict[str, int]:
    total: dict[str, int] = {}
    for cell in cells:
        for outcome, count in cell.items():
            total[outcome] = total.get(outcome, 0) + int(count)
    return total


# -- failures ----------------------------------------------------------------------------------------


def _failures(failures: list[dict[str, Any]], base: Path | None) -> Markup:
    if not failures:
        return el("section", el("h2", "Failures"), el("p", "None: every check passed.", class_="all-passed"),
                  id="failures")
    return el("section", el("h2", f"Failures ({len(failures)})"),
              [_failure(check, index, base) for index, check in enumerate(failures, start=1)], id="failures")


def _failure(check: dict[str, Any], index: int, base: Path | None) -> Markup:
    """One failure: where it is declared, expected vs observed, the evidence, the captures."""
    outcome = str(check.get("outcome"))
    fields = [("expected", check.get("expected")), ("observed", check.get("observed")),
              ("note", check.get("note")), ("error", check.get("error"))]
    evidence = check.get("evidence") or {}
    return el(
        "article",
        el("h3", el("span", "FAIL" if outcome == "failed" else "ERROR", class_=f"badge {outcome}"), " ",
           el("a", check.get("scenario"), href=f"#{_scenario_id(str(check.get('scenario')))}"), " / ",
           check.get("subject"), " / ", el("code", check.get("name"))),
        el("p", _spec_where(check), " · aspect ", check.get("aspect"), " · ", el("code", check.get("id")),
           class_="where"),
        el("dl", [[el("dt", name), el("dd", el("pre", value), class_=name)] for name, value in fields
                  if value not in (None, "")], class_="expected-observed"),
        el("div", [el("div", el("h4", name), el("pre", text), class_="evidence", data_section=name)
                   for name, text in evidence.items()], class_="evidence-sections") if evidence else None,
        _artifacts(check.get("artifacts") or [], base),
        class_=f"failure {outcome}", id=f"failure-{index}", data_check=check.get("id"),
    )


def _spec_where(check: dict[str, Any]) -> str:
    spec = check.get("spec") or {}
    line = spec.get("line")
    return f"{spec.get('path', '?')}:{line}" if line else str(spec.get("path", "?"))


def _artifacts(paths: list[str], base: Path | None) -> Markup | None:
    """Links to the captured evidence files, relative to the page so the report folder can move."""
    if not paths:
        return None
    items = [el("li", el("a", Path(item).name, href=_href(item, base)), " ", el("span", item, class_="path"))
             for item in paths]
    return el("div", el("h4", "artifacts"), el("ul", items), class_="artifacts")


def _href(item: str, base: Path | None) -> str:
    target = Path(item)
    if base is not None and target.is_absolute():
        return quote(os.path.relpath(target, base.resolve()))
    return quote(str(target)) if not target.is_absolute() else "file://" + quote(str(target))


# -- scenarios ---------------------------------------------------------------------------------------


def _scenario_id(name: str) -> str:
    return "scenario-" + _slug(name)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name)


def _scenario(scenario: dict[str, Any], checks: list[dict[str, Any]], anchors: dict[str, str]) -> Markup:
    name = str(scenario["name"])
    own = [check for check in checks if check.get("scenario") == name]
    bad = sum(check.get("outcome") in BAD for check in own)
    state = "fail" if bad or scenario.get("build_error") else "ok"
    topology = topology_of(scenario)
    grid = render_grid(scenario, checks, f"reach-{_slug(name)}")
    return el(
        "section",
        el("h3", el("span", "FAIL" if state == "fail" else "PASS", class_=f"badge {state}"), " ", name,
           el("span", scenario.get("path"), class_="path"),
           el("a", "↑ table", href="#conformance-section", class_="up")),
        el("p", scenario.get("description"), class_="description") if scenario.get("description") else None,
        el("div", el("h4", "not built"), el("pre", scenario["build_error"]), class_="build-error")
        if scenario.get("build_error") else None,
        el("figure",
           render_svg(topology, f"topology of {name}"),
           el("figcaption", "as declared (the scenario was not built)" if topology.origin == "declared"
              else "as observed"),
           _not_created(topology.not_created),
           class_="topology", id=f"topology-{_slug(name)}"),
        el("div", el("h4", "Reachability"), grid, _legend(), class_="reachability") if grid else None,
        _checks(own, anchors, open_=bool(bad)),
        class_=f"scenario {state}", id=_scenario_id(name), data_scenario=name,
    )


def _not_created(nodes: tuple[Node, ...]) -> Markup | None:
    """Containers that do not exist (the daemon refused them): named with the daemon's answer."""
    if not nodes:
        return None
    return el("div", el("h4", "not created"),
              el("ul", [el("li", el("b", node.key), " (", node.notes[0] if node.notes else node.mode, "): ",
                           el("span", node.error or "not created", class_="error-text")) for node in nodes]),
              class_="not-created")


def _legend() -> Markup:
    return el("p", el("span", "✓ as expected", class_="key match"),
              el("span", "✗ not as expected", class_="key mismatch"),
              el("span", "! could not be judged", class_="key error"), class_="legend")


def _checks(checks: list[dict[str, Any]], anchors: dict[str, str], open_: bool) -> Markup:
    """The scenario's checks in a table, folded away when they all passed."""
    counts = {outcome: sum(check.get("outcome") == outcome for check in checks) for outcome in OUTCOMES}
    summary = f"{len(checks)} checks: " + ", ".join(f"{count} {outcome}" for outcome, count in counts.items() if count)
    head = el("tr", [el("th", column) for column in ("", "subject", "check", "expected", "observed", "note", "spec")])
    rows = [_check_row(check, anchors.get(str(check.get("id")))) for check in checks]
    return el("details", el("summary", summary),
              el("table", el("thead", head), el("tbody", rows), class_="checks"),
              class_="checks", open="" if open_ else None)


def _check_row(check: dict[str, Any], anchor: str | None) -> Markup:
    outcome = str(check.get("outcome"))
    mark = {"passed": "✓", "failed": "✗", "error": "!", "skipped": "-"}.get(outcome, "?")
    observed = check.get("error") if outcome == "error" and check.get("error") else check.get("observed")
    return el(
        "tr",
        el("td", el("a", mark, href=f"#{anchor}", title="evidence") if anchor else mark, class_="mark"),
        el("td", check.get("subject")),
        el("td", el("code", check.get("name")), el("span", check.get("aspect"), class_="aspect")),
        el("td", el("code", check.get("expected"))),
        el("td", el("code", observed)),
        el("td", check.get("note")),
        el("td", _spec_where(check), class_="spec"),
        class_=f"check {outcome}", data_check=check.get("id"),
    )


CSS = """
:root { --ok:#1a7f37; --ok-bg:#dcfce7; --bad:#b91c1c; --bad-bg:#fee2e2; --warn:#92400e; --warn-bg:#fef3c7;
  --skip:#6b7280; --skip-bg:#f3f4f6; --line:#d7dce3; --muted:#5b6472; --ink:#1f2933; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; color: var(--ink);
  background: #f5f7fa; }
header, main, footer { max-width: 1360px; margin: 0 auto; padding: 0 24px; }
header { padding-top: 18px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 18px; margin: 28px 0 10px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 16px; margin: 0 0 6px; }
h4 { font-size: 13px; margin: 12px 0 4px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
code, pre { font: 12.5px/1.4 "DejaVu Sans Mono", "Liberation Mono", monospace; }
pre { margin: 0; padding: 6px 10px; background: #f1f5f9; color: #0f172a; border: 1px solid var(--line);
  border-radius: 6px; white-space: pre-wrap; word-break: break-word; max-height: 28em; overflow: auto; }
a { color: #1d4ed8; }
.verdict-badge, .badge { display: inline-block; padding: 1px 8px; border-radius: 4px; color: #fff; font-size: .8em;
  vertical-align: middle; letter-spacing: .04em; }
.verdict-badge.pass, .badge.ok { background: var(--ok); }
.verdict-badge.fail, .badge.fail, .badge.failed { background: var(--bad); }
.badge.error { background: var(--warn); }
#totals { margin: 6px 0 10px; display: flex; gap: 8px; flex-wrap: wrap; }
.count { padding: 3px 10px; border-radius: 999px; background: #fff; border: 1px solid var(--line); }
.count.passed { background: var(--ok-bg); color: var(--ok); border-color: #86efac; }
.count.failed { background: var(--bad-bg); color: var(--bad); border-color: #fca5a5; }
.count.error { background: var(--warn-bg); color: var(--warn); border-color: #fcd34d; }
.count.skipped { background: var(--skip-bg); color: var(--skip); }
.count.zero { background: #fff; color: var(--muted); border-color: var(--line); }
.run-facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 0; font-size: 13px; }
.run-facts dt { color: var(--muted); }
.run-facts dd { margin: 0; word-break: break-word; }
table { border-collapse: collapse; background: #fff; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: #eef1f5; font-weight: 600; }
#conformance td.cell { text-align: center; font-weight: 600; min-width: 92px; }
#conformance tfoot th, #conformance tfoot td { border-top: 2px solid #9aa4b2; }
td.cell.ok { background: var(--ok-bg); color: var(--ok); }
td.cell.fail { background: var(--bad-bg); color: var(--bad); box-shadow: inset 0 0 0 2px var(--bad); }
td.cell.skip { background: var(--warn-bg); color: var(--warn); }
td.cell.none { color: #a0a7b1; }
#conformance tr.row-fail th a { color: var(--bad); font-weight: 700; }
.failure { background: #fff; border: 1px solid #fca5a5; border-left: 6px solid var(--bad); border-radius: 6px;
  padding: 12px 16px; margin: 0 0 14px; }
.failure.error { border-color: #fcd34d; border-left-color: var(--warn); }
.where { margin: 0 0 6px; color: var(--muted); font-size: 13px; }
.expected-observed { display: grid; grid-template-columns: max-content 1fr; gap: 4px 12px; margin: 6px 0; }
.expected-observed dt { font-weight: 600; padding-top: 6px; }
.expected-observed dd { margin: 0; }
.expected-observed dd pre { background: #fff; font-weight: 600; }
.expected-observed dd.observed pre, .expected-observed dd.error pre { background: #fff5f5; border-color: #fca5a5;
  color: var(--bad); }
.evidence-sections { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 0 16px; }
.evidence h4, .artifacts h4 { text-transform: none; letter-spacing: 0; font-family: "DejaVu Sans Mono", monospace; }
.artifacts ul { margin: 0; padding-left: 20px; }
a.up { float: right; font-size: 12px; font-weight: normal; text-decoration: none; }
.path { color: var(--muted); font-size: 12px; margin-left: 8px; font-weight: normal; }
.all-passed { color: var(--ok); font-weight: 600; }
.scenario { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 14px 18px; margin: 0 0 18px; }
.scenario.fail { border-left: 6px solid var(--bad); }
.scenario.ok { border-left: 6px solid var(--ok); }
.description { margin: 4px 0 8px; color: #374151; max-width: 110ch; }
.build-error pre { background: var(--bad-bg); color: var(--bad); }
figure.topology { margin: 8px 0; overflow-x: auto; }
figure.topology svg { max-width: 100%; height: auto; display: block; }
figcaption { font-size: 12px; color: var(--muted); }
.not-created ul { margin: 2px 0; padding-left: 20px; font-size: 13px; }
.error-text { font-family: "DejaVu Sans Mono", monospace; font-size: 12px; color: #4b5563; }
.reach-grid { margin: 4px 0; font-size: 12.5px; }
.reach-grid caption { text-align: left; color: var(--muted); padding-bottom: 4px; caption-side: top; }
.reach-grid th { background: #eef1f5; white-space: nowrap; }
.reach-grid th.corner { color: var(--muted); font-weight: normal; font-size: 11.5px; }
.reach-grid td.cell { min-width: 150px; padding: 3px; }
.reach-grid td.empty { background: repeating-linear-gradient(45deg, #fafafa, #fafafa 4px, #f1f3f5 4px, #f1f3f5 8px); }
.reach-grid td.match { background: #f0fdf4; }
.reach-grid td.mismatch { background: var(--bad-bg); box-shadow: inset 0 0 0 2px var(--bad); }
.reach-grid td.error { background: var(--warn-bg); }
.probe { padding: 2px 6px; margin: 2px 0; border-radius: 4px; border-left: 4px solid transparent; }
.probe.match { border-left-color: #4ade80; }
.probe.mismatch { border-left-color: var(--bad); background: #fff; color: var(--bad); font-weight: 600; }
.probe.error, .probe.unjudged { border-left-color: #f59e0b; }
.probe .what { font-family: "DejaVu Sans Mono", monospace; color: #334155; font-weight: normal; }
.probe .verdict { margin-left: 4px; }
.probe .verdict.match { color: var(--ok); font-weight: normal; }
.source { font-size: 11.5px; color: var(--muted); }
.source.mismatch { color: var(--bad); font-weight: 700; }
.legend { font-size: 12px; color: var(--muted); display: flex; gap: 14px; margin: 4px 0 0; }
.legend .match { color: var(--ok); } .legend .mismatch { color: var(--bad); } .legend .error { color: var(--warn); }
details.checks { margin-top: 10px; }
details.checks summary { cursor: pointer; color: var(--muted); font-size: 13px; }
table.checks { width: 100%; margin-top: 6px; font-size: 12.5px; table-layout: fixed; }
table.checks th:nth-child(1) { width: 28px; } table.checks th:nth-child(2) { width: 12%; }
table.checks th:nth-child(3) { width: 22%; } table.checks th:nth-child(6) { width: 14%; }
table.checks th:nth-child(7) { width: 11%; }
table.checks td { word-break: break-word; }
table.checks code { white-space: pre-wrap; }
tr.check.passed td.mark { color: var(--ok); }
tr.check.failed { background: var(--bad-bg); } tr.check.failed td.mark a { color: var(--bad); font-weight: 700; }
tr.check.error { background: var(--warn-bg); }
.aspect { display: block; color: var(--muted); font-size: 11px; }
td.spec { color: var(--muted); font-size: 11.5px; }
footer { color: var(--muted); font-size: 12px; padding: 20px 24px 30px; }
"""
