"""Judge a profile's pinned setting against the daemon's effective setting."""

from __future__ import annotations

from typing import Any

from netconform.facts.settings import SETTINGS, Setting
from netconform.judge.matchers import describe, holds, show
from netconform.judge.verdict import Verdict
from netconform.spec.profile import PinnedSetting, pool_text
from netconform.spec.values import Matcher


def comparable(name: str, value: Any) -> Any:
    """The effective value as a profile spells it (pools as dockerd's ``base=…,size=…``)."""
    if SETTINGS[name][0] == "pools" and isinstance(value, list):
        return [pool_text(pool) for pool in value]
    return value


def judge_setting(pinned: PinnedSetting, effective: Setting | None) -> Verdict:
    """Declared (the profile) against effective (the daemon); unreadable is an error, never a pass."""
    matcher = pinned.expectation
    if not isinstance(matcher, Matcher):  # spec.profile refuses selections
        raise TypeError(f"profile setting {pinned.name} is not a matcher")
    ops = [(op, list(raw) if isinstance(raw, tuple) else raw) for op, raw in matcher.ops]
    expected = " and ".join(describe(op, raw, "") for op, raw in ops)
    meaning = SETTINGS[pinned.name][1]
    if effective is None or effective.unreadable:
        why = effective.unreadable if effective else "not read"
        return Verdict(False, expected, f"(not observable: {why})", {"setting": meaning},
                       unjudged=f"not observable: {why}")
    value = comparable(pinned.name, effective.value)
    passed = all(holds(op, value, raw) for op, raw in ops)
    evidence = {"setting": f"{pinned.name}: {show(value)}\n  read from: {effective.source}\n  meaning: {meaning}"}
    return Verdict(passed, expected, show(value), evidence)
