"""The malformed corpus (tests/data/malformed/README.md), through the loaders and the real command line:
the exit code, the exact message, and no traceback."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.spec import load_scenario
from netconform.spec.profile import load_profile

CORPUS = Path(__file__).resolve().parents[1] / "data" / "malformed"
SPECS = sorted((CORPUS / "spec").glob("*.txt"))
PROFILES = sorted((CORPUS / "profile").glob("*.txt"))
REPORTS = sorted(path for path in (CORPUS / "report").glob("*.json") if path.name != "base.json")
NETCONFORM = [sys.executable, "-m", "netconform"]


def _ids(paths: list[Path]) -> list[str]:
    return [path.stem for path in paths]


def _expected(case: Path, file: str) -> list[str]:
    return case.with_suffix(".expected").read_text().rstrip("\n").replace("{file}", file).split("\n")


def _yaml(case: Path, folder: Path) -> Path:
    target = folder / f"{case.stem}.yaml"
    shutil.copy(case, target)
    return target


def _run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_the_corpus_has_at_least_30_cases_each_with_its_message() -> None:
    cases = SPECS + PROFILES + REPORTS
    assert len(cases) >= 30
    assert all(case.with_suffix(".expected").is_file() for case in cases)


@pytest.mark.parametrize("case", SPECS + PROFILES, ids=_ids(SPECS) + [f"profile-{p.stem}" for p in PROFILES])
def test_the_loader_raises_exactly_the_expected_problems(case: Path, tmp_path: Path) -> None:
    loader = load_scenario if case.parent.name == "spec" else load_profile
    with pytest.raises(SpecError) as caught:
        loader(_yaml(case, tmp_path), f"{case.stem}.yaml")
    assert caught.value.render().split("\n") == _expected(case, f"{case.stem}.yaml")


@pytest.mark.parametrize("case", SPECS, ids=_ids(SPECS))
def test_netconform_list(case: Path, tmp_path: Path) -> None:
    name = _yaml(case, tmp_path).name
    result = _run([*NETCONFORM, "list", name], tmp_path)
    assert result.returncode == 10
    assert result.stderr.split("\n") == ["netconform list: 1 invalid scenario spec(s):",
                                         *(f"  {line}" for line in _expected(case, name)), ""]


@pytest.mark.parametrize("case", SPECS, ids=_ids(SPECS))
def test_pytest_with_the_plugin(case: Path, tmp_path: Path) -> None:
    name = _yaml(case, tmp_path).name
    result = _run([sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", name], tmp_path)
    assert result.returncode == 10
    assert result.stderr.split("\n") == ["netconform: 1 invalid scenario spec(s); nothing was created.",
                                         *(f"  {line}" for line in _expected(case, name)), ""]


@pytest.mark.parametrize("case", PROFILES, ids=_ids(PROFILES))
def test_netconform_run_with_the_profile(case: Path, tmp_path: Path) -> None:
    """The shipped scenarios with an invalid profile: refused before any daemon is asked anything."""
    path = _yaml(case, tmp_path)
    result = _run([*NETCONFORM, "run", "--profile", path.name], tmp_path)
    assert result.returncode == 10
    assert result.stderr.split("\n") == ["netconform: an invalid profile; nothing was created.",
                                         *(f"  {line}" for line in _expected(case, str(path))), ""]


@pytest.mark.parametrize("case", REPORTS, ids=_ids(REPORTS))
def test_netconform_diff(case: Path, tmp_path: Path) -> None:
    """The bad report second for half the cases, first for the others: either is named."""
    shutil.copy(CORPUS / "report" / "base.json", tmp_path / "base.json")
    shutil.copy(case, tmp_path / case.name)
    pair = ["base.json", case.name] if REPORTS.index(case) % 2 else [case.name, "base.json"]
    result = _run([*NETCONFORM, "diff", *pair], tmp_path)
    assert result.returncode == 2
    assert result.stderr.split("\n") == [f"netconform diff: {line}" for line in _expected(case, case.name)] + [""]


def test_the_base_report_is_valid(tmp_path: Path) -> None:
    base = CORPUS / "report" / "base.json"
    assert _run([*NETCONFORM, "diff", str(base), str(base)], tmp_path).returncode == 0
