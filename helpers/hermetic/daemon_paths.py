"""Every host-side name and place of a dedicated daemon, derived from its key ``<run id>-<name>``.

A dedicated daemon with key ``<run id>-<name>`` gets the netns ``nc-<run id>-<name>``, the
data-root ``/var/lib/netconform/daemons/<key>``, the exec-root ``/run/netconform/daemons/<key>``
(socket, pidfile, config, containerd's state) and the cgroup parent ``/nc-<key>``. Every leftover
is found again from those names and places, so a sweep removes what a crashed run left behind and
touches nothing else.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from netconform.hermetic.runs import NAME_PREFIX, REGISTRY

RUN_DIR = REGISTRY.parent / "daemons"
DATA_DIR = Path(os.environ.get("NETCONFORM_DATA_DIR", "/var/lib/netconform")) / "daemons"
NETNS_DIR = Path("/run/netns")

_KEY = re.compile(r"^[0-9a-f]{8}-[a-z0-9][a-z0-9-]{0,15}$")


@dataclass(frozen=True)
class DaemonPaths:
    """Every host-side name and place of one dedicated daemon, derived from its key."""

    key: str  # <run id>-<name>

    @property
    def run_id(self) -> str:
        return self.key[:8]

    @property
    def name(self) -> str:
        return self.key[9:]

    @property
    def netns_name(self) -> str:
        return f"{NAME_PREFIX}-{self.key}"

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns_name

    @property
    def cgroup_parent(self) -> str:
        return self.netns_name

    @property
    def exec_root(self) -> Path:
        return RUN_DIR / self.key

    @property
    def data_root(self) -> Path:
        return DATA_DIR / self.key

    @property
    def log(self) -> Path:
        return DATA_DIR / f"{self.key}.log"

    @property
    def socket(self) -> Path:
        return self.exec_root / "docker.sock"

    @property
    def pidfile(self) -> Path:
        return self.exec_root / "dockerd.pid"

    @property
    def config_file(self) -> Path:
        return self.exec_root / "daemon.json"

    @property
    def state_file(self) -> Path:
        return self.exec_root / "state.json"

    @property
    def containerd_socket(self) -> Path:
        return self.exec_root / "containerd" / "containerd.sock"

    @property
    def detached(self) -> bool:
        """Whether the daemon was started to outlive its starter (``netconform daemon start``)."""
        try:
            return bool(json.loads(self.state_file.read_text()).get("detached"))
        except (OSError, ValueError):
            return False

    def exists(self) -> list[str]:
        """The places of this daemon that exist now (empty once it is fully cleaned up)."""
        places = (self.exec_root, self.data_root, self.log, self.netns_path)
        return [str(p) for p in places if os.path.lexists(p)]


def daemon_keys(run_ids: Iterable[str] | None = None) -> list[str]:
    """Keys of the dedicated daemons that left an exec-root, data-root or log (of ``run_ids`` only)."""
    wanted = None if run_ids is None else set(run_ids)
    found: set[str] = set()
    for base in (RUN_DIR, DATA_DIR):
        if base.is_dir():
            for entry in base.iterdir():
                key = entry.name.removesuffix(".log")
                if _KEY.match(key) and (wanted is None or key[:8] in wanted):
                    found.add(key)
    return sorted(found)


def detached_keys(name: str) -> list[str]:
    """Keys of the detached daemons called ``name`` that have an exec-root (are running)."""
    running = [entry.name for entry in RUN_DIR.iterdir()] if RUN_DIR.is_dir() else []
    return sorted(key for key in running if _KEY.match(key) and DaemonPaths(key).name == name
                  and DaemonPaths(key).detached)
