"""Run the conformance suite many times and list every check that ever failed, with its count.

    .venv/bin/python ci/soak.py N [--xdist-only | --serial-only] [extra pytest args]

Runs ``pytest suites`` N times serially and N times under ``-n 2`` (each with its own report
directory), then prints one line per check that failed or errored at least once, and the runs
that ended with another exit status. Exit status: 0 when every run was green, 1 otherwise.
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=int, help="how many runs of each kind")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--xdist-only", action="store_true", help="only the -n 2 runs")
    mode.add_argument("--serial-only", action="store_true", help="only the serial runs")
    args, extra = parser.parse_known_args(argv)
    kinds = [("serial", [])] if args.serial_only else [("-n 2", ["-n", "2"])] if args.xdist_only else \
        [("serial", []), ("-n 2", ["-n", "2"])]
    failures: collections.Counter[str] = collections.Counter()
    bad_runs: list[str] = []
    totals: dict[str, list[float]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="netconform-soak-") as scratch:
        for kind, flags in kinds:
            for number in range(1, args.runs + 1):
                report = Path(scratch) / f"{kind.replace(' ', '')}-{number}"
                started = time.monotonic()
                result = subprocess.run(
                    [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", *flags,
                     "--report-dir", str(report), *extra],
                    cwd=ROOT, capture_output=True, text=True, timeout=1800)
                elapsed = time.monotonic() - started
                totals[kind].append(elapsed)
                counts = "no report"
                if (report / "report.json").exists():
                    document = json.loads((report / "report.json").read_text())
                    counts = ", ".join(f"{v} {k}" for k, v in document["summary"]["counts"].items())
                    for check in document["checks"]:
                        if check["outcome"] in ("failed", "error"):
                            failures[f"[{kind}] {check['id']}: {check['outcome']}: "
                                     f"expected {check['expected']}, observed {check['observed']}"] += 1
                if result.returncode != 0:
                    bad_runs.append(f"{kind} run {number}: exit {result.returncode} ({counts})")
                print(f"soak: {kind} run {number}/{args.runs}: exit {result.returncode} in {elapsed:.1f}s ({counts})",
                      flush=True)
    for kind, times in totals.items():
        green = len(times) - sum(1 for line in bad_runs if line.startswith(kind + " "))
        print(f"soak: {kind}: {green}/{len(times)} green, {min(times):.1f}-{max(times):.1f}s per run")
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
