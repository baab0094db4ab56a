"""``netconform fleet`` end to end: three dedicated daemons, each reached only over TCP with TLS.

The lab: dockerd 20.10.24, 26.1.5 and 20.10.24 with ``--mtu=1450``, each in its own network
namespace, serving its API on port 2376 with ``--tlsverify`` (a throwaway CA made with openssl
signs the daemons' and the client's certificates), reached from here through a veth into that
namespace, plus a fourth host nobody listens for. The fleet runs ``suites/none.yaml`` with the
docker-defaults profile on each: the merged report has a row per host, the unreachable one an
error row, and the facts set the 1450 daemon apart (and the version the 26 one). Nothing the fleet
sent stays on the daemons. Needs root, busybox-static, openssl and ``ci/fetch-docker 26.1.5``; run
it under the host lock. About 100 s here.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from netconform.errors import ToolMissing
from netconform.fleet.remote import LABEL_FLEET_RUN
from netconform.hermetic.api_tls import API_PORT as PORT
from netconform.hermetic.api_tls import connect_veth, link_addresses, make_certificates
from netconform.hermetic.daemon_versions import find_version
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.xdist_group("daemon"),
    pytest.mark.skipif(os.geteuid() != 0, reason="dedicated daemons need root"),
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl makes the lab's certificates"),
]

ROOT = Path(__file__).resolve().parents[2]
# A range nothing else here uses: each lab daemon's veth is a /30 of it (.1 here, .2 in its netns).
LINKS = ipaddress.IPv4Network("100.80.0.0/24")
LAB = (("lab-a", "20", ()), ("lab-b", "26", ()), ("lab-c", "20", ("--mtu=1450",)))


@dataclass(frozen=True)
class LabHost:
    name: str
    address: str
    daemon: DedicatedDaemon


def connect(run_id: str, index: int, daemon: DedicatedDaemon) -> str:
    """A veth from here into the daemon's netns; the address of its end there. Named with the run id;
    it goes with the daemon's netns."""
    here, there = link_addresses(LINKS, index)
    connect_veth(str(daemon.netns_path), f"nc{run_id}x{index}", f"nc{run_id}y{index}", here, there)
    return there


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, registered_run: RunIdentity) -> Iterator[tuple[Path, list[LabHost]]]:
    try:
        engines = {version: find_version(version).binaries() for version in ("20", "26")}
    except ToolMissing as err:
        pytest.skip(str(err))
    certs = tmp_path_factory.mktemp("certs")
    tls = make_certificates(certs, [link_addresses(LINKS, i)[1] for i in range(len(LAB))]).daemon_flags()
    started: list[DedicatedDaemon] = []
    try:
        hosts = []
        for index, (name, version, flags) in enumerate(LAB):
            daemon = DedicatedDaemon(registered_run, f"fleet{index}", engines[version], [*tls, *flags],
                                     listen=[f"tcp://0.0.0.0:{PORT}"])
            started.append(daemon)
            daemon.start()
            hosts.append(LabHost(name, connect(registered_run.run_id, index, daemon), daemon))
        yield certs, hosts
    finally:
        for daemon in started:
            daemon.stop()


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def hosts_file(path: Path, certs: Path, hosts: list[LabHost]) -> Path:
    tls = (f"    tls: {{ca: {certs / 'ca.pem'}, cert: {certs / 'client.pem'}, key: {certs / 'client-key.pem'}}}\n")
    lines = ["hosts:\n"]
    for host in hosts:
        lines += [f"  - name: {host.name}\n", f"    docker_host: tcp://{host.address}:{PORT}\n", tls,
                  f"    socket: {host.daemon.paths.socket}\n"]
    lines += ["  - name: lab-gone\n", f"    docker_host: tcp://127.0.0.1:{_closed_port()}\n"]
    path.write_text("".join(lines))
    return path


def test_a_fleet_of_three_tls_daemons_gives_one_merged_report(
        lab: tuple[Path, list[LabHost]], tmp_path: Path) -> None:
    certs, hosts = lab
    out = tmp_path / "fleet"
    done = subprocess.run(
        [sys.executable, "-m", "netconform", "fleet", str(hosts_file(tmp_path / "hosts.yaml", certs, hosts)),
         "--scenarios", "suites/none.yaml", "--profile", "docker-defaults", "--report-dir", str(out),
         "--timeout", "240"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    story = done.stdout[-6000:] + done.stderr[-3000:]
    assert done.returncode == 18, story  # lab-gone gave no report
    merged = json.loads((out / "fleet.json").read_text())
    rows = {host["name"]: host for host in merged["hosts"]}
    assert [name for name, row in rows.items() if row["report"]] == ["lab-a", "lab-b", "lab-c"], story
    assert rows["lab-gone"]["error"].startswith("cannot reach the daemon at tcp://127.0.0.1:"), story
    assert rows["lab-b"]["daemon_version"].startswith("26.1.5") and rows["lab-a"]["daemon_version"].startswith("20.")
    for name in ("lab-a", "lab-b", "lab-c"):
        assert (out / name / "report.json").is_file() and (out / name / "report.html").is_file()
        assert rows[name]["counts"]["passed"] > 0, story
    # The docker-defaults profile pins mtu 1500: lab-c fails one check more than lab-a, that one.
    checks = {name: json.loads((out / name / "report.json").read_text())["checks"] for name in ("lab-a", "lab-c")}
    failed = {name: {c["id"] for c in records if c["outcome"] in ("failed", "error")}
              for name, records in checks.items()}
    extra = failed["lab-c"] - failed["lab-a"]
    assert len(extra) == 1 and "mtu" in next(iter(extra)) and not failed["lab-a"] - failed["lab-c"], failed
    aspect = next(c["aspect"] for c in checks["lab-c"] if c["id"] in extra)
    assert rows["lab-c"]["aspects"][aspect]["failed"] == rows["lab-a"]["aspects"][aspect]["failed"] + 1
    # The host-level diff: lab-c stands out on the MTU, lab-b on its version.
    odd = {item["fact"]: item["odd"] for item in merged["differences"]}
    assert odd["daemon setting mtu"] == ["lab-c"] and odd["daemon version"] == ["lab-b"], odd
    assert "lab-a" not in merged["standing_out"], merged["standing_out"]
    assert "<- lab-c stands out" in done.stdout and "ERROR: cannot reach the daemon" in done.stdout
    assert (out / "fleet.html").read_text().count('href="lab-') == 3
    # Nothing the fleet sent or started stays on a daemon.
    for host in hosts:
        client = host.daemon.client()
        assert client.containers.list(all=True, filters={"label": LABEL_FLEET_RUN}) == []
        assert client.images.list() == []  # the helper and probe images, sent to empty daemons


def test_the_daemons_refuse_a_client_without_the_lab_certificate(lab: tuple[Path, list[LabHost]]) -> None:
    """The lab's TCP sockets are TLS-verified: the fleet above got through because it sent its certificate."""
    _, hosts = lab
    with pytest.raises(docker.errors.DockerException):
        docker.DockerClient(base_url=f"tcp://{hosts[0].address}:{PORT}", timeout=10).version()
