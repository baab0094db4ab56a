"""Published ports and isolation hold whatever the FORWARD policy of the daemon's netns says.

dockerd sets the policy to DROP only when it had to turn net.ipv4.ip_forward on itself; a
dedicated daemon's fresh netns inherits forwarding from the host, so it starts with ACCEPT. Each
daemon (20.10, 26.1, 28.5) runs the publishing, isolation and gateway-mode scenarios once per
policy, set in its netns before the run (the scenarios read it as setting.forward_policy and
expect what each policy lets through: < 28, direct routing to unpublished container ports).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faultrun import assert_passes, run_specs
from injectors import in_netns, run

from netconform.errors import ToolMissing
from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity
from netconform.spec.shipped import suites_dir

pytestmark = [
    pytest.mark.faults,
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="dedicated daemons need root"),
]

STEMS = ("reach-published", "reach-custom", "reach-icc", "gateway-modes")
VERSIONS = ("system", "26.1.5", "28.5.2")


def _binaries(version: str) -> DaemonBinaries:
    if version == "system":
        return DaemonBinaries.system()
    try:
        return DaemonBinaries.unpacked(version)
    except ToolMissing as err:
        pytest.skip(str(err))


def _policy(netns: str) -> str:
    rules = run(in_netns(netns, ["iptables", "-S", "FORWARD"]), "read the FORWARD policy")
    return next(line.split()[2] for line in rules.splitlines() if line.startswith("-P FORWARD "))


@pytest.mark.parametrize("version", VERSIONS)
def test_published_ports_and_isolation_hold_under_either_forward_policy(
        version: str, run_identity: RunIdentity, tmp_path: Path) -> None:
    specs = {stem: (suites_dir() / f"{stem}.yaml").read_text() for stem in STEMS}
    daemon = DedicatedDaemon(run_identity, f"fwd-{version.split('.')[0]}", _binaries(version))
    try:
        netns = str(daemon.start().netns_path)
        found = _policy(netns)
        try:
            for policy in ("DROP", "ACCEPT"):
                run(in_netns(netns, ["iptables", "-P", "FORWARD", policy]), f"set policy {policy}")
                result = run_specs(tmp_path / policy, daemon, specs)
                print(f"{version} FORWARD {policy}: {len(result.outcomes)} checks in {result.seconds:.1f}s")
                assert_passes(result)
        finally:
            run(in_netns(netns, ["iptables", "-P", "FORWARD", found]), "restore the policy")
    finally:
        daemon.stop()
