"""``netconform list``: the scenarios with their description and checks, or the property catalogue."""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from netconform.errors import SpecError
from netconform.facts.settings import SETTINGS
from netconform.spec import Scenario, load_scenario
from netconform.spec.model import SCENARIO_SUFFIXES
from netconform.spec.properties import ASPECTS, PROPERTIES
from netconform.spec.shipped import profiles_dir, suites_dir

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "list the scenarios (description and checks) or, with --properties, what can be checked"
WIDTH = 100


def register(commands: Commands) -> None:
    parser = commands.add_parser("list", help=HELP, description=HELP + ".")
    parser.add_argument("scenarios", nargs="*", metavar="SCENARIO", type=Path,
                        help="scenario files or directories of them (default: the shipped scenarios)")
    parser.add_argument("--properties", action="store_true",
                        help="list the property catalogue instead (netconform explain PROPERTY for one)")
    parser.add_argument("--settings", action="store_true",
                        help="list the daemon settings a host profile may pin, and the shipped profiles")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    if args.properties:
        print("\n".join(properties_text()))
        return 0
    if args.settings:
        print("\n".join(settings_text()))
        return 0
    scenarios, errors = load(scenario_files(args.scenarios or [suites_dir()]))
    print("\n".join(scenarios_text(scenarios)))
    if errors:
        listing = "\n".join(f"  {problem}" for err in errors for problem in err.problems)
        sys.stderr.write(f"netconform list: {len(errors)} invalid scenario spec(s):\n{listing}\n")
        return SpecError.exit_code
    return 0


def scenario_files(paths: list[Path]) -> list[Path]:
    """The scenario files named, directly or inside the directories named."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.rglob("*") if p.suffix in SCENARIO_SUFFIXES
                            and not any(part.startswith(".") for part in p.relative_to(path).parts))
        else:
            files.append(path)
    return files


def load(files: list[Path]) -> tuple[list[Scenario], list[SpecError]]:
    scenarios, errors = [], []
    for path in files:
        try:
            scenarios.append(load_scenario(path, _shown(path)))
        except SpecError as err:
            errors.append(err)
    return scenarios, errors


def scenarios_text(scenarios: list[Scenario]) -> list[str]:
    """Per scenario: name, file, check counts by aspect, description, then one line per check."""
    lines: list[str] = []
    for scenario in scenarios:
        counts = Counter(check.aspect for check in scenario.checks)
        by_aspect = ", ".join(f"{aspect} {counts[aspect]}" for aspect in ASPECTS if counts[aspect])
        lines.append(f"{scenario.name}  ({scenario.path}; {len(scenario.checks)} checks: {by_aspect})")
        lines += textwrap.wrap(" ".join(scenario.description.split()), WIDTH,
                               initial_indent="    ", subsequent_indent="    ")
        if scenario.requires:  # skipped, saying why, on a kernel without one of them
            lines.append(f"    requires: {', '.join(scenario.requires)}")
        for check in scenario.checks:
            step = f"@{check.step}" if check.step else ""
            lines.append(f"    {check.subject}{step}::{check.name}  [{check.aspect}]")
        lines.append("")
    lines.append(f"{len(scenarios)} scenarios, {sum(len(s.checks) for s in scenarios)} checks")
    return lines


def properties_text() -> list[str]:
    """The catalogue: each property with its aspect and meaning."""
    lines = []
    for prop in PROPERTIES:
        where = "" if prop.in_expect else "; per reachability probe"
        where += "; of a network" if prop.subject == "network" else ""
        lines.append(f"{prop.shown}  [{prop.aspect}{where}]")
        lines += textwrap.wrap(prop.meaning, WIDTH, initial_indent="    ", subsequent_indent="    ")
    lines.append("")
    lines.append("netconform explain PROPERTY says how one is observed.")
    return lines


def settings_text() -> list[str]:
    """The settings catalogue (what a profile may pin), then the shipped profiles."""
    lines = []
    for name, (kind, meaning) in SETTINGS.items():
        lines.append(f"{name}  [{kind}]")
        lines += textwrap.wrap(meaning, WIDTH, initial_indent="    ", subsequent_indent="    ")
    lines.append("")
    shipped = sorted(path.stem for path in profiles_dir().glob("*.yaml"))
    lines.append("shipped profiles (--profile NAME): " + ", ".join(shipped))
    lines.append("netconform profile init writes one from a daemon's effective settings.")
    return lines


def _shown(path: Path) -> str:
    """The path relative to the working directory when inside it; a shipped scenario as
    ``suites/<file>`` wherever it is installed (as ``netconform run`` names it)."""
    resolved = path.resolve()
    for base in (Path.cwd(), suites_dir().parent):
        if resolved.is_relative_to(base):
            return str(resolved.relative_to(base))
    return str(path)
