"""The ``netconform`` command: one module per subcommand, wired together here.

from netconform.cli import daemon, diff, explain, fleet, listing, profile, run, swarm, sweep, upgrade
from netconform.cli.usage import Parser
from netconform.errors import NetconformError

COMMANDS = (run, diff, upgrade, fleet, swarm, listing, explain, profile, sweep, daemon)

Bad usage ends with exit code 2 and one line. A :class:`~netconform.errors.NetconformError` ends
the command with its message on one line and its exit code, never with a traceback. Otherwise the
subcommand's own exit code is returned (``run``: pytest's and netconform's, see README).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

from netconform.cli import daemon, diff, explain, fleet, listing, profile, run, swarm, sweep, upgrade
from netconform.cli.usage import Parser
from netconform.errors import NetconformError

COMMANDS = (run, diff, upgrade, fleet, swarm, listing, explain, profile, sweep, daemon)


def build_parser() -> Parser:
    """The parser of the whole command, every subcommand registered."""
    parser = Parser(prog="netconform", description="Docker network conformance: run the suite, compare runs, "
                    "look up scenarios and properties, clean up after dead runs.")
    parser.add_argument("--version", action="version", version=f"netconform {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for command in COMMANDS:
        command.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``netconform ARGV``; return its exit code."""
    words = list(sys.argv[1:] if argv is None else argv)
    passthrough: list[str] = []
    if words[:1] in (["run"], ["upgrade"]) and "--" in words:
        # Everything after "--" goes to pytest as it is (argparse would take it for scenarios).
        split = words.index("--")
        words, passthrough = words[:split], words[split + 1 :]
    args = build_parser().parse_args(words)
    args.pytest_args = passthrough
    try:
        return int(args.handler(args))
    except NetconformError as err:
        print(f"netconform {args.command}: {' '.join(str(err).split())}", file=sys.stderr)
        return err.exit_code
    except BrokenPipeError:
        # The reader went away (netconform list | head): not an error worth a traceback. Point
        # stdout at /dev/null so flushing it at exit does not fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _version() -> str:
    try:
        return version("netconform")
    except PackageNotFoundError:
        return "(not installed)"
