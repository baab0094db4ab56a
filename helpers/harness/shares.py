"""Under xdist, each worker runs one fixed share of the scenario files, known before the run.

xdist's own schedulers hand out tests as workers free up, so a worker never knows its next file
and cannot build ahead (:mod:`netconform.harness.build_ahead`): each file's blocked probes waited
out a window of their own. Here the files are split once, in collection order, each to the share
that costs least so far (:func:`scenario_cost`); the controller's scheduler sends share K to worker
``gwK``, and the worker computes the same split from its own collection (xdist checks every worker
collected the same items), so it builds its files ahead as a serial run does and probes them in
few windows.
A replacement worker (``gwK`` past the share count) or a test outside every share runs as
xdist would run it, built at its turn.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from netconform.errors import SpecError
from netconform.spec import Scenario, load_scenario
from netconform.spec.model import SCENARIO_SUFFIXES

SHARE_PREFIX = "netconform-share-"
# workerinput key: how many shares the controller split the files into (absent: xdist's own scheduling).
SHARES_KEY = "netconform_shares"


def scenario_file(nodeid: str) -> str | None:
    """The scenario file of a test id (None: not a scenario's test)."""
    path = nodeid.split("::", 1)[0]
    return path if Path(path).suffix in SCENARIO_SUFFIXES else None


# What a scenario costs a worker, in rough seconds measured on a 2-core machine (20.10): creating,
# starting and removing a container; a network from the daemon's pools (a worker's batch holds
# few, so more of them mean more batches, each with its probe window); a step or a churn probe,
# each a waiting window of its own. Tuned on the shipped suite only roughly: runs under -n 2 vary
# by several seconds from one to the next.
CONTAINER_COST = 0.4
POOLED_NETWORK_COST = 1.5
WINDOW_COST = 3.5


def scenario_cost(scenario: Scenario) -> float:
    """What running ``scenario`` costs a worker (see CONTAINER_COST and the others)."""
    windows = len(scenario.steps) + sum(1 for check in scenario.checks if check.reach is not None and check.reach.churn)
    return (CONTAINER_COST * len(scenario.containers) + POOLED_NETWORK_COST * scenario.pooled_networks
            + WINDOW_COST * windows)


def split_files(costs: Sequence[tuple[str, float]], count: int) -> list[list[str]]:
    """The scenario files, in order, split into ``count`` shares: each file to the share that costs
    least so far (the first such share on a tie)."""
    shares: list[list[str]] = [[] for _ in range(count)]
    totals = [0.0] * count
    for path, cost in costs:
        cheapest = totals.index(min(totals))
        shares[cheapest].append(path)
        totals[cheapest] += cost
    return shares


def weigh(paths: Iterable[Path]) -> dict[Path, float]:
    """Each scenario file's cost (one that does not load costs nothing: its collection reports the error)."""
    costs = {}
    for path in paths:
        try:
            costs[path.resolve()] = scenario_cost(load_scenario(path))
        except SpecError:
            costs[path.resolve()] = 0.0
    return costs


def file_costs(nodeids: Iterable[str], root: Path,
               weighed: Mapping[Path, float] | None = None) -> list[tuple[str, float]]:
    """The scenario files of ``nodeids`` (paths relative to ``root``) in first-seen order, with their
    cost: as ``weighed`` already, else weighed now."""
    paths = list(dict.fromkeys(filter(None, map(scenario_file, nodeids))))
    known = dict(weighed or {})
    known.update(weigh(root / path for path in paths if (root / path).resolve() not in known))
    return [(path, known[(root / path).resolve()]) for path in paths]


def share_index(workerid: str, count: int) -> int | None:
    """Which share worker ``workerid`` ("gw0", "gw1", ...) runs (None: a replacement, none)."""
    index = int(workerid.removeprefix("gw")) if workerid.removeprefix("gw").isdigit() else count
    return index if index < count else None


def shares_files(config: pytest.Config, spec_files: Sequence[Path]) -> bool:
    """Whether this run sends workers shares: it runs scenario files only (its paths name no Python
    test module) under one of xdist's schedulers that keep a file's tests together or need not."""
    args = [Path(arg.split("::")[0]) for arg in config.args]
    python = [path for path in args if path.suffix == ".py" or (path.is_dir() and any(path.rglob("test_*.py")))]
    return config.getoption("dist") in ("load", "loadfile") and bool(spec_files) and not python


class ShareScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """xdist's scope scheduling, the scope of a scenario's test being its file's share; worker
    ``gwK`` is sent share K, any other unit goes to the first worker that asks."""

    def __init__(self, config: pytest.Config, log: Any = None, spec_files: Sequence[Path] = ()) -> None:
        super().__init__(config, log)
        self._share_of: dict[str, str] = {}
        # The files are weighed while the workers start and collect (~25 ms a file, that they
        # would otherwise wait for); the controller has nothing else to do then.
        self._weighing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="weigh")
        self._weighed = self._weighing.submit(weigh, spec_files)
        self._weighing.shutdown(wait=False)

    def schedule(self) -> None:
        if self.collection is None and self.registered_collections:
            collection = next(iter(self.registered_collections.values()))
            costs = file_costs(collection, self.config.rootpath, self._weighed.result())
            for index, files in enumerate(split_files(costs, len(self.nodes))):
                self._share_of.update({path: f"{SHARE_PREFIX}{index}" for path in files})
        super().schedule()

    def _split_scope(self, nodeid: str) -> str:
        path = scenario_file(nodeid)
        return self._share_of.get(path, nodeid) if path is not None else nodeid.split("::", 1)[0]

    def _assign_work_unit(self, node: Any) -> None:
        self._own_share_first(node)
        super()._assign_work_unit(node)  # sends the first unit of the queue

    def _own_share_first(self, node: Any) -> None:
        index = share_index(str(node.gateway.id), len(self.nodes))
        own = f"{SHARE_PREFIX}{index}"
        if index is not None and own in self.workqueue:
            self.workqueue.move_to_end(own, last=False)
