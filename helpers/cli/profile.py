"""``netconform profile init``: a host profile written from the daemon's effective settings.

The start of a host validation: run it on a host that is as intended, review the file (drop what
should follow the daemon, loosen what may vary with a matcher such as ``{in: 10.0.0.0/8}``), then
``netconform run --profile FILE`` on every host that should be like it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from netconform.cli.usage import USAGE_ERROR
from netconform.engine.attach import attached
from netconform.engine.dockerhost import daemon_facts, read_daemon
from netconform.facts.settings import SETTINGS, EffectiveSettings
from netconform.observe.daemon_settings import read_effective_settings

if TYPE_CHECKING:
    from netconform.cli.usage import Commands

HELP = "write a host profile from the daemon's effective networking settings"


def register(commands: Commands) -> None:
    parser = commands.add_parser("profile", help=HELP, description=HELP + ".")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    init = actions.add_parser("init", help=HELP, description=HELP + ".")
    init.add_argument("-o", "--output", metavar="FILE", help="write here (default: standard output)")
    init.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    init.add_argument("--name", default="this-host", help="the profile's name (default: this-host)")
    init.add_argument("--docker-host", metavar="URL", help="the daemon to read (default $DOCKER_HOST or the socket)")
    init.add_argument("--daemon-pid", type=int, metavar="PID", help="pid of that dockerd (default: from the socket)")
    parser.set_defaults(handler=main)


def _flow(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix("...").strip()


def render_profile(name: str, settings: EffectiveSettings, version: str) -> str:
    """The profile text: every readable setting pinned to its effective value, with its source."""
    lines = [
        f"# netconform host profile, written by `netconform profile init` from dockerd {version}.",
        "# Each setting below is what the daemon had in effect; remove a line to let that setting",
        "# follow the daemon, or replace a value with a matcher ({in: CIDR}, {one_of: [...]}, {not: X}).",
        f"profile: {_flow(name)}",
        "description: the intended networking configuration of this Docker host",
        "audit_existing: false   # true: also probe the networks that exist before each run",
        "settings:",
    ]
    for key in SETTINGS:
        setting = settings.settings.get(key)
        if setting is None or setting.unreadable:
            reason = setting.unreadable if setting else "not read"
            lines.append(f"  # {key}: unreadable here ({reason})")
            continue
        if isinstance(setting.value, list) and setting.value and isinstance(setting.value[0], dict):
            lines.append(f"  {_quote_key(key)}:   # {setting.source}")
            lines.extend(f"    - {_flow(item)}" for item in setting.value)
        else:
            lines.append(f"  {_quote_key(key)}: {_flow(setting.value)}   # {setting.source}")
    return "\n".join(lines) + "\n"


def _quote_key(key: str) -> str:
    return f'"{key}"' if "." in key else key


def main(args: argparse.Namespace) -> int:
    with attached(args.docker_host, args.daemon_pid) as daemon:
        readout = read_daemon(daemon.client)
        version = daemon_facts(readout).version
        settings = read_effective_settings(version, readout.info, readout.bridge, daemon.pid)
    text = render_profile(args.name, settings, version)
    if not args.output:
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    if path.exists() and not args.force:
        print(f"netconform profile: {path} exists; give --force to overwrite it", file=sys.stderr)
        return USAGE_ERROR
    path.write_text(text)
    pinned = len(yaml.safe_load(text)["settings"])
    print(f"wrote {path}: {pinned} settings pinned to what dockerd {version} has in effect")
    return 0
