"""Removing a network leaves every other network's firewall rules alone, on each daemon version.

The isolation lock (netconform.hermetic.isolation_lock) keeps network *creation* away from probes,
because up to 27.x the daemon then deletes and re-adds the shared FORWARD jumps; a removal does not
take the lock. This watches a dedicated daemon's ruleset with xtables-monitor while a network is
created and another removed: every rule the removal touches names the removed bridge, and the
creation before 28.0 is seen touching a shared jump (so the watch does see what it looks for).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from netconform.errors import ToolMissing
from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import LABEL_RUN, RunIdentity

pytestmark = [pytest.mark.daemon, pytest.mark.skipif(os.geteuid() != 0, reason="dedicated daemons need root")]

VERSIONS = ("system", "26.1.5", "28.5.2")
BARRIER_TIMEOUT = 10.0


class RuleWatch:
    """The rule and chain events of one network namespace, in order (xtables-monitor -e)."""

    def __init__(self, netns: str) -> None:
        self.events: list[str] = []
        self._seen = threading.Condition()
        self._barriers = itertools.count()
        self._netns = netns
        self._monitor = subprocess.Popen(["nsenter", f"--net={netns}", "stdbuf", "-oL", "xtables-monitor", "-e"],
                                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._monitor.stdout is not None
        for line in self._monitor.stdout:
            if line.startswith(" EVENT: -"):
                with self._seen:
                    self.events.append(line.removeprefix(" EVENT: ").strip())
                    self._seen.notify_all()

    def barrier(self) -> int:
        """Create and delete a chain of our own and wait for the monitor to show it: every event of
        what was done before is in :attr:`events` then. Returns the index just past the barrier.
        A fresh monitor may not listen yet (its first barrier went unseen once in CI): each half
        second unseen, another barrier is made, until one shows or the timeout passes."""
        deadline = time.monotonic() + BARRIER_TIMEOUT
        while True:
            name = f"nc-barrier-{next(self._barriers)}"
            for flag in ("-N", "-X"):
                subprocess.run(["nsenter", f"--net={self._netns}", "iptables", flag, name], check=True)
            retry = min(deadline, time.monotonic() + 0.5)
            with self._seen:
                while f"-t filter -X {name}" not in "\n".join(self.events[-4:]):
                    if not self._seen.wait(max(0.0, retry - time.monotonic())):
                        break
                else:
                    return len(self.events)
            assert time.monotonic() < deadline, f"xtables-monitor never showed {name}"

    def close(self) -> None:
        self._monitor.terminate()
        self._monitor.wait(timeout=10)


@pytest.fixture(params=VERSIONS)
def daemon(request: pytest.FixtureRequest, registered_run: RunIdentity) -> Iterator[DedicatedDaemon]:
    version = request.param
    try:
        binaries = DaemonBinaries.system() if version == "system" else DaemonBinaries.unpacked(version)
    except ToolMissing as err:
        pytest.skip(str(err))
    started = DedicatedDaemon(registered_run, f"rules-{version.split('.')[0]}", binaries)
    try:
        yield started.start()
    finally:
        started.stop()


def _foreign(events: list[str], bridge: str) -> list[str]:
    """The rule changes that do not name ``bridge`` (our barrier chains left out)."""
    return [event for event in events if bridge not in event and "nc-barrier-" not in event]


def test_removing_a_network_touches_only_its_own_rules(daemon: DedicatedDaemon) -> None:
    client = daemon.client()
    labels = {LABEL_RUN: daemon.run.run_id}
    stays = client.networks.create("nc-rules-stays", labels=labels)
    watch = RuleWatch(str(daemon.netns_path))
    try:
        start = watch.barrier()
        goes = client.networks.create("nc-rules-goes", labels=labels, enable_ipv6=True,
                                      ipam={"Config": [{"Subnet": "fd00:4e43::/64"}]})
        created = watch.barrier()
        goes.remove()
        removed = watch.barrier()
    finally:
        watch.close()
        stays.remove()
    bridge = f"br-{goes.id[:12]}"
    creation, removal = watch.events[start:created], watch.events[created:removed]
    assert any("-t filter -D " in event and bridge in event for event in removal), f"removal unseen: {removal}"
    assert _foreign(removal, bridge) == [], f"a removal touched other rules: {_foreign(removal, bridge)}"
    # Before 28.0 a creation deletes and re-adds the shared jumps: what the isolation lock is for.
    shared = [event for event in _foreign(creation, bridge) if event.startswith("-4 -t filter -D FORWARD -j ")]
    assert bool(shared) == (int(daemon.version.split(".")[0]) < 28), (daemon.version, creation)
