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
from faultrun import QUICK, SENTINEL_CIDR, assert_passes, dedicated_daemon, run_specs
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

# --bridge takes a bridge the operator made (dockerd refuses to create one of another name) and its
# address as the default bridge's gateway and subnet; --bip may not be given with it.
OWN_BRIDGE = {"ncbr0": "10.79.0.1/24"}
# Containers from the upper half of the default subnet, ports published without an address on
# loopback only, and no docker-proxy: independent of each other, so one daemon shows all three.
PUBLISHING = ("--fixed-cidr=172.17.0.128/25", "--ip=127.0.0.1", "--userland-proxy=false")
UNUSUAL = ("--mtu=1450", "--bip=10.77.0.1/24", "--icc=false", "--ip-masq=false", f"--dns={DNS}",
           "--default-address-pool=base=10.123.0.0/16,size=24")
CASES = {
    "unusual": (UNUSUAL, ("bridge", "container", "custom", "host", "dns-bridge", "dns-custom", "dns-host",
                          "default-bridge", "reach-custom", "reach-egress", "reach-published", "host-consistency")),
    "no-iptables": (("--iptables=false",), ("default-bridge", "dns-custom", "reach-custom", "reach-icc", "reach-egress",
                                             "reach-published", "reach-internal", "reach-churn", "host-consistency")),
    # Nothing publishes: no NAT, no proxy (every published port blocked, no source seen).
    "no-publish": (("--iptables=false", "--userland-proxy=false"), ("reach-published",)),
    "userns": (("--userns-remap=default",), ("bridge", "none", "container", "custom", "default-bridge", "host",
                                             "dns-host", "conflicts")),
    "own-bridge": (("--bridge=ncbr0",), ("bridge", "container", "host", "default-bridge", "reach-published")),
    "publishing": (PUBLISHING, ("bridge", "default-bridge", "reach-published")),
    # IPv6 on the default bridge: its containers get an address from --fixed-cidr-v6 and an IPv6
    # default route; everything IPv4 about the default bridge stays as it was. (Not bridge.yaml: with
    # --ipv6, 20.10 gives the default bridge's containers ::1 on loopback, which it declares absent.)
    "ipv6": (("--ipv6", "--fixed-cidr-v6=fd00:d0c:17::/64"), ("default-bridge-ipv6", "default-bridge")),
}
BRIDGES = {"own-bridge": OWN_BRIDGE}
# Cases where 25+ differs (internal networks have no default route there), on an unpacked 26.1.5.
CASES_26 = {"noipt-26": (("--iptables=false",), ("reach-internal", "default-bridge", "reach-published"))}


def shipped(stems: Sequence[str]) -> dict[str, str]:
    return {stem: (suites_dir() / f"{stem}.yaml").read_text() for stem in stems}


@pytest.mark.parametrize("case", list(CASES))
def test_consistent_unusual_daemon_passes_the_scenarios_its_settings_decide(
        case: str, run_identity: RunIdentity, tmp_path: Path) -> None:
    flags, stems = CASES[case]
    with dedicated_daemon(run_identity, f"set-{case}", flags, BRIDGES.get(case)) as daemon:
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


# A profile declaring what the daemon contradicts: the scenarios follow the profile's values, so
# they fail wherever behaviour follows the daemon instead, and the profile's items name the drift.
# (case -> declared settings, scenarios, failing checks and words of their stories)
CONTRADICTED: dict[str, tuple[dict[str, str], tuple[str, ...], dict[str, list[str]]]] = {
    "own-bridge": ({"bridge": "docker0"}, ("bridge", "host"), {
        "bridge.yaml::alpha::interface.eth0.bridge": ["expected:  docker0 (from ${setting.bridge})",
                                                      "observed:  ncbr0"],
        "bridge.yaml::beta::interface.eth0.bridge": ["observed:  ncbr0"],
        # Not judged rather than failed: the declared bridge does not exist to be looked at.
        "host.yaml::plain::interface.${setting.bridge}.kind": ["there is no interface 'docker0'"],
        "host.yaml::plain::interface.${setting.bridge}.ipv4": ["there is no interface 'docker0'"],
    }),
    "publishing": ({"fixed_cidr": "172.17.0.0/25", "default_bind_ip": "0.0.0.0", "userland_proxy": "true"},
                   ("bridge", "reach-published"), {
        "bridge.yaml::alpha::interface.eth0.ipv4": ["inside 172.17.0.0/25 (from ${setting.bridge_address_range})",
                                                    "observed:  [172.17.0.1"],
        "bridge.yaml::beta::interface.eth0.ipv4": ["inside 172.17.0.0/25"],
        "reach-published.yaml::reachability::sentinel -> web published without an address 18085": [
            "expected:  reach", "observed:  blocked", "case for setting.default_bind_ip=0.0.0.0"],
        # userland_proxy fails its profile item only: with iptables on, no probe's outcome or
        # source differs without docker-proxy (the host's localhost clients are masqueraded to the
        # bridge gateway, as docker-proxy's connections come from it).
    }),
}


@pytest.mark.parametrize("case", list(CONTRADICTED))
def test_a_profile_the_daemon_contradicts_fails_where_behaviour_follows_the_daemon(
        case: str, run_identity: RunIdentity, tmp_path: Path) -> None:
    declared, stems, failing = CONTRADICTED[case]
    profile = tmp_path / "declared.yaml"
    profile.write_text("profile: declared\nsettings:\n" + "".join(f"  {k}: {v}\n" for k, v in declared.items()))
    flags, _ = CASES[case]
    with dedicated_daemon(run_identity, f"con-{case}", flags, BRIDGES.get(case)) as daemon:
        result = run_specs(tmp_path / case, daemon, shipped(stems), extra=(*QUICK, "--profile", str(profile)))
    print(f"{case} contradicted: {len(result.outcomes)} checks in {result.seconds:.1f}s")
    assert result.code == 1 and result.ids("failed") | result.ids("error") == set(failing), result.summary()
    for name, value in declared.items():
        drift = f"FAIL  profile declared daemon setting.{name}: expected {value}, observed "
        assert drift in result.output, f"{drift!r} missing\n{result.summary()}"
    for nodeid, words in failing.items():
        missing = [word for word in words if word not in result.stories[nodeid]]
        assert missing == [], f"{nodeid}: the story lacks {missing}:\n{result.stories[nodeid]}"
