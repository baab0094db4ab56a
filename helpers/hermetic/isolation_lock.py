"""A host-wide lock that keeps the suite's own network changes away from its isolation probes.

Docker up to 27.x deletes and re-inserts its FORWARD jump rules whenever a bridge network is
created (moby#48640 stopped that in 28.0); for that instant, isolation between existing networks
is off. A probe expected to be blocked that runs across that instant may get through, and the
suite would blame the daemon for a hole its own other worker (or a concurrent run) opened.

So, per daemon network namespace (the firewall in question), creating a network takes the lock
exclusively and careful probing takes it shared: any number of probes at once, or one network
change, never both. Most probes need not hold creations off, though: a creation only ever opens a
path for an instant (it deletes a jump and adds it again), so a probe that saw nothing arrive stands
whatever happened meanwhile, unless the operator's DOCKER-USER rules accept what isolation drops
(skipping them for that instant then closes a path). A probe reads :meth:`IsolationLock.mark`
just before its first packet and asks :meth:`IsolationLock.changed_since` after its last (in the
prober's child: a creation while its witness and listener start cannot mislead it); only one whose
packets were sent across a creation and saw something (or met DOCKER-USER rules that accept) is made again, carefully
(:mod:`netconform.harness.on_demand`). Each creation bumps a generation counter kept beside the
lock file, and one under way holds the lock exclusively, which a probe can see without waiting.

Removing a network does not take the lock: the daemon then deletes only the removed bridge's own
rules, never a shared jump (watched with xtables-monitor on 20.10.24, 26.1.5 and 28.5.2;
tests/integration/test_removal_rules.py keeps watching), and no probe runs on a network being
removed. Writers go first (a turnstile), so a stream of careful probes cannot starve a build.
The lock files live in /run/netconform/locks, keyed by the netns inode; they hold no state but the
generation count and are never removed (removing a file a waiter holds open would split the lock).

A window of probes (:meth:`netconform.harness.on_demand.Prober.prefetch`) probes carefully as a
whole, once no process is building a batch of scenarios (each says so: :meth:`IsolationLock.building`):
a window that ran beside another worker's builds saw most of its probes overlapped by a creation,
and each that saw something was made again, waiting for the builds between creations. Waiting for
those builds first costs less, and the window then holds off the step and churn changes that would
have misled it.

With ``NETCONFORM_LOCK_TRACE=<file>`` in the environment each hold is appended to that file (time,
process, mode, seconds waited, seconds held, what): how long builds and probes of concurrent
workers wait for each other (ci/benchmark.py uses it to profile ``-n 2``).
"""

from __future__ import annotations

import contextlib
import contextvars
import fcntl
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from netconform.errors import ProbeTimeout
from netconform.hermetic.runs import REGISTRY

LOCK_DIR = REGISTRY.parent / "locks"
DEFAULT_TIMEOUT = 300.0


@dataclass(frozen=True)
class Mark:
    """Creations as a probe starts: how many there were, and whether one was under way."""

    generation: int
    changing: bool


class IsolationLock:
    """The lock of one daemon network namespace (``/proc/<pid>/ns/net`` or a named netns)."""

    def __init__(self, netns_path: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        inode = os.stat(netns_path).st_ino
        self.path = LOCK_DIR / f"net-{inode}.lock"
        self.turnstile = LOCK_DIR / f"net-{inode}.turnstile"
        self.generation = LOCK_DIR / f"net-{inode}.generation"
        self.builds = LOCK_DIR / f"net-{inode}.builds"
        self.timeout = timeout

    @contextlib.contextmanager
    def network_change(self, what: str) -> Iterator[None]:
        """Hold the lock alone while the daemon creates a network (or connects a container to one)."""
        with _traced("change", what), _flock(self.turnstile, fcntl.LOCK_EX, self.timeout, what), \
                _flock(self.path, fcntl.LOCK_EX, self.timeout, what):
            try:
                yield
            finally:
                self._bump()

    @contextlib.contextmanager
    def building(self, what: str) -> Iterator[None]:
        """Say a batch of builds is under way (any number of builders at once), for
        :meth:`after_builds`; the builds' creations still take the lock one by one."""
        with _flock(self.builds, fcntl.LOCK_SH, self.timeout, what):
            yield

    def after_builds(self, bound: float, what: str) -> bool:
        """Wait until no process builds a batch (:meth:`building`), ``bound`` seconds at most;
        whether none did. Call only while building nothing yourself."""
        try:
            with _flock(self.builds, fcntl.LOCK_EX, bound, what):
                return True
        except ProbeTimeout:
            return False

    def mark(self) -> Mark:
        """Where creations stand now, for :meth:`changed_since` after a probe."""
        return Mark(self._generation(), self._changing())

    def changed_since(self, mark: Mark) -> bool:
        """Whether a network change was under way at ``mark``, is now, or happened in between."""
        return mark.changing or self._changing() or self._generation() != mark.generation

    def _generation(self) -> int:
        try:
            return int.from_bytes(self.generation.read_bytes() or b"\0", "little")
        except FileNotFoundError:
            return 0

    def _bump(self) -> None:
        # Only the holder of the exclusive lock writes: no two bumps race.
        self.generation.write_bytes((self._generation() + 1).to_bytes(8, "little"))

    def _changing(self) -> bool:
        """Whether someone holds the lock exclusively (a change under way), without waiting."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def probing(self, what: str) -> Iterator[None]:
        """Hold the lock with other probes while isolation is probed carefully (no creation meanwhile)."""
        with _traced("probe", what):
            with _flock(self.turnstile, fcntl.LOCK_EX, self.timeout, what):
                pass  # wait behind any writer queued before us
            with _flock(self.path, fcntl.LOCK_SH, self.timeout, what):
                yield


_held: contextvars.ContextVar[float] = contextvars.ContextVar("isolation_lock_held", default=0.0)


@contextlib.contextmanager
def _traced(mode: str, what: str) -> Iterator[None]:
    """Time the hold (see the module's NETCONFORM_LOCK_TRACE); the flocks mark when it was got."""
    trace = os.environ.get("NETCONFORM_LOCK_TRACE")
    if not trace:
        yield
        return
    asked = time.time()
    token = _held.set(0.0)
    try:
        yield
    finally:
        done = time.time()
        got = _held.get() or done
        _held.reset(token)
        with open(trace, "a") as out:
            out.write(f"{asked:.3f} {os.getpid()} {mode} {got - asked:.3f} {done - got:.3f} {what}\n")


@contextlib.contextmanager
def _flock(path: Path, mode: int, timeout: float, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        delay = 0.005
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ProbeTimeout(f"{what}: the isolation lock {path} was not free within {timeout:g}s "
                                       "(another run holds it)") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
        _held.set(time.time())
        yield
    finally:
        os.close(fd)  # closing releases the lock
