"""The merged report of a fleet run: as text (the terminal and fleet.txt), JSON (fleet.json), HTML (fleet.html).

Each host's own report stays in ``<report dir>/<host>/`` (report.json, report.html, helper.log);
the merged documents link to them.
"""

from __future__ import annotations

import html
from typing import Any

from netconform.fleet.merge import OUTCOMES, Fleet, Spread
from netconform.fleet.remote import HostRun

SCHEMA = "netconform-fleet"
SCHEMA_VERSION = 1
VALUE_CHARS = 60  # of a fact's value in the text table


def cell(counts: dict[str, int] | None) -> str:
    """``passed/failed/error/skipped``, or ``-`` for an aspect the host has no check of."""
    return "/".join(str(counts[outcome]) for outcome in OUTCOMES) if counts else "-"


def text(fleet: Fleet, run_id: str) -> list[str]:
    """The merged report as lines of text."""
    lines = [f"netconform fleet (run {run_id}): {len(fleet.runs)} hosts, {len(fleet.reported)} reported", "",
             f"Checks per host and aspect ({'/'.join(OUTCOMES)}):"]
    header = ["host", "dockerd", *fleet.aspects, "all"]
    rows = [header]
    for run in fleet.runs:
        if run.report is None:
            rows.append([run.host.name, run.daemon_version or "?", f"ERROR: {run.error}"])
            continue
        aspects = fleet.table.get(run.host.name, {})
        rows.append([run.host.name, run.daemon_version, *(cell(aspects.get(a)) for a in fleet.aspects),
                     cell(fleet.totals(run.host.name))])
    widths = [max(len(row[i]) for row in rows if i < len(row) and not row[i].startswith("ERROR"))
              for i in range(len(header))]
    lines.extend("  " + "  ".join(value.ljust(widths[i]) if i < len(header) - 1 else value
                                  for i, value in enumerate(row)).rstrip() for row in rows)
    lines.append("")
    lines.extend(_spread_lines(fleet))
    for run in fleet.runs:
        lines.extend(f"note ({run.host.name}): {note}" for note in run.notes)
    return lines


def _spread_lines(fleet: Fleet) -> list[str]:
    if len(fleet.reported) < 2:
        return ["Observed facts that differ between hosts: not compared (fewer than two reports)"]
    lines = [f"Observed facts that differ between hosts: {len(fleet.spreads) or 'none'}"]
    section = ""
    for spread in sorted(fleet.spreads, key=lambda s: (s.section, s.fact)):
        if spread.section != section:
            section = spread.section
            lines.append(f"  {section}:")
        values = "  ".join(f"{host}={_short(value)}" for host, value in spread.values.items())
        mark = f"  <- {', '.join(spread.odd)} stand{'s' if len(spread.odd) == 1 else ''} out" if spread.odd else ""
        lines.append(f"    {spread.fact}: {values}{mark}")
    standing = fleet.standing_out()
    if standing:
        lines.append("Hosts that stand out: " + "; ".join(
            f"{host} ({len(facts)} fact{'s' if len(facts) != 1 else ''})" for host, facts in standing.items()))
    elif fleet.spreads:
        lines.append("Hosts that stand out: none (no value is held by a majority of hosts)")
    return lines


def _short(value: str) -> str:
    return value if len(value) <= VALUE_CHARS else value[: VALUE_CHARS - 1] + "…"


def as_dict(fleet: Fleet, run_id: str) -> dict[str, Any]:
    """fleet.json."""
    def host(run: HostRun) -> dict[str, Any]:
        return {"name": run.host.name, "docker_host": run.host.docker_host, "profile": run.host.profile,
                "daemon_version": run.daemon_version, "exit_code": run.exit_code, "error": run.error,
                "seconds": round(run.seconds, 1), "notes": run.notes,
                "report": f"{run.host.name}/report.json" if run.report is not None else None,
                "counts": fleet.totals(run.host.name) if run.report is not None else None,
                "aspects": fleet.table.get(run.host.name, {})}

    def spread(item: Spread) -> dict[str, Any]:
        return {"fact": item.fact, "section": item.section, "values": item.values, "odd": list(item.odd)}

    return {"schema": SCHEMA, "schema_version": SCHEMA_VERSION, "run": run_id, "aspects": fleet.aspects,
            "hosts": [host(run) for run in fleet.runs], "differences": [spread(item) for item in fleet.spreads],
            "standing_out": {name: [item.fact for item in facts] for name, facts in fleet.standing_out().items()}}


def as_html(fleet: Fleet, run_id: str) -> str:
    """fleet.html: the table (each host linking to its own report.html) and the differing facts."""
    e = html.escape
    head = "".join(f"<th>{e(a)}</th>" for a in fleet.aspects)
    rows = []
    for run in fleet.runs:
        name = e(run.host.name)
        if run.report is None:
            rows.append(f'<tr class="error"><td>{name}</td><td>{e(run.daemon_version or "?")}</td>'
                        f'<td colspan="{len(fleet.aspects) + 1}">error: {e(run.error)}</td></tr>')
            continue
        aspects = fleet.table.get(run.host.name, {})
        cells = "".join(_html_cell(aspects.get(a)) for a in fleet.aspects)
        rows.append(f'<tr><td><a href="{name}/report.html">{name}</a></td><td>{e(run.daemon_version)}</td>'
                    f"{cells}{_html_cell(fleet.totals(run.host.name))}</tr>")
    hosts = [run.host.name for run in fleet.reported]
    facts = "".join(
        f"<tr><td>{e(s.section)}</td><td>{e(s.fact)}</td>"
        + "".join(f'<td class="{"odd" if h in s.odd else ""}">{e(s.values.get(h, ""))}</td>' for h in hosts)
        + "</tr>" for s in sorted(fleet.spreads, key=lambda s: (s.section, s.fact)))
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>netconform fleet {e(run_id)}</title>
<style>body{{font-family:sans-serif}} table{{border-collapse:collapse;margin:1em 0}}
td,th{{border:1px solid #ccc;padding:.2em .5em;vertical-align:top}} .bad,.error{{background:#fdd}}
.odd{{background:#fdd;font-weight:bold}} .good{{background:#dfd}}</style></head>
<body><h1>netconform fleet, run {e(run_id)}</h1>
<h2>Checks per host and aspect ({"/".join(OUTCOMES)})</h2>
<table><tr><th>host</th><th>dockerd</th>{head}<th>all</th></tr>{"".join(rows)}</table>
<h2>Observed facts that differ between hosts ({len(fleet.spreads)})</h2>
<p>Marked: a host whose value differs from the one most hosts observe.</p>
<table><tr><th>section</th><th>fact</th>{"".join(f"<th>{e(h)}</th>" for h in hosts)}</tr>{facts}</table>
</body></html>
"""


def _html_cell(counts: dict[str, int] | None) -> str:
    if not counts:
        return "<td>-</td>"
    bad = counts["failed"] or counts["error"]
    return f'<td class="{"bad" if bad else "good"}">{cell(counts)}</td>'
