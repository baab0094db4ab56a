"""Accepted changes: observed facts a daemon upgrade is known to change, each with the reason.

``netconform-diff --fail-on-change --accept FILE`` fails on every changed fact that no entry of
an accept file matches. An entry names the change as the diff prints it, so writing one is
copying a line of the diff output::

    - fact: daemon api_version              # the fact, as printed before its ":"
      from: "1.41"                          # optional: the value before, exactly as printed
      to: "1.45"                            # optional: the value after
      places: [bridge/alpha, "none/*"]      # optional: scenario/subject, glob patterns
      upgrade: "20.10 -> 26.1"              # optional: the daemon versions it applies to
      reason: 26.1 speaks Engine API 1.45   # mandatory

A set-like fact (addresses, routes, /etc/hosts, interfaces, a firewall chain's rules) changes by
entries: the diff prints ``+ entry`` and ``- entry``, and an entry accepts them by ``added:`` and
``removed:`` (a string or a list; each entry listed must be seen, or the entry is stale)::

    - fact: interface lo addresses
      added: "::1/128"
      reason: 26 adds ::1 on every loopback

An entry with neither from/to nor added/removed accepts any change of its fact.

Entries whose ``upgrade`` does not match the two reports' daemon versions are ignored, so one
file can hold a chain of upgrades. An applicable entry that matches no change is *stale*.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from netconform.errors import SpecError
from netconform.report.normalize import BEHAVIOUR
from netconform.spec.yamlsrc import LocatedList, LocatedMap, load_located

KEYS = {
    "fact": "the fact as the diff prints it (`interface lo addresses`, `daemon version`)",
    "from": "the value before, as printed (a quoted string)",
    "to": "the value after, as printed (a quoted string)",
    "added": "entries of a set-like fact that appeared, as printed after '+' (a string or a list)",
    "removed": "entries of a set-like fact that disappeared, as printed after '-' (a string or a list)",
    "places": "scenario/subject places as printed, glob patterns allowed (`conflicts/*`)",
    "upgrade": 'the daemon versions "BEFORE -> AFTER": a version prefix ("20.10") or specifiers ("<25")',
    "reason": "a reason: why the change is expected (mandatory)",
}


class AcceptFileError(SpecError):
    """An accept file is malformed: ``file:line: key: problem``."""

    exit_code = 2


@dataclass(frozen=True)
class Change:
    """One observed fact that changed, as the diff prints it (values on one line): a value
    replaced, or one entry of a set-like fact added or removed, or its entries reordered."""

    place: str  # "scenario/subject", or "" for daemon, host and scenario-wide facts
    fact: str
    was: str  # "changed"/"reordered": the value before; "removed": the entry; "added": ""
    now: str  # "changed"/"reordered": the value after; "added": the entry; "removed": ""
    kind: str = "changed"  # "changed", "added", "removed", "reordered"
    section: str = BEHAVIOUR  # netconform.report.normalize.section_of

    def shown(self) -> str:
        """The change without place and fact: ``a -> b``, ``+ entry``, ``- entry``."""
        if self.kind == "added":
            return f"+ {self.now}"
        if self.kind == "removed":
            return f"- {self.was}"
        return f"{'reordered ' if self.kind == 'reordered' else ''}{self.was} -> {self.now}"

    @property
    def entry(self) -> str:
        """The entry added or removed ("" for a value changed)."""
        return self.now if self.kind == "added" else self.was if self.kind == "removed" else ""

    def describe(self) -> str:
        where = f"{self.place}: " if self.place else ""
        return f"{where}{self.fact}: {self.shown()}"


@dataclass(frozen=True)
class VersionPattern:
    """One side of ``upgrade``: a dotted version prefix, ``*``, or PEP 440 specifiers."""

    text: str

    def matches(self, version: str) -> bool:
        release = re.match(r"\d+(\.\d+)*", version)
        if release is None:
            return self.text == "*"
        if self.text == "*":
            return True
        if re.fullmatch(r"\d+(\.\d+)*", self.text):
            return release.group(0).split(".")[: self.text.count(".") + 1] == self.text.split(".")
        return SpecifierSet(self.text).contains(release.group(0), prereleases=True)


@dataclass(frozen=True)
class Entry:
    """One accepted change; ``None`` values and empty ``places`` match anything."""

    fact: str
    reason: str
    source: str  # "file:line", for messages
    was: str | None = None
    now: str | None = None
    places: tuple[str, ...] = ()
    upgrade: tuple[VersionPattern, VersionPattern] | None = None
    added: tuple[str, ...] | None = None
    removed: tuple[str, ...] | None = None

    def applies(self, before_version: str, after_version: str) -> bool:
        return self.upgrade is None or (self.upgrade[0].matches(before_version)
                                        and self.upgrade[1].matches(after_version))

    @property
    def by_entries(self) -> bool:
        return self.added is not None or self.removed is not None

    def matches(self, change: Change) -> bool:
        if self.fact != change.fact or (self.places and not any(fnmatchcase(change.place, place)
                                                                 for place in self.places)):
            return False
        if change.kind in ("added", "removed"):
            if not self.by_entries:
                return self.was is None and self.now is None
            return change.entry in ((self.added if change.kind == "added" else self.removed) or ())
        return (not self.by_entries and (self.was is None or self.was == change.was)
                and (self.now is None or self.now == change.now))

    def describe(self) -> str:
        text = self.fact
        if self.was is not None or self.now is not None:
            was = "*" if self.was is None else self.was
            now = "*" if self.now is None else self.now
            text += f": {was} -> {now}"
        if self.by_entries:
            text += ": " + ", ".join([f"+ {item}" for item in self.added or ()]
                                     + [f"- {item}" for item in self.removed or ()])
        if self.places:
            text += f"  (places: {', '.join(self.places)})"
        if self.upgrade:
            text += f"  (upgrade {self.upgrade[0].text} -> {self.upgrade[1].text})"
        return text


@dataclass
class Acceptance:
    """Changes split by the entries that apply to this pair of reports."""

    accepted: list[tuple[Change, Entry]] = field(default_factory=list)
    unaccepted: list[Change] = field(default_factory=list)
    stale: list[Entry] = field(default_factory=list)
    other_upgrades: int = 0  # entries skipped: their `upgrade` names other versions


def classify(changes: Iterable[Change], entries: list[Entry], before_version: str,
             after_version: str) -> Acceptance:
    """Each change is accepted by the first applicable entry that matches it."""
    applicable = [entry for entry in entries if entry.applies(before_version, after_version)]
    result = Acceptance(other_upgrades=len(entries) - len(applicable))
    used: set[int] = set()
    seen: set[tuple[int, str, str]] = set()  # (entry, kind, entry) of added/removed entries matched
    for change in changes:
        matching = [index for index, entry in enumerate(applicable) if entry.matches(change)]
        used.update(matching)
        seen.update((index, change.kind, change.entry) for index in matching)
        if matching:
            result.accepted.append((change, applicable[matching[0]]))
        else:
            result.unaccepted.append(change)
    for index, entry in enumerate(applicable):
        if not entry.by_entries:
            if index not in used:
                result.stale.append(entry)
            continue
        # Each entry listed must have been seen; the stale entry names only those that were not.
        added = tuple(item for item in entry.added or () if (index, "added", item) not in seen)
        removed = tuple(item for item in entry.removed or () if (index, "removed", item) not in seen)
        if added or removed:
            result.stale.append(replace(entry, added=added or None, removed=removed or None))
    return result


def load_accepted(path: Path) -> list[Entry]:
    """The entries of one accept file, validated.

    Raises:
        AcceptFileError: unreadable, not YAML, or an entry that is not as documented in ``KEYS``.
    """
    shown = str(path)
    try:
        document = load_located(path, shown)
    except SpecError as err:
        raise AcceptFileError(err.path, err.line, err.key, err.problem, err.allowed) from err
    if not isinstance(document, LocatedList):
        raise AcceptFileError(shown, getattr(document, "line", 1), "(file)",
                              f"must be a YAML list of accepted changes (one mapping each), not {_kind(document)}")
    return [_entry(shown, item, line) for item, line in zip(document, document.item_lines, strict=True)]


def _entry(path: str, item: Any, line: int) -> Entry:
    if not isinstance(item, LocatedMap):
        raise AcceptFileError(path, line, "(entry)", f"must be a mapping, not {_kind(item)}",
                              ", ".join(KEYS))

    def fail(key: str, problem: str) -> AcceptFileError:
        return AcceptFileError(path, item.key_lines.get(key, item.line), key, problem)

    for key in item:
        if key not in KEYS:
            raise AcceptFileError(path, item.key_lines[key], key, "unknown key", ", ".join(KEYS))
    for key in ("fact", "reason"):
        if key not in item:
            raise fail(key, f"missing: every entry needs {KEYS[key]}")
        if not isinstance(item[key], str) or not item[key].strip():
            raise fail(key, f"must be a non-empty string ({KEYS[key]}), not {_kind(item[key])}")
    values: dict[str, str | None] = {"from": None, "to": None}
    for key in values:
        if key in item:
            if not isinstance(item[key], str):
                raise fail(key, f"must be a string as the diff prints it, not {_kind(item[key])} "
                                f'(quote it: {key}: "{_printed(item[key])}")')
            values[key] = _one_line(item[key])
    listed: dict[str, tuple[str, ...] | None] = {"added": None, "removed": None}
    for key in listed:
        if key in item:
            if values["from"] is not None or values["to"] is not None:
                raise fail(key, "from/to name a value, added/removed entries of a set: not both in one entry")
            items = [item[key]] if isinstance(item[key], str) else item[key]
            if not isinstance(items, list) or not items or not all(isinstance(one, str) for one in items):
                raise fail(key, f"must be a string or a non-empty list of strings (quoted): {KEYS[key]}")
            listed[key] = tuple(_one_line(one) for one in items)
    places = item.get("places", [])
    if isinstance(places, str):
        places = [places]
    if "places" in item and (not isinstance(places, list) or not places
                             or not all(isinstance(place, str) and place.strip() for place in places)):
        raise fail("places", f"must be a non-empty list of strings: {KEYS['places']}")
    return Entry(fact=_one_line(item["fact"]), reason=_one_line(item["reason"]), source=f"{path}:{item.line}",
                 was=values["from"], now=values["to"], added=listed["added"], removed=listed["removed"],
                 places=tuple(places),
                 upgrade=_upgrade(item["upgrade"], fail) if "upgrade" in item else None)


def _upgrade(text: Any, fail: Callable[[str, str], AcceptFileError]) -> tuple[VersionPattern, VersionPattern]:
    sides = text.split("->") if isinstance(text, str) else []
    if len(sides) != 2 or not all(side.strip() for side in sides):
        raise fail("upgrade", f"must be \"BEFORE -> AFTER\", not {text!r}: {KEYS['upgrade']}")
    patterns = []
    for side in (side.strip() for side in sides):
        if side != "*" and not re.fullmatch(r"\d+(\.\d+)*", side):
            try:
                SpecifierSet(side)
            except InvalidSpecifier as err:
                raise fail("upgrade", f"{side!r} is neither a version prefix (20.10) nor version specifiers "
                                      f"(<25, >=26,<27)") from err
        patterns.append(VersionPattern(side))
    return patterns[0], patterns[1]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _printed(value: Any) -> str:
    """How the report prints a YAML scalar that was not quoted (True, 1.41, empty)."""
    return "" if value is None else str(value)


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "empty"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string"}.get(type(value), "a value")
