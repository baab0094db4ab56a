"""Host profiles: loading with file:line errors, and judging a pinned setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.facts.settings import SETTINGS, Setting
from netconform.judge.pinned_settings import judge_setting
from netconform.spec.profile import load_profile
from netconform.spec.shipped import find_profile, profiles_dir


@pytest.mark.parametrize("path", sorted(profiles_dir().glob("*.yaml")), ids=lambda path: path.stem)
def test_shipped_profiles_load_and_pin_only_catalogued_settings(path: Path) -> None:
    profile = load_profile(path)
    assert profile.name == path.stem and profile.settings
    assert {pinned.name for pinned in profile.settings} <= set(SETTINGS)
    assert find_profile(path.stem) == path


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return path


def test_every_problem_is_reported_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "settings:\n  icc: maybe\n  mtuu: 1500\n  mtu: '1500'\n  bip: ${sentinel.address}\n")
    with pytest.raises(SpecError) as raised:
        load_profile(path, "p.yaml")
    lines = [problem.render() for problem in raised.value.problems]
    assert lines == [
        "p.yaml:2: settings.icc: 'maybe' is not a value of this setting (allowed: true or false)",
        "p.yaml:3: settings.mtuu: unknown setting, did you mean 'mtu'? (allowed: netconform list --settings)",
        "p.yaml:4: settings.mtu: '1500' is not a value of this setting (allowed: an integer)",
        "p.yaml:5: settings.bip: a profile pins values, not ${references} (allowed: a CIDR such as 172.17.0.1/16, "
        "or null)",
    ]


def test_unknown_top_level_key_is_a_schema_error(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as raised:
        load_profile(_write(tmp_path, "setings: {}\n"), "p.yaml")
    assert "setings: unknown key, did you mean 'settings'?" in raised.value.render()


def test_plain_values_are_what_dependent_expectations_follow(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, "settings:\n  mtu: 1450\n  bip: {in: 10.0.0.0/8}\n  fixed_cidr: null\n"
                                            "  default_address_pools: [{base: 10.9.0.0/16, size: 24}]\n"))
    assert profile.overrides() == {"mtu": 1450, "fixed_cidr": None,
                                   "default_address_pools": ["base=10.9.0.0/16,size=24"]}


def test_judging_a_setting(tmp_path: Path) -> None:
    profile = load_profile(_write(tmp_path, "settings:\n  mtu: 1450\n  bip: {in: 10.0.0.0/8}\n"
                                            "  default_address_pools: [{base: 10.9.0.0/16, size: 24}]\n"))
    mtu, bip, pools = profile.settings
    assert judge_setting(mtu, Setting(1450, "engine API")).passed
    drift = judge_setting(mtu, Setting(1500, "engine API"))
    assert not drift.passed and (drift.expected, drift.observed) == ("1450", "1500") and not drift.unjudged
    assert judge_setting(bip, Setting("10.77.0.1/24", "engine API")).passed
    assert not judge_setting(bip, Setting("172.17.0.1/16", "engine API")).passed
    assert judge_setting(pools, Setting([{"base": "10.9.0.0/16", "size": 24}], "daemon.json")).passed
    unreadable = judge_setting(mtu, Setting(None, "kernel", "permission denied"))
    assert not unreadable.passed and unreadable.unjudged == "not observable: permission denied"
    assert judge_setting(mtu, None).unjudged
