"""Swarm scenarios: the shipped ones load, and each kind of mistake is one SpecError naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from netconform.errors import SpecError
from netconform.spec.shipped import swarm_suites_dir
from netconform.spec.swarm import load_swarm_scenario, parse_reference, parse_swarm_scenario

BASE: dict[str, Any] = {
    "requires": ["vxlan"],
    "networks": {"red": {"subnet": "10.251.1.0/24"}},
    "containers": {"a": {"node": "manager", "networks": ["red"]}, "b": {"node": "worker1", "networks": ["red"]}},
    "services": {"rr": {"networks": ["red"], "endpoint_mode": "dnsrr"}},
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**BASE, **changes}


def test_every_shipped_swarm_scenario_loads_and_checks_something() -> None:
    files = sorted(swarm_suites_dir().glob("*.yaml"))
    assert len(files) >= 8
    for path in files:
        scenario = load_swarm_scenario(path)
        assert scenario.check_count, path
        assert "vxlan" in scenario.requires, f"{path}: an overlay needs vxlan"


def test_the_kernel_gated_scenarios_name_their_feature() -> None:
    requires = {path.stem: load_swarm_scenario(path).requires for path in swarm_suites_dir().glob("*.yaml")}
    assert "ipvs" in requires["overlay-service-vip"]
    assert "ipvs" in requires["overlay-ingress"]
    assert "esp" in requires["overlay-encrypted"]


def test_a_valid_scenario_resolves_its_checks() -> None:
    scenario = parse_swarm_scenario(_with(
        reachability=[{"from": "a", "to": "b", "network": "red", "proto": "udp", "port": 53, "expect": "blocked"}],
        lookups=[{"from": "a", "name": "tasks.rr", "expect": "${rr.tasks.red}"}],
    ), "s.yaml", "s")
    assert scenario.containers["b"].node == "worker1"
    assert scenario.reachability[0].id == "a->b on red udp/53"
    assert scenario.lookups[0].expect == ("${rr.tasks.red}",)


@pytest.mark.parametrize(("changes", "words"), [
    ({"colour": 1}, "unknown key 'colour'"),
    ({"requires": ["warp"]}, "unknown kernel feature 'warp'"),
    ({"networks": {"red": {"subnet": "10.251.1.0/33"}}}, "networks.red.subnet"),
    ({"containers": {"a": {"node": "worker9", "networks": ["red"]}}}, "'worker9' is not a lab node"),
    ({"containers": {"a": {"node": "manager", "networks": ["green"]}}}, "'green' is not a network"),
    ({"services": {"rr": {"networks": ["red"], "endpoint_mode": "dnsrr", "publish": [80]}}}, "publish needs"),
    ({"reachability": [{"from": "a", "to": "zz", "network": "red", "proto": "tcp", "expect": "reach"}]},
     "to 'zz' is not a container"),
    ({"reachability": [{"from": "a", "to": "b", "proto": "tcp", "expect": "reach"}]}, "name the network"),
    ({"reachability": [{"from": "a", "to": "b", "network": "red", "proto": "sctp", "expect": "reach"}]},
     "proto 'sctp'"),
    ({"lookups": [{"from": "a", "name": "b", "expect": "${b.blue}"}]}, "unknown container or network"),
    ({"rejoin": "manager"}, "is not a worker"),
    ({"reachability": [{"from": "a", "to": "b", "network": "red", "proto": "tcp", "expect": "reach",
                        "source": "ingress"}]}, "source 'ingress' needs to: node:<name>"),
    ({"reachability": [{"from": "a", "to": "b", "network": "red", "proto": "icmp", "expect": "reach",
                        "source": "10.0.0.2"}]}, "source '10.0.0.2' needs proto tcp or udp"),
    ({"reachability": [{"from": "a", "to": "b", "network": "red", "proto": "tcp", "expect": "reach",
                        "source": "somewhere"}]}, "'somewhere' (allowed: an address"),
    ({"reachability": [{"from": "a", "to": "b", "network": "red", "proto": "tcp", "expect": "blocked",
                        "underlay": "esp"}]}, "underlay 'esp' needs expect reach"),
])
def test_each_mistake_is_one_error_naming_the_key(changes: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_swarm_scenario(_with(**changes), "bad.yaml", "bad")
    assert str(caught.value).startswith("bad.yaml: ")
    assert words in str(caught.value)


def test_unreadable_yaml_is_a_spec_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("networks: [\n")
    with pytest.raises(SpecError, match="cannot read it as YAML"):
        load_swarm_scenario(path)


def test_references_parse_into_subject_kind_and_network() -> None:
    assert parse_reference("${a.red}") == ("a", "", "red")
    assert parse_reference("${web.vip.red}") == ("web", "vip", "red")
    assert parse_reference("${web.tasks.red}") == ("web", "tasks", "red")
    assert parse_reference("10.0.0.1") is None
