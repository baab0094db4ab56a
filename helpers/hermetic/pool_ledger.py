"""How many subnets of a daemon's default address pools the suite's processes hold, host-wide.

A network created without a subnet takes one from the daemon's default address pools (30 free on
a stock daemon). Scenarios built ahead take many at once, so two runs (or two xdist workers) on
one daemon could together ask for more than there are, and a build then failed with "could not
find an available, non-overlapping IPv4 address pool": the suite's failure, blamed on the daemon.
So each process reserves a scenario's pooled networks here before building it and gives them
back once the scenario is removed; together the processes hold at most the ledger's ``total``.

A build ahead takes only what is free now (:meth:`PoolLedger.try_reserve`; it builds fewer files
otherwise). A build at its own turn waits for its share (:meth:`PoolLedger.reserve`): its process
then holds nothing but removals under way, which end by themselves, so no two processes wait for
each other.

The ledger is a file per daemon network namespace beside the isolation lock's
(:data:`netconform.hermetic.isolation_lock.LOCK_DIR`): one line per process, ``<pid>:<start time>
<count>`` (the owner form of a run's label), rewritten under an exclusive flock. Lines of
processes that are gone (or whose pid was reused) do not count: a crashed run's reservations lapse
with it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from netconform.errors import EngineError
from netconform.hermetic.isolation_lock import LOCK_DIR
from netconform.hermetic.runs import owner_alive, process_start_time

DEFAULT_TIMEOUT = 300.0


class PoolLedger:
    """The reservations of the daemon whose network namespace is ``netns_path``.

    Args:
        netns_path: ``/proc/<dockerd pid>/ns/net`` or a named netns (the ledger is keyed by its inode).
        total: how many pooled networks all processes may hold together.
    """

    def __init__(self, netns_path: str, total: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.path = LOCK_DIR / f"net-{os.stat(netns_path).st_ino}.pools"
        self.total = total
        self.timeout = timeout
        self._guard = threading.Lock()  # this process's threads take turns; the flock keeps processes apart

    def try_reserve(self, count: int) -> bool:
        """Reserve ``count`` if they are free now; whether they were."""
        return count <= 0 or self._change(count, wait=False)

    def reserve(self, count: int, what: str) -> None:
        """Reserve ``count``, waiting while other processes hold too many. More than ``total`` is
        granted once no other process holds any.

        Raises:
            EngineError: they were not free within the timeout.
        """
        if count <= 0:
            return
        deadline = time.monotonic() + self.timeout
        delay = 0.05
        while not self._change(count, wait=True):
            if time.monotonic() > deadline:
                raise EngineError(f"{what}: {count} subnet(s) of the daemon's address pools were not free within "
                                  f"{self.timeout:g}s: other runs of the suite hold them ({self.path})")
            time.sleep(delay)
            delay = min(delay * 2, 0.5)

    def release(self, count: int) -> None:
        """Give back ``count`` reserved before."""
        if count > 0:
            self._change(-count, wait=False)

    def held(self) -> tuple[int, int]:
        """(this process's reservations, every live process's together)."""
        with self._guard, _locked(self.path) as lines:
            own, others = _split(lines)
            return own, own + sum(others.values())

    def _change(self, count: int, wait: bool) -> bool:
        with self._guard, _locked(self.path) as lines:
            own, others = _split(lines)
            held = sum(others.values())
            if count > 0 and own + held + count > self.total and not (wait and own == held == 0):
                return False
            own = max(0, own + count)
            entries = {**others, **({_me(): own} if own else {})}
            lines[:] = [f"{owner} {value}" for owner, value in sorted(entries.items())]
            return True


def _me() -> str:
    """This process as a run's owner label names it (:func:`owner_alive` reads that form)."""
    return f"{os.getpid()}:{process_start_time(os.getpid()) or '0'}"


def _split(lines: list[str]) -> tuple[int, dict[str, int]]:
    """(this process's count, every other live process's count by owner)."""
    me = _me()
    own, others = 0, {}
    for line in lines:
        owner, _, count = line.partition(" ")
        if not count.isdigit():
            continue  # not ours to read: ignored, and dropped at the next write
        if owner == me:
            own = int(count)
        elif owner_alive(owner):
            others[owner] = int(count)
    return own, others


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[list[str]]:
    """The ledger's lines under an exclusive flock; written back if the caller changed them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with open(fd, closefd=False) as current:
            before = current.read().splitlines()
        lines = list(before)
        yield lines
        if lines != before:
            os.lseek(fd, 0, os.SEEK_SET)
            os.ftruncate(fd, 0)
            os.write(fd, "".join(f"{line}\n" for line in lines).encode())
    finally:
        os.close(fd)  # closing releases the flock
