"""Benchmark: what the conformance run costs beyond starting its containers, measured in one run.

    .venv/bin/python ci/benchmark.py [--workers N] [suites/*.yaml ...]

Measures, on the same daemon, one after another:
  1. bare:   create and start every scenario's networks and containers with the SDK, then remove
             them (what any test of these scenarios must pay at least);
  2. build:  the same through netconform's engine plus its observation from inside the namespaces
             (no lookups or probes);
  3. suite:  the whole pytest run of the scenarios (serial), and with --workers N under xdist.
and prints the times and their ratios. Numbers are from this machine and this run only.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from netconform.engine.builder import ScenarioEngine
from netconform.harness.context import RunContext, RunOptions
from netconform.hermetic.runs import RunIdentity, register, unregister
from netconform.spec import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def bare_cost(context: RunContext, scenarios: list[Scenario]) -> float:
    """Build and tear down every scenario with the engine alone: SDK calls, no observation."""
    engine: ScenarioEngine = context.engine
    started = time.perf_counter()
    for scenario in scenarios:
        if scenario.uses_sentinel:
            context.start_sentinel()
        built = engine.build(scenario)
        engine.teardown(built)
    return time.perf_counter() - started


def build_and_observe(context: RunContext, scenarios: list[Scenario]) -> float:
    started = time.perf_counter()
    for scenario in scenarios:
        built, _ = context.build(scenario)
        context.teardown(built)
    return time.perf_counter() - started


def suite_run(paths: list[Path], workers: int) -> float:
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *map(str, paths)]
    if workers > 1:
        command += ["-n", str(workers)]
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"benchmark: the suite run failed (exit {result.returncode}):\n{result.stdout[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", type=Path, help="scenario files (default: suites/*.yaml)")
    parser.add_argument("--workers", type=int, default=2, help="xdist workers for the parallel run (default 2)")
    args = parser.parse_args()
    paths = args.specs or sorted((ROOT / "suites").glob("*.yaml"))
    scenarios = [load_scenario(path) for path in paths]
    containers = sum(len(scenario.containers) for scenario in scenarios)
    checks = sum(len(scenario.checks) for scenario in scenarios)
    run = RunIdentity.new()
    register(run)
    context = RunContext.open(RunOptions(), run)
    try:
        bare = bare_cost(context, scenarios)
        observed = build_and_observe(context, scenarios)
    finally:
        context.close()
        unregister(run)
    serial = suite_run(paths, 1)
    parallel = suite_run(paths, args.workers)
    rows = [
        ("bare: create+start+remove (SDK)", bare),
        ("build + observe (netconform)", observed),
        ("full suite, serial", serial),
        (f"full suite, -n {args.workers}", parallel),
    ]
    print(f"{len(scenarios)} scenarios, {containers} containers, {checks} checks, dockerd {context.daemon.version}")
    for label, seconds in rows:
        print(f"  {label:<34} {seconds:7.2f} s   {seconds / bare:5.2f} x bare")
    print(f"  per check, serial suite: {1000 * serial / checks:.1f} ms;"
          f" observation overhead over bare: {observed - bare:+.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
