"""``netconform sweep``: leftovers of dead runs, listed; removed only with ``--yes``.

A run is dead when its owner process is gone (:mod:`netconform.hermetic.runs`); only what carries such a
run's label or name is considered: containers and networks on the daemon, dedicated daemons,
sentinel namespaces and veths, firewall trace tables, the run's record. Every run sweeps these
when it starts; this command is for a machine that will not see another run soon.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from netconform.engine.attach import attached
from netconform.harness.sweep import sweep_stale

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "show the leftovers of dead runs (containers, networks, namespaces, daemons); --yes removes them"


def register(commands: Commands) -> None:
    parser = commands.add_parser("sweep", help=HELP, description=HELP + ".")
    parser.add_argument("--yes", action="store_true", help="remove them (without it nothing is changed)")
    parser.add_argument("--docker-host", metavar="URL",
                        help="the daemon whose containers and networks to sweep (default $DOCKER_HOST or "
                             "/var/run/docker.sock)")
    parser.add_argument("--daemon-pid", type=int, metavar="PID",
                        help="pid of that dockerd (default: found from the socket)")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    with attached(args.docker_host, args.daemon_pid) as daemon:
        found = sweep_stale(daemon.client, daemon.netns, dry_run=not args.yes)
    if not found:
        print("nothing to sweep: no leftovers of dead runs")
    elif args.yes:
        print(f"removed {len(found)} leftover(s) of dead runs:")
        print("\n".join(f"  {line}" for line in found))
    else:
        print(f"would remove {len(found)} leftover(s) of dead runs:")
        print("\n".join(f"  {line}" for line in found))
        print("nothing was changed; netconform sweep --yes removes them")
    return 0
