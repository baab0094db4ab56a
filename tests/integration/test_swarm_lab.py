"""The Swarm lab: three nodes in one swarm over the underlay, and nothing left after it, also after a crash.

Run under the host lock. The lab's daemons run in namespaces of their own; the host's daemon and
namespace are never touched.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from netconform.hermetic.daemon_paths import DATA_DIR, RUN_DIR
from netconform.hermetic.daemon_sweep import sweep_stale_daemons
from netconform.hermetic.daemon_versions import find_version
from netconform.hermetic.named_netns import NETNS_DIR
from netconform.hermetic.runs import RunIdentity, unregister
from netconform.hermetic.swarm_lab import NODE_ADDRESSES, SwarmLab, sweep_stale_labs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a swarm lab needs root")

_CRASHING_STARTER = """
import sys, time
from netconform.hermetic.daemon_versions import find_version
from netconform.hermetic.runs import RunIdentity
from netconform.hermetic.swarm_lab import SwarmLab
lab = SwarmLab(RunIdentity.new(), find_version("28").binaries()).start()
print(lab.run.run_id, flush=True)
time.sleep(600)
"""


def _leftovers(run_id: str) -> list[str]:
    found = [f"netns {p.name}" for p in NETNS_DIR.glob(f"nc-{run_id}-*")] if NETNS_DIR.is_dir() else []
    for base in (RUN_DIR, DATA_DIR):
        found += [str(p) for p in base.glob(f"{run_id}-*")] if base.is_dir() else []
    return found


def test_three_nodes_form_one_swarm_and_leave_nothing_behind() -> None:
    run = RunIdentity.new()
    try:
        with SwarmLab(run, find_version("28").binaries()) as lab:
            assert lab.node_states() == dict.fromkeys(NODE_ADDRESSES, "ready")
            managers = [entry.attrs["Spec"]["Role"] for entry in lab.manager.client.nodes.list()]
            assert sorted(managers) == ["manager", "worker", "worker"]
            addresses = {entry.attrs["Status"]["Addr"] for entry in lab.manager.client.nodes.list()}
            assert addresses == set(NODE_ADDRESSES.values())
            assert _leftovers(run.run_id)
    finally:
        unregister(run)
    assert _leftovers(run.run_id) == []


def test_a_lab_whose_starter_was_killed_is_swept() -> None:
    starter = subprocess.Popen([sys.executable, "-c", _CRASHING_STARTER], stdout=subprocess.PIPE, text=True)
    try:
        assert starter.stdout is not None
        run_id = starter.stdout.readline().strip()
        assert run_id, "the starter did not bring its lab up"
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=10)
    assert _leftovers(run_id), "the killed starter's lab should still be there"
    assert f"nc-{run_id}-underlay" in sweep_stale_labs()
    assert {f"{run_id}-sw{node}" for node in NODE_ADDRESSES} <= set(sweep_stale_daemons())
    assert _leftovers(run_id) == []
    unregister(RunIdentity(run_id, 0, "0"))  # the dead starter's run record


def test_a_worker_leaves_and_rejoins_ready() -> None:
    run = RunIdentity.new()
    try:
        with SwarmLab(run, find_version("28").binaries()) as lab:
            before = lab.node("worker2").node_id
            lab.leave_and_rejoin("worker2")
            assert lab.node("worker2").node_id != before
            assert lab.node_states() == dict.fromkeys(NODE_ADDRESSES, "ready")
    finally:
        unregister(run)

