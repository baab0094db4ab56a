"""examples/test_network_modes.py run as a user runs it: from another directory, with the plugin
named on the command line. It passes, leaves nothing behind, and its tests are in the report;
a wrong assertion in such a test fails (the fixtures observe, they do not hand out canned facts)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import docker
import pytest

from netconform.hermetic.runs import LABEL_RUN

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "test_network_modes.py"


def run_pytest(cwd: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider",
                             "--report-dir", "out", *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    written = cwd / "out" / "report.json"
    assert written.is_file(), result.stdout[-3000:] + result.stderr[-2000:]
    return result, str(json.loads(written.read_text())["run"]["id"])


def left_behind(run_id: str) -> list[str]:
    client = docker.from_env()
    try:
        label = f"{LABEL_RUN}={run_id}"
        found = [*client.containers.list(all=True, filters={"label": label}),
                 *client.networks.list(filters={"label": label})]
        return sorted(str(item.name) for item in found)
    finally:
        client.close()


def outcomes(stdout: str) -> dict[str, int]:
    last = stdout.strip().splitlines()[-1]
    return {word: int(count) for count, word in re.findall(r"(\d+) (passed|failed|errors?|skipped)", last)}


def report(cwd: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((cwd / "out" / "report.json").read_text())
    return document


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist-2"])
def test_the_example_passes_leaves_nothing_and_is_reported(tmp_path: Path, workers: list[str]) -> None:
    result, run_id = run_pytest(tmp_path, str(EXAMPLE), *workers)
    assert result.returncode == 0, result.stdout[-4000:]
    assert outcomes(result.stdout) == {"passed": 17}
    assert left_behind(run_id) == []
    document = report(tmp_path)
    tests = {record["id"]: record for record in document["checks"] if record["kind"] == "test"}
    assert len(tests) == 17 and {record["outcome"] for record in tests.values()} == {"passed"}
    modes = {record["scenario"] for record in tests.values()}
    assert modes == {"mode-bridge", "mode-host", "mode-none", "mode-container", "mode-custom", "small-mtu"}
    assert {scenario["name"] for scenario in document["scenarios"]} >= modes
    assert document["daemon"]["version"]  # also when only xdist workers used the daemon
    html = (tmp_path / "out" / "report.html").read_text()
    assert "test_custom_network_resolves_and_reaches_a_peer_by_name" in html
    # The probe the custom-mode test made is in its scenario's observed facts.
    custom = next(scenario for scenario in document["scenarios"] if scenario["name"] == "mode-custom")
    assert [probe["outcome"] for probe in custom["observed"]["reach"]] == ["reach"]


WRONG = """\
    import pytest

    from netconform.testing import ContainerUnderTest


    @pytest.mark.parametrize("netconform_container", ["bridge", "none"], indirect=True)
    def test_has_eth0(netconform_container: ContainerUnderTest) -> None:
        assert netconform_container.interfaces == ["eth0", "lo"]


    @pytest.mark.parametrize("netconform_container", ["custom"], indirect=True)
    def test_peer_is_blocked(netconform_container: ContainerUnderTest) -> None:
        peer = netconform_container.other
        assert netconform_container.reach(peer.key, "tcp", 8080).outcome == "blocked"
"""


def test_a_wrong_assertion_fails_and_is_reported_with_its_evidence(tmp_path: Path) -> None:
    (tmp_path / "test_wrong.py").write_text(textwrap.dedent(WRONG))
    result, run_id = run_pytest(tmp_path, "test_wrong.py")
    assert result.returncode == 1, result.stdout[-4000:]
    assert outcomes(result.stdout) == {"passed": 1, "failed": 2}
    assert left_behind(run_id) == []
    records = {record["name"]: record for record in report(tmp_path)["checks"]}
    assert records["test_has_eth0[bridge]"]["outcome"] == "passed"
    none = records["test_has_eth0[none]"]
    assert (none["kind"], none["outcome"], none["scenario"], none["subject"]) == ("test", "failed", "mode-none",
                                                                                  "subject")
    assert "assert ['lo'] == ['eth0', 'lo']" in none["evidence"]["failure"]
    assert none["evidence"]["subject interfaces"].startswith("1: lo (loopback) UP")
    blocked = records["test_peer_is_blocked[custom]"]
    assert blocked["outcome"] == "failed" and "assert 'reach' == 'blocked'" in blocked["evidence"]["failure"]
    assert any(key.startswith("probe subject->other") and ": reach [" in text
               for key, text in blocked["evidence"].items())
    assert "FAIL  mode-none test_has_eth0[none]: AssertionError: assert ['lo'] == ['eth0', 'lo']" in result.stdout
