"""``netconform daemon start|stop|sweep``: dedicated Docker daemons, each in its own network namespace.

``start`` leaves the daemon running (detached: its run is owned by dockerd itself) and prints shell
assignments; ``stop`` stops it by name and removes every leftover; ``sweep`` removes the daemons of
runs whose owner is gone. Errors are one line with the exit code of :mod:`netconform.errors`.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from netconform.errors import NetconformError
from netconform.hermetic.daemon_paths import detached_keys
from netconform.hermetic.daemon_sweep import stop_detached, sweep_stale_daemons
from netconform.hermetic.daemon_versions import DockerVersion, describe_versions, find_version
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity, unregister

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "start, stop or sweep dedicated Docker daemons, each in its own network namespace"
EPILOG = """\
example:
  eval "$(netconform daemon start --name try26 --version 26 -- --icc=false)"
  netconform run --docker-host "$DOCKER_HOST" --daemon-pid "$NETCONFORM_DAEMON_PID" -k bridge
  netconform daemon stop --name try26
versions (short or full form):
""" + "\n".join(f"  {line}" for line in describe_versions())


def docker_version(text: str) -> DockerVersion:
    """argparse type: a version of the catalogue; an unknown one is bad usage (exit 2)."""
    try:
        return find_version(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def register(commands: Commands) -> None:
    parser = commands.add_parser("daemon", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = actions.add_parser("start", help="start a detached dedicated daemon, print shell assignments",
                               epilog="versions (short or full form):\n"
                               + "\n".join(f"  {line}" for line in describe_versions()),
                               formatter_class=argparse.RawDescriptionHelpFormatter)
    start.add_argument("--name", required=True, help="[a-z0-9-], at most 16 characters")
    start.add_argument("--version", type=docker_version, default=find_version("20"), metavar="VERSION",
                       help="engine to run (default 20, the installed one; the list is below)")
    start.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a ping")
    start.add_argument("flags", nargs="*", help="extra dockerd flags, after --")
    stop = actions.add_parser("stop", help="stop a detached dedicated daemon and remove its leftovers")
    stop.add_argument("--name", required=True)
    actions.add_parser("sweep", help="remove the dedicated daemons of runs whose owner is gone")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    """Carry out ``netconform daemon ACTION``; a NetconformError ends the command with its exit code."""
    if args.action == "start":
        start(args.name, args.version, args.flags, args.timeout)
    elif args.action == "stop":
        print(f"stopped {stop_detached(args.name)}", file=sys.stderr)
    else:
        swept = sweep_stale_daemons()
        print(f"swept {', '.join(swept) or 'nothing'}", file=sys.stderr)
    return 0


def start(name: str, version: DockerVersion, flags: list[str], timeout: float) -> None:
    """Start a detached daemon and print ``DOCKER_HOST=…`` and ``NETCONFORM_DAEMON_PID=…``."""
    clash = detached_keys(name)
    if clash:
        raise NetconformError(f"a detached daemon named {name!r} exists ({clash[0]}): "
                              f"netconform daemon stop --name {name}")
    binaries = version.binaries()
    identity = RunIdentity.new()
    daemon = DedicatedDaemon(identity, name, binaries, flags, start_timeout=timeout, detached=True)
    try:
        daemon.start()
    except BaseException:
        unregister(identity)  # the run existed for this daemon alone
        raise
    print(f"DOCKER_HOST={daemon.docker_host}")
    print(f"NETCONFORM_DAEMON_PID={daemon.pid}")
