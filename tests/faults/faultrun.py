"""Run scenario specs through the netconform plugin against a dedicated daemon, and read the result.

The run under test is a separate ``python -m pytest -p netconform`` in a scratch directory
holding the specs and a ``conftest.py`` (:data:`CHILD_CONFTEST`) that injects the planned fault
once the scenario is built and logs every test report, so outcomes and failure texts are read
from data rather than scraped from the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from injectors import PLAN_ENV, Plan, restored

from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import LABEL_RUN, RunIdentity

FAULTS_DIR = Path(__file__).resolve().parent
LOG_ENV = "NETCONFORM_FAULT_LOG"
SENTINEL_CIDR = "198.18.0.0/24"
RUN_BOUND = 240.0
STOP_BOUND = 60.0
# Blocked probes and unanswered lookups wait out every attempt: keep them short.
QUICK = ("--attempts", "2", "--attempt-timeout", "0.5", "--probe-timeout", "10")

CHILD_CONFTEST = '''\
"""Written by tests/faults: break the property once the scenario is built (or pause there for a
fault from outside); log every report."""

import pytest

import faultrun
import injectors
import midrun


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item):
    outcome = yield
    injectors.inject_after_build(item)
    midrun.pause_after_build(item)
    return outcome


def pytest_runtest_logreport(report):
    faultrun.record(report)
'''


def record(report: pytest.TestReport) -> None:
    """Child side: append one report (node id, phase, outcome, text) to ``$NETCONFORM_FAULT_LOG``."""
    entry = {"nodeid": report.nodeid, "when": report.when, "outcome": report.outcome,
             "text": report.longreprtext if report.failed else ""}
    with open(os.environ[LOG_ENV], "a") as log:
        log.write(json.dumps(entry) + "\n")


@dataclass
class SuiteRun:
    """What one run of the plugin ended with.

    Attributes:
        code: pytest's exit code.
        outcomes: node id -> passed / failed / error / skipped.
        stories: node id -> the failure text a user reads (the story), for failed and errored items.
        output: the run's stdout and stderr, interleaved.
        seconds: how long the run took.
    """

    code: int
    outcomes: dict[str, str]
    stories: dict[str, str]
    output: str
    seconds: float

    def ids(self, outcome: str) -> set[str]:
        return {nodeid for nodeid, seen in self.outcomes.items() if seen == outcome}

    def summary(self) -> str:
        lines = [f"exit code {self.code} after {self.seconds:.1f}s"]
        lines += [f"  {outcome:7} {nodeid}" for nodeid, outcome in sorted(self.outcomes.items())]
        return "\n".join(lines) + "\n--- output (tail) ---\n" + self.output[-6000:]


def _outcomes(log: Path) -> tuple[dict[str, str], dict[str, str]]:
    outcomes: dict[str, str] = {}
    stories: dict[str, str] = {}
    lines = log.read_text().splitlines() if log.exists() else []
    for entry in map(json.loads, lines):
        nodeid, when, outcome = entry["nodeid"], entry["when"], entry["outcome"]
        if outcome == "failed":
            outcomes[nodeid] = "failed" if when == "call" else "error"
            stories[nodeid] = stories.get(nodeid, "") + entry["text"]
        elif outcome == "skipped":
            outcomes.setdefault(nodeid, "skipped")
        elif when == "call":
            outcomes.setdefault(nodeid, "passed")
    return outcomes, stories


def run_specs(workdir: Path, daemon: DedicatedDaemon, specs: Mapping[str, str], plan: Plan | None = None,
              extra: Sequence[str] = QUICK, env_extra: Mapping[str, str] | None = None) -> SuiteRun:
    """Run ``specs`` (file stem -> YAML) against ``daemon`` with ``plan`` injected after each build
    (``env_extra``: more environment for the run, such as :func:`midrun.pause_env`).

    The daemon's netns is checked to read as before afterwards (rulesets and sysctls, see
    :func:`injectors.restored`), and nothing labelled may remain on the daemon.
    """
    __tracebackhide__ = True
    with restored(str(daemon.netns_path), plan):
        result = run_specs_unchecked(workdir, daemon, specs, plan, extra, env_extra)
    client = daemon.client()
    left = [str(c.name) for c in client.containers.list(all=True, filters={"label": LABEL_RUN})]
    left += [str(n.name) for n in client.networks.list(filters={"label": LABEL_RUN})]
    assert left == [], f"the run left labelled objects on the dedicated daemon: {left}\n{result.summary()}"
    return result


def run_specs_unchecked(workdir: Path, daemon: DedicatedDaemon, specs: Mapping[str, str], plan: Plan | None = None,
                        extra: Sequence[str] = QUICK, env_extra: Mapping[str, str] | None = None) -> SuiteRun:
    """:func:`run_specs` without the checks afterwards (for a fault that takes the daemon away)."""
    __tracebackhide__ = True
    workdir.mkdir(parents=True)
    for stem, text in specs.items():
        (workdir / f"{stem}.yaml").write_text(textwrap.dedent(text))
    (workdir / "conftest.py").write_text(CHILD_CONFTEST)
    log = workdir / "reports.jsonl"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTEST_", "DOCKER_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(FAULTS_DIR), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env[LOG_ENV] = str(log)
    # Failure evidence (packet captures) goes below the system temp dir unless --report-dir is given.
    env["TMPDIR"] = str(workdir)
    env.update(env_extra or {})
    if plan is not None:
        env[PLAN_ENV] = str(plan.dump(workdir / "plan.json"))
    # --build-ahead 0: the fault goes in after each scenario's own build, before any of its probes.
    argv = [sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "-p", "no:xdist",
            "--build-ahead", "0", "--rootdir", str(workdir), "--docker-host", daemon.docker_host,
            "--sentinel-cidr", SENTINEL_CIDR, *extra, "-rA", *(f"{stem}.yaml" for stem in specs)]
    started = time.monotonic()
    code, output = _run_bounded(argv, workdir, env)
    outcomes, stories = _outcomes(log)
    return SuiteRun(code, outcomes, stories, output, time.monotonic() - started)


def _run_bounded(argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str]:
    """Run the pytest under test; past :data:`RUN_BOUND`, SIGTERM it (the plugin then removes what
    it created, as on Ctrl-C), and SIGKILL it if that takes longer than :data:`STOP_BOUND`."""
    __tracebackhide__ = True
    with subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True) as child:
        try:
            output, _ = child.communicate(timeout=RUN_BOUND)
            return child.returncode, output
        except subprocess.TimeoutExpired:
            child.terminate()
            try:
                output, _ = child.communicate(timeout=STOP_BOUND)
            except subprocess.TimeoutExpired:
                child.kill()
                output, _ = child.communicate()
        raise AssertionError(f"the run under test did not end within {RUN_BOUND:g}s: {list(argv)}\n{output[-4000:]}")


def assert_passes(result: SuiteRun) -> None:
    """Every check of the run passed."""
    __tracebackhide__ = True
    assert result.code == 0 and result.outcomes and set(result.outcomes.values()) == {"passed"}, result.summary()


def assert_fault_seen(result: SuiteRun, failing: Mapping[str, Sequence[str]]) -> None:
    """Exactly the ``failing`` items failed (exit code 1), each story holds the given words, and
    every other item passed."""
    __tracebackhide__ = True
    assert result.code == 1, result.summary()
    assert result.ids("failed") == set(failing), result.summary()
    others = {nodeid: outcome for nodeid, outcome in result.outcomes.items() if nodeid not in failing}
    assert others and set(others.values()) == {"passed"}, result.summary()
    for nodeid, words in failing.items():
        story = result.stories[nodeid]
        scenario = nodeid.split(".yaml::", 1)[0]
        assert story.startswith("netconform: ") and f"\n  scenario:  {scenario}  (" in story, story
        missing = [word for word in words if word not in story]
        assert missing == [], f"{nodeid}: the story lacks {missing}:\n{story}"


@contextmanager
def dedicated_daemon(run: RunIdentity, name: str, flags: Sequence[str] = (),
                     bridges: Mapping[str, str] | None = None) -> Iterator[DedicatedDaemon]:
    """A 20.10 daemon of our own in its own netns (with ``bridges``, name -> CIDR, created there
    before it starts), stopped (and checked gone) on the way out."""
    daemon = DedicatedDaemon(run, name, DaemonBinaries.system(), flags, bridges=bridges)
    try:
        yield daemon.start()
    finally:
        daemon.stop()
    leftovers = daemon.paths.exists()
    assert leftovers == [], f"dedicated daemon {name!r} left {leftovers}"
