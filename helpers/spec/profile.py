"""Host profiles: the intended networking configuration of a Docker host, one YAML file.

A profile pins settings by name (the catalogue :data:`netconform.facts.settings.SETTINGS`), each to a
value or a matcher. Every pinned setting becomes a check of the daemon's effective setting, and
where it pins a plain value, the scenarios' expectations that follow that setting
(``${setting.mtu}``, ``by: setting.icc``) follow the declared value instead of the effective one, so
a drift fails both the setting and the behaviour that depends on it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netconform.errors import SpecError, SpecErrors
from netconform.facts.settings import SETTINGS
from netconform.spec.schema import check_structure
from netconform.spec.values import Expectation, Matcher, Names, Ref, Template, parse_expectation
from netconform.spec.yamlsrc import load_located, where

PROFILE_SCHEMA = Path(__file__).with_name("profile.schema.yaml")
_NO_NAMES = Names(frozenset(), frozenset())

# What a value of each kind of setting may be in a profile, and the words for "allowed".
_KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "bool": (lambda value: isinstance(value, bool), "true or false"),
    "int": (lambda value: isinstance(value, int) and not isinstance(value, bool), "an integer"),
    "cidr": (lambda value: value is None or isinstance(value, str), "a CIDR such as 172.17.0.1/16, or null"),
    "address": (lambda value: isinstance(value, str), "an address such as 0.0.0.0"),
    "str": (lambda value: isinstance(value, str), "a string"),
    "list": (lambda value: isinstance(value, tuple), "a list of strings"),
    "addresses": (lambda value: isinstance(value, tuple), "a list of addresses"),
    "pools": (lambda value: isinstance(value, tuple), "a list of {base: CIDR, size: N}"),
}


@dataclass(frozen=True)
class PinnedSetting:
    """One setting a profile pins, where it is declared, and what is expected of it."""

    name: str
    expectation: Expectation
    line: int | None

    @property
    def plain_value(self) -> Any:
        """The declared value when it is a plain ``equals`` (what dependent expectations follow)."""
        if isinstance(self.expectation, Matcher) and [op for op, _ in self.expectation.ops] == ["equals"]:
            value = self.expectation.ops[0][1]
            return list(value) if isinstance(value, tuple) else value
        return None


@dataclass(frozen=True)
class HostProfile:
    name: str
    path: str
    description: str
    audit_existing: bool
    settings: tuple[PinnedSetting, ...]

    def overrides(self) -> dict[str, Any]:
        """Settings pinned to a plain value: what the scenarios' setting-dependent expectations follow."""
        return {pinned.name: pinned.plain_value for pinned in self.settings
                if pinned.plain_value is not None or _is_plain_null(pinned)}


def _is_plain_null(pinned: PinnedSetting) -> bool:
    return isinstance(pinned.expectation, Matcher) and pinned.expectation.ops == (("equals", None),)


def _misfit(expectation: Expectation, kind: str) -> str:
    """Why a declared expectation does not fit the setting's kind ("" when it does)."""
    if not isinstance(expectation, Matcher):
        return "a profile pins values, not by/cases selections"
    fits = _KINDS[kind][0]
    for op, value in expectation.ops:
        if isinstance(value, Ref | Template) or (isinstance(value, tuple) and any(
                isinstance(item, Ref | Template) for item in value)):
            return "a profile pins values, not ${references}"
        if op in ("equals", "not") and not fits(value):
            return f"{value!r} is not a value of this setting"
    return ""


def pool_text(pool: Any) -> str:
    """A default address pool as dockerd's command line spells it: ``base=10.10.0.0/16,size=24``."""
    return f"base={pool['base']},size={pool['size']}"


def load_profile(path: Path, display: str | None = None) -> HostProfile:
    """Parse and validate a host profile.

    Raises:
        SpecError: every problem, each with file:line, the key, the problem and what is allowed.
    """
    shown = display or str(path)
    top = load_located(path, shown)
    check_structure(top, shown, PROFILE_SCHEMA)
    problems: list[SpecError] = []
    pinned: list[PinnedSetting] = []
    settings = top["settings"]
    for name, raw in settings.items():
        at = where(shown, settings, name, f"settings.{name}")
        if name not in SETTINGS:
            close = difflib.get_close_matches(name, list(SETTINGS), n=1)
            hint = f", did you mean {close[0]!r}?" if close else ""
            problems.append(at.error(f"unknown setting{hint}", "netconform list --settings"))
            continue
        kind = SETTINGS[name][0]
        if kind == "pools" and isinstance(raw, list):
            try:
                raw = [item if isinstance(item, str) else pool_text(item) for item in raw]
            except (KeyError, TypeError):
                problems.append(at.error("a pool needs base and size", _KINDS[kind][1]))
                continue
        try:
            expectation = parse_expectation(raw, at, _NO_NAMES)
        except SpecError as err:
            problems.append(err)
            continue
        problem = _misfit(expectation, kind)
        if problem:
            problems.append(at.error(problem, _KINDS[kind][1]))
            continue
        pinned.append(PinnedSetting(name, expectation, at.line))
    if problems:
        raise SpecErrors.of(sorted(problems, key=lambda problem: problem.line or 0))
    return HostProfile(str(top.get("profile") or path.stem), shown, str(top.get("description", "")),
                       bool(top.get("audit_existing", False)), tuple(pinned))
