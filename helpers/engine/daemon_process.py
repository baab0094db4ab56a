"""Find the dockerd process behind a socket, so 'the host' means the daemon's namespaces.

A daemon started in its own network namespace (the dedicated test daemons) has a different
'host' network than PID 1, so host-side facts are always read from dockerd's namespaces.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from netconform.errors import DaemonUnavailable
from netconform.hermetic.runs import process_start_time


def _listening_inodes(pid: int, socket_path: str) -> set[int]:
    """Inodes of unix sockets bound to ``socket_path`` in ``pid``'s network namespace."""
    inodes: set[int] = set()
    try:
        lines = Path(f"/proc/{pid}/net/unix").read_text().splitlines()[1:]
    except OSError:
        return inodes
    for line in lines:
        fields = line.split()
        if len(fields) >= 8 and fields[7] == socket_path:
            inodes.add(int(fields[6]))
    return inodes


def _holds_socket(pid: int, inodes: set[int]) -> bool:
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and int(target[8:-1]) in inodes:
            return True
    return False


def find_daemon_pid(socket_path: str) -> int:
    """The pid of the dockerd that listens on ``socket_path``.

    Raises:
        DaemonUnavailable: no dockerd process on this machine holds that socket.
    """
    real = os.path.realpath(socket_path)
    holders: dict[int, int] = {}  # pid -> parent pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "dockerd":
                continue
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        pid = int(entry.name)
        inodes = _listening_inodes(pid, socket_path) | _listening_inodes(pid, real)
        if inodes and _holds_socket(pid, inodes):
            holders[pid] = parent
    # A child the daemon is forking (before it execs) holds the daemon's files for an instant,
    # under the same name: the daemon is the holder whose parent is none of them.
    for pid, parent in sorted(holders.items()):
        if parent not in holders:
            return pid
    raise DaemonUnavailable(
        f"no dockerd process on this machine listens on {socket_path}; netconform observes "
        "namespaces from the daemon's host, so the daemon must run here (or pass --daemon-pid)"
    )


@dataclass(frozen=True)
class DaemonProcess:
    """The dockerd a run observes, by pid and start time, so that a restart mid-run is noticed.

    Everything the run read of the daemon (its version, settings, firewall layout, its network
    namespace by ``/proc/<pid>/ns/net``) belongs to this process; a new dockerd on the same socket
    is another daemon as far as those facts go.
    """

    pid: int
    start: str | None
    socket: str | None

    @classmethod
    def of(cls, pid: int, socket: str | None) -> DaemonProcess:
        return cls(pid, process_start_time(pid), socket)

    def change(self) -> str:
        """Empty while the same dockerd runs; else what became of it, in words for a story."""
        if self.start is not None and process_start_time(self.pid) == self.start:
            return ""
        what = f"the Docker daemon under test stopped during the run (pid {self.pid} is gone"
        if self.socket is None:
            return what + ")"
        try:
            now = find_daemon_pid(self.socket)
        except DaemonUnavailable:
            return f"{what}, none listens on {self.socket})"
        return f"{what.replace('stopped', 'restarted')}, pid {now} listens on {self.socket})"
