"""Changes as the diff prints them: by section, the same change in many places on one line.

Changes of one fact seen in the same places (and accepted by the same entry) share a line:
``/etc/hosts: + ::1 ip6-localhost; - ::1 localhost  (36 places: bridge/*, conflicts/{accepted,target}, …)``.
A scenario all of whose containers show the change is ``scenario/*``.
"""

from __future__ import annotations

from collections.abc import Sequence

from netconform.report.accepted import Change, Entry
from netconform.report.normalize import BEHAVIOUR, FIREWALL, HOST_CONTEXT

SECTIONS = {
    BEHAVIOUR: "daemon behaviour",
    FIREWALL: "daemon firewall layout (Docker's chains, policies and jumps, read before the run)",
    HOST_CONTEXT: "host context (the machine and the daemon's network namespace, not the daemon's doing)",
}
WIDTH = 120  # a line of changes longer than this lists them one per line
Item = tuple[Change, Entry | None]


def by_section(items: Sequence[Item], subjects: dict[str, set[str]], indent: str = "  ") -> list[str]:
    """``items`` under one heading per section that has any, in the order of ``SECTIONS``."""
    lines: list[str] = []
    for section, title in SECTIONS.items():
        inside = [item for item in items if item[0].section == section]
        if inside:
            lines.append(f"{indent}{title}: {len(inside)}")
            lines.extend(grouped(inside, subjects, indent + "  "))
    return lines


def grouped(items: Sequence[Item], subjects: dict[str, set[str]], indent: str = "  ") -> list[str]:
    """One line per fact, places and entry; an accepted one is followed by its entry's reason."""
    places: dict[tuple[str, str, str, str, Entry | None], list[str]] = {}
    for change, entry in items:
        places.setdefault((change.fact, change.kind, change.was, change.now, entry), []).append(change.place)
    lines_of: dict[tuple[str, tuple[str, ...], Entry | None], list[Change]] = {}
    for (fact, kind, was, now, entry), seen_at in places.items():
        key = (fact, tuple(sorted(set(seen_at))), entry)
        lines_of.setdefault(key, []).append(Change("", fact, was, now, kind))

    def order(item: tuple[tuple[str, tuple[str, ...], Entry | None], list[Change]]) -> tuple[int, str, str]:
        (fact, where, entry), _ = item
        return -len(where), fact, entry.source if entry else ""

    lines = []
    for (fact, where, entry), changes in sorted(lines_of.items(), key=order):
        shown = [change.shown() for change in sorted(changes, key=_change_order)]
        named = [place for place in where if place]
        head = f"{named[0]}: {fact}" if len(named) == 1 else fact
        tail = f"  ({len(named)} places: {compact(named, subjects)})" if len(named) > 1 else ""
        text = "; ".join(shown)
        if len(shown) > 1 and len(indent + head + text + tail) > WIDTH:
            lines.append(f"{indent}{head}:{tail}")
            lines.extend(f"{indent}    {one}" for one in shown)
        else:
            lines.append(f"{indent}{head}: {text}{tail}")
        if entry is not None:
            lines.append(f"{indent}  reason: {entry.reason}  ({entry.source})")
    return lines


def _change_order(change: Change) -> tuple[int, str, str]:
    return {"removed": 0, "added": 1}.get(change.kind, 2), change.was, change.now


def compact(places: Sequence[str], subjects: dict[str, set[str]]) -> str:
    """``scenario/subject`` places, by scenario: ``bridge/*`` (all its containers), ``dns/{a,b}``."""
    by_scenario: dict[str, list[str]] = {}
    for place in places:
        scenario, _, subject = place.partition("/")
        by_scenario.setdefault(scenario, []).append(subject)
    parts = []
    for scenario, names in sorted(by_scenario.items()):
        names = sorted(set(names))
        if len(names) > 1 and set(names) == subjects.get(scenario):
            parts.append(f"{scenario}/*")
        elif len(names) == 1:
            parts.append(f"{scenario}/{names[0]}")
        else:
            parts.append(f"{scenario}/{{{','.join(names)}}}")
    return ", ".join(parts)
