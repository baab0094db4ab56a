"""Every kind of Swarm check fails when its property is broken, and passes again once it is not.

One lab swarm (three dedicated daemons of 28.5.2) serves the module. Each fault is either a wrong
expectation, or a change made in a container's or a lab node's namespace and undone afterwards
(a container's goes with it; a node's iptables rule is deleted in a ``finally``). Nothing is done
in the host's namespace. Run under the host lock.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from netconform.engine.swarm_build import SwarmBuild
from netconform.facts.kernel import KernelFeature
from netconform.harness.swarm_run import run_scenario, run_scenarios
from netconform.hermetic.daemon_versions import find_version
from netconform.hermetic.kernel_features import FeatureProbe
from netconform.hermetic.runs import RunIdentity, unregister
from netconform.hermetic.swarm_lab import SwarmLab
from netconform.judge.swarm_verdicts import FAILED, PASSED, SKIPPED, SwarmVerdict
from netconform.spec.shipped import swarm_suites_dir
from netconform.spec.swarm import SwarmScenario, load_swarm_scenario, parse_swarm_scenario

CROSS_NODE: dict[str, Any] = {
    "requires": ["vxlan"],
    "networks": {"red": {"subnet": "10.251.20.0/24"}, "blue": {"subnet": "10.251.21.0/24"}},
    "containers": {"a": {"node": "manager", "networks": ["red"]}, "b": {"node": "worker1", "networks": ["red"]},
                   "c": {"node": "worker2", "networks": ["blue"]}},
    "addressing": [{"container": "b", "network": "red", "subnet": "10.251.20.0/24", "mtu": 1450}],
    "reachability": [{"from": "a", "to": "b", "network": "red", "proto": "tcp", "expect": "reach",
                      "underlay": "vxlan"},
                     {"from": "c", "to": "b", "network": "red", "proto": "tcp", "expect": "blocked"}],
    "lookups": [{"from": "a", "name": "b", "expect": "${b.red}"}],
}


@pytest.fixture(scope="module")
def lab(host_untouched: None) -> Iterator[tuple[SwarmLab, RunIdentity]]:
    run = RunIdentity.new()
    try:
        with SwarmLab(run, find_version("28").binaries()) as started:
            yield started, run
    finally:
        unregister(run)


def _scenario(name: str, **changes: Any) -> SwarmScenario:
    return parse_swarm_scenario({**CROSS_NODE, **changes}, f"<{name}>", name)


def _status(verdicts: list[SwarmVerdict]) -> dict[str, str]:
    return {verdict.check: verdict.status for verdict in verdicts}


def _in_netns(pid: int, *argv: str) -> None:
    subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "--", *argv], check=True, capture_output=True)


def test_the_right_expectations_pass(lab: tuple[SwarmLab, RunIdentity]) -> None:
    verdicts = run_scenario(*lab, _scenario("clean"))
    assert set(_status(verdicts).values()) == {PASSED}, "\n".join(verdict.line() for verdict in verdicts)


def test_wrong_expectations_fail_each_kind_of_check(lab: tuple[SwarmLab, RunIdentity]) -> None:
    scenario = _scenario(
        "wrong",
        addressing=[{"container": "b", "network": "red", "subnet": "10.251.99.0/24"},
                    {"container": "b", "network": "red", "mtu": 1500}],
        reachability=[{"from": "a", "to": "b", "network": "red", "proto": "icmp", "expect": "blocked"},
                      {"from": "c", "to": "b", "network": "red", "proto": "udp", "expect": "reach"},
                      {"from": "a", "to": "b", "network": "red", "proto": "tcp", "expect": "reach", "underlay": "esp"}],
        lookups=[{"from": "a", "name": "b", "expect": "${a.red}"}],
    )
    verdicts = run_scenario(*lab, scenario)
    statuses = _status(verdicts)
    assert statuses.pop("a->b on red tcp/8080") == PASSED  # only its [underlay] part is wrong
    assert set(statuses.values()) == {FAILED}, "\n".join(verdict.line() for verdict in verdicts)


def test_broken_properties_fail_their_checks(lab: tuple[SwarmLab, RunIdentity]) -> None:
    """The MTU lowered, c put on red too, the embedded DNS dropped: each one check fails."""

    def break_things(build: SwarmBuild) -> None:
        b, a = build.containers["b"], build.containers["a"]
        _in_netns(b.pid, "ip", "link", "set", "dev", "eth0", "mtu", "1400")
        _in_netns(a.pid, "iptables", "-I", "OUTPUT", "-d", "127.0.0.11", "-j", "DROP")
        worker2 = build.lab.node("worker2").client
        worker2.api.connect_container_to_network(build.name("c"), build.network_names["red"])

    verdicts = _status(run_scenario(*lab, _scenario("broken"), before_checks=break_things))
    assert verdicts == {"b on red: addressing": FAILED, "a->b on red tcp/8080": PASSED,
                        "a->b on red tcp/8080 [underlay]": PASSED, "c->b on red tcp/8080": FAILED,
                        "a: lookup b": FAILED}


def test_vxlan_dropped_on_a_node_fails_cross_node_reach_until_undone(lab: tuple[SwarmLab, RunIdentity]) -> None:
    worker1 = lab[0].node("worker1").daemon
    rule = ["INPUT", "-p", "udp", "--dport", "4789", "-j", "DROP"]
    scenario = _scenario("novxlan", addressing=[], lookups=[])
    subprocess.run(["nsenter", f"--net={worker1.netns_path}", "--", "iptables", "-I", *rule], check=True)
    try:
        broken = _status(run_scenario(*lab, scenario))
    finally:
        subprocess.run(["nsenter", f"--net={worker1.netns_path}", "--", "iptables", "-D", *rule], check=True)
    assert broken["a->b on red tcp/8080"] == FAILED
    assert _status(run_scenario(*lab, scenario))["a->b on red tcp/8080"] == PASSED


def test_a_missing_kernel_feature_skips_with_its_reason_and_a_present_one_runs(
        lab: tuple[SwarmLab, RunIdentity]) -> None:
    ingress = load_swarm_scenario(swarm_suites_dir() / "overlay-ingress.yaml")
    missing = FeatureProbe(lambda names: {name: KernelFeature(name, name != "ipvs", "not in this kernel")
                                          for name in names})
    skipped = run_scenarios(*lab, [ingress], missing)
    assert {verdict.status for verdict in skipped} == {SKIPPED}
    assert all("kernel has no ipvs: not in this kernel" in verdict.evidence for verdict in skipped)
    dnsrr = load_swarm_scenario(swarm_suites_dir() / "overlay-dns.yaml")
    present = FeatureProbe(lambda names: {name: KernelFeature(name, True) for name in names})
    assert SKIPPED not in {verdict.status for verdict in run_scenarios(*lab, [dnsrr], present)}
