"""Host profiles against real daemons started with non-default networking flags.

For each flag: the shipped docker-defaults profile fails naming exactly the settings the flag
changed, and a profile written by ``netconform profile init`` from that daemon passes (the round
trip). Each daemon is a dedicated one in its own network namespace; the host's is never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity

pytestmark = [pytest.mark.daemon, pytest.mark.skipif(os.geteuid() != 0, reason="dedicated daemons need root")]

# flag -> the settings of docker-defaults it must contradict (and nothing else)
FLAGS = {
    "--icc=false": {"icc"},
    "--mtu=1450": {"mtu"},
    "--bip=10.77.0.1/24": {"bip"},
    # Without --bip the default bridge takes its subnet from the first pool too.
    "--default-address-pool=base=10.123.0.0/16,size=24": {"default_address_pools", "bip"},
    "--dns=198.18.0.53": {"dns"},
    "--ip-masq=false": {"ip_masq"},
    # Masquerading is done by iptables: without it the default bridge says enable_ip_masquerade=false.
    "--iptables=false": {"iptables", "docker_nat_chain", "ip_masq"},
    "--userns-remap=default": {"userns_remapped"},
}


@pytest.fixture(scope="module", params=sorted(FLAGS), ids=lambda flag: flag.split("=")[0].lstrip("-"))
def daemon(request: pytest.FixtureRequest, registered_run: RunIdentity) -> Iterator[tuple[str, DedicatedDaemon]]:
    flag: str = request.param
    started = DedicatedDaemon(registered_run, "profile-" + flag.split("=")[0].lstrip("-")[:8], DaemonBinaries.system(),
                              [flag])
    try:
        yield flag, started.start()
    finally:
        started.stop()


def _run(daemon: DedicatedDaemon, profile: str, cwd: Path) -> tuple[int, dict[str, str]]:
    """Only the profile's items (-k profile) against ``daemon``; outcome per setting."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "-q", "-k", "profile",
         "--profile", profile, "--docker-host", daemon.docker_host, "--daemon-pid", str(daemon.pid),
         "--report-dir", "out", str(Path(__file__).resolve().parents[2] / "suites" / "none.yaml")],
        cwd=cwd, capture_output=True, text=True, timeout=300)
    report = json.loads((cwd / "out" / "report.json").read_text())
    outcomes = {record["property"].removeprefix("setting."): record["outcome"]
                for record in report["checks"] if record["kind"] == "setting"}
    assert outcomes, done.stdout[-3000:] + done.stderr[-2000:]
    return done.returncode, outcomes


def test_the_defaults_profile_names_exactly_what_the_flag_changed(daemon: tuple[str, DedicatedDaemon],
                                                                   tmp_path: Path) -> None:
    flag, started = daemon
    code, outcomes = _run(started, "docker-defaults", tmp_path)
    drifted = {name for name, outcome in outcomes.items() if outcome != "passed"}
    assert code == 1 and drifted == FLAGS[flag], outcomes


def test_a_profile_written_from_the_daemon_passes_on_it(daemon: tuple[str, DedicatedDaemon], tmp_path: Path) -> None:
    _, started = daemon
    written = tmp_path / "this-host.yaml"
    subprocess.run([sys.executable, "-m", "netconform", "profile", "init", "-o", str(written),
                    "--docker-host", started.docker_host, "--daemon-pid", str(started.pid)],
                   check=True, capture_output=True, text=True, timeout=60)
    code, outcomes = _run(started, str(written), tmp_path)
    assert code == 0 and set(outcomes.values()) == {"passed"}, outcomes
    assert len(outcomes) >= 20


@pytest.fixture(scope="module")
def mtu_daemon(registered_run: RunIdentity) -> Iterator[DedicatedDaemon]:
    started = DedicatedDaemon(registered_run, "profile-mtu2", DaemonBinaries.system(), ["--mtu=1450"])
    try:
        yield started.start()
    finally:
        started.stop()


def _bridge_run(daemon: DedicatedDaemon, cwd: Path, *profile: str) -> dict[str, str]:
    cwd.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "-q", "-k", "mtu",
         *profile, "--docker-host", daemon.docker_host, "--daemon-pid", str(daemon.pid), "--report-dir", "out",
         str(Path(__file__).resolve().parents[2] / "suites" / "bridge.yaml")],
        cwd=cwd, capture_output=True, text=True, timeout=300)
    report = json.loads((cwd / "out" / "report.json").read_text())
    return {record["id"].split("::", 1)[1]: record["outcome"] for record in report["checks"]}


def test_behaviour_follows_the_profile_where_it_pins_a_value(mtu_daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """--mtu 1450: without a profile the containers' MTU follows the daemon (pass); with the defaults
    profile both the setting and the behaviour that depends on it fail."""
    plain = _bridge_run(mtu_daemon, tmp_path / "plain")
    assert plain and set(plain.values()) == {"passed"}, plain
    pinned = _bridge_run(mtu_daemon, tmp_path / "pinned", "--profile", "docker-defaults")
    assert pinned["alpha::interface.eth0.mtu"] == "failed" and pinned["setting.mtu"] == "failed", pinned
