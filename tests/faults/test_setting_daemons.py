"""The shipped scenarios follow the daemon's settings: unusual but consistent daemons pass them
without a profile, and a host that contradicts its daemon's settings fails naming the cause.

Each daemon is a dedicated 20.10 daemon in its own netns, started with the flags under test, and
runs only the scenarios those flags decide (a full suite per daemon would cost minutes each). The
flags of one daemon are combined where they are independent, so the scenarios see them together.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest
from faultrun import SENTINEL_CIDR, assert_passes, dedicated_daemon, run_specs
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

# A nameserver address inside the sentinel's range that nothing answers on: only resolv.conf is
# checked, no lookup leaves for it (the hermetic-DNS rule).
DNS = "198.18.0.53"
assert DNS.rsplit(".", 1)[0] == SENTINEL_CIDR.rsplit(".", 1)[0]

UNUSUAL = ("--mtu=1450", "--bip=10.77.0.1/24", "--icc=false", "--ip-masq=false", f"--dns={DNS}",
           "--default-address-pool=base=10.123.0.0/16,size=24")
CASES = {
    "unusual": (UNUSUAL, ("bridge", "container", "custom", "host", "dns-bridge", "dns-custom", "dns-host",
                          "default-bridge", "reach-custom", "reach-egress", "reach-published", "host-consistency")),
    "no-iptables": (("--iptables=false",), ("default-bridge", "dns-custom", "reach-custom", "reach-icc", "reach-egress",
                                             "reach-published", "reach-internal", "reach-churn", "host-consistency")),
    "userns": (("--userns-remap=default",), ("bridge", "none", "container", "custom", "default-bridge", "host",
                                             "dns-host", "conflicts")),
}
# Cases where 25+ differs (internal networks have no default route there), on an unpacked 26.1.5.
CASES_26 = {"noipt-26": (("--iptables=false",), ("reach-internal", "default-bridge", "reach-published"))}


def shipped(stems: Sequence[str]) -> dict[str, str]:
    return {stem: (suites_dir() / f"{stem}.yaml").read_text() for stem in stems}


@pytest.mark.parametrize("case", list(CASES))
def test_consistent_unusual_daemon_passes_the_scenarios_its_settings_decide(
        case: str, run_identity: RunIdentity, tmp_path: Path) -> None:
    flags, stems = CASES[case]
    with dedicated_daemon(run_identity, f"set-{case}", flags) as daemon:
        result = run_specs(tmp_path / case, daemon, shipped(stems))
    print(f"{case}: {len(result.outcomes)} checks in {result.seconds:.1f}s")
    assert_passes(result)


@pytest.mark.parametrize("case", list(CASES_26))
def test_consistent_unusual_26_daemon_passes_the_scenarios_its_settings_decide(
        case: str, run_identity: RunIdentity, tmp_path: Path) -> None:
    flags, stems = CASES_26[case]
    try:
        binaries = DaemonBinaries.unpacked("26.1.5")
    except ToolMissing as err:
        pytest.skip(str(err))
    daemon = DedicatedDaemon(run_identity, f"set-{case}", binaries, flags)
    try:
        result = run_specs(tmp_path / case, daemon.start(), shipped(stems))
    finally:
        daemon.stop()
    print(f"{case}: {len(result.outcomes)} checks in {result.seconds:.1f}s")
    assert_passes(result)


def test_bridged_traffic_bypassing_iptables_fails_naming_the_setting(run_identity: RunIdentity,
                                                                      tmp_path: Path) -> None:
    """The switch is read as found, before the run creates anything. dockerd 20.10 turns it back on
    when it creates a network (libnetwork's bridge driver), so the ICC-disabled network of
    reach-icc is isolated all the same: only the consistency check sees the host as it was."""
    with dedicated_daemon(run_identity, "set-nf") as daemon:
        netns = str(daemon.netns_path)
        sysctl = "net.bridge.bridge-nf-call-iptables"
        before = run(in_netns(netns, ["sysctl", "-n", sysctl]), "read").strip()
        run(in_netns(netns, ["sysctl", "-w", f"{sysctl}=0"]), "inject")
        try:
            result = run_specs(tmp_path / "nf", daemon, shipped(["host-consistency", "reach-icc"]))
        finally:
            run(in_netns(netns, ["sysctl", "-w", f"{sysctl}={before}"]), "restore")
    failed = "host-consistency.yaml::host::consistent.bridge_netfilter"
    assert result.code == 1 and result.ids("failed") == {failed}, result.summary()
    assert f"{sysctl} is 0" in result.stories[failed], result.stories[failed]
