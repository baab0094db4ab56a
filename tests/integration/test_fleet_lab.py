"""``netconform fleet`` end to end, over daemons reached only over TCP with TLS.

The hosts: the Swarm lab's three daemons (:class:`SwarmLab` with ``api_tls``: dockerd 28.5.2 as
manager, worker1 and worker2, each in its own network namespace, serving its API on port 2376 with
``--tlsverify`` and a throwaway CA, on a veth from here), one more dedicated 28.5.2 daemon with
``--mtu=1450`` and a CA of its own (the odd host), and a host nobody listens for. The fleet runs
``suites/none.yaml`` with the docker-defaults profile: one merged report with a row per host, the
unreachable one an error row, the odd one standing out on the MTU, each host's facts read on the
host (not in the helper image), and nothing left on any daemon. Ctrl-C in the middle of a run stops
and removes the helper on every node. Needs root, busybox-static, openssl and ``ci/fetch-docker
28.5.2``; run it under the host lock. About 40 s here.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from netconform.errors import EXIT_INTERRUPTED, ToolMissing
from netconform.fleet.hosts import FleetHost, Tls, hosts_yaml
from netconform.fleet.remote import LABEL_FLEET_RUN
from netconform.hermetic.api_tls import API_PORT, LabCertificates, connect_veth, link_addresses, make_certificates
from netconform.hermetic.daemon_versions import find_version
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
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
# The odd host's veth: a /30 apart from the lab's API links (100.81.0.0/24).
ODD_LINK = ipaddress.IPv4Network("100.80.0.0/30")
_EMPTY: dict[str, list[str]] = {node: [] for node in NODES}
PROMPT = 45.0  # seconds from SIGINT to exit: the helpers' suites tear down, their images are removed


def _tls(certificates: LabCertificates | None) -> Tls:
    assert certificates is not None
    return Tls(certificates.ca, certificates.client_cert, certificates.client_key)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SwarmLab, FleetHost, DedicatedDaemon]]:
    try:
        binaries = find_version("28").binaries()
    except ToolMissing as err:
        pytest.skip(str(err))
    run = RunIdentity.new()
    here, there = link_addresses(ODD_LINK, 0)
    odd_certificates = make_certificates(tmp_path_factory.mktemp("odd-certs"), [there])
    odd = DedicatedDaemon(run, "fleet-odd", binaries, [*odd_certificates.daemon_flags(), "--mtu=1450"],
                         listen=[f"tcp://0.0.0.0:{API_PORT}"])
    try:
        with SwarmLab(run, binaries, api_tls=tmp_path_factory.mktemp("certs")) as started:
            odd.start()
            connect_veth(str(odd.netns_path), f"nc{run.run_id}x0", f"nc{run.run_id}y0", here, there)
            odd_host = FleetHost("odd", f"tcp://{there}:{API_PORT}", _tls(odd_certificates),
                                 socket=str(odd.paths.socket))
            yield started, odd_host, odd
    finally:
        odd.stop()
        unregister(run)


def _lab_hosts(lab: SwarmLab) -> list[FleetHost]:
    return [FleetHost(node.name, node.api_url, _tls(lab.certificates), socket=str(node.daemon.paths.socket))
            for node in lab.nodes.values()]


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _fleet(hosts: list[FleetHost], into: Path, *more: str) -> list[str]:
    (into / "hosts.yaml").write_text(hosts_yaml(hosts))
    return [sys.executable, "-m", "netconform", "fleet", str(into / "hosts.yaml"), "--report-dir", str(into / "fleet"),
            "--timeout", "300", *more]


def _helpers(lab: SwarmLab, status: str | None = None) -> dict[str, list[str]]:
    """Each node's fleet helper containers (``status``: only those in it)."""
    filters: dict[str, object] = {"label": LABEL_FLEET_RUN, **({"status": status} if status else {})}
    return {node.name: [c.name for c in node.client.containers.list(all=True, filters=filters)]
            for node in lab.nodes.values()}


def test_a_fleet_over_the_lab_merges_the_reports_and_the_odd_host_stands_out(
        lab: tuple[SwarmLab, FleetHost, DedicatedDaemon], tmp_path: Path) -> None:
    swarm, odd_host, odd = lab
    gone = FleetHost("gone", f"tcp://127.0.0.1:{_closed_port()}")
    done = subprocess.run(_fleet([*_lab_hosts(swarm), odd_host, gone], tmp_path, "--scenarios", "suites/none.yaml",
                                 "--profile", "docker-defaults"),
                          cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    out, story = tmp_path / "fleet", done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 18, story  # gone gave no report
    merged = json.loads((out / "fleet.json").read_text())
    rows = {host["name"]: host for host in merged["hosts"]}
    assert [name for name, row in rows.items() if row["report"]] == [*NODES, "odd"], story
    assert rows["gone"]["error"].startswith("cannot reach the daemon at tcp://127.0.0.1:"), story
    assert all(rows[name]["daemon_version"].startswith("28.5.2") for name in (*NODES, "odd")), story
    # The host x aspect table: the three lab nodes alike; the odd host fails the one mtu check more.
    assert rows["manager"]["counts"]["passed"] > 0, story
    assert rows["worker1"]["aspects"] == rows["manager"]["aspects"] == rows["worker2"]["aspects"], story
    checks = {name: json.loads((out / name / "report.json").read_text())["checks"] for name in ("manager", "odd")}
    failed = {name: {c["id"] for c in records if c["outcome"] in ("failed", "error")}
              for name, records in checks.items()}
    extra = failed["odd"] - failed["manager"]
    assert len(extra) == 1 and "mtu" in next(iter(extra)) and not failed["manager"] - failed["odd"], failed
    # The host-level diff: the odd host, and only it, stands out on the MTU.
    odd_ones = {item["fact"]: item["odd"] for item in merged["differences"]}
    assert odd_ones["daemon setting mtu"] == ["odd"], odd_ones
    assert not set(merged["standing_out"]) & set(NODES), merged["standing_out"]
    assert "<- odd stands out" in done.stdout and "ERROR: cannot reach the daemon" in done.stdout
    assert (out / "fleet.html").read_text().count('href="') >= 4
    # Host facts come from the host each daemon runs on, as a local read there gives them; the
    # helper image has no package database and no os-release of the host's.
    for name, pid in [*((node.name, node.daemon.pid) for node in swarm.nodes.values()), ("odd", odd.pid)]:
        seen = json.loads((out / name / "report.json").read_text())["host"]
        assert seen == host_info(pid), name
        assert any(seen["packages"].values()) and not seen["distribution"].startswith("<unknown"), seen
    # Nothing the fleet sent or started stays on a daemon.
    for client in [node.client for node in swarm.nodes.values()] + [odd.client()]:
        assert client.containers.list(all=True) == [] and client.images.list() == []


def test_the_daemons_refuse_a_client_without_the_lab_certificate(
        lab: tuple[SwarmLab, FleetHost, DedicatedDaemon]) -> None:
    """The lab's TCP sockets are TLS-verified: the fleet got through because it sent its certificate."""
    with pytest.raises(docker.errors.DockerException):
        docker.DockerClient(base_url=lab[0].manager.api_url, timeout=10).version()


def test_ctrl_c_stops_and_removes_the_helper_on_every_node(
        lab: tuple[SwarmLab, FleetHost, DedicatedDaemon], tmp_path: Path) -> None:
    swarm = lab[0]
    # The shipped scenarios: long enough to be under way on every node when SIGINT comes.
    fleet = subprocess.Popen(_fleet(_lab_hosts(swarm), tmp_path), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not all(_helpers(swarm, "running").values()):
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
    assert _helpers(swarm) == _EMPTY, story
    # The suites inside were stopped with SIGTERM, so they tore their scenarios down; what the fleet
    # sent went too (the nodes had no image before it).
    for node in swarm.nodes.values():
        assert node.client.containers.list(all=True) == [] and node.client.images.list() == [], story
    rows = {host["name"]: host for host in json.loads((tmp_path / "fleet" / "fleet.json").read_text())["hosts"]}
    assert set(rows) == set(NODES) and all(row["error"].startswith("interrupted") for row in rows.values()), rows
    print(f"SIGINT to exit: {took:.1f}s")
