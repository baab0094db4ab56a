"""Find and remove host-side leftovers: processes, mounts and cgroup directories.

Host objects carry no labels, so callers say what is theirs by place: a network namespace they
created, a directory they own (a process mentioning it on its command line, a mount below it), a
cgroup they named. Every function here acts only on what matches such a place, and every wait has
a bound. Facts come from /proc, never from parsing ``ps``, ``mount`` or ``ip`` output.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_MNT_DETACH = 2
_libc = ctypes.CDLL(None, use_errno=True)
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True)
class Process:
    """What /proc says about one process, read once."""

    pid: int
    argv: tuple[str, ...]
    netns: tuple[int, int] | None
    cgroups: tuple[str, ...]

    def mentions(self, root: Path) -> bool:
        """Whether an argument names ``root`` or a path below it (``--exec-root``, ``-address``)."""
        named = re.compile(re.escape(str(root)) + "(/|$)")
        return any(named.search(arg) for arg in self.argv)

    @property
    def program(self) -> str:
        """Base name of the executable as started (argv[0])."""
        return os.path.basename(self.argv[0]) if self.argv else ""

    def in_cgroup(self, name: str) -> bool:
        """Whether the process sits in the top-level cgroup ``name`` or below, in any hierarchy."""
        top = f"/{name}"
        return any(path == top or path.startswith(f"{top}/") for path in self.cgroups)


def namespace_id(path: str | Path) -> tuple[int, int] | None:
    """(device, inode) of a namespace file such as ``/run/netns/x`` or ``/proc/<pid>/ns/net``."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def read_process(pid: int) -> Process | None:
    """What /proc says about ``pid``, or None if it is gone or a zombie."""
    try:
        if not alive(pid):
            return None
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        cgroups = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    return Process(
        pid,
        tuple(arg.decode(errors="replace") for arg in argv if arg),
        namespace_id(f"/proc/{pid}/ns/net"),
        tuple(line.split(":", 2)[2] for line in cgroups if line.count(":") >= 2),
    )


def processes() -> Iterator[Process]:
    """Every live process except this one and its ancestors, which no cleanup may kill."""
    spared = set(_ancestry(os.getpid()))
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and int(entry.name) not in spared:
            found = read_process(int(entry.name))
            if found is not None:
                yield found


def _ancestry(pid: int) -> Iterator[int]:
    while pid > 1:
        yield pid
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return


def alive(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie (a zombie has already released everything)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` seconds for ``pids`` to end; return those still alive."""
    pending = set(pids)
    deadline = time.monotonic() + timeout
    while pending:
        pending = {pid for pid in pending if alive(pid)}
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(0.05)
    return sorted(pending)


def kill(pids: Iterable[int], sig: signal.Signals = signal.SIGKILL) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


@dataclass(frozen=True)
class Mount:
    mount_point: str
    fstype: str


def mounts() -> list[Mount]:
    """The mount table of this process's mount namespace, in mount order."""
    table = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        point = _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), fields[4])
        table.append(Mount(point, fstype))
    return table


def mounts_under(roots: Iterable[Path]) -> list[str]:
    """Mount points at or below any of ``roots``, deepest and most recent first."""
    prefixes = [str(root) for root in roots]
    found = [
        m.mount_point
        for m in reversed(mounts())
        if any(m.mount_point == p or m.mount_point.startswith(f"{p}/") for p in prefixes)
    ]
    return sorted(dict.fromkeys(found), key=lambda point: point.count("/"), reverse=True)


def unmount_under(roots: Iterable[Path], passes: int = 5) -> list[str]:
    """Lazily unmount everything at or below ``roots``; return the mount points that remain."""
    roots = list(roots)
    for _ in range(passes):
        remaining = mounts_under(roots)
        if not remaining:
            return []
        for point in remaining:
            # A failure (EINVAL: a parent's detach took it along) is judged by the next pass.
            _libc.umount2(point.encode(), _MNT_DETACH)
    return mounts_under(roots)


def cgroup_dirs(name: str) -> list[Path]:
    """The directories of the top-level cgroup ``name`` in every mounted cgroup hierarchy."""
    found = []
    for m in mounts():
        if m.fstype in ("cgroup", "cgroup2"):
            candidate = Path(m.mount_point) / name
            if candidate.is_dir():
                found.append(candidate)
    return found


def remove_cgroup(name: str) -> list[Path]:
    """rmdir the top-level cgroup ``name`` and its children everywhere; return what remains."""
    for top in cgroup_dirs(name):
        for directory, _, _ in os.walk(top, topdown=False):
            # EBUSY while a process is still inside: the caller reports what remains.
            with contextlib.suppress(OSError):
                os.rmdir(directory)
    return cgroup_dirs(name)
