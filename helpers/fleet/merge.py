"""The reports of a fleet run merged into one: a host x aspect table, and the facts hosts disagree on.

Facts are compared as ``netconform diff`` compares two runs: each report flattened and normalised
(:func:`netconform.report.normalize.flatten_report`), so run ids, container ids and dynamic
addresses do not count. A fact is listed when the hosts that have a report do not all observe the
same value; the hosts that hold a value other than the one most hosts hold (when one value is held
by more hosts than any other) are the ones that *stand out*.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from netconform.fleet.remote import HostRun
from netconform.report.fact_values import ABSENT, as_text
from netconform.report.normalize import Flat, flatten_machine, flatten_report, section_of

OUTCOMES = ("passed", "failed", "error", "skipped")
Counts = dict[str, int]  # outcome -> checks


@dataclass(frozen=True)
class Spread:
    """One observed fact the hosts disagree on."""

    fact: str
    section: str
    values: dict[str, str]  # host -> value as text (ABSENT when its report has none)
    odd: tuple[str, ...]  # hosts off the majority value; empty when no value has a majority


@dataclass
class Fleet:
    """The merged result of a fleet run."""

    runs: list[HostRun]
    aspects: list[str] = field(default_factory=list)
    table: dict[str, dict[str, Counts]] = field(default_factory=dict)  # host -> aspect -> counts
    spreads: list[Spread] = field(default_factory=list)

    @property
    def reported(self) -> list[HostRun]:
        return [run for run in self.runs if run.report is not None]

    @property
    def unreported(self) -> list[HostRun]:
        return [run for run in self.runs if run.report is None]

    def totals(self, host: str) -> Counts:
        """Every check of ``host``, by outcome."""
        return {outcome: sum(counts[outcome] for counts in self.table.get(host, {}).values())
                for outcome in OUTCOMES}

    def standing_out(self) -> dict[str, list[Spread]]:
        """Host -> the facts on which it is off the majority (hosts that never are: absent)."""
        found: dict[str, list[Spread]] = {}
        for spread in self.spreads:
            for host in spread.odd:
                found.setdefault(host, []).append(spread)
        return found


def merge(runs: list[HostRun]) -> Fleet:
    """Merge the rows of a fleet run (in HOSTS.yaml order)."""
    fleet = Fleet(runs)
    aspects: set[str] = set()
    for run in fleet.reported:
        assert run.report is not None
        table = fleet.table.setdefault(run.host.name, {})
        for check in run.report.get("checks") or []:
            aspect = str(check.get("aspect") or "other")
            aspects.add(aspect)
            counts = table.setdefault(aspect, dict.fromkeys(OUTCOMES, 0))
            if check.get("outcome") in counts:
                counts[check["outcome"]] += 1
    fleet.aspects = sorted(aspects)
    fleet.spreads = spreads({run.host.name: run.report for run in fleet.reported if run.report is not None})
    return fleet


def spreads(reports: dict[str, dict[str, object]]) -> list[Spread]:
    """The facts on which the reports (host -> report.json document) do not all agree."""
    if len(reports) < 2:
        return []
    flat: dict[str, Flat] = {host: flatten_report(document) for host, document in reports.items()}
    machine = {key for document in reports.values() for key in flatten_machine(document)}
    found = []
    for key in sorted({key for facts in flat.values() for key in facts}):
        values = {host: as_text(facts[key]) if key in facts else ABSENT for host, facts in flat.items()}
        if len(set(values.values())) < 2:
            continue
        found.append(Spread(key, section_of(key, machine, *flat.values()), values, _odd(values)))
    return found


def _odd(values: dict[str, str]) -> tuple[str, ...]:
    ranked = Counter(values.values()).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        return ()  # no majority: nobody stands out (two hosts that differ, or a three-way split)
    return tuple(host for host, value in values.items() if value != ranked[0][0])
