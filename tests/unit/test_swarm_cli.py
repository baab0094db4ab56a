"""``netconform swarm``: bad input ends before any lab is started, in one line with the spec exit code."""

from __future__ import annotations

from pathlib import Path

import pytest

from netconform.cli import main
from netconform.cli.swarm import load_all
from netconform.errors import SpecError
from netconform.spec.shipped import swarm_suites_dir


def test_no_matching_scenario_is_a_spec_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["swarm", "run", "-k", "no-such-scenario"]) == SpecError.exit_code
    err = capsys.readouterr().err
    assert err.startswith("netconform swarm: ") and "no Swarm scenario matches 'no-such-scenario'" in err
    assert len(err.strip().splitlines()) == 1


def test_a_missing_path_and_an_invalid_file_are_spec_errors(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["swarm", "run", str(tmp_path / "absent.yaml")]) == SpecError.exit_code
    assert "no such file or folder" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("containers: {a: {node: moon, networks: []}}\n")
    assert main(["swarm", "run", str(bad)]) == SpecError.exit_code
    assert "'moon' is not a lab node" in capsys.readouterr().err


def test_an_unknown_version_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["swarm", "run", "--version", "19"])
    assert caught.value.code == 2
    assert "unknown Docker version '19'" in capsys.readouterr().err


def test_a_folder_gives_its_scenarios_sorted() -> None:
    names = [scenario.name for scenario in load_all([swarm_suites_dir()])]
    assert names == sorted(names) and "overlay-reach" in names
