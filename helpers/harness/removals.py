"""Scenarios torn down in the background of a serial run, while the next ones are judged.

Removing a scenario's containers and networks is as slow as creating them, and in a serial run
nothing that follows needs to wait for it: the next scenarios are built already
(:mod:`netconform.harness.build_ahead`). So a finished scenario's removal goes to a small pool of
threads (container removals run side by side; removing a network takes no isolation lock:
:mod:`netconform.hermetic.isolation_lock`). A removal that fails is reported at the next scenario
teardown that finds it finished, in the scenario's own name, and the last scenario's teardown waits
for all of them; the run's context waits for any left before it removes the sentinel and sweeps
the run's labels.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait

from netconform.errors import NetconformError

REMOVAL_THREADS = 2


class Removals:
    """The removals under way in the background, and the failures of those finished."""

    def __init__(self, threads: int = REMOVAL_THREADS) -> None:
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pending: list[tuple[str, Future[None]]] = []
        self._lock = threading.Lock()

    def submit(self, name: str, remove: Callable[[], None]) -> None:
        """Start ``remove`` (the removal of scenario ``name``) in the background."""
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="removal")
            self._pending.append((name, self._pool.submit(remove)))

    def wait(self) -> None:
        """Wait until every removal started so far has ended (its failure is kept for :meth:`failures`)."""
        with self._lock:
            futures = [future for _, future in self._pending]
        wait(futures)

    def failures(self, wait_all: bool = False) -> list[str]:
        """Why each finished removal failed (each reported once); ``wait_all``: wait for all first.

        Raises:
            BaseException: a removal raised something other than a NetconformError (a bug).
        """
        if wait_all:
            self.wait()
        with self._lock:
            done = [(name, future) for name, future in self._pending if future.done()]
            self._pending = [entry for entry in self._pending if not entry[1].done()]
        problems = []
        for name, future in done:
            error = future.exception()
            if isinstance(error, NetconformError):
                problems.append(f"scenario {name} could not be removed: {error}")
            elif error is not None:
                raise error
        return problems

    def close(self) -> None:
        """Wait for every removal, then stop the threads."""
        self.wait()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
