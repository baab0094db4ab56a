"""Command-line parsing shared by the subcommands: bad usage is one line and exit code 2."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, NoReturn

USAGE_ERROR = 2


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line that names the help to read."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: {message} (see {self.prog} --help)\n")
        sys.exit(USAGE_ERROR)


if TYPE_CHECKING:
    # What add_subparsers returns; each subcommand module's register() adds its parser to it.
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
