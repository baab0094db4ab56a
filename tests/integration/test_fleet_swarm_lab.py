"""``netconform fleet`` over the Swarm lab's three daemons, each serving its API over TCP with TLS.

The lab (:class:`SwarmLab` with ``api_tls``): dockerd 28.5.2 as manager, worker1 and worker2, each
in its own network namespace, listening on port 2376 with ``--tlsverify`` (a throwaway CA) on a
veth from here. The fleet runs ``suites/none.yaml`` on the three: one merged report, the host facts
of each read on the host (not in the helper image), and Ctrl-C in the middle of a run stops and
removes the helpers on every node. The odd hosts (another version, another MTU, a dead host) are
tests/integration/test_fleet_tls_lab.py's. Needs root, busybox-static, openssl and
``ci/fetch-docker 28.5.2``; run it under the host lock.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from netconform.errors import EXIT_INTERRUPTED, ToolMissing
from netconform.fleet.hosts import FleetHost, Tls, hosts_yaml
from netconform.fleet.remote import LABEL_FLEET_RUN
from netconform.hermetic.daemon_versions import find_version
from netconform.hermetic.runs import RunIdentity, unregister
from netconform.hermetic.swarm_lab import NODES, SwarmLab
from netconform.observe.hostinfo import host_info

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.xdist_group("daemon"),
    pytest.mark.skipif(os.geteuid() != 0, reason="a swarm lab needs root"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the lab's certificates"),
]

ROOT = Path(__file__).resolve().parents[2]
_EMPTY = {node: [] for node in NODES}
PROMPT = 45.0  # seconds from SIGINT to exit: the helpers' suites tear down, their images are removed


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SwarmLab]:
    try:
        binaries = find_version("28").binaries()
    except ToolMissing as err:
        pytest.skip(str(err))
    run = RunIdentity.new()
    try:
        with SwarmLab(run, binaries, api_tls=tmp_path_factory.mktemp("certs")) as started:
            yield started
    finally:
        unregister(run)


def _hosts_file(lab: SwarmLab, path: Path) -> Path:
    certificates = lab.certificates
    assert certificates is not None
    tls = Tls(certificates.ca, certificates.client_cert, certificates.client_key)
    path.write_text(hosts_yaml([FleetHost(node.name, node.api_url, tls, socket=str(node.daemon.paths.socket))
                                for node in lab.nodes.values()]))
    return path


def _fleet(hosts: Path, out: Path, *more: str) -> list[str]:
    return [sys.executable, "-m", "netconform", "fleet", str(hosts), "--report-dir", str(out), "--timeout", "300",
            *more]


def _helpers(lab: SwarmLab, status: str | None = None) -> dict[str, list[str]]:
    """Each node's fleet helper containers (``status``: only those in it)."""
    filters: dict[str, object] = {"label": LABEL_FLEET_RUN, **({"status": status} if status else {})}
    return {node.name: [c.name for c in node.client.containers.list(all=True, filters=filters)]
            for node in lab.nodes.values()}


def test_a_fleet_over_the_lab_nodes_merges_their_reports_with_the_hosts_own_facts(
        lab: SwarmLab, tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    done = subprocess.run(_fleet(_hosts_file(lab, tmp_path / "hosts.yaml"), out, "--scenarios", "suites/none.yaml"),
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    story = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode in (0, 1), story
    merged = json.loads((out / "fleet.json").read_text())
    rows = {host["name"]: host for host in merged["hosts"]}
    assert list(rows) == list(NODES) and all(row["report"] for row in rows.values()), story
    # The host x aspect table: the same engine and flags on each node, so the same counts.
    assert all(row["daemon_version"].startswith("28.5.2") for row in rows.values()), story
    assert rows["manager"]["aspects"] and rows["manager"]["counts"]["passed"] > 0, story
    assert rows["worker1"]["aspects"] == rows["manager"]["aspects"] == rows["worker2"]["aspects"], story
    # The host-level diff: identical nodes, so no fact sets one apart.
    assert merged["standing_out"] == {} or not merged["standing_out"], merged["differences"]
    assert "manager" in done.stdout and (out / "fleet.html").read_text().count('href="worker') == 2
    # Host facts come from the host the node runs on, as a local read there gives them; the helper
    # image has no package database and no os-release of the host's.
    for node in lab.nodes.values():
        seen = json.loads((out / node.name / "report.json").read_text())["host"]
        assert seen == host_info(node.daemon.pid), node.name
        assert any(seen["packages"].values()) and not seen["distribution"].startswith("<unknown"), seen
    assert _helpers(lab) == _EMPTY


def test_ctrl_c_stops_and_removes_the_helper_on_every_node(lab: SwarmLab, tmp_path: Path) -> None:
    out = tmp_path / "fleet"
    # The shipped scenarios: long enough to be under way on every node when SIGINT comes.
    fleet = subprocess.Popen(_fleet(_hosts_file(lab, tmp_path / "hosts.yaml"), out), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not all(_helpers(lab, "running").values()):
            assert fleet.poll() is None and time.monotonic() < deadline, "the helpers did not all start"
            time.sleep(0.5)
        time.sleep(2)  # the suites are building scenarios
        interrupted = time.monotonic()
        fleet.send_signal(signal.SIGINT)
        stdout, stderr = fleet.communicate(timeout=PROMPT + 60)
        took = time.monotonic() - interrupted
    finally:
        if fleet.poll() is None:
            fleet.kill()
            fleet.wait()
    story = stdout[-4000:] + stderr[-4000:]
    assert fleet.returncode == EXIT_INTERRUPTED, story
    assert took < PROMPT, f"took {took:.0f}s to stop\n{story}"
    assert "Traceback" not in stderr and "interrupted" in stderr, story
    assert _helpers(lab) == _EMPTY, story
    # The suites inside were stopped with SIGTERM, so they tore their scenarios down.
    assert {node.name: node.client.containers.list(all=True) for node in lab.nodes.values()} == _EMPTY, story
    rows = {host["name"]: host for host in json.loads((out / "fleet.json").read_text())["hosts"]}
    assert set(rows) == set(NODES) and all(row["error"].startswith("interrupted") for row in rows.values()), rows
    # What the fleet sent went too: the nodes had no image before it.
    assert {node.name: node.client.images.list() for node in lab.nodes.values()} == _EMPTY, story
    print(f"SIGINT to exit: {took:.1f}s")
