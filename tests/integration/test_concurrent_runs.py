"""Runs share a daemon with other runs and with its users: neither may turn them red.

Two whole runs at once on the host's daemon (two CI jobs on one runner) are both green; a run
beside a user's network that holds a subnet the scenarios declare, and a user's container that
holds their published host ports, moves around them (and says so) instead of failing, and leaves
the user's objects as they were. ``ci/soak N --concurrent-only`` repeats the first case N times.
Run under the host lock (``flock /tmp/netconform-host.lock``): other tests' objects would be counted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import docker
import pytest

from netconform.engine.image import ensure_probe_image
from netconform.hermetic.runs import LABEL_RUN

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the daemon's socket, namespaces)")


def _start(report: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider",
                             "--report-dir", str(report), *args],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _finish(process: subprocess.Popen[str], report: Path) -> tuple[dict[str, Any], str]:
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-3000:]
    document = json.loads((report / "report.json").read_text())
    counts = document["summary"]["counts"]
    # Skipped: only scenarios needing a kernel feature this machine lacks (each says which).
    assert counts["failed"] == counts["error"] == 0 and counts["passed"] > 0, counts
    assert counts["passed"] + counts["skipped"] == counts["total"], counts
    return document, output


def _labelled(client: Any) -> list[str]:
    return ([c.name for c in client.containers.list(all=True, filters={"label": LABEL_RUN})]
            + [str(n.name) for n in client.networks.list(filters={"label": LABEL_RUN})])


def test_two_whole_runs_at_once_on_one_daemon_are_both_green(client: Any, tmp_path: Path) -> None:
    before = _labelled(client)
    runs = [(_start(tmp_path / name), tmp_path / name) for name in ("first", "second")]
    documents = [_finish(process, report)[0] for process, report in runs]
    assert documents[0]["summary"]["counts"]["total"] == documents[1]["summary"]["counts"]["total"]
    moves = [line for process_output in (_moves(document) for document in documents) for line in process_output]
    print(f"{documents[0]['summary']['counts']['total']} checks each; moved: {moves or 'nothing'}")
    assert _labelled(client) == before


def _moves(document: dict[str, Any]) -> list[str]:
    return [note for scenario in document["scenarios"]
            for note in ((scenario.get("observed") or {}).get("relocation") or {}).get("notes") or []]


@pytest.fixture
def squatters(client: Any) -> Any:
    """A user's network on the subnets custom and reach-egress declare, and a user's container on
    the host ports reach-published declares (not netconform's: no run label)."""
    network = client.networks.create(
        "nc-test-squatter", driver="bridge",
        ipam=docker.types.IPAMConfig(pool_configs=[docker.types.IPAMPool(subnet="10.231.0.0/23")]))
    try:
        container = client.containers.run(
            ensure_probe_image(client), name="nc-test-squatter", detach=True, network=network.name,
            ports={"8080/tcp": 18080, "8081/udp": 18081, "8084/tcp": 18084})
    except BaseException:
        network.remove()
        raise
    try:
        yield network, container
    finally:
        container.remove(force=True)
        network.remove()


def test_a_run_moves_around_a_users_subnet_and_ports_and_leaves_them_be(
        client: Any, squatters: Any, tmp_path: Path) -> None:
    network, container = squatters
    process = _start(tmp_path / "run", "-k", "custom or reach-published")
    document, output = _finish(process, tmp_path / "run")
    moves = _moves(document)
    assert any(note.startswith("subnet 10.231.0.0/24 moved to ") and "nc-test-squatter" in note
               for note in moves), moves
    for port in ("18080/tcp", "18081/udp", "18084/tcp"):
        assert any(note.startswith(f"host port {port} moved to ") for note in moves), moves
    assert "MOVED custom: subnet 10.231.0.0/24 moved to " in output
    container.reload()
    assert container.status == "running"
    assert container.ports["8080/tcp"][0]["HostPort"] == "18080"
    assert client.networks.get(network.id).attrs["IPAM"]["Config"][0]["Subnet"] == "10.231.0.0/23"
