"""Find the dockerd process behind a socket, so 'the host' means the daemon's namespaces.

A daemon started in its own network namespace (the dedicated test daemons) has a different
'host' network than PID 1, so host-side facts are always read from dockerd's namespaces.
"""

from __future__ import annotations

import os
from pathlib import Path

from netconform.errors import DaemonUnavailable


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
