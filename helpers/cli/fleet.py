"""``netconform fleet HOSTS.yaml``: the suite on many Docker hosts at once, merged into one report.

Each host runs the suite *on* itself, in a helper container started through its API
(:mod:`netconform.fleet.remote`) from an image assembled here from the installed netconform
(:mod:`netconform.fleet.helper_image`); the hosts run concurrently, each report comes back to
``REPORT_DIR/<host>/``, and the merged report (:mod:`netconform.fleet.merge`) is printed and
written to ``REPORT_DIR/fleet.txt``, ``fleet.json`` and ``fleet.html``.
"""

from __future__ import annotations

import argparse
import json
import sys
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import TYPE_CHECKING

from netconform.fleet import render
from netconform.fleet.helper_image import build_helper_image, describe
from netconform.fleet.hosts import HOSTS_DOC, load_hosts
from netconform.fleet.merge import merge
from netconform.fleet.remote import HostRun, SuiteSelection, run_on_host
from netconform.hermetic.runs import RunIdentity

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "run the suite on many Docker hosts concurrently (through their APIs) and merge the reports"
EXIT_HOST_ERROR = 18
EPILOG = f"""\
HOSTS.yaml:
{HOSTS_DOC}
Each host needs its daemon's API reachable from here; nothing is pulled: the helper image (this
netconform, its Python and libraries) and the probe image are imported through the API, and removed
again with the helper container when the run ends.
exit codes: 0 every host reported and every check passed; 1 a check failed or errored on a host (or,
with --fail-on-difference, a host stands out); 2 bad usage; 17 HOSTS.yaml is malformed (file:line);
{EXIT_HOST_ERROR} a host gave no report (unreachable, refused, the suite could not run): its row says why."""


def register(commands: Commands) -> None:
    parser = commands.add_parser("fleet", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("hosts_file", type=Path, metavar="HOSTS.yaml", help="the hosts (see below)")
    parser.add_argument("--scenarios", nargs="+", type=Path, default=[], metavar="PATH",
                        help="scenario files or directories of them (default: the shipped scenarios)")
    parser.add_argument("-k", dest="keyword", metavar="EXPR", help="only checks whose id matches EXPR")
    parser.add_argument("-m", dest="markers", metavar="EXPR", help="only checks of these aspects or modes")
    parser.add_argument("-n", dest="workers", metavar="N", help="pytest-xdist workers on each host")
    parser.add_argument("--profile", metavar="FILE|NAME", help="host profile for the hosts that name none")
    parser.add_argument("--report-dir", type=Path, default=Path("reports/fleet"), metavar="DIR",
                        help="each host's report goes to DIR/<host>/, the merged one to DIR/fleet.* "
                             "(default reports/fleet)")
    parser.add_argument("--timeout", type=float, default=900.0, metavar="SECONDS",
                        help="bound for one host's suite (default 900); then it is stopped")
    parser.add_argument("--parallel", type=int, default=8, metavar="N", help="hosts run at once (default 8)")
    parser.add_argument("--fail-on-difference", action="store_true",
                        help="exit 1 also when a host stands out (observes a fact most hosts do not)")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    hosts = load_hosts(args.hosts_file)
    missing = [str(path) for path in args.scenarios if not path.exists()]
    if missing:
        print(f"netconform fleet: no such scenario file or directory: {', '.join(missing)}", file=sys.stderr)
        return 2
    if args.parallel < 1:
        print("netconform fleet: --parallel must be at least 1", file=sys.stderr)
        return 2
    image = build_helper_image()
    run_id = RunIdentity.new().run_id
    print(f"== fleet run {run_id}: {len(hosts)} hosts, helper image {describe(image)}", flush=True)
    selection = SuiteSelection(scenarios=tuple(args.scenarios), keyword=args.keyword, markers=args.markers,
                               workers=args.workers, profile=args.profile, timeout=args.timeout)
    runs: dict[str, HostRun] = {}
    with ThreadPoolExecutor(max_workers=min(args.parallel, len(hosts))) as pool:
        started = {pool.submit(run_on_host, host, image, selection, args.report_dir / host.name, run_id): host
                   for host in hosts}
        for done in as_completed(started):
            run = done.result()
            runs[run.host.name] = run
            outcome = f"exit code {run.exit_code}" if run.report is not None else f"ERROR: {run.error}"
            print(f"== {run.host.name} ({run.host.docker_host}): {outcome} in {run.seconds:.0f}s", flush=True)
    fleet = merge([runs[host.name] for host in hosts])
    lines = render.text(fleet, run_id)
    print("\n".join(lines))
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "fleet.txt").write_text("\n".join(lines) + "\n")
    (args.report_dir / "fleet.json").write_text(_json(render.as_dict(fleet, run_id)))
    (args.report_dir / "fleet.html").write_text(render.as_html(fleet, run_id))
    if fleet.unreported:
        return EXIT_HOST_ERROR
    red = any(fleet.totals(run.host.name)["failed"] or fleet.totals(run.host.name)["error"] for run in fleet.runs)
    return 1 if red or (args.fail_on_difference and fleet.standing_out()) else 0


def _json(document: object) -> str:
    return json.dumps(document, indent=1) + "\n"
