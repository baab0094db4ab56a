"""The observed facts that changed between two reports, one :class:`Change` per place and entry.

Both reports are flattened (:mod:`netconform.report.normalize`); a scalar fact that differs is one
change ``was -> now``, a set-like one is one change per entry added or removed (or one "reordered"
when only the order of an ordered list changed), each filed under its section
(:func:`~netconform.report.normalize.section_of`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from netconform.report.accepted import Change
from netconform.report.fact_values import ABSENT, Fact, as_text, deltas
from netconform.report.normalize import flatten_machine, flatten_report, section_of

# Parts of report.json ``daemon`` added after schema version 1 came out: (key, facts' prefix, title).
_OPTIONAL = (("settings", "daemon setting ", "Daemon settings"),
             ("firewall_layout", "daemon firewall ", "Daemon firewall layout"))
# Facts still shown for a container that exists on one side only (the rest would all be new or gone).
_OF_A_CONTAINER_ON_ONE_SIDE = (" created", " daemon error", " left behind")


@dataclass
class FactChanges:
    """What changed: the flat facts as before/after text, and the changes as printed."""

    facts_changed: list[tuple[str, str, str]] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    subjects: dict[str, set[str]] = field(default_factory=dict)  # scenario -> its containers, both sides
    not_compared: list[str] = field(default_factory=list)  # parts one report does not record, as printed


def fact_changes(before: dict[str, Any], after: dict[str, Any]) -> FactChanges:
    """The observed facts of ``after`` that differ from ``before``, normalised."""
    flat_before, flat_after = flatten_report(before), flatten_report(after)
    result = FactChanges()
    # A report written before a part was recorded: the other's would all look new.
    for part, prefix, title in _OPTIONAL:
        missing = [side for side, document in (("first", before), ("second", after))
                   if not (document.get("daemon") or {}).get(part)]
        if missing:
            which = "neither report records them" if len(missing) == 2 else f"the {missing[0]} report records none"
            result.not_compared.append(f"{title}: not compared ({which})")
            for flat in (flat_before, flat_after):
                for key in [key for key in flat if key.startswith(prefix)]:
                    del flat[key]
    for key in flat_before.keys() | flat_after.keys():
        if key.endswith(" created") and key.count(" ") == 2:
            scenario, name, _ = key.split(" ")
            result.subjects.setdefault(scenario, set()).add(name)
    # A container created on one side only: its facts are all new or all gone, one line says it.
    appeared = {key.rsplit(" created", 1)[0] for key, value in flat_before.items()
                if key.endswith(" created") and flat_after.get(key, value) != value}
    # Likewise an interface on one side only: the "interfaces" fact says it, not each of its facts.
    one_sided = tuple(f"{key.removesuffix('interfaces')}interface {name} "
                      for key in flat_before.keys() & flat_after.keys() if key.endswith(" interfaces")
                      for name in _one_sided(flat_before[key], flat_after[key]))
    machine = flatten_machine(before).keys() | flatten_machine(after).keys()
    for key in sorted(flat_before.keys() | flat_after.keys()):
        was, now = flat_before.get(key), flat_after.get(key)
        subject = next((prefix for prefix in appeared if key.startswith(prefix + " ")), None)
        if (was == now or (subject and not key.endswith(_OF_A_CONTAINER_ON_ONE_SIDE))
                or key.startswith(one_sided)):
            continue
        changed = deltas(was, now)
        if not changed:
            continue
        result.facts_changed.append((key, _text(was), _text(now)))
        place, fact = _place_and_fact(key, machine)
        section = section_of(key, machine, flat_before, flat_after)
        result.changes.extend(Change(place, fact, _one_line(delta.was), _one_line(delta.now), delta.kind, section)
                              for delta in changed)
    return result


def _one_sided(was: Fact, now: Fact) -> set[str]:
    return set(was) ^ set(now) if isinstance(was, frozenset) and isinstance(now, frozenset) else set()


def _text(value: Fact | None) -> str:
    return ABSENT if value is None else as_text(value)


def _place_and_fact(key: str, machine: set[str]) -> tuple[str, str]:
    """``"<scenario> <subject> <fact>"`` -> (``scenario/subject``, fact); daemon and host facts
    and scenario-wide ones (``<scenario> build``) have no place."""
    parts = key.split(" ", 2)
    if key in machine or len(parts) < 3:
        return "", key
    return f"{parts[0]}/{parts[1]}", parts[2]


def _one_line(text: str) -> str:
    return " ".join(text.split())
