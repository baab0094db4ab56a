"""How scenario files are split into xdist workers' shares, and which worker is sent which share."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from netconform.harness.shares import (
    CONTAINER_COST,
    POOLED_NETWORK_COST,
    SHARE_PREFIX,
    WINDOW_COST,
    ShareScheduling,
    file_costs,
    scenario_cost,
    share_index,
    split_files,
)
from netconform.spec import load_scenario
from netconform.spec.shipped import suites_dir


def test_files_go_in_order_to_the_share_that_costs_least_so_far() -> None:
    costs = [("a.yaml", 10.0), ("b.yaml", 3.0), ("c.yaml", 3.0), ("d.yaml", 5.0), ("e.yaml", 1.0)]
    assert split_files(costs, 2) == [["a.yaml", "e.yaml"], ["b.yaml", "c.yaml", "d.yaml"]]
    assert split_files(costs[:1], 3) == [["a.yaml"], [], []]


def test_a_scenario_costs_its_containers_pooled_networks_and_waiting_windows() -> None:
    plain = load_scenario(suites_dir() / "custom.yaml")  # 3 containers, 1 pooled network
    assert scenario_cost(plain) == pytest.approx(3 * CONTAINER_COST + POOLED_NETWORK_COST)
    stepped = load_scenario(suites_dir() / "live-connect.yaml")  # 2 steps, subnets of its own
    assert scenario_cost(stepped) == pytest.approx(2 * CONTAINER_COST + 2 * WINDOW_COST)
    churn = load_scenario(suites_dir() / "reach-churn.yaml")
    assert scenario_cost(churn) == pytest.approx(2 * CONTAINER_COST + 2 * POOLED_NETWORK_COST + WINDOW_COST)


def test_file_costs_take_each_scenario_file_once_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text((suites_dir() / "custom.yaml").read_text())
    (tmp_path / "bad.yaml").write_text("containers: [\n")
    nodeids = ["good.yaml::a::x", "good.yaml::b::y", "bad.yaml::a::x", "test_z.py::test_z"]
    costs = file_costs(nodeids, tmp_path)
    assert [path for path, _ in costs] == ["good.yaml", "bad.yaml"]
    assert costs[0][1] > 0 and costs[1][1] == 0.0


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
