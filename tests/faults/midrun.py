"""A handshake that holds the run under test at a known moment, so a fault lands there for sure.

The child (the run under test, through :data:`faultrun.CHILD_CONFTEST`) calls
:func:`pause_after_build` once a scenario's file node is set up: when the scenario named by
``$NETCONFORM_FAULT_PAUSE_AT`` is built and observed, and before any of its probes or lookups, it
writes what it built to ``<dir>/paused.json`` and waits for ``<dir>/resume``. The parent
(:func:`fault_when_paused`, a thread beside the run) waits for that file, breaks something, and
writes ``resume``. No sleeps: the window is the run's own.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from netconform.harness.items import ScenarioFile, run_context

PAUSE_AT_ENV = "NETCONFORM_FAULT_PAUSE_AT"
PAUSE_DIR_ENV = "NETCONFORM_FAULT_PAUSE_DIR"
PAUSED, RESUME = "paused.json", "resume"
WAIT_BOUND = 120.0  # for the child to reach the pause, and for the parent to answer it

_paused = pytest.StashKey[bool]()


# --- child side ----------------------------------------------------------------------------------


def pause_after_build(item: pytest.Item) -> None:
    """Child: hold the run once the scenario ``$NETCONFORM_FAULT_PAUSE_AT`` is built (first item only)."""
    node = item.parent.parent if item.parent is not None else None
    wanted = os.environ.get(PAUSE_AT_ENV)
    if not isinstance(node, ScenarioFile) or node.facts is None or node.stash.get(_paused, False):
        return
    if wanted is None or node.scenario.name != wanted:
        return
    node.stash[_paused] = True
    folder = Path(os.environ[PAUSE_DIR_ENV])
    context = run_context(item.config)
    built = {
        "scenario": node.scenario.name,
        "run_id": context.run.run_id,
        "daemon_pid": context.daemon_pid,
        "containers": {key: {"name": c.name, "id": c.id, "pid": c.pid}
                       for key, c in node.facts.containers.items() if c.created},
        "sentinel": context.sentinel.netns_name if context.sentinel is not None else None,
        "sentinel_pids": sorted(context.sentinel.service_pids.values()) if context.sentinel is not None else [],
    }
    (folder / f"{PAUSED}.tmp").write_text(json.dumps(built))
    (folder / f"{PAUSED}.tmp").rename(folder / PAUSED)
    deadline = time.monotonic() + WAIT_BOUND
    while not (folder / RESUME).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the fault test did not resume the run within {WAIT_BOUND:g}s")
        time.sleep(0.05)


# --- parent side ---------------------------------------------------------------------------------


def pause_env(folder: Path, scenario: str) -> dict[str, str]:
    """The environment that makes the child pause after building ``scenario``."""
    folder.mkdir(parents=True, exist_ok=True)
    return {PAUSE_AT_ENV: scenario, PAUSE_DIR_ENV: str(folder)}


@contextmanager
def fault_when_paused(folder: Path, fault: Callable[[Mapping[str, Any]], None],
                      resume_first: bool = False) -> Iterator[dict[str, Any]]:
    """Beside the body (which runs the child): once the child pauses, call ``fault`` with what it
    built, then let the child go on (``resume_first``: let it go on, then call ``fault``, which
    waits for its own moment). Yields a dict that holds ``built`` (what the child wrote) and
    ``fault_seconds`` afterwards.

    Raises:
        AssertionError: the child never paused, or ``fault`` failed (its error is chained).
    """
    __tracebackhide__ = True
    seen: dict[str, Any] = {}
    errors: list[BaseException] = []
    stop = threading.Event()

    def wait_then_break() -> None:
        deadline = time.monotonic() + WAIT_BOUND
        try:
            while not (folder / PAUSED).exists():
                if stop.is_set() or time.monotonic() > deadline:
                    return
                time.sleep(0.05)
            seen["built"] = json.loads((folder / PAUSED).read_text())
            if resume_first:
                (folder / RESUME).write_text("go\n")
            began = time.monotonic()
            fault(seen["built"])
            seen["fault_seconds"] = time.monotonic() - began
        except BaseException as err:  # reported by the main thread below
            errors.append(err)
        finally:
            (folder / RESUME).write_text("go\n")

    thread = threading.Thread(target=wait_then_break, name="midrun-fault", daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        stop.set()
        thread.join(timeout=WAIT_BOUND)
    if errors:
        raise AssertionError(f"injecting the fault failed: {errors[0]!r}") from errors[0]
    assert "built" in seen, "the run under test never paused after building its scenario"
