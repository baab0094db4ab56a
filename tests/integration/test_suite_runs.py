"""The shipped suites run green on the real daemon, alone and under xdist, and clean up after
themselves: on success, on Ctrl-C, on SIGTERM, and (by the next run's sweep) after SIGKILL."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from netconform.hermetic.kernel_features import FeatureProbe
from netconform.hermetic.runs import LABEL_OWNER, LABEL_RUN, RunIdentity
from netconform.spec import load_scenario

ROOT = Path(__file__).resolve().parents[2]
pytest_plugins = ["pytester"]


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    try:
        yield client
    finally:
        client.close()


def labelled(client: docker.DockerClient, run_id: str | None = None) -> list[str]:
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
    containers = client.containers.list(all=True, filters={"label": label})
    networks = client.networks.list(filters={"label": label})
    return sorted(str(item.name) for item in [*containers, *networks])


def _checks_needing_missing_features() -> int:
    probe = FeatureProbe()
    scenarios = [load_scenario(path) for path in sorted((ROOT / "suites").glob("*.yaml"))]
    return sum(len(scenario.checks) for scenario in scenarios if probe.missing(scenario.requires))


def run_suites(tmp_path: Path, *args: str) -> tuple[int, ET.Element, str]:
    junit = tmp_path / "junit.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "suites", "-p", "no:cacheprovider", f"--junitxml={junit}", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
    )
    return result.returncode, ET.parse(junit).getroot(), result.stdout + result.stderr


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist-2"])
def test_shipped_suites_pass_and_leave_nothing(tmp_path: Path, client: docker.DockerClient,
                                               workers: list[str]) -> None:
    code, junit, output = run_suites(tmp_path, *workers)
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert suite is not None
    counts = {key: int(suite.get(key, "0")) for key in ("tests", "failures", "errors", "skipped")}
    assert code == 0, output[-4000:]
    assert counts["tests"] >= 100 and counts["failures"] == counts["errors"] == 0, counts
    # Skipped: exactly the checks of scenarios that need a kernel feature this kernel lacks (ipvlan
    # here), and those of containers this daemon version refuses as their scenario declares
    # ("not applicable on dockerd 20.10…": several networks at create); nothing else.
    reasons = [skip.get("message", "") for case in suite.iter("testcase") for skip in case.iter("skipped")]
    not_applicable = [reason for reason in reasons if "not applicable on dockerd" in reason]
    assert counts["skipped"] == _checks_needing_missing_features() + len(not_applicable), (counts, reasons)
    # Only this run's objects: other tests may be running scenarios on the same daemon meanwhile.
    run_id = re.search(r"netconform: run ([0-9a-f]{8}),", output)
    assert run_id is not None, output[:2000]
    assert labelled(client, run_id.group(1)) == []


def test_isolation_probes_of_one_run_wait_out_another_runs_network_churn(client: docker.DockerClient) -> None:
    """Two runs at once: one churns 40 networks (reach-churn, which on Docker < 28 opens isolation
    for an instant each time), the other probes isolation (reach-custom, reach-icc). The isolation
    lock keeps them apart: the second run's "blocked" probes never run inside the first one's
    churn, so both are green (and reach-churn still sees its own leak where the daemon has it)."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]
    churn = subprocess.Popen([*argv, "suites/reach-churn.yaml"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(3)  # the churn run has built its scenario and is churning
        probes = subprocess.run([*argv, "suites/reach-custom.yaml", "suites/reach-icc.yaml"], cwd=ROOT,
                                capture_output=True, text=True, timeout=600)
        churned, _ = churn.communicate(timeout=600)
    finally:
        churn.kill()
        churn.wait()
    assert churn.returncode == 0, churned[-3000:]
    assert probes.returncode == 0, (probes.stdout + probes.stderr)[-3000:]


SLOW = """\
    import faulthandler
    import signal
    import sys
    import time

    # If the run ever fails to stop, the test asks it where it is stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True, file=sys.__stderr__)

    def pytest_runtest_call(item):
        # The scenario is built (file setup ran): hold here so the run can be interrupted.
        time.sleep(120)
"""
SPEC = """\
    networks:
      n: {}
    containers:
      a: {network: n}
      b: {network: container:a}
    expect:
      a: {interfaces: [lo, eth0]}
"""


def start_held_run(pytester: pytest.Pytester) -> subprocess.Popen[str]:
    pytester.makeconftest(textwrap.dedent(SLOW))
    pytester.makefile(".yaml", held=textwrap.dedent(SPEC))
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "held.yaml"],
        cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # A shell starts background jobs with SIGINT ignored, and Python then installs no Ctrl-C
        # handler: the held run must get the default, as it would in a terminal.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_for_labelled(client: docker.DockerClient, process: subprocess.Popen[str], count: int) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        containers = client.containers.list(filters={"label": LABEL_RUN, "status": "running"})
        mine = [c for c in containers if c.labels.get(LABEL_OWNER, "").startswith(f"{process.pid}:")]
        if len(mine) >= count:
            return mine[0].labels[LABEL_RUN]
        assert process.poll() is None, process.communicate()[0]
        time.sleep(0.1)
    raise AssertionError("the held run did not build its scenario within 60s")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupted_run_removes_what_it_created(pytester: pytest.Pytester, client: docker.DockerClient,
                                                 signum: int) -> None:
    process = start_held_run(pytester)
    try:
        run_id = wait_for_labelled(client, process, 2)
        assert len(labelled(client, run_id)) == 3  # two containers, one network
        process.send_signal(signum)
        try:
            output, _ = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGUSR1)
            time.sleep(1)
            process.kill()
            pytest.fail(f"no exit within 120s of signal {signum}:\n{process.communicate()[0]}")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 2, output  # pytest: interrupted
    assert labelled(client, run_id) == [], output
    assert not (Path("/run/netconform/runs") / run_id).exists()


def test_a_crashed_run_is_swept_by_the_next_one_and_nothing_else_is(
    pytester: pytest.Pytester, client: docker.DockerClient,
) -> None:
    foreign = client.containers.create("netconform-probe:" + _probe_tag(client), name="nc-foreign-unlabelled",
                                       entrypoint=["/bin/busybox", "sleep", "600"])
    live_owner = RunIdentity.new()  # this test process: alive, so its objects must survive
    alive = client.networks.create(live_owner.name("alive"), labels=live_owner.labels)
    try:
        process = start_held_run(pytester)
        run_id = wait_for_labelled(client, process, 2)
        process.kill()  # no teardown at all
        process.wait()
        assert len(labelled(client, run_id)) == 3
        pytester.makeconftest("")
        result = pytester.runpytest_subprocess("-p", "netconform", "-p", "no:cacheprovider", "held.yaml")
        result.assert_outcomes(passed=1)
        assert labelled(client, run_id) == []
        client.containers.get(foreign.id)  # untouched: no label
        client.networks.get(alive.id)  # untouched: its owner is alive
    finally:
        foreign.remove(force=True)
        alive.remove()


def test_netconform_sweep_shows_a_crashed_runs_leftovers_and_removes_them_only_when_told(
    pytester: pytest.Pytester, client: docker.DockerClient,
) -> None:
    process = start_held_run(pytester)
    try:
        run_id = wait_for_labelled(client, process, 2)
    finally:
        process.kill()  # no teardown at all
        process.wait()
    left = labelled(client, run_id)
    assert len(left) == 3

    def sweep(*args: str) -> tuple[int, list[str]]:
        done = subprocess.run([sys.executable, "-m", "netconform", "sweep", *args], capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.stderr == "", done.stderr
        return done.returncode, [line.strip() for line in done.stdout.splitlines() if run_id in line]

    code, shown = sweep()
    assert code == 0
    assert sorted(shown) == sorted([f"container {name}" for name in left if not name.endswith("-n")]
                                   + [f"network {name}" for name in left if name.endswith("-n")]
                                   + [f"run record /run/netconform/runs/{run_id}"])
    assert labelled(client, run_id) == left  # a dry run: nothing removed
    code, removed = sweep("--yes")
    assert code == 0 and sorted(removed) == sorted(shown)
    assert labelled(client, run_id) == []
    assert not (Path("/run/netconform/runs") / run_id).exists()


def _probe_tag(client: docker.DockerClient) -> str:
    from netconform.engine.image import ensure_probe_image

    return ensure_probe_image(client).split(":", 1)[1]
