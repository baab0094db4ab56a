"""``netconform diff``: compare two reports (``netconform-diff`` is the same command, older name)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from netconform.report import diff

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "compare two report.json files: regressions, version cases that switched, facts that changed"
EPILOG = """\
exit codes: 0 no regression (and with --fail-on-change every changed fact accepted); 1 a regression,
with --fail-on-change a changed fact no entry accepts, with --strict-accept an entry that matched
nothing; 2 unreadable input or a malformed accept file."""


def register(commands: Commands) -> None:
    parser = commands.add_parser("diff", help=HELP, description=diff.DESCRIPTION, epilog=EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    diff.add_arguments(parser)
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    return diff.run(args, "netconform diff")
