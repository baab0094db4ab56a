"""``netconform upgrade`` end to end: dedicated 20.10 and 26.1 daemons, a small selection, reports and diff.

Needs root, the installed docker.io 20.10 and ``ci/fetch-docker 26.1.5`` having run. Run it under
the host lock (flock /tmp/netconform-host.lock): the suites use fixed subnets and ports.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from netconform.errors import ToolMissing
from netconform.hermetic.daemon_paths import DaemonPaths
from netconform.hermetic.daemon_versions import find_version

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.xdist_group("daemon"),
    pytest.mark.skipif(os.geteuid() != 0, reason="dedicated daemons need root"),
]

ROOT = Path(__file__).resolve().parents[2]
ACCEPTED = ROOT / "ci" / "upgrade-accepted.yaml"


@pytest.fixture(scope="module", autouse=True)
def engines() -> None:
    for name in ("20", "26"):
        try:
            find_version(name).binaries()
        except ToolMissing as err:
            pytest.skip(str(err))


def upgrade(tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "netconform", "upgrade", *argv, "--report-dir", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900, check=False)


def _daemons_left(output: str) -> list[str]:
    """What remains of the dedicated daemons the command says it ran the suites on."""
    keys = re.findall(r"unix:///run/netconform/daemons/([0-9a-f]{8}-v\d+)/docker\.sock", output)
    assert len(keys) == 2, output
    return [place for key in keys for place in DaemonPaths(key).exists()]


def test_upgrade_runs_each_version_and_diffs_them_with_the_accepted_changes(tmp_path: Path) -> None:
    done = upgrade(tmp_path, "20", "26.1.5", "-k", "bridge", "--accept", str(ACCEPTED), "--fail-on-change")
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    for name, version in (("20", "20.10.24"), ("26", "26.1.5")):
        report = json.loads((tmp_path / name / "report.json").read_text())
        assert report["daemon"]["version"].startswith(version), report["daemon"]
        outcomes = {check["outcome"] for check in report["checks"]}
        assert len(report["checks"]) >= 10 and outcomes == {"passed"}, (name, outcomes)
    diff = (tmp_path / "diff-20-26.txt").read_text()
    assert "No regression" in diff and "Changes not accepted: none" in diff, diff
    assert diff in done.stdout, "the diff written is not the diff printed"
    assert "== upgrade 20 -> 26: suites all passed; diffs all passed" in done.stdout, done.stdout
    assert _daemons_left(output) == []


def test_an_unaccepted_change_fails_the_upgrade(tmp_path: Path) -> None:
    done = upgrade(tmp_path, "20", "26", "-k", "bridge and alpha and addresses", "--fail-on-change")
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-4000:]
    diff = (tmp_path / "diff-20-26.txt").read_text()
    assert "daemon version: " in diff and "not accepted" in diff, diff
    assert "diffs failed: 20 -> 26" in done.stdout, done.stdout
    assert _daemons_left(output) == []
