"""``netconform daemon start|stop|sweep``: dedicated Docker daemons, each in its own network namespace."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from netconform.hermetic import daemons as daemon

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "start, stop or sweep dedicated Docker daemons, each in its own network namespace"
EPILOG = """\
example:
  eval "$(netconform daemon start --name try26 --version 26 -- --icc=false)"
  netconform run --docker-host "$DOCKER_HOST" --daemon-pid "$NETCONFORM_DAEMON_PID" -k bridge
  netconform daemon stop --name try26
version 20 is the installed docker.io; 26 and 28 are unpacked by ci/fetch-docker 26.1.5 / 28.5.2."""


def register(commands: Commands) -> None:
    parser = commands.add_parser("daemon", help=HELP, description=HELP + ".", epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    daemon.add_arguments(parser)
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    return daemon.run(args)
