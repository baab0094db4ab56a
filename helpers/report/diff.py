"""Compare two netconform reports: checks that changed verdict, and facts that changed.

    python -m helpers.report.diff BEFORE.json AFTER.json [--json]
    netconform-diff BEFORE.json AFTER.json

Exit codes: 0 no regression, 1 regression (a check that passed before fails or errors now, or
disappeared), 2 the input is not a pair of readable netconform reports.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.report.normalize import flatten_report
from helpers.report.records import SCHEMA, SCHEMA_VERSION

EXIT_SAME = 0
EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2


class BadReport(Exception):
    pass


@dataclass
class Diff:
    before: dict[str, Any]
    after: dict[str, Any]
    regressions: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    only_before: list[str] = field(default_factory=list)
    only_after: list[str] = field(default_factory=list)
    observed_changed: list[str] = field(default_factory=list)
    facts_changed: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.only_before)


def load_report(path: Path) -> dict[str, Any]:
    """A report document, checked to be one netconform understands.

    Raises:
        BadReport: unreadable, not JSON, not a netconform report, or another schema version.
    """
    try:
        document = json.loads(path.read_text())
    except OSError as err:
        raise BadReport(f"{path}: cannot read ({err.strerror})") from err
    except ValueError as err:
        raise BadReport(f"{path}: not JSON ({err})") from err
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise BadReport(f"{path}: not a netconform report (no \"schema\": \"{SCHEMA}\")")
    if document.get("schema_version") != SCHEMA_VERSION:
        raise BadReport(f"{path}: schema version {document.get('schema_version')}, this netconform reads "
                        f"{SCHEMA_VERSION}")
    return document


def _checks(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in document.get("checks") or []}


def _normal(text: Any, document: dict[str, Any]) -> str:
    return str(text).replace(document["run"]["id"], "<run>")


def compare(before: dict[str, Any], after: dict[str, Any]) -> Diff:
    diff = Diff(before, after)
    old, new = _checks(before), _checks(after)
    for key in sorted(old.keys() | new.keys()):
        if key not in new:
            diff.only_before.append(key)
        elif key not in old:
            diff.only_after.append(key)
        else:
            was, now = old[key]["outcome"], new[key]["outcome"]
            if was == "passed" and now != "passed":
                diff.regressions.append(f"{key}: {was} -> {now} (expected {new[key]['expected']}, "
                                        f"observed {new[key]['observed']})")
            elif was != "passed" and now == "passed":
                diff.fixed.append(f"{key}: {was} -> {now}")
    flat_before, flat_after = flatten_report(before), flatten_report(after)
    # A container created on one side only: its facts are all new or all gone, one line says it.
    appeared = {key.rsplit(" created", 1)[0] for key, value in flat_before.items()
                if key.endswith(" created") and flat_after.get(key, value) != value}
    for key in sorted(flat_before.keys() | flat_after.keys()):
        was, now = flat_before.get(key, "(absent)"), flat_after.get(key, "(absent)")
        subject = next((prefix for prefix in appeared if key.startswith(prefix + " ")), None)
        if was == now or (subject and not key.endswith((" created", " daemon error", " left behind"))):
            continue
        diff.facts_changed.append((key, was, now))
    return diff


def render(diff: Diff) -> list[str]:
    def side(document: dict[str, Any]) -> str:
        counts = document["summary"]["counts"]
        return (f"dockerd {document['daemon'].get('version', '?')} (run {document['run']['id']}, "
                f"{counts['passed']}/{counts['total']} checks passed)")

    lines = [f"netconform diff: {side(diff.before)} -> {side(diff.after)}", ""]
    sections = [
        ("Checks that passed before and fail now", diff.regressions),
        ("Checks that failed before and pass now", diff.fixed),
        ("Checks only in the first report (not run after)", diff.only_before),
        ("Checks only in the second report (new)", diff.only_after),
    ]
    for title, items in sections:
        lines.append(f"{title}: {len(items) or 'none'}")
        lines.extend(f"  {item}" for item in items)
    lines.append(f"Observed facts that changed: {len(diff.facts_changed) or 'none'}")
    lines.extend(_grouped(diff.facts_changed))
    lines.append("")
    if diff.regressed:
        lines.append(f"REGRESSION: {len(diff.regressions)} check(s) went from pass to fail/error, "
                     f"{len(diff.only_before)} no longer ran")
    else:
        lines.append("No regression: every check that passed before passes now.")
    return lines


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _grouped(changes: list[tuple[str, str, str]]) -> list[str]:
    """The same change seen in many places is one line naming the places (``scenario/subject``)."""
    groups: dict[tuple[str, str, str], list[str]] = {}
    for key, was, now in changes:
        parts = key.split(" ", 2)
        if len(parts) == 3 and parts[0] != "daemon":
            place, fact = f"{parts[0]}/{parts[1]}", parts[2]
        else:
            place, fact = "", key
        groups.setdefault((fact, _one_line(was), _one_line(now)), []).append(place)
    lines = []
    for (fact, was, now), places in sorted(groups.items(), key=lambda item: (-len(item[1]), item[0])):
        where = [place for place in places if place]
        if not where:
            lines.append(f"  {fact}: {was} -> {now}")
        elif len(where) == 1:
            lines.append(f"  {where[0]}: {fact}: {was} -> {now}")
        else:
            lines.append(f"  {fact}: {was} -> {now}  ({len(where)} places: {', '.join(where)})")
    return lines


def as_dict(diff: Diff) -> dict[str, Any]:
    return {
        "regressed": diff.regressed,
        "regressions": diff.regressions,
        "fixed": diff.fixed,
        "only_before": diff.only_before,
        "only_after": diff.only_after,
        "facts_changed": [{"fact": key, "before": was, "after": now} for key, was, now in diff.facts_changed],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="netconform-diff", description=__doc__.split("\n\n")[0])
    parser.add_argument("before", type=Path, help="report.json of the first run (e.g. the old daemon)")
    parser.add_argument("after", type=Path, help="report.json of the second run (e.g. the new daemon)")
    parser.add_argument("--json", action="store_true", help="print the differences as JSON")
    args = parser.parse_args(argv)
    try:
        diff = compare(load_report(args.before), load_report(args.after))
    except BadReport as err:
        print(f"netconform-diff: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(as_dict(diff), indent=1))
    else:
        print("\n".join(render(diff)))
    return EXIT_REGRESSION if diff.regressed else EXIT_SAME


if __name__ == "__main__":
    sys.exit(main())
