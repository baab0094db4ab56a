"""Namespace identities and generated files of a process, and the cgroup version, seen from the host."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from netconform.errors import ProbeError
from netconform.facts import NamespaceId
from netconform.hermetic.nsexec import NAMESPACE_KINDS

# The files Docker generates per container (or copies from the host / the joined container).
GENERATED_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf")


def namespace_ids(pid: int) -> dict[str, NamespaceId]:
    """The identity of each of the 7 namespaces of ``pid`` (stat of /proc/<pid>/ns/<kind>).

    Raises:
        ProbeError: the process is gone (it ended since it was asked for), or /proc refused.
    """
    ids = {}
    for kind in NAMESPACE_KINDS:
        try:
            info = os.stat(f"/proc/{pid}/ns/{kind}")
        except OSError as err:
            gone = "the process is gone" if err.errno == errno.ENOENT else err.strerror
            raise ProbeError(f"reading the namespaces of pid {pid}: {gone}") from err
        ids[kind] = NamespaceId(kind, info.st_dev, info.st_ino)
    return ids


def read_generated_files(pid: int) -> dict[str, str]:
    """/etc/hostname, /etc/hosts and /etc/resolv.conf as the process sees them (via its root)."""
    files = {}
    root = Path(f"/proc/{pid}/root")
    for name in GENERATED_FILES:
        try:
            files["/" + name] = (root / name).read_text(errors="replace")
        except OSError as err:
            files["/" + name] = f"<unreadable: {err.strerror}>"
    return files


def cgroup_version() -> int:
    """2 when /sys/fs/cgroup is a pure cgroup2 mount, else 1 (legacy or hybrid)."""
    return 2 if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else 1
