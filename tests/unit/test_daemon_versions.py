"""The catalogue of daemon versions: short and full names, --help, and the error for one not unpacked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netconform.cli import build_parser
from netconform.errors import ToolMissing
from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.daemon_versions import VERSIONS, describe_versions, find_version

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "full"), [("20", "20.10.24"), ("20.10.24", "20.10.24"), ("26", "26.1.5"),
                                            ("26.1.5", "26.1.5"), ("28", "28.5.2"), ("28.5.2", "28.5.2")])
def test_a_version_is_found_by_its_short_or_full_name(name: str, full: str) -> None:
    version = find_version(name)
    assert version.full == full
    assert version.short == full.split(".")[0]


@pytest.mark.parametrize("name", ["19", "26.1", "26.1.4", "host", "", "v26"])
def test_an_unknown_version_names_the_known_ones(name: str) -> None:
    with pytest.raises(ValueError, match=re.escape("(known: 20 (20.10.24), 26 (26.1.5), 28 (28.5.2))")):
        find_version(name)


def test_only_the_installed_engine_needs_no_fetch() -> None:
    assert [v.short for v in VERSIONS if v.installed] == ["20"]
    assert find_version("26").fetch_command == "ci/fetch-docker 26.1.5"
    assert find_version("20").fetch_command is None


def test_every_unpacked_version_is_one_ci_fetch_docker_knows() -> None:
    """ci/fetch-docker's suite table and the catalogue must not drift apart."""
    script = (ROOT / "ci" / "fetch-docker").read_text()
    known = set(re.findall(r"^\s+([0-9.]+)\) SUITES=", script, re.MULTILINE))
    assert known == {v.full for v in VERSIONS if not v.installed}


def test_help_lists_each_version_by_both_names(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["daemon", "start", "--help"])
    out = capsys.readouterr().out
    for line in describe_versions():
        assert line in out, out
    assert "26 or 26.1.5: " in out and "ci/fetch-docker 28.5.2" in out, out


def test_the_daemon_command_takes_either_name_for_one_version() -> None:
    short = build_parser().parse_args(["daemon", "start", "--name", "x", "--version", "26"])
    full = build_parser().parse_args(["daemon", "start", "--name", "x", "--version", "26.1.5"])
    default = build_parser().parse_args(["daemon", "start", "--name", "x"])
    assert short.version == full.version == find_version("26")
    assert default.version == find_version("20")


def test_a_tree_not_unpacked_is_one_line_naming_the_fetch_command(tmp_path: Path) -> None:
    with pytest.raises(ToolMissing) as caught:
        DaemonBinaries.unpacked("26.1.5", tmp_path / "docker-26.1.5" / "root")
    message = str(caught.value)
    assert "\n" not in message
    assert "docker.io 26.1.5 is not unpacked" in message and "run ci/fetch-docker 26.1.5" in message, message


def _netconform(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """The command with an empty cache: no version is unpacked there."""
    env = {**os.environ, "NETCONFORM_CACHE": str(tmp_path / "empty-cache")}
    return subprocess.run([sys.executable, "-m", "netconform", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("argv", [["daemon", "start", "--name", "notfetched", "--version", "26"],
                                  ["upgrade", "26.1.5", "28"]], ids=["daemon-start", "upgrade"])
def test_a_version_not_unpacked_ends_the_command_with_the_fetch_command(tmp_path: Path, argv: list[str]) -> None:
    done = _netconform(tmp_path, *argv)
    assert done.returncode == ToolMissing.exit_code, done
    assert done.stdout == "", done.stdout  # nothing ran: no suite, no daemon
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    assert re.fullmatch(rf"netconform {argv[0]}: docker\.io 26\.1\.5 is not unpacked \(no .*\): "
                        r"run ci/fetch-docker 26\.1\.5 \(as root\) first\n", done.stderr), done.stderr
