"""Benchmark: what the conformance run costs beyond starting its containers, measured in one run.

    flock /tmp/netconform-host.lock .venv/bin/python ci/benchmark.py [--quick] [--parts P,...] [suites/*.yaml ...]

Parts (all by default; every ratio is printed side by side at the end):
  cost:     bare create+start+remove of every scenario (SDK, what any test must pay), and the same
            through netconform's engine plus its observation from inside the namespaces;
  suite:    the whole pytest run, serial and under xdist (--workers);
  xdist:    only the run under xdist (with the bare cost), and how long its workers' network changes
            and probes waited for the isolation lock (NETCONFORM_LOCK_TRACE);
  facts:    one container's facts read by netconform and by pytest-testinfra's docker:// backend;
  double:   every check made once, then twice, on the same containers (in-process);
  broken:   the suite on a dedicated 20.10 daemon, clean and with net.ipv4.ip_forward=0 in its netns
            (never the host's), with the evidence kept for each failure;
  scale:    --scale N scenarios of three containers (and N/2, for linearity): time, peak memory,
            report sizes.
--quick: parts cost,facts,double on three scenarios. Numbers are from this machine and this run only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from bench_inprocess import bare_and_observed, bare_cost, buildable, doubled, facts_side_by_side, judged
from bench_runs import broken_host, evidence_differences, run_suite, write_scale_scenarios

from netconform.harness.context import RunContext, RunOptions
from netconform.hermetic.runs import RunIdentity, register, unregister
from netconform.spec import load_scenario

ROOT = Path(__file__).resolve().parents[1]
PARTS = ("cost", "suite", "xdist", "facts", "double", "broken", "scale")
QUICK_PARTS = ("cost", "facts", "double")
QUICK_SPECS = ("custom.yaml", "reach-icc.yaml", "dns-custom.yaml")
FACTS_SPEC = "custom.yaml"


class Table:
    """Rows of figures, printed as they come and again together at the end."""

    def __init__(self) -> None:
        self.rows: list[str] = []

    def add(self, label: str, value: str, target: str = "") -> None:
        row = f"  {label:<52} {value:>22}   {target}"
        print(row, flush=True)
        self.rows.append(row)


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*", type=Path, help="scenario files (default: suites/*.yaml)")
    parser.add_argument("--workers", type=int, default=2, help="xdist workers for the parallel run (default 2; "
                                                              "1: the serial run only)")
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated, of: {', '.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help=f"parts {','.join(QUICK_PARTS)} on {len(QUICK_SPECS)} "
                                                             "scenarios, to iterate")
    parser.add_argument("--scale", type=int, default=100, help="scenarios in the scale part (default 100)")
    parser.add_argument("--keep", type=Path, help="keep the reports of the runs here (default: a temp dir)")
    parser.add_argument("--same-evidence-as", type=Path, metavar="DIR",
                        help="broken part: compare each check's outcome, evidence sections and artifacts with "
                             "those of an earlier run's broken report (its --keep DIR)")
    args = parser.parse_args()
    if args.quick:
        args.parts = ",".join(QUICK_PARTS)
        args.specs = args.specs or [ROOT / "suites" / name for name in QUICK_SPECS]
    args.parts = args.parts.split(",")
    unknown = set(args.parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts {sorted(unknown)}; of: {', '.join(PARTS)}")
    args.specs = args.specs or sorted((ROOT / "suites").glob("*.yaml"))
    return args


def _in_process(args: argparse.Namespace, table: Table) -> None:
    scenarios = [load_scenario(path) for path in args.specs]
    run = RunIdentity.new()
    register(run)
    context = RunContext.open(RunOptions(), run)
    try:
        scenarios = buildable(context, scenarios)
        containers = sum(len(scenario.containers) for scenario in scenarios)
        checks = sum(len(scenario.checks) for scenario in scenarios)
        print(f"{len(scenarios)} scenarios this host can build, {containers} containers, {checks} checks, "
              f"dockerd {context.daemon.version}")
        parts = set(args.parts)
        if parts & {"cost", "suite", "xdist"}:
            args.bare, observed = bare_and_observed(context, scenarios)
            table.add("bare: create+start+remove (SDK)", f"{args.bare:.2f} s")
            table.add("build + observe (netconform)", f"{observed:.2f} s = {observed / args.bare:.2f} x bare")
        if "facts" in parts:
            spec = next((s for s in scenarios if Path(s.path).name == FACTS_SPEC), scenarios[0])
            ours, theirs = facts_side_by_side(context, spec)
            table.add("one container's facts: netconform", f"{1000 * ours:.1f} ms")
            table.add("one container's facts: testinfra docker://", f"{1000 * theirs:.1f} ms")
            table.add("  testinfra / netconform", f"{theirs / ours:.0f} x", "target >= 60 x")
        if "double" in parts:
            once, judged_once = judged(context, scenarios)
            twice, judged_twice = judged(context, [doubled(scenario, False) for scenario in scenarios])
            probes, _ = judged(context, [doubled(scenario, True) for scenario in scenarios])
            table.add(f"checks once ({judged_once}), build to teardown", f"{once:.2f} s")
            table.add(f"checks twice ({judged_twice}), same containers", f"{twice:.2f} s")
            table.add("  doubling the checks adds", f"{100 * (twice / once - 1):+.1f} %", "target < 10 %")
            table.add("checks twice, each copy its own probe", f"{probes:.2f} s")
            table.add("  doubling the checks and probes adds", f"{100 * (probes / once - 1):+.1f} %")
    finally:
        context.close()
        unregister(run)


def _bare_again(args: argparse.Namespace) -> float:
    """Bare cost measured again after the suite runs (the machine's load drifts; both are shown)."""
    run = RunIdentity.new()
    register(run)
    context = RunContext.open(RunOptions(), run)
    try:
        return bare_cost(context, buildable(context, [load_scenario(path) for path in args.specs]))
    finally:
        context.close()
        unregister(run)


def _suite(args: argparse.Namespace, table: Table, scratch: Path) -> None:
    serial = run_suite(args.specs, 1)
    parallel = run_suite(args.specs, args.workers) if args.workers > 1 else None
    after = _bare_again(args)
    bare = (args.bare + after) / 2
    table.add("bare again, after the suite runs", f"{after:.2f} s (mean {bare:.2f} s)")
    table.add("full suite, serial", f"{serial.seconds:.2f} s = {serial.seconds / bare:.2f} x bare",
              "target <= 1.2 x")
    if parallel is not None:
        table.add(f"full suite, -n {args.workers}", f"{parallel.seconds:.2f} s = {parallel.seconds / bare:.2f} x bare",
                  "target <= 1.0 x")


def _xdist(args: argparse.Namespace, table: Table, scratch: Path) -> None:
    trace = scratch / "lock-trace.txt"
    trace.unlink(missing_ok=True)
    os.environ["NETCONFORM_LOCK_TRACE"] = str(trace)
    try:
        parallel = run_suite(args.specs, args.workers, report_dir=scratch / "xdist")
    finally:
        del os.environ["NETCONFORM_LOCK_TRACE"]
    after = _bare_again(args)
    bare = (args.bare + after) / 2
    table.add("bare again, after the suite runs", f"{after:.2f} s (mean {bare:.2f} s)")
    table.add(f"full suite, -n {args.workers}", f"{parallel.seconds:.2f} s = {parallel.seconds / bare:.2f} x bare",
              "target <= 1.0 x")
    holds = [line.split(" ", 5) for line in trace.read_text().splitlines()] if trace.exists() else []
    for mode in ("change", "probe"):
        mine = [(float(waited), float(held)) for _, _, kind, waited, held, _ in holds if kind == mode]
        table.add(f"  isolation lock, {mode}s: {len(mine)}", f"waited {sum(w for w, _ in mine):.1f} s, "
                  f"held {sum(h for _, h in mine):.1f} s")


def _broken(args: argparse.Namespace, table: Table, scratch: Path) -> None:
    clean, broken = broken_host(args.specs, scratch)
    failed = broken.outcomes.get("failed", 0)
    table.add("dedicated daemon, clean, serial", f"{clean.seconds:.2f} s")
    table.add("  same, net.ipv4.ip_forward=0 in its netns", f"{broken.seconds:.2f} s = "
              f"{broken.seconds / clean.seconds:.2f} x clean", "target <= 2 x")
    table.add("  failures (with a replay in their evidence)", f"{failed} ({broken.failures_with_replay})")
    (scratch / "broken-evidence.json").write_text(json.dumps(broken.evidence_shape, indent=1, sort_keys=True))
    if args.same_evidence_as is not None:
        for run in ("clean", "broken"):
            differences = evidence_differences(args.same_evidence_as / run, scratch / run)
            print("\n".join(f"    {line}" for line in differences))
            table.add(f"  {run}: checks differing from {args.same_evidence_as.name}", f"{len(differences)} of "
                      f"{sum(broken.outcomes.values())}", "same evidence: 0")


def _scale(args: argparse.Namespace, table: Table, scratch: Path) -> None:
    half = write_scale_scenarios(scratch / "scale-half", args.scale // 2)
    full = write_scale_scenarios(scratch / "scale-full", args.scale)
    small = run_suite(half, 1, report_dir=scratch / "scale-half-report")
    large = run_suite(full, 1, report_dir=scratch / "scale-full-report")
    table.add(f"{len(half)} scenarios x 3 containers, serial", f"{small.seconds:.1f} s, {small.peak_rss_mb:.0f} MB")
    table.add(f"{len(full)} scenarios x 3 containers, serial", f"{large.seconds:.1f} s, {large.peak_rss_mb:.0f} MB")
    table.add("  time ratio for twice the scenarios", f"{large.seconds / small.seconds:.2f}", "linear: 2.0")
    sizes = f"{large.json_bytes / 1e6:.1f} MB / {large.html_bytes / 1e6:.1f} MB"
    table.add(f"  report of {len(full)}: JSON / HTML", sizes)


def main() -> int:
    args = _parse()
    table = Table()
    args.bare = None
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="netconform-bench-"))
    scratch.mkdir(parents=True, exist_ok=True)
    if {"cost", "suite", "xdist", "facts", "double"} & set(args.parts):
        _in_process(args, table)
    steps: dict[str, Callable[[argparse.Namespace, Table, Path], None]] = {
        "suite": _suite, "xdist": _xdist, "broken": _broken, "scale": _scale}
    for part, step in steps.items():
        if part in args.parts:
            step(args, table, scratch)
    print(f"\nall figures (reports in {scratch}):")
    print("\n".join(table.rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
