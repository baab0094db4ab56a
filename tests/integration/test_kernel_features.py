"""Kernel feature detection for real: the probe agrees with iproute2 on this kernel, leaves nothing,
and a scenario needing a feature the kernel lacks is skipped with the kernel's reason, never
passed nor an error, while one needing only what it has runs. Needs root and the Docker daemon."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import docker
import pytest
from pyroute2 import IPRoute

from netconform.facts.kernel import KERNEL_FEATURES
from netconform.hermetic.kernel_features import FeatureProbe, probe_features
from netconform.hermetic.runs import LABEL_RUN

ROOT = Path(__file__).resolve().parents[2]

# The same link types made by iproute2 in a throwaway namespace: an oracle independent of pyroute2.
IPROUTE2 = {
    "veth": "ip link add name x0 type veth peer name x1",
    "dummy": "ip link add name x0 type dummy",
    "vxlan": "ip link add name x0 type vxlan id 42 dstport 4789",
    "macvlan": "ip link add name p0 type veth peer name p1 && ip link add name x0 link p0 type macvlan mode bridge",
    "ipvlan": "ip link add name p0 type veth peer name p1 && ip link add name x0 link p0 type ipvlan mode l2",
}


def _links() -> set[str]:
    with IPRoute() as ipr:
        return {str(link.get("IFLA_IFNAME")) for link in ipr.link("dump")}


def test_the_probe_agrees_with_iproute2_and_leaves_nothing_in_this_namespace() -> None:
    before = _links()
    started = time.monotonic()
    found = probe_features(list(KERNEL_FEATURES))
    elapsed = time.monotonic() - started
    assert set(found) == set(KERNEL_FEATURES)
    for name, command in IPROUTE2.items():
        made = subprocess.run(["unshare", "--net", "sh", "-c", command], capture_output=True, text=True, timeout=30)
        assert found[name].present == (made.returncode == 0), (name, found[name], made.stderr)
    for feature in found.values():
        assert feature.present or feature.reason, feature  # an absence always says why
    assert not {name for name in _links() - before if name.startswith("nc")}, "the probe left links behind"
    assert elapsed < 5, f"probing took {elapsed:.1f}s"


def test_a_feature_is_probed_once_per_process() -> None:
    asked: list[list[str]] = []

    def counting(names: list[str]) -> dict[str, object]:
        asked.append(names)
        return probe_features(names)  # type: ignore[return-value]

    probe = FeatureProbe(counting)  # type: ignore[arg-type]
    first = probe.features(["veth", "ipvlan"])
    assert probe.features(["ipvlan", "veth"]) == first and asked == [["veth", "ipvlan"]]


SCENARIO = """\
description: needs {features}
requires: [{features}]
containers:
  web: {{}}
expect:
  web:
    interfaces: [lo, eth0]
    interface: {{eth0: {{kind: veth}}}}
"""


def test_missing_means_skipped_with_the_reason_present_means_run(tmp_path: Path) -> None:
    found = probe_features(list(KERNEL_FEATURES))
    absent = [name for name, feature in found.items() if not feature.present]
    if not absent:
        pytest.skip("this kernel has every feature netconform knows: nothing to skip")
    present = [name for name, feature in found.items() if feature.present]
    (tmp_path / "needs-missing.yaml").write_text(SCENARIO.format(features=f"veth, {absent[0]}"))
    (tmp_path / "needs-present.yaml").write_text(SCENARIO.format(features=", ".join(present)))
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "-rs",
                             str(tmp_path), f"--report-dir={tmp_path / 'report'}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    outcomes = {(check["scenario"], check["name"]): (check["outcome"], check["error"]) for check in report["checks"]}
    reason = found[absent[0]].skip_reason()
    assert {outcome for (scenario, _), outcome in outcomes.items() if scenario == "needs-missing"} == {
        ("skipped", reason)}
    assert {outcome for (scenario, _), outcome in outcomes.items() if scenario == "needs-present"} == {("passed", "")}
    assert report["summary"]["counts"]["skipped"] == 2 and report["summary"]["counts"]["passed"] == 2
    assert "netconform: 4 checks, 2 passed, 0 failed, 0 errors, 2 skipped" in output
    assert re.search(rf"SKIPPED \[2\] \S+: {re.escape(reason)}", output), output[-3000:]
    # Nothing was built for the skipped scenario (and the run cleaned up the other one).
    run_id = re.search(r"netconform: run ([0-9a-f]{8}),", output)
    assert run_id is not None
    client = docker.from_env()
    try:
        assert client.networks.list(filters={"label": f"{LABEL_RUN}={run_id.group(1)}"}) == []
        assert client.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id.group(1)}"}) == []
    finally:
        client.close()
    skipped = next(s for s in report["scenarios"] if s["name"] == "needs-missing")
    assert (skipped["skipped"], skipped["observed"]) == (reason, None)
