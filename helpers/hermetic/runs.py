"""Run identity: the id and owner every created resource carries, and which runs are stale.

Docker objects carry labels; host objects (network namespaces, veths, daemons) cannot, so their
names start with ``nc-<run id>-`` and the run is registered in ``/run/netconform/runs/<run id>``
with its owner process. A run is stale when its owner process is gone (pid and start time, so a
reused pid does not keep a dead run alive). Only stale runs are swept; unlabelled or foreign
resources are never touched.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

LABEL_RUN = "io.netconform.run"
LABEL_OWNER = "io.netconform.owner"
LABEL_SCENARIO = "io.netconform.scenario"
NAME_PREFIX = "nc"
REGISTRY = Path(os.environ.get("NETCONFORM_STATE_DIR", "/run/netconform")) / "runs"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/<pid>/stat), or None if gone.

    A zombie counts as gone: it has ended, only its exit status waits for a (maybe slow) reaper.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces; fields after its closing parenthesis are fixed.
    fields = stat.rsplit(")", 1)[1].split()
    return None if fields[0] == "Z" else fields[19]


@dataclass(frozen=True)
class RunIdentity:
    run_id: str
    owner_pid: int
    owner_start: str

    @property
    def owner(self) -> str:
        return f"{self.owner_pid}:{self.owner_start}"

    @property
    def labels(self) -> dict[str, str]:
        return {LABEL_RUN: self.run_id, LABEL_OWNER: self.owner}

    def name(self, *parts: str) -> str:
        """A resource name that carries the run id: ``nc-<run>-<parts...>``."""
        return "-".join((NAME_PREFIX, self.run_id, *parts))

    @classmethod
    def new(cls) -> RunIdentity:
        pid = os.getpid()
        return cls(secrets.token_hex(4), pid, process_start_time(pid) or "0")

    @classmethod
    def owned_by(cls, run_id: str, pid: int) -> RunIdentity:
        """The run ``run_id`` owned by another process (e.g. a daemon that outlives its starter)."""
        return cls(run_id, pid, process_start_time(pid) or "0")

    @classmethod
    def parse(cls, run_id: str, owner: str) -> RunIdentity:
        pid, _, start = owner.partition(":")
        return cls(run_id, int(pid), start)


def owner_alive(owner: str) -> bool:
    """Whether the process named by an ``owner`` label value still runs."""
    pid, _, start = owner.partition(":")
    if not pid.isdigit():
        return False
    return process_start_time(int(pid)) == start


def register(run: RunIdentity) -> Path:
    """Record the run so a later run can tell whether its host-side leftovers are stale."""
    REGISTRY.mkdir(parents=True, exist_ok=True)
    path = REGISTRY / run.run_id
    path.write_text(json.dumps({"owner": run.owner}))
    return path


def unregister(run: RunIdentity) -> None:
    (REGISTRY / run.run_id).unlink(missing_ok=True)


def stale_runs() -> Iterator[str]:
    """Ids of registered runs whose owner process is gone."""
    if not REGISTRY.is_dir():
        return
    for entry in REGISTRY.iterdir():
        try:
            owner = json.loads(entry.read_text())["owner"]
        except (OSError, ValueError, KeyError):
            continue
        if not owner_alive(owner):
            yield entry.name


def run_id_of_name(name: str) -> str | None:
    """The run id inside a name made by :meth:`RunIdentity.name`, or None for foreign names."""
    parts = name.split("-")
    if len(parts) >= 3 and parts[0] == NAME_PREFIX and len(parts[1]) == 8:
        return parts[1]
    return None
