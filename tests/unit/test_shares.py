"""How scenario files are split into xdist workers' shares, and which worker is sent which share."""

from __future__ import annotations

from collections import OrderedDict
from types import SimpleNamespace
from typing import Any

from netconform.harness.shares import SHARE_PREFIX, ShareScheduling, share_index, split_files


def _ids(counts: dict[str, int]) -> list[str]:
    return [f"suites/{name}.yaml::c::check{index}" for name, count in counts.items() for index in range(count)]


def test_files_go_in_order_to_the_share_with_fewest_checks() -> None:
    nodeids = _ids({"a": 10, "b": 3, "c": 3, "d": 5, "e": 1})
    assert split_files(nodeids, 2) == [["suites/a.yaml", "suites/e.yaml"],
                                       ["suites/b.yaml", "suites/c.yaml", "suites/d.yaml"]]


def test_every_file_is_in_exactly_one_share_and_python_tests_in_none() -> None:
    nodeids = [*_ids({"a": 2, "b": 2, "c": 2}), "tests/test_x.py::test_y"]
    shares = split_files(nodeids, 3)
    assert sorted(path for share in shares for path in share) == ["suites/a.yaml", "suites/b.yaml", "suites/c.yaml"]
    assert split_files(nodeids, 5)[3:] == [[], []]


def test_a_worker_runs_the_share_of_its_number_and_a_replacement_none() -> None:
    assert [share_index(worker, 2) for worker in ("gw0", "gw1", "gw2", "main")] == [0, 1, None, None]


class _Node:
    def __init__(self, name: str) -> None:
        self.gateway = SimpleNamespace(id=name)


def test_worker_gwk_is_sent_share_k_whatever_order_workers_ask_in() -> None:
    nodes = [_Node(name) for name in ("gw1", "gw0", "gw2")]
    scheduler: Any = object.__new__(ShareScheduling)  # the queue logic alone, no xdist session
    scheduler.assigned_work = OrderedDict((node, {}) for node in nodes)
    scheduler.workqueue = OrderedDict((f"{SHARE_PREFIX}{index}", {}) for index in range(3))
    scheduler.workqueue["tests/test_x.py"] = {}
    chosen = []
    for node in nodes:
        scheduler._own_share_first(node)
        chosen.append(scheduler.workqueue.popitem(last=False)[0])
    assert chosen == [f"{SHARE_PREFIX}1", f"{SHARE_PREFIX}0", f"{SHARE_PREFIX}2"]
    replacement = _Node("gw3")
    scheduler._own_share_first(replacement)  # a replacement worker takes what is first
    assert next(iter(scheduler.workqueue)) == "tests/test_x.py"
