"""``netconform fleet HOSTS.yaml``: the suite on many Docker hosts at once, merged into one report.

Each host runs the suite *on* itself, in a helper container started through its API
(:mod:`netconform.fleet.remote`) from an image assembled here from the installed netconform
(:mod:`netconform.fleet.helper_image`); the hosts run concurrently, each report comes back to
``REPORT_DIR/<host>/``, and the merged report (:mod:`netconform.fleet.merge`) is printed and
written to ``REPORT_DIR/fleet.txt``, ``fleet.json`` and ``fleet.html``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from concurrent.futures import TimeoutError as FuturesTimeout
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from netconform.errors import EXIT_INTERRUPTED
from netconform.fleet import render
from netconform.fleet.helper_image import build_helper_image, describe
from netconform.fleet.hosts import HOSTS_DOC, FleetHost, load_hosts
from netconform.fleet.merge import merge
from netconform.fleet.remote import API_TIMEOUT, CANCEL_GRACE, HostRun, SuiteSelection, run_on_host, stop_helpers
from netconform.hermetic.runs import RunIdentity

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "run the suite on many Docker hosts concurrently (through their APIs) and merge the reports"
EXIT_HOST_ERROR = 18
# After Ctrl-C: how long the hosts' threads may take to copy out what their suites wrote and remove
# what they sent, once the helpers are stopped.
WIND_DOWN = CANCEL_GRACE + API_TIMEOUT
EPILOG = f"""\
HOSTS.yaml:
{HOSTS_DOC}
Each host needs its daemon's API reachable from here; nothing is pulled: the helper image (this
netconform, its Python and libraries) and the probe image are imported through the API, and removed
again with the helper container when the run ends.
exit codes: 0 every host reported and every check passed; 1 a check failed or errored on a host (or,
with --fail-on-difference, a host stands out); 2 bad usage, or interrupted (Ctrl-C, SIGTERM: the
helpers are stopped and removed on every host, and what arrived is written); 17 HOSTS.yaml is malformed (file:line);
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
    try:
        image = build_helper_image()
    except KeyboardInterrupt:
        print("netconform fleet: interrupted before any host was started", file=sys.stderr)
        return EXIT_INTERRUPTED
    run_id = RunIdentity.new().run_id
    print(f"== fleet run {run_id}: {len(hosts)} hosts, helper image {describe(image)}", flush=True)
    selection = SuiteSelection(scenarios=tuple(args.scenarios), keyword=args.keyword, markers=args.markers,
                               workers=args.workers, profile=args.profile, timeout=args.timeout)
    runs: dict[str, HostRun] = {}
    cancelled = threading.Event()
    previous = signal.signal(signal.SIGTERM, _raise_on_term)
    pool = ThreadPoolExecutor(max_workers=min(args.parallel, len(hosts)))
    try:
        started = [pool.submit(run_on_host, host, image, selection, args.report_dir / host.name, run_id, cancelled)
                   for host in hosts]
        try:
            _collect(started, runs)
        except KeyboardInterrupt:
            _cancel(hosts, run_id, cancelled, started, runs)
    finally:
        pool.shutdown(wait=not cancelled.is_set(), cancel_futures=True)
        signal.signal(signal.SIGTERM, previous)
    fleet = merge([runs.get(host.name) or HostRun(host, error="interrupted before it reported") for host in hosts])
    lines = render.text(fleet, run_id)
    print("\n".join(lines))
    args.report_dir.mkdir(parents=True, exist_ok=True)
    (args.report_dir / "fleet.txt").write_text("\n".join(lines) + "\n")
    (args.report_dir / "fleet.json").write_text(_json(render.as_dict(fleet, run_id)))
    (args.report_dir / "fleet.html").write_text(render.as_html(fleet, run_id))
    if cancelled.is_set():
        print("netconform fleet: interrupted; the helpers were stopped and removed on every host",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if fleet.unreported:
        return EXIT_HOST_ERROR
    red = any(fleet.totals(run.host.name)["failed"] or fleet.totals(run.host.name)["error"] for run in fleet.runs)
    return 1 if red or (args.fail_on_difference and fleet.standing_out()) else 0


def _json(document: object) -> str:
    return json.dumps(document, indent=1) + "\n"


def _collect(started: Iterable[Future[HostRun]], runs: dict[str, HostRun], timeout: float | None = None) -> None:
    """Each host's row as it arrives (``timeout``: raise FuturesTimeout past it)."""
    for done in as_completed(started, timeout=timeout):
        run = done.result()
        runs[run.host.name] = run
        outcome = f"exit code {run.exit_code}" if run.report is not None else f"ERROR: {run.error}"
        print(f"== {run.host.name} ({run.host.docker_host}): {outcome} in {run.seconds:.0f}s", flush=True)


def _cancel(hosts: list[FleetHost], run_id: str, cancelled: threading.Event, started: list[Future[HostRun]],
            runs: dict[str, HostRun]) -> None:
    """Ctrl-C: stop the helpers on every host, let the hosts' threads bring back what the suites
    wrote and remove what they sent, then remove any helper still there. Not interruptible itself:
    a second Ctrl-C would leave helpers running on hosts."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        print("netconform fleet: interrupted; stopping the helper on every host", file=sys.stderr, flush=True)
        cancelled.set()
        _on_every_host(hosts, run_id, remove=False)
        with contextlib.suppress(FuturesTimeout):
            _collect(started, runs, timeout=WIND_DOWN)
        _on_every_host(hosts, run_id, remove=True)
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _on_every_host(hosts: list[FleetHost], run_id: str, *, remove: bool) -> None:
    """:func:`stop_helpers` on every host at once; a host that cannot be reached has none to stop."""
    def stop(host: FleetHost) -> None:
        with contextlib.suppress(Exception):  # unreachable, refused: its row already says so
            stop_helpers(host, run_id, remove=remove, grace=CANCEL_GRACE if not remove else 0)

    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        list(pool.map(stop, hosts))


def _raise_on_term(signum: int, frame: FrameType | None) -> None:
    """SIGTERM (a CI timeout) unwinds like Ctrl-C: every helper is stopped."""
    raise KeyboardInterrupt(f"signal {signum}")
