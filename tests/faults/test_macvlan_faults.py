"""macvlan on a dedicated daemon: the shipped scenario passes in the daemon's own netns, and its
"the host cannot reach its macvlan containers" checks fail for real when the usual workaround is
applied (a macvlan shim of the host's own on the parent, with routes to the containers).

The other checks of suites/macvlan.yaml are shown to fail on a wrong expectation by
tests/integration/test_checks_can_fail.py; the refusal of a missing parent needs no fault (the
daemon refuses it every time).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faultrun import assert_fault_seen, assert_passes, run_specs
from injectors import Plan

from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.kernel_features import FeatureProbe

pytestmark = [
    pytest.mark.faults,
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="fault tests need root"),
]

SUITE = Path(__file__).resolve().parents[2] / "suites" / "macvlan.yaml"
HOST_TO_CONTAINER = "macvlan.yaml::reachability::host->mv1 icmp"
CONTAINER_TO_HOST = "macvlan.yaml::reachability::mv1->host ${segment.host} tcp/8080"


@pytest.fixture(scope="module", autouse=True)
def macvlan_kernel() -> None:
    missing = FeatureProbe().missing(["macvlan", "veth"])
    if missing:
        pytest.skip(missing[0].skip_reason())


def test_macvlan_passes_in_a_dedicated_daemons_namespace(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    result = run_specs(tmp_path / "run", daemon, {"macvlan": SUITE.read_text()})
    assert_passes(result)
    assert {HOST_TO_CONTAINER, CONTAINER_TO_HOST} <= result.ids("passed"), result.summary()


def test_a_shim_on_the_parent_lets_the_host_reach_its_macvlan_containers(daemon: DedicatedDaemon,
                                                                          tmp_path: Path) -> None:
    result = run_specs(tmp_path / "run", daemon, {"macvlan": SUITE.read_text()}, Plan(shims=("mv1",)))
    assert_fault_seen(result, {
        HOST_TO_CONTAINER: ["expected:  blocked", "observed:  reach"],
        CONTAINER_TO_HOST: ["expected:  blocked", "observed:  reach"],
    })
