"""``netconform swarm run|sweep``: Swarm overlay scenarios on a lab of three dedicated daemons.

``run`` starts the lab (:mod:`netconform.hermetic.swarm_lab`: a manager and two workers of one
engine version, joined by an underlay the suite creates), runs the scenarios on it, prints one line
per check, writes the verdicts as JSON if asked, and removes the lab on every exit path. Exit code
0 when nothing failed (skips are not failures), 1 otherwise. ``sweep`` removes the labs of runs
whose owner is gone (their daemons and their underlay namespace).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from netconform.cli.daemon import docker_version
from netconform.errors import SpecError
from netconform.harness.swarm_run import run_scenarios
from netconform.hermetic.daemon_sweep import sweep_stale_daemons
from netconform.hermetic.daemon_versions import describe_versions, find_version
from netconform.hermetic.runs import RunIdentity, unregister
from netconform.hermetic.swarm_lab import SwarmLab, describe, sweep_stale_labs
from netconform.judge.swarm_verdicts import ERROR, FAILED, PASSED, SKIPPED
from netconform.spec.shipped import swarm_suites_dir
from netconform.spec.swarm import SwarmScenario, load_swarm_scenario

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "run the Swarm overlay scenarios on a lab swarm of three dedicated daemons"
EPILOG = """\
example:
  netconform swarm run --version 28 --json reports/swarm.json
versions (short or full form):
""" + "\n".join(f"  {line}" for line in describe_versions())


def register(commands: Commands) -> None:
    parser = commands.add_parser("swarm", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="start the lab, run the scenarios, remove the lab")
    run.add_argument("scenarios", nargs="*", type=Path, metavar="PATH",
                     help="scenario files or folders (default: the shipped ones, swarm/ of a checkout)")
    run.add_argument("--version", type=docker_version, default=find_version("28"), metavar="VERSION",
                     help="engine every node runs (default 28)")
    run.add_argument("-k", dest="keyword", default="", help="only scenarios whose name contains this")
    run.add_argument("--json", type=Path, metavar="FILE", help="write the verdicts there")
    actions.add_parser("sweep", help="remove the labs (daemons, underlay) of runs whose owner is gone")
    parser.set_defaults(handler=main)


# pytest's exit code for 'no tests ran'.
NOTHING_RAN = 5


def main(args: argparse.Namespace) -> int:
    if args.action == "sweep":
        labs, daemons = sweep_stale_labs(), sweep_stale_daemons()
        print(f"swept {', '.join(labs + daemons) or 'nothing'}", file=sys.stderr)
        return 0
    scenarios = [scenario for scenario in load_all(args.scenarios or [swarm_suites_dir()])
                 if args.keyword in scenario.name]
    if not scenarios:
        where = " ".join(map(str, args.scenarios)) or str(swarm_suites_dir())
        raise SpecError(where, None, "-k", f"no Swarm scenario matches {args.keyword!r}")
    run = RunIdentity.new()
    began = time.monotonic()
    try:
        with SwarmLab(run, args.version.binaries()) as lab:
            print(f"swarm lab of run {run.run_id} up in {time.monotonic() - began:.1f}s:")
            print("\n".join(f"  {line}" for line in describe(lab)))
            verdicts = run_scenarios(lab, run, scenarios)
    finally:
        unregister(run)
    for verdict in verdicts:
        print(verdict.line())
    counts = {status: sum(verdict.status == status for verdict in verdicts)
              for status in (PASSED, FAILED, ERROR, SKIPPED)}
    print(", ".join(f"{count} {status}" for status, count in counts.items())
          + f" in {time.monotonic() - began:.1f}s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"run": run.run_id, "version": args.version.full,
                                         "verdicts": [verdict.as_dict() for verdict in verdicts]}, indent=2))
    if counts[FAILED] or counts[ERROR]:
        return 1
    if not counts[PASSED]:  # all skipped (e.g. no vxlan): like pytest's 5, never a silent pass
        print("no Swarm check ran: nothing was shown to conform", file=sys.stderr)
        return NOTHING_RAN
    return 0


def load_all(paths: list[Path]) -> list[SwarmScenario]:
    """The scenarios in ``paths`` (files, or folders of ``*.yaml``), sorted by name within a folder.

    Raises:
        SpecError: a path does not exist, or a file is not a valid Swarm scenario.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml")))
        elif path.is_file():
            files.append(path)
        else:
            raise SpecError(str(path), None, "path", "no such file or folder")
    return [load_swarm_scenario(path) for path in files]
