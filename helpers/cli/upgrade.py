"""``netconform upgrade``: regression-check a daemon upgrade, one suite run per version, then diffs.

    netconform upgrade 20 26 [28 ...]        dedicated daemons of each version, in turn
    netconform upgrade host 26               the host's running daemon, then a dedicated 26

Each dedicated daemon runs in its own network namespace (:mod:`netconform.hermetic.dedicated_daemon`),
started before its suite and stopped after it in a ``finally``; the host's daemon is only used for
``host``. Each suite writes ``REPORT_DIR/<version>/report.json``; each consecutive pair is then
compared exactly as ``netconform diff`` compares two reports (:mod:`netconform.report.diff`), the
diff printed and written to ``REPORT_DIR/diff-<before>-<after>.txt``.

Each suite runs as a child ``python -m pytest -p netconform``, not through :func:`pytest.main` in
this process: pytest does not support repeated in-process sessions (modules and plugins stay
imported, with their state: the plugin's run identity and signal handler, the spec cache), and a
child that crashes or hangs in its teardown cannot leave anything behind for the next version.
"""

from __future__ import annotations

import argparse
import itertools
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from netconform.cli.daemon import docker_version
from netconform.cli.run import plugin_options, pytest_args
from netconform.cli.usage import USAGE_ERROR
from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.daemon_versions import DockerVersion, describe_versions
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity, unregister
from netconform.report.accepted import AcceptFileError, Entry
from netconform.report.diff import BadReport, compare, load_report, read_accepted, render
from netconform.spec.shipped import suites_dir

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HOST = "host"
HELP = "regression-check a daemon upgrade: the suite on each version in turn, then a diff of each pair"
EPILOG = """\
versions (short or full form; each runs as a dedicated daemon in its own network namespace):
{versions}
  host: the daemon netconform run would use (--docker-host, $DOCKER_HOST or /var/run/docker.sock)
example:
  netconform upgrade 20 26 --accept ci/upgrade-accepted.yaml --fail-on-change -n 2
exit codes: 0 every suite passed and no diff failed (as netconform diff judges it); 1 a check failed
or a diff failed; 2 bad usage, interrupted or a malformed accept file; a suite that ends otherwise
(5 nothing selected, 10 invalid spec, 11-14 environment) ends the command with its code, no diff made;
11 a dedicated daemon did not start; 14 a version not unpacked (the message names ci/fetch-docker X).
Arguments after "--" go to every pytest run unchanged."""
# How long a suite interrupted with this command may take to tear its scenarios down.
UNWIND_BOUND = 120.0
_OWN_OPTIONS = {"--report-dir"}  # the plugin's option that upgrade sets itself, per version


@dataclass(frozen=True)
class Target:
    """One daemon the suite runs on: a version of the catalogue, or the host's daemon (``version`` None)."""

    name: str  # "20", "26", "host": names its report directory and its side of diff-A-B.txt
    version: DockerVersion | None

    @property
    def daemon_name(self) -> str:
        """The dedicated daemon's name (its netns is nc-<run id>-<this>)."""
        return f"v{self.name}"


def target(text: str) -> Target:
    """argparse type: ``host`` or a version of the catalogue (short or full form)."""
    if text == HOST:
        return Target(HOST, None)
    version = docker_version(text)
    return Target(version.short, version)


class _Targets(argparse.Action):
    """At least two daemons, none twice (``26`` and ``26.1.5`` are the same one)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        targets: list[Target] = list(values)
        if len(targets) < 2:
            parser.error("needs at least two versions to compare, e.g. 20 26")
        names = [t.name for t in targets]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            parser.error(f"version {', '.join(twice)} given twice")
        setattr(namespace, self.dest, targets)


def register(commands: Commands) -> None:
    epilog = EPILOG.format(versions="\n".join(f"  {line}" for line in describe_versions()))
    parser = commands.add_parser("upgrade", help=HELP, description=HELP + ".", epilog=epilog,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("targets", nargs="+", type=target, action=_Targets, metavar="VERSION",
                        help="the daemons in upgrade order: host, or a version listed below")
    parser.add_argument("--scenarios", nargs="+", default=[], metavar="PATH",
                        help="scenario files or directories of them (default: the shipped scenarios)")
    parser.add_argument("--report-dir", dest="report_root", type=Path, default=Path("reports/upgrade"),
                        metavar="DIR", help="reports go to DIR/<version>/, diffs to DIR/diff-A-B.txt "
                                            "(default reports/upgrade)")
    parser.add_argument("--start-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="bound for a dedicated daemon to answer a ping (default 30)")
    selection = parser.add_argument_group("selection (as in netconform run)")
    selection.add_argument("-k", dest="keyword", metavar="EXPR", help="only checks whose id matches EXPR")
    selection.add_argument("-m", dest="markers", metavar="EXPR", help="only checks of these aspects or modes")
    selection.add_argument("-n", dest="workers", metavar="N", help="run each suite on N pytest-xdist workers")
    judged = parser.add_argument_group("the diffs (as in netconform diff)")
    judged.add_argument("--accept", action="append", type=Path, default=[], metavar="FILE",
                        help="YAML list of accepted changes, each with its reason (repeatable)")
    judged.add_argument("--fail-on-change", action="store_true",
                        help="fail also when an observed fact changed that no --accept entry accepts")
    judged.add_argument("--strict-accept", action="store_true",
                        help="fail also when an applicable accept entry matches no change (stale)")
    group = parser.add_argument_group("netconform (the plugin's options, for every run)")
    for names, attrs in plugin_options():
        if not _OWN_OPTIONS.intersection(names):
            group.add_argument(*names, **{**attrs, "default": argparse.SUPPRESS})
    output = parser.add_argument_group("output")
    output.add_argument("-v", "--verbose", action="count", default=0, help="one line per check (repeatable)")
    output.add_argument("-q", "--quiet", action="count", default=0, help="less output (repeatable)")
    parser.set_defaults(handler=main)


def report_dir(args: argparse.Namespace, daemon: Target) -> Path:
    return Path(args.report_root) / daemon.name


def diff_file(args: argparse.Namespace, before: Target, after: Target) -> Path:
    return Path(args.report_root) / f"diff-{before.name}-{after.name}.txt"


def suite_command(args: argparse.Namespace, daemon: Target, docker_host: str | None = None,
                  daemon_pid: int | None = None) -> list[str]:
    """The child process that runs the suite on ``daemon`` (at ``docker_host`` when it is dedicated)."""
    chosen = argparse.Namespace(**vars(args))
    chosen.scenarios = args.scenarios
    chosen.junitxml = None
    chosen.pytest_args = getattr(args, "pytest_args", [])
    chosen.report_dir = str(report_dir(args, daemon).absolute())  # the child may run elsewhere
    if docker_host is not None:  # a dedicated daemon: the host's is not the one to test
        chosen.docker_host, chosen.daemon_pid = docker_host, daemon_pid
    return [sys.executable, "-m", "pytest", *pytest_args(chosen)]


def main(args: argparse.Namespace) -> int:
    targets: list[Target] = args.targets
    try:
        accepted = read_accepted(args.accept, args.fail_on_change)
    except AcceptFileError as err:  # before any daemon starts
        print(f"netconform upgrade: {err}", file=sys.stderr)
        return USAGE_ERROR
    # Every engine is looked up before the first suite runs: a version not unpacked fails now.
    engines = {t.name: t.version.binaries() for t in targets if t.version is not None}
    previous = signal.signal(signal.SIGTERM, _raise_on_term)
    run = RunIdentity.new()
    try:
        codes = {}
        for daemon in targets:
            code = _run_on(args, daemon, engines.get(daemon.name), run)
            if code not in (0, 1):
                print(f"netconform upgrade: the suite on {daemon.name} ended with exit code {code}; "
                      "no diff made", file=sys.stderr)
                return code
            codes[daemon.name] = code
    except KeyboardInterrupt:
        print("netconform upgrade: interrupted; every dedicated daemon was stopped", file=sys.stderr)
        return USAGE_ERROR
    finally:
        unregister(run)
        signal.signal(signal.SIGTERM, previous)
    failed_diffs = [f"{a.name} -> {b.name}" for a, b in pairs(targets) if _diff(args, accepted, a, b)]
    red = [name for name, code in codes.items() if code]
    print(f"== upgrade {' -> '.join(t.name for t in targets)}: suites "
          f"{'failed on ' + ', '.join(red) if red else 'all passed'}; diffs "
          f"{'failed: ' + ', '.join(failed_diffs) if failed_diffs else 'all passed'}; in {args.report_root}")
    return 1 if red or failed_diffs else 0


def _run_on(args: argparse.Namespace, daemon: Target, binaries: DaemonBinaries | None, run: RunIdentity) -> int:
    """Run the suite on ``daemon``; a dedicated one is started for it and always stopped."""
    into = report_dir(args, daemon)
    into.mkdir(parents=True, exist_ok=True)
    for stale in ("report.json", "report.html"):  # a run that writes none must not be compared
        (into / stale).unlink(missing_ok=True)
    if daemon.version is None:
        print("== suite on the host's daemon", flush=True)
        return _run_suite(suite_command(args, daemon), _suite_cwd(args))
    dedicated = DedicatedDaemon(run, daemon.daemon_name, binaries, start_timeout=args.start_timeout)
    try:
        dedicated.start()
        print(f"== suite on dockerd {dedicated.version} ({daemon.name}: {dedicated.docker_host})", flush=True)
        return _run_suite(suite_command(args, daemon, dedicated.docker_host, dedicated.pid), _suite_cwd(args))
    finally:
        dedicated.stop()


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a CI timeout), unwound like Ctrl-C so every daemon is stopped."""


def _raise_on_term(signum: int, frame: FrameType | None) -> None:
    raise _Terminated(f"signal {signum}")


def _suite_cwd(args: argparse.Namespace) -> Path | None:
    """Where the child runs: by the shipped scenarios, as netconform run does, so progress names them
    ``suites/…`` also where netconform is installed; where this command runs for scenarios given."""
    return None if args.scenarios else suites_dir().parent


def _run_suite(argv: list[str], cwd: Path | None) -> int:
    """Run one suite in a child process; when interrupted, let it tear its scenarios down first."""
    child = subprocess.Popen(argv, cwd=cwd)
    try:
        return child.wait()
    except BaseException as err:
        # Ctrl-C reaches the child too (one process group); SIGTERM may have reached only us.
        if isinstance(err, _Terminated) and child.poll() is None:
            child.terminate()
        try:
            child.wait(timeout=UNWIND_BOUND)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        raise


def _diff(args: argparse.Namespace, accepted: list[Entry] | None, before: Target, after: Target) -> bool:
    """Print and write the diff of two runs, as ``netconform diff`` would; whether it failed."""
    print(f"== diff {before.name} -> {after.name}", flush=True)
    try:
        diff = compare(load_report(report_dir(args, before) / "report.json"),
                       load_report(report_dir(args, after) / "report.json"), accepted)
    except BadReport as err:
        print(f"netconform upgrade: {err}", file=sys.stderr)
        return True
    text = "\n".join(render(diff, args.fail_on_change, args.strict_accept))
    print(text, flush=True)
    diff_file(args, before, after).write_text(text + "\n")
    return diff.failed(args.fail_on_change, args.strict_accept)


def pairs(targets: Sequence[Target]) -> list[tuple[Target, Target]]:
    """Each consecutive pair, in upgrade order."""
    return list(itertools.pairwise(targets))
