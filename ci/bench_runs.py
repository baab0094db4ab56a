"""Benchmark parts measured as whole pytest runs: the suite, a scaled-up suite, and the suite on a
dedicated daemon whose network namespace has IPv4 forwarding off (never the host's own netns).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.hermetic.runs import RunIdentity, register, unregister

ROOT = Path(__file__).resolve().parents[1]
# Off the host daemon's sentinel network, as tests/faults does for dedicated daemons.
DEDICATED_SENTINEL_CIDR = "198.18.0.0/24"
FORWARDING = "net.ipv4.ip_forward"
# One suite run, even on a broken host, ends well within this (seconds).
RUN_BOUND = 1800.0
# Runs argv; prints the largest resident set of any process of the run (kB, on stderr's last line).
_PEAK_RSS = ("import resource, subprocess, sys; code = subprocess.call(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(code)")

SCALE_SCENARIO = """\
description: benchmark scale scenario {index}, three containers on one network.
networks:
  net: {{}}
containers:
  a: {{network: net}}
  b: {{network: net}}
  c: {{network: net}}
expect:
  a: {{interfaces: [lo, eth0], default_route: {{dev: eth0}}}}
  b: {{interfaces: [lo, eth0], default_route: {{dev: eth0}}}}
  c: {{interfaces: [lo, eth0], default_route: {{dev: eth0}}}}
reachability:
  - {{from: a, to: b, proto: tcp, port: 8080, expect: reach}}
  - {{from: b, to: c, proto: icmp, expect: reach}}
"""


@dataclass
class Run:
    """One pytest run: wall time, the largest resident set of one of its processes, exit code, report figures."""

    seconds: float
    peak_rss_mb: float
    code: int
    outcomes: dict[str, int]
    json_bytes: int = 0
    html_bytes: int = 0
    failures_with_replay: int = 0
    # check id -> outcome and the names of its evidence sections (what "the same evidence" compares)
    evidence_shape: dict[str, list[str]] = field(default_factory=dict)


def run_suite(paths: Sequence[Path], workers: int = 1, extra: Sequence[str] = (), report_dir: Path | None = None,
              allowed: Sequence[int] = (0,)) -> Run:
    """Run pytest on ``paths`` (``workers`` > 1: under xdist), from the repository root."""
    # As ./ci/conform runs the suite (without the development environment's hypothesis plugin).
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *extra,
               *map(str, paths)]
    if workers > 1:
        command += ["-n", str(workers)]
    if report_dir is not None:
        command += ["--report-dir", str(report_dir)]
    started = time.perf_counter()
    try:
        # Through a wrapper whose only child is this run: its RUSAGE_CHILDREN peak is this run's.
        result = subprocess.run([sys.executable, "-c", _PEAK_RSS, *command], cwd=ROOT, capture_output=True,
                                text=True, check=False, timeout=RUN_BOUND)
    except subprocess.TimeoutExpired:
        sys.exit(f"benchmark: {' '.join(command)} did not end within {RUN_BOUND:g}s")
    elapsed = time.perf_counter() - started
    if result.returncode not in allowed:
        sys.exit(f"benchmark: {' '.join(command)} ended with exit {result.returncode}:\n{result.stdout[-3000:]}")
    peak_kb = int(result.stderr.strip().splitlines()[-1])
    run = Run(elapsed, peak_kb / 1024, result.returncode, {})
    if report_dir is not None:
        _read_report(report_dir, run)
    return run


def _read_report(report_dir: Path, run: Run) -> None:
    document = json.loads((report_dir / "report.json").read_text())
    run.json_bytes = (report_dir / "report.json").stat().st_size
    html = report_dir / "report.html"
    run.html_bytes = html.stat().st_size if html.exists() else 0
    for record in document.get("checks", []):
        outcome = str(record.get("outcome"))
        run.outcomes[outcome] = run.outcomes.get(outcome, 0) + 1
        evidence = record.get("evidence") or {}
        if outcome == "failed" and "replay" in evidence:
            run.failures_with_replay += 1
        run.evidence_shape[str(record.get("id"))] = [outcome, *sorted(evidence)]


def evidence_differences(before: Path, after: Path) -> list[str]:
    """The checks whose outcome, evidence sections or artifacts differ between two runs' reports
    (directories with report.json), one line each; empty: the same evidence."""
    shapes = []
    for report_dir in (before, after):
        document = json.loads((report_dir / "report.json").read_text())
        shapes.append({str(record.get("id")): (str(record.get("outcome")), sorted(record.get("evidence") or {}),
                                               sorted(record.get("artifacts") or []))
                       for record in document.get("checks", [])})
    old, new = shapes
    return [f"{check}: {old.get(check)} -> {new.get(check)}" for check in sorted(set(old) | set(new))
            if old.get(check) != new.get(check)]


def write_scale_scenarios(directory: Path, count: int) -> list[Path]:
    """``count`` scenario files of three containers each (two probes, six property checks)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = directory / f"scale{index:03d}.yaml"
        path.write_text(SCALE_SCENARIO.format(index=index))
        paths.append(path)
    return paths


def _set_sysctl(name: str, value: str) -> str:
    path = Path("/proc/sys") / name.replace(".", "/")
    old = path.read_text().strip()
    path.write_text(value)
    return old


@contextmanager
def forwarding_off(daemon: DedicatedDaemon) -> Iterator[None]:
    """``net.ipv4.ip_forward=0`` in the dedicated daemon's netns for the block, then the old value."""
    netns = {"net": str(daemon.netns_path)}
    old = call_in_namespaces(netns, _set_sysctl, FORWARDING, "0", timeout=10.0, what="ip_forward off")
    try:
        yield
    finally:
        call_in_namespaces(netns, _set_sysctl, FORWARDING, old, timeout=10.0, what="ip_forward restored")


def broken_host(paths: Sequence[Path], scratch: Path) -> tuple[Run, Run]:
    """The suite on a dedicated 20.10 daemon, clean and then with IPv4 forwarding off in its netns."""
    run = RunIdentity.new()
    register(run)
    daemon = DedicatedDaemon(run, "bench", DaemonBinaries.system())
    try:
        daemon.start()
        extra = ("--docker-host", daemon.docker_host, "--sentinel-cidr", DEDICATED_SENTINEL_CIDR)
        clean = run_suite(paths, 1, extra, scratch / "clean", allowed=(0, 1))
        with forwarding_off(daemon):
            broken = run_suite(paths, 1, extra, scratch / "broken", allowed=(0, 1))
        return clean, broken
    finally:
        daemon.stop()
        unregister(run)
