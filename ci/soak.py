"""Run the conformance suite many times and list every check that ever failed, with its count.

    .venv/bin/python ci/soak.py N [--serial-only | --xdist-only | --concurrent-only] [extra pytest args]

Runs ``pytest suites`` N times serially, N times under ``-n 2`` and N times as two runs at once on
the same daemon (two CI jobs on one runner: each must stay green, whatever the other holds), each
with its own report directory; then prints one line per check that failed or errored at least
once, and the runs that ended with another exit status. Exit status: 0 when every run was green.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KINDS = {"serial": ([], 1), "-n 2": (["-n", "2"], 1), "2 at once": ([], 2)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=int, help="how many runs of each kind")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--serial-only", action="store_const", dest="only", const="serial", help="only serial runs")
    mode.add_argument("--xdist-only", action="store_const", dest="only", const="-n 2", help="only the -n 2 runs")
    mode.add_argument("--concurrent-only", action="store_const", dest="only", const="2 at once",
                      help="only pairs of runs at once")
    args, extra = parser.parse_known_args(argv)
    kinds = [args.only] if args.only else list(KINDS)
    failures: collections.Counter[str] = collections.Counter()
    bad_runs: list[str] = []
    totals: dict[str, list[float]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="netconform-soak-") as scratch:
        for kind in kinds:
            flags, at_once = KINDS[kind]
            for number in range(1, args.runs + 1):
                reports = [Path(scratch) / f"{kind.replace(' ', '')}-{number}-{n}" for n in range(at_once)]
                started = time.monotonic()
                running = [subprocess.Popen(
                    [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider",
                     "-p", "no:hypothesispytest", *flags, "--report-dir", str(report), *extra],
                    cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for report in reports]
                codes = [process.wait(timeout=1800) for process in running]
                elapsed = time.monotonic() - started
                totals[kind].append(elapsed)
                for which, (report, code) in enumerate(zip(reports, codes, strict=True), 1):
                    name = f"{kind} run {number}" + (f".{which}" if at_once > 1 else "")
                    counts = "no report"
                    if (report / "report.json").exists():
                        document = json.loads((report / "report.json").read_text())
                        counts = ", ".join(f"{v} {k}" for k, v in document["summary"]["counts"].items())
                        for check in document["checks"]:
                            if check["outcome"] in ("failed", "error"):
                                failures[f"[{kind}] {check['id']}: {check['outcome']}: "
                                         f"expected {check['expected']}, observed {check['observed']}"] += 1
                    if code != 0:
                        bad_runs.append(f"{name}: exit {code} ({counts})")
                    print(f"soak: {name}/{args.runs}: exit {code} in {elapsed:.1f}s ({counts})", flush=True)
    for kind, times in totals.items():
        runs = len(times) * KINDS[kind][1]
        green = runs - sum(1 for line in bad_runs if line.startswith(kind + " "))
        print(f"soak: {kind}: {green}/{runs} runs green, {min(times):.1f}-{max(times):.1f}s per round")
    if failures:
        print("soak: checks that ever failed:")
        for line, count in failures.most_common():
            print(f"  {count}x {line}")
    else:
        print("soak: no check ever failed")
    for line in bad_runs:
        print(f"soak: not green: {line}")
    return 1 if bad_runs else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
