"""The end-of-run conformance table: scenario x aspect, then one line per failure."""

from __future__ import annotations

from typing import Any

from netconform.spec.properties import ASPECTS


def cell_text(counts: dict[str, int] | None) -> str:
    if not counts:
        return "-"
    total = sum(counts.values())
    bad = counts.get("failed", 0) + counts.get("error", 0)
    if bad:
        return f"{total - bad}/{total} FAIL"
    if counts.get("skipped"):
        return f"{counts.get('passed', 0)}/{total} skip"
    return f"{total} ok"


def render_table(document: dict[str, Any]) -> list[str]:
    table = document["summary"]["table"]
    aspects = [aspect for aspect in ASPECTS if any(aspect in row for row in table.values())]
    aspects += sorted({aspect for row in table.values() for aspect in row} - set(aspects))  # "test"
    rows = [["scenario", *aspects]]
    rows += [[name, *(cell_text(table[name].get(aspect)) for aspect in aspects)] for name in sorted(table)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return lines


def render_failures(document: dict[str, Any]) -> list[str]:
    lines = []
    for check in document["checks"]:
        if check["outcome"] == "failed" and check.get("kind") == "test":
            failure = (check.get("evidence") or {}).get("failure", "")
            lines.append(f"FAIL  {check['scenario']} {check['name']}: {failure.splitlines()[0] if failure else ''}")
        elif check["outcome"] == "failed":
            lines.append(f"FAIL  {check['scenario']} {check['subject']} {check['name']}: "
                         f"expected {check['expected']}, observed {check['observed']}")
        elif check["outcome"] == "error":
            lines.append(f"ERROR {check['scenario']} {check['subject']} {check['name']}: {check['error']}")
    return lines


def render_summary(document: dict[str, Any]) -> list[str]:
    counts = document["summary"]["counts"]
    head = (f"netconform: {counts['total']} checks, {counts['passed']} passed, {counts['failed']} failed, "
            f"{counts['error']} errors, {counts['skipped']} skipped on dockerd "
            f"{document['daemon'].get('version', '?')}")
    return [head, *render_table(document), *render_failures(document), *render_moves(document)]


def render_moves(document: dict[str, Any]) -> list[str]:
    """Declared subnets and host ports this run had to move (someone else held them)."""
    return [f"MOVED {scenario['name']}: {note}"
            for scenario in document.get("scenarios") or []
            for note in ((scenario.get("observed") or {}).get("relocation") or {}).get("notes") or []]
