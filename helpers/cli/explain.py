"""``netconform explain PROPERTY``: what a property means and how netconform observes it."""

from __future__ import annotations

import argparse
import difflib
import sys
import textwrap
from typing import TYPE_CHECKING

from netconform.cli.usage import USAGE_ERROR
from netconform.facts.settings import SETTINGS
from netconform.spec.properties import PROPERTIES, Property, find_property
from netconform.spec.values import DERIVED_SETTINGS

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "say what a property means and how it is observed (e.g. interface.eth0.mtu, lookup.<name>)"
WIDTH = 100


def register(commands: Commands) -> None:
    parser = commands.add_parser("explain", help=HELP, description=HELP + ".")
    parser.add_argument("property", metavar="PROPERTY",
                        help="a property as written in a spec (sysctl.net.ipv4.ip_forward) or as listed "
                             "(sysctl.<name>); netconform list --properties lists them")
    parser.set_defaults(handler=main)


def main(args: argparse.Namespace) -> int:
    setting = setting_explanation(args.property)
    if setting:
        print("\n".join(setting))
        return 0
    prop = lookup(args.property)
    if prop is None:
        close = close_matches(args.property)
        hint = f"close matches: {', '.join(close)}" if close else "none is close"
        print(f"netconform explain: unknown property {args.property!r}; {hint} "
              "(netconform list --properties lists every property)", file=sys.stderr)
        return USAGE_ERROR
    # refused and left_behind are a container's and a network's: both are shown.
    same = [other for other in PROPERTIES if other.shown == prop.shown and other.subject != prop.subject]
    print("\n".join(line for each in (prop, *same) for line in explanation(each)))
    return 0


def setting_explanation(name: str) -> list[str]:
    """For ``setting.<name>`` (or ``${setting.<name>}``): what the daemon setting is and how specs use
    it; [] for anything else."""
    bare = name.removeprefix("${").removesuffix("}")
    if not bare.startswith("setting."):
        return []
    key = bare.removeprefix("setting.")
    if key in SETTINGS:
        kind, meaning = SETTINGS[key]
        use = f"${{{bare}}} in an expectation, by: {bare} in a selection" + (" (cases true/false)" if kind == "bool"
                                                                                else "")
    elif key in DERIVED_SETTINGS:
        kind, meaning, use = "derived", DERIVED_SETTINGS[key], f"${{{bare}}} in an expectation"
    else:
        return []
    lines = [f"{bare}  [daemon setting, {kind}]"]
    for label, text in (("meaning", meaning), ("value", _INTENDED), ("use", use)):
        lines += textwrap.wrap(text, WIDTH, initial_indent=f"  {label + ':':<10}", subsequent_indent=" " * 12)
    return lines


_INTENDED = ("as intended: the host profile's value where it pins one, else the effective one read before the "
             "run (report.json and netconform profile init show them); a setting that could not be read makes "
             "the check an error")


def lookup(name: str) -> Property | None:
    """The catalogued property ``name`` is (a spec's path) or names (its listed form)."""
    return next((prop for prop in PROPERTIES if prop.shown == name), None) or find_property(name)


def close_matches(name: str, limit: int = 6) -> list[str]:
    """Listed properties that look like ``name``: by the whole name, and by its first part
    (``interface.eth0.mut`` is close to every ``interface.<if>.*``)."""
    shown = [prop.shown for prop in PROPERTIES]
    heads = {entry.split(".")[0] for entry in shown}
    close_heads = set(difflib.get_close_matches(name.split(".")[0], heads, n=3, cutoff=0.7))
    family = [entry for entry in shown if entry.split(".")[0] in close_heads]
    ranked = sorted(family, key=lambda entry: -difflib.SequenceMatcher(None, name, entry).ratio())
    similar = difflib.get_close_matches(name, shown, n=limit, cutoff=0.6)
    return list(dict.fromkeys(similar + ranked))[:limit]


def explanation(prop: Property) -> list[str]:
    where = (f"expected under expect.<{prop.subject}> in a scenario".replace("<host>", "host") if prop.in_expect
             else "judged for each reachability probe (reachability: in a scenario), not under expect")
    lines = [f"{prop.shown}  [{prop.aspect}]"]
    for label, text in (("meaning", prop.meaning), ("observed", prop.how), ("where", where)):
        lines += textwrap.wrap(text, WIDTH, initial_indent=f"  {label + ':':<10}", subsequent_indent=" " * 12)
    if prop.templated:
        lines += textwrap.wrap("the <...> part may hold ${...} references, resolved when the check is judged",
                               WIDTH, initial_indent=f"  {'note:':<10}", subsequent_indent=" " * 12)
    return lines
