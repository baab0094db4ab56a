"""``netconform run``: the conformance suite, in this process, through pytest and the plugin.

The options become a pytest command line that :func:`pytest.main` runs with netconform's plugin:
pytest prints the progress, the plugin each failure's story and the conformance table. The
plugin's own options are offered as they are declared in :func:`netconform.harness.plugin.pytest_addoption`
(so the two cannot drift apart), with the plugin's defaults. Nothing is installed or started here:
the daemon must be running and the image present (or buildable from busybox-static).
"""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from netconform.cli.usage import USAGE_ERROR
from netconform.harness import plugin
from netconform.spec.shipped import suites_dir

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "run the conformance suite against a Docker daemon (the shipped scenarios by default)"
EPILOG = """\
exit codes: 0 all checks passed, 1 a check failed, 2 interrupted or bad usage, 5 nothing selected;
10 invalid scenario spec, 11 no daemon, 12 no permission (not root), 13 image missing, 14 a tool missing.
Arguments after "--" go to pytest unchanged, e.g.  netconform run -- -x --lf"""


class _Options:
    """Records what the plugin's pytest_addoption declares, to offer the same options here."""

    def __init__(self) -> None:
        self.declared: list[tuple[tuple[str, ...], dict[str, Any]]] = []

    def getgroup(self, name: str, description: str = "") -> _Options:
        return self

    def addoption(self, *names: str, **attrs: Any) -> None:
        self.declared.append((names, attrs))


def plugin_options() -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The plugin's command-line options: (flags, argparse attributes) each."""
    options = _Options()
    plugin.pytest_addoption(options)  # type: ignore[arg-type]  # records; pytest's Parser is not built here
    return options.declared


def register(commands: Commands) -> None:
    parser = commands.add_parser("run", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO",
                        help="scenario files or directories of them (default: the shipped scenarios)")
    selection = parser.add_argument_group("selection (as in pytest)")
    selection.add_argument("-k", dest="keyword", metavar="EXPR",
                           help="only checks whose id matches EXPR, e.g. bridge, 'custom and not dns'")
    selection.add_argument("-m", dest="markers", metavar="EXPR",
                           help="only checks of these aspects or modes, e.g. dns, 'host or none'")
    selection.add_argument("-n", dest="workers", metavar="N",
                           help="run on N pytest-xdist workers (or auto); a scenario stays on one worker")
    group = parser.add_argument_group("netconform (the plugin's options)")
    for names, attrs in plugin_options():
        group.add_argument(*names, **{**attrs, "default": argparse.SUPPRESS})
    output = parser.add_argument_group("output")
    output.add_argument("--junitxml", metavar="FILE", help="also write a JUnit XML file")
    output.add_argument("-v", "--verbose", action="count", default=0, help="one line per check (repeatable)")
    output.add_argument("-q", "--quiet", action="count", default=0, help="less output (repeatable)")
    parser.set_defaults(handler=main)


def pytest_args(args: argparse.Namespace) -> list[str]:
    """The pytest command line for ``args``."""
    # -p by entry point name, so the plugin loads even where plugin autoloading is switched off.
    # This command is part of the plugin's package, so pytest finds it imported already and warns
    # that it cannot rewrite its asserts; none of the checks relies on rewritten asserts.
    # Hypothesis's plugin (where hypothesis is installed, as in the development environment)
    # imports all of hypothesis at the end of every session, ~1 s, for tests a conformance run has not.
    argv = ["-p", "netconform", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if args.keyword:
        argv += ["-k", args.keyword]
    if args.markers:
        argv += ["-m", args.markers]
    if args.workers:
        argv += ["-p", "xdist", "-n", args.workers, "--dist", "loadfile"]
    for names, attrs in plugin_options():
        flag = next(name for name in names if name.startswith("--"))
        dest = flag.lstrip("-").replace("-", "_")  # as argparse derives it
        if not hasattr(args, dest):
            continue
        if attrs.get("action") == "store_true":
            argv += [flag] if getattr(args, dest) else []
        else:
            argv.append(f"{flag}={getattr(args, dest)}")
    if args.junitxml:
        argv.append(f"--junitxml={args.junitxml}")
    argv += ["-v"] * args.verbose + ["-q"] * args.quiet
    argv += args.pytest_args
    if args.scenarios:
        argv += args.scenarios
    else:
        # The shipped scenarios, with ids that start with suites/ wherever they are installed, as in
        # a checkout, so reports of both compare (netconform diff).
        shipped = suites_dir()
        argv += ["--rootdir", str(shipped.parent), str(shipped)]
    return argv


@contextlib.contextmanager
def _shipped_scenarios_dir(args: argparse.Namespace) -> Iterator[None]:
    """Run the shipped scenarios from the folder that holds them.

    pytest prints progress relative to where it was started, so an installed netconform run from
    /tmp showed "../usr/lib/python3/site-packages/netconform/suites/bridge.yaml". Paths the user
    gave (report directory, JUnit file) still mean what they meant where the command ran.
    """
    if args.scenarios:
        yield
        return
    for dest in ("report_dir", "junitxml"):
        if getattr(args, dest, None):
            setattr(args, dest, str(Path(getattr(args, dest)).absolute()))
    if getattr(args, "profile", None) and Path(args.profile).exists():  # else the name of a shipped one
        args.profile = str(Path(args.profile).absolute())
    here = Path.cwd()
    os.chdir(suites_dir().parent)
    try:
        yield
    finally:
        os.chdir(here)


def main(args: argparse.Namespace) -> int:
    with _shipped_scenarios_dir(args):
        code = pytest.main(pytest_args(args))
    # A usage error pytest or the plugin finds (--sentinel-cidr ::/64) is bad usage of this command.
    return USAGE_ERROR if code == pytest.ExitCode.USAGE_ERROR else int(code)
