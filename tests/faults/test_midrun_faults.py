"""Faults during a run: the daemon restarts, a container is killed from outside, the sentinel's
namespace is removed. Each run ends in bounded time; the checks that depend on what vanished are
errors that name the cause (never a pass, a "blocked" or "timeout" verdict, or a traceback); the
other checks pass; and nothing of the run is left on the daemon or the host.

The run under test holds after building a scenario and before its probes and lookups
(:mod:`midrun`), and the fault is made then, from this process, on a dedicated daemon (never the
host's): a deterministic window, no sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from faultrun import SuiteRun, dedicated_daemon, run_specs, run_specs_unchecked
from injectors import in_netns
from midrun import fault_when_paused, pause_env

from netconform.engine.builder import sweep
from netconform.hermetic.daemon_teardown import stop_dockerd
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.hostclean import namespace_id, processes
from netconform.hermetic.named_netns import NETNS_DIR
from netconform.hermetic.runs import LABEL_RUN, REGISTRY, RunIdentity
from netconform.hermetic.sentinel import STATE_DIR
from netconform.spec.shipped import suites_dir

pytestmark = [
    pytest.mark.faults,
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="fault tests need root"),
]

# A faulted run of these few scenarios ends in 7-20 s here; the daemon's restart is 12 s of it
# (dockerd waits out its containers' 10 s stop timeout). Past this, something hangs.
RUN_SECONDS = 90.0
UNJUDGED = "ERROR, could not be judged"
NOT_BUILT = "could not be built"


def shipped(*stems: str) -> dict[str, str]:
    return {stem: (suites_dir() / f"{stem}.yaml").read_text() for stem in stems}


def _links(netns: str | None) -> list[str]:
    text = subprocess.run(in_netns(netns, ["ip", "-o", "link", "show"]), capture_output=True, text=True,
                          timeout=15, check=True).stdout
    return [line.split(": ")[1].split("@")[0] for line in text.splitlines()]


def leftovers(built: Mapping[str, Any], daemon: DedicatedDaemon) -> list[str]:
    """What the paused run left on the host: netns and links named with its run id (in the daemon's
    netns and the host's), sentinel state, its registry entry, and its sentinel's processes.
    (Labelled containers and networks on the daemon are checked by :func:`run_specs`.)"""
    run_id = built["run_id"]
    found = [f"netns {name}" for name in os.listdir(NETNS_DIR) if run_id in name]
    found += [f"link {name} in the {where} netns" for where, netns in (("daemon's", str(daemon.netns_path)),
                                                                       ("host's", None))
              for name in _links(netns) if run_id in name]
    found += [f"state {entry}" for entry in (STATE_DIR.iterdir() if STATE_DIR.is_dir() else []) if run_id in entry.name]
    found += [f"registry {REGISTRY / run_id}"] if (REGISTRY / run_id).exists() else []
    found += [f"sentinel process {pid}" for pid in built["sentinel_pids"] if os.path.exists(f"/proc/{pid}")]
    return found


def run_with_fault(tmp_path: Path, daemon: DedicatedDaemon, stems: Sequence[str],
                   fault: Callable[[Mapping[str, Any]], None], specs: Mapping[str, str] | None = None,
                   resume_first: bool = False, **options: Any) -> tuple[SuiteRun, dict[str, Any]]:
    """Run ``stems`` (shipped, or from ``specs``) on ``daemon``, make ``fault`` once the first one
    is built, and check that nothing is left behind."""
    specs = specs or shipped(*stems)
    with fault_when_paused(tmp_path / "pause", fault, resume_first) as seen:
        result = run_specs(tmp_path / "run", daemon, {stem: specs[stem] for stem in stems},
                           env_extra=pause_env(tmp_path / "pause", stems[0]), **options)
    print(f"\n{result.summary()[:result.summary().index('--- output')]}fault made in {seen['fault_seconds']:.1f}s")
    assert leftovers(seen["built"], daemon) == [], result.summary()
    return result, seen


def assert_errors_naming(result: SuiteRun, affected: Collection[str], words: Sequence[str]) -> None:
    """Exactly ``affected`` did not pass, each an error (unjudged, or its scenario not built) whose
    story holds ``words``; everything else passed; no traceback; exit code 1; in bounded time."""
    __tracebackhide__ = True
    assert result.code == 1, result.summary()
    assert result.seconds < RUN_SECONDS, result.summary()
    assert "Traceback" not in result.output, result.summary()
    assert set(result.outcomes) >= set(affected) and affected, result.summary()
    assert set(result.outcomes) - result.ids("passed") == set(affected), result.summary()
    for nodeid in affected:
        story = result.stories[nodeid]
        print(f"  {nodeid}: {next((line.strip() for line in story.splitlines() if 'observed:' in line), story)}")
        assert UNJUDGED in story or NOT_BUILT in story, story
        missing = [word for word in words if word not in story]
        assert missing == [], f"{nodeid}: the story lacks {missing}:\n{story}"


def test_a_daemon_restarted_mid_run_makes_its_checks_errors_that_say_so(run_identity: RunIdentity,
                                                                          tmp_path: Path) -> None:
    """Restarted between reach-custom's build and its probes: its containers were stopped with the
    daemon, so every probe is an error naming them and the restart; bridge, next, is not built
    on the new daemon (the run's facts about the daemon are the old process's)."""
    with dedicated_daemon(run_identity, "midrun-restart") as daemon:
        result, seen = run_with_fault(tmp_path, daemon, ["reach-custom", "bridge"],
                                      lambda built: daemon.restart())
    probes = {nodeid for nodeid in result.outcomes if nodeid.startswith("reach-custom.yaml::")}
    unbuilt = {nodeid for nodeid in result.outcomes if nodeid.startswith("bridge.yaml::")}
    gone = f"(pid {seen['built']['daemon_pid']} is gone, pid "
    assert_errors_naming(result, probes | unbuilt, ["the Docker daemon under test restarted during the run", gone])
    for nodeid in probes:
        assert "is no longer running" in result.stories[nodeid], result.stories[nodeid]
    for nodeid in unbuilt:
        assert f"scenario bridge {NOT_BUILT}" in result.stories[nodeid], result.stories[nodeid]


def test_a_daemon_stopped_for_good_mid_run_ends_the_run_with_errors_and_one_line(run_identity: RunIdentity,
                                                                                  tmp_path: Path) -> None:
    """Stopped (not started again) between reach-custom's build and its probes: the probes and
    the next build are errors that say so, the teardown that cannot reach the daemon is one line,
    and what stays on the daemon is labelled: the next sweep (once it is back) removes it."""
    with dedicated_daemon(run_identity, "midrun-stop") as daemon:
        def stop(built: Mapping[str, Any]) -> None:
            stop_dockerd(daemon.paths, daemon.pid, None, daemon.stop_timeout, kill_containers=False)

        with fault_when_paused(tmp_path / "pause", stop) as seen:
            result = run_specs_unchecked(tmp_path / "run", daemon, shipped("reach-custom", "bridge"),
                                         env_extra=pause_env(tmp_path / "pause", "reach-custom"))
        print("", *{line for line in result.output.splitlines()
                    if "netconform: the Docker" in line or "could not be removed" in line}, sep="\n")
        daemon.restart()
        swept = sweep(daemon.client())
        labelled = daemon.client().containers.list(all=True, filters={"label": LABEL_RUN})
        labelled += daemon.client().networks.list(filters={"label": LABEL_RUN})
        left = leftovers(seen["built"], daemon)
    print(f"swept once the daemon was back: {swept}")
    assert labelled == [] and left == [], f"{labelled} {left}"
    assert len(swept) == 6, swept  # reach-custom's 4 containers and 2 networks
    stopped = f"the Docker daemon under test stopped during the run (pid {seen['built']['daemon_pid']} is gone"
    assert_errors_naming(result, set(result.outcomes), [stopped])
    run_id = seen["built"]["run_id"]
    assert (f"netconform: the Docker daemon does not answer (ConnectionError), so run {run_id}'s containers and "
            "networks stay with it, labelled") in result.output, result.summary()


@pytest.mark.parametrize(("scenario", "victim", "touches"), [
    ("reach-custom", "b1", lambda nodeid: "b1->" in nodeid or "->b1 " in nodeid),
    ("dns-custom", "worker", lambda nodeid: "::worker::lookup." in nodeid),
], ids=["probes", "lookups"])
def test_a_container_killed_from_outside_makes_only_its_checks_errors(
        daemon: DedicatedDaemon, tmp_path: Path, scenario: str, victim: str,
        touches: Callable[[str], bool]) -> None:
    """``docker kill`` of one container while its probes (or lookups) are pending: those are errors
    naming it and what the daemon says of it; its checks judged on the build's facts, the other
    containers' probes and the next scenario pass."""

    def kill(built: Mapping[str, Any]) -> None:
        daemon.client().containers.get(built["containers"][victim]["id"]).kill()

    result, _ = run_with_fault(tmp_path, daemon, [scenario, "bridge"], kill)
    affected = {nodeid for nodeid in result.outcomes if touches(nodeid)}
    assert_errors_naming(result, affected, [f"container {victim} is no longer running",
                                            "the daemon reports it exited with code 137"])


@pytest.mark.parametrize("how", ["name", "namespace"])
def test_the_sentinel_namespace_removed_mid_run_makes_its_probes_errors(
        daemon: DedicatedDaemon, tmp_path: Path, how: str) -> None:
    """``ip netns delete`` of the run's sentinel netns (``name``: its services still run in it,
    unnamed; ``namespace``: they are killed too, so the netns and its veth are really gone, and an
    unguarded probe would read "blocked" and a lookup "timeout"). Every probe to the sentinel and
    every lookup of a scenario that uses it is an error saying the sentinel is gone; bridge, which
    does not use it, passes."""
    words = ["is gone: its network namespace /run/netns/", "was removed during the run"]

    def remove(built: Mapping[str, Any]) -> None:
        subprocess.run(["ip", "netns", "delete", built["sentinel"]], check=True, timeout=15)
        if how == "namespace":
            for pid in built["sentinel_pids"]:
                os.kill(pid, signal.SIGKILL)

    result, _ = run_with_fault(tmp_path, daemon, ["reach-egress", "dns-custom", "bridge"], remove)
    affected = {nodeid for nodeid in result.outcomes
                if nodeid.startswith("reach-egress.yaml::") or "::lookup." in nodeid or "::reverse." in nodeid
                or "::forwarded." in nodeid}
    assert_errors_naming(result, affected, words + (["no longer runs"] if how == "namespace" else []))


ISOLATED = """\
    networks: {alpha: {}, beta: {}}
    containers:
      a1: {network: alpha}
      b1: {network: beta}
    reachability:
      - {from: a1, to: b1, proto: tcp, port: 8080, expect: blocked}
"""
# Two 3-second attempts: the probe is in flight for 6 s, the window the kill must land in.
SLOW_PROBES = ("--attempts", "2", "--attempt-timeout", "3", "--probe-timeout", "10")


def wait_for_visitors(pid: int, count: int, bound: float = 30.0) -> list[int]:
    """The pids of ``count`` processes other than ``pid`` in ``pid``'s netns (a probe's witness and
    listener: both run there while the probe's attempts are made)."""
    netns = namespace_id(f"/proc/{pid}/ns/net")
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        visitors = [p.pid for p in processes() if p.netns == netns and p.pid != pid]
        if len(visitors) >= count:
            return visitors
        time.sleep(0.02)
    raise AssertionError(f"no probe entered the netns of pid {pid} within {bound:g}s")


def test_a_container_killed_while_its_probe_runs_is_an_error_not_blocked(daemon: DedicatedDaemon,
                                                                         tmp_path: Path) -> None:
    """The target of an isolation probe (expected ``blocked``) is killed once the probe's witness
    and listener run in its netns, i.e. while the attempts are made: its packets then arrive
    nowhere, which alone would read as "blocked" and pass. The check after the probe sees the
    target gone: an error, not a pass."""

    def kill_in_flight(built: Mapping[str, Any]) -> None:
        target = built["containers"]["b1"]
        wait_for_visitors(target["pid"], 2)
        daemon.client().containers.get(target["id"]).kill()

    result, _ = run_with_fault(tmp_path, daemon, ["isolated", "bridge"], kill_in_flight,
                               specs={"isolated": ISOLATED, **shipped("bridge")}, resume_first=True,
                               extra=SLOW_PROBES)
    assert_errors_naming(result, {"isolated.yaml::reachability::a1->b1 tcp/8080"},
                         ["container b1 is no longer running", "(while the probe ran)"])
