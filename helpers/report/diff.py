"""Compare two netconform reports: checks that changed verdict or version case, and facts that changed.

    netconform diff BEFORE.json AFTER.json [--json]
    netconform diff BEFORE.json AFTER.json [--fail-on-change] [--accept FILE]... [--strict-accept]

(``netconform-diff`` is the same command under its older name.)

Exit codes: 0 no regression; 1 a regression (a check that passed before fails or errors now, or
disappeared), with --fail-on-change a changed fact that no --accept entry accepts, with
--strict-accept an accept entry that matched nothing; 2 the input is not a pair of readable
netconform reports, or an accept file is malformed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from netconform.report.accepted import Acceptance, AcceptFileError, Change, Entry, classify, load_accepted
from netconform.report.changes import fact_changes
from netconform.report.diff_text import by_section
from netconform.report.records import SCHEMA, SCHEMA_VERSION
from netconform.report.shape import shape_problem

DESCRIPTION = __doc__.split("\n\n")[0]
EXIT_SAME = 0
EXIT_REGRESSION = 1  # also: an unaccepted change (--fail-on-change), a stale entry (--strict-accept)
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
    case_switched: list[str] = field(default_factory=list)
    cases_recorded: bool = False  # reports written before the check record's `case` have none
    facts_changed: list[tuple[str, str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)  # facts_changed, as printed: per place and entry
    subjects: dict[str, set[str]] = field(default_factory=dict)  # scenario -> its containers
    not_compared: list[str] = field(default_factory=list)  # parts of the daemon one report does not record
    acceptance: Acceptance | None = None  # with --accept or --fail-on-change: changes accepted or not

    @property
    def regressed(self) -> bool:
        return bool(self.regressions or self.only_before)

    def failed(self, fail_on_change: bool = False, strict_accept: bool = False) -> bool:
        """A regression, or (as asked) an unaccepted change or a stale accept entry."""
        unaccepted = self.acceptance.unaccepted if self.acceptance else self.changes
        stale = self.acceptance.stale if self.acceptance else []
        return self.regressed or (fail_on_change and bool(unaccepted)) or (strict_accept and bool(stale))


def load_report(path: Path) -> dict[str, Any]:
    """A report document, checked to be one netconform understands.

    Raises:
        BadReport: unreadable, not JSON, not a netconform report, or another schema version.
    """
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise BadReport(f"{path}: cannot read ({err.strerror})") from err
    except ValueError as err:  # also: not UTF-8, an integer of more digits than Python converts
        raise BadReport(f"{path}: not JSON ({' '.join(str(err).split())})") from err
    except RecursionError as err:
        raise BadReport(f"{path}: not a netconform report (nested too deeply to read)") from err
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise BadReport(f"{path}: not a netconform report (no \"schema\": \"{SCHEMA}\")")
    if document.get("schema_version") != SCHEMA_VERSION:
        version = document.get("schema_version")
        shown = json.dumps(version)[:40] if not isinstance(version, int) else version
        raise BadReport(f"{path}: schema version {shown}, this netconform reads {SCHEMA_VERSION}")
    problem = shape_problem(document)
    if problem:
        problem = " ".join(problem.split())
        raise BadReport(f"{path}: not a netconform report of schema version {SCHEMA_VERSION} ({problem})")
    return document


def _checks(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {check["id"]: check for check in document.get("checks") or []}


def _normal(text: Any, document: dict[str, Any]) -> str:
    return str(text).replace(document["run"]["id"], "<run>")


def compare(before: dict[str, Any], after: dict[str, Any], accepted: list[Entry] | None = None) -> Diff:
    """The differences of ``after`` from ``before``; with ``accepted``, each changed fact is
    checked against those entries (``diff.acceptance``)."""
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
            if "case" in old[key] and "case" in new[key]:
                diff.cases_recorded = True
                if old[key]["case"] != new[key]["case"]:
                    diff.case_switched.append(f"{key}: case switched {_case(old[key])} -> {_case(new[key])}")
    changed = fact_changes(before, after)
    diff.facts_changed, diff.changes, diff.subjects = changed.facts_changed, changed.changes, changed.subjects
    diff.not_compared = changed.not_compared
    if accepted is not None:
        diff.acceptance = classify(diff.changes, accepted, str(before["daemon"].get("version", "")),
                                 str(after["daemon"].get("version", "")))
    return diff


def _case(check: dict[str, Any]) -> str:
    return f'"{check["case"]}"' if check["case"] else "(no case)"


def render(diff: Diff, fail_on_change: bool = False, strict_accept: bool = False) -> list[str]:
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
    if diff.cases_recorded or diff.case_switched:
        lines.append(f"Checks whose version case switched: {len(diff.case_switched) or 'none'}")
        lines.extend(f"  {item}" for item in diff.case_switched)
    else:
        lines.append("Checks whose version case switched: unknown (the reports record no case)")
    acceptance = diff.acceptance
    if acceptance is None:
        lines.append(f"Observed facts that changed: {len(diff.changes) or 'none'}")
        lines.extend(by_section([(change, None) for change in diff.changes], diff.subjects))
    else:
        lines.extend(_accepted_sections(diff, acceptance))
    lines.extend(diff.not_compared)
    lines.append("")
    if diff.regressed:
        lines.append(f"REGRESSION: {len(diff.regressions)} check(s) went from pass to fail/error, "
                     f"{len(diff.only_before)} no longer ran")
    else:
        lines.append("No regression: every check that passed before passes now.")
    if acceptance is not None:
        if not acceptance.unaccepted:
            lines.append("No unaccepted change: every observed fact that changed is accepted.")
        elif fail_on_change:
            lines.append(f"CHANGED: {len(acceptance.unaccepted)} observed fact(s) changed that no accept entry "
                         f"accepts; if the change is intended, add an entry (fact, from/to or added/removed, "
                         f"reason) to an --accept file")
        else:
            lines.append(f"{len(acceptance.unaccepted)} observed fact(s) changed that no accept entry accepts "
                         f"(a failure with --fail-on-change)")
        if acceptance.stale and strict_accept:
            lines.append(f"STALE: {len(acceptance.stale)} accept entr{'y' if len(acceptance.stale) == 1 else 'ies'} "
                         f"matched no change (--strict-accept)")
    return lines


def _accepted_sections(diff: Diff, acceptance: Acceptance) -> list[str]:
    """Changed facts split into those that fail (not accepted) and those accepted, with why."""
    split = f" ({len(acceptance.unaccepted)} not accepted, {len(acceptance.accepted)} accepted)" if diff.changes else ""
    lines = [f"Observed facts that changed: {len(diff.changes) or 'none'}{split}",
             f"Changes not accepted: {len(acceptance.unaccepted) or 'none'}"]
    lines.extend(by_section([(change, None) for change in acceptance.unaccepted], diff.subjects))
    lines.append(f"Changes accepted: {len(acceptance.accepted) or 'none'}")
    lines.extend(by_section(list(acceptance.accepted), diff.subjects))
    others = (f" ({acceptance.other_upgrades} more are for other daemon versions)" if acceptance.other_upgrades else "")
    lines.append(f"Accept entries that matched no change (stale): {len(acceptance.stale) or 'none'}{others}")
    by_entries = {change.fact for change in diff.changes if change.kind in ("added", "removed")}
    for entry in acceptance.stale:
        # An accept file written when sets printed as "[old list] -> [new list]".
        hint = ("  (this fact changes by entries: name them with added:/removed:)"
                if entry.was is not None and entry.fact in by_entries else "")
        lines.append(f"  {entry.source}: {entry.describe()}{hint}")
    return lines


def as_dict(diff: Diff, fail_on_change: bool = False, strict_accept: bool = False) -> dict[str, Any]:
    def change(item: Change) -> dict[str, str]:
        return {"section": item.section, "place": item.place, "fact": item.fact, "kind": item.kind,
                "before": item.was, "after": item.now}

    document: dict[str, Any] = {
        "regressed": diff.regressed,
        "failed": diff.failed(fail_on_change, strict_accept),
        "regressions": diff.regressions,
        "fixed": diff.fixed,
        "only_before": diff.only_before,
        "only_after": diff.only_after,
        "case_switched": diff.case_switched,
        "facts_changed": [{"fact": key, "before": was, "after": now} for key, was, now in diff.facts_changed],
        "changes": [change(item) for item in diff.changes],
    }
    if diff.acceptance is not None:
        document["unaccepted"] = [change(item) for item in diff.acceptance.unaccepted]
        document["accepted"] = [change(item) | {"reason": entry.reason, "entry": entry.source}
                                for item, entry in diff.acceptance.accepted]
        document["stale"] = [{"entry": entry.source, "accepts": entry.describe()} for entry in diff.acceptance.stale]
    return document


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line of ``netconform diff`` (and ``netconform-diff``)."""
    parser.add_argument("before", type=Path, help="report.json of the first run (e.g. the old daemon)")
    parser.add_argument("after", type=Path, help="report.json of the second run (e.g. the new daemon)")
    parser.add_argument("--json", action="store_true", help="print the differences as JSON")
    parser.add_argument("--fail-on-change", action="store_true",
                        help="exit 1 also when an observed fact changed that no --accept entry accepts")
    parser.add_argument("--accept", action="append", type=Path, default=[], metavar="FILE",
                        help="YAML list of accepted changes, each with its reason (repeatable)")
    parser.add_argument("--strict-accept", action="store_true",
                        help="exit 1 also when an accept entry matches no change (stale)")


def read_accepted(paths: Sequence[Path], fail_on_change: bool) -> list[Entry] | None:
    """The entries of every accept file; None when changed facts are not judged at all.

    They are judged with ``--accept`` or ``--fail-on-change`` (then with no entry, nothing is accepted).

    Raises:
        AcceptFileError: an accept file is unreadable or malformed.
    """
    if not paths and not fail_on_change:
        return None
    return [entry for path in paths for entry in load_accepted(path)]


def run(args: argparse.Namespace, prog: str) -> int:
    """Compare the reports ``args`` names and print the differences; the exit code (module doc)."""
    try:
        accepted = read_accepted(args.accept, args.fail_on_change)
        diff = compare(load_report(args.before), load_report(args.after), accepted)
    except (BadReport, AcceptFileError) as err:
        print(f"{prog}: {err}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.json:
        print(json.dumps(as_dict(diff, args.fail_on_change, args.strict_accept), indent=1))
    else:
        print("\n".join(render(diff, args.fail_on_change, args.strict_accept)))
    return EXIT_REGRESSION if diff.failed(args.fail_on_change, args.strict_accept) else EXIT_SAME


def main(argv: list[str] | None = None) -> int:
    """``netconform-diff``: ``netconform diff`` under its older name."""
    parser = argparse.ArgumentParser(prog="netconform-diff", description=DESCRIPTION)
    add_arguments(parser)
    return run(parser.parse_args(argv), "netconform-diff")


if __name__ == "__main__":
    sys.exit(main())
