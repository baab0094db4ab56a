"""Scenario files handed to pytest-xdist workers a group at a time, so that workers build ahead too.

Under ``--dist loadfile`` a worker gets one file at a time and never knows its next, so it could
not build ahead (:mod:`netconform.harness.build_ahead`): every scenario's probes held the
isolation lock in a window of their own, and the other worker's network changes waited behind
each. With ``--build-ahead N`` (N > 0) the controller hands out ``N + 1`` consecutive files as one
unit instead, and tells the workers so; a worker then builds the rest of its group ahead, and
their probes share one window, as in a serial run. Both sides derive the groups from the same
collection (xdist checks every worker collected the same), so no file is built by two workers.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

WORKERINPUT_KEY = "netconform_file_group"


def file_groups(nodeids: Iterable[str], size: int, workers: int) -> dict[str, str]:
    """File (the part of a node id before ``::``) -> its group: ``size`` consecutive files each, fewer
    when there are too few files to give every worker one group."""
    files = list(dict.fromkeys(nodeid.split("::", 1)[0] for nodeid in nodeids))
    size = max(1, min(size, -(-len(files) // max(1, workers))))
    return {file: f"files {index // size * size}-{index // size * size + size - 1}"
            for index, file in enumerate(files)}


def group_size(config: pytest.Config) -> int:
    """Files per unit (0: xdist's own scheduling, one file at a time)."""
    depth = int(config.getoption("build_ahead", 0) or 0)
    return depth + 1 if depth > 0 and config.getvalue("dist") == "loadfile" else 0


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    size = group_size(config)
    if size < 2:
        return None
    from xdist.scheduler import LoadFileScheduling

    class GroupedFileScheduling(LoadFileScheduling):  # type: ignore[misc]
        """``loadfile``, with ``size`` consecutive files per work unit."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                # Called first for the whole collection, in order.
                self.groups = file_groups(self.collection or [], size, self.numnodes)
            file = nodeid.split("::", 1)[0]
            return self.groups.get(file, file)

    return GroupedFileScheduling(config, log)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    size = group_size(node.config)
    if size >= 2:
        node.workerinput[WORKERINPUT_KEY] = size
