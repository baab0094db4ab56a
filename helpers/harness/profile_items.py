"""A host profile as pytest items: one per pinned setting, judged against the effective setting.

The profile is given with ``--profile FILE|NAME``. Its items are added to the collected ones
(before ``-k``/``-m`` deselect), under the profile file's node, so ``--dist loadfile`` keeps them
on one worker and they reach the report like any check (``kind: setting``).
"""

from __future__ import annotations

from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from netconform.harness.items import profile_key, run_context
from netconform.judge import Verdict
from netconform.judge.pinned_settings import judge_setting
from netconform.report.gather import CHECK_ATTR
from netconform.report.records import setting_record
from netconform.spec.profile import HostProfile, PinnedSetting

_verdict_key = pytest.StashKey[Verdict]()


class SettingDrift(Exception):
    """A pinned setting differs from the daemon's effective one (or could not be read)."""

    def __init__(self, item: SettingItem, verdict: Verdict) -> None:
        self.item = item
        self.verdict = verdict
        super().__init__(f"setting {item.pinned.name}")

    def story(self) -> str:
        pinned, verdict = self.item.pinned, self.verdict
        if verdict.unjudged:
            headline = f"netconform: daemon setting.{pinned.name}: ERROR, could not be judged: {verdict.unjudged}"
        else:
            headline = (f"netconform: daemon setting.{pinned.name}: the profile declares {verdict.expected}, "
                        f"the daemon has {verdict.observed}")
        lines = [headline, f"  profile:   {self.item.profile.name}  ({self.item.profile.path}:{pinned.line})",
                 f"  declared:  {verdict.expected}", f"  effective: {verdict.observed}"]
        for name, text in verdict.evidence.items():
            lines.append(f"  {name}: {text}")
        return "\n".join(lines)


class ProfileFile(pytest.File):
    def collect(self) -> Generator[SettingItem, None, None]:
        profile = self.config.stash[profile_key]
        for pinned in profile.settings:
            yield SettingItem.from_parent(self, name=f"setting.{pinned.name}", profile=profile, pinned=pinned)


class SettingItem(pytest.Item):
    def __init__(self, *, profile: HostProfile, pinned: PinnedSetting, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.profile = profile
        self.pinned = pinned
        self.add_marker(pytest.mark.settings)
        self.extra_keyword_matches.add("profile")  # -k profile

    def runtest(self) -> None:
        context = run_context(self.config)
        effective = context.settings.settings.get(self.pinned.name) if context.settings else None
        verdict = judge_setting(self.pinned, effective)
        self.stash[_verdict_key] = verdict
        if not verdict.passed:
            raise SettingDrift(self, verdict)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SettingDrift):
            return excinfo.value.story()
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, (self.pinned.line - 1) if self.pinned.line else None, f"profile::{self.name}"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Add the profile's items first, before -k/-m deselect (their hooks run after this one)."""
    if profile_key not in config.stash:
        return
    path = Path(config.stash[profile_key].path)
    # Its own node id: the file may live anywhere (a shipped profile sits in site-packages).
    profile_file = ProfileFile.from_parent(session, path=path, nodeid=f"profile/{path.name}")
    items[:0] = list(profile_file.collect())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if call.when != "call" or not isinstance(item, SettingItem):
        return
    verdict = item.stash.get(_verdict_key, None)
    if report.passed:
        state, error = "passed", ""
    elif verdict is not None and verdict.unjudged:
        state, error = "error", verdict.unjudged
    elif verdict is not None:
        state, error = "failed", ""
    else:
        state, error = "error", call.excinfo.exconly() if call.excinfo else str(report.longrepr)
    setattr(report, CHECK_ATTR, setting_record(item.nodeid, item.profile.name, (item.profile.path, item.pinned.line),
                                               item.pinned.name, verdict, state, report.duration, error))
