"""Judging Swarm facts: each kind of check passes on the right facts and fails on wrong ones."""

from __future__ import annotations

from netconform.judge.swarm_verdicts import (
    ERROR,
    FAILED,
    PASSED,
    Addressing,
    expected_answers,
    expected_source,
    judge_addressing,
    judge_lookup,
    judge_reach,
    judge_source,
    judge_underlay,
)
from netconform.observe.swarm_probe import ReachFacts
from netconform.observe.swarm_underlay import UnderlayFacts
from netconform.spec.swarm import AddressCheck, LookupCheck, ReachCheck


def test_addressing_checks_the_subnet_and_the_mtu() -> None:
    check = AddressCheck("a", "red", "10.251.1.0/24", 1450)
    good = Addressing("10.251.1.2", 24, 1450, "eth0")
    assert judge_addressing("s", check, good).status == PASSED
    wrong_mtu = judge_addressing("s", check, Addressing("10.251.1.2", 24, 1500, "eth0"))
    assert (wrong_mtu.status, wrong_mtu.observed) == (FAILED, "10.251.1.2/24, mtu 1500")
    assert judge_addressing("s", check, Addressing("10.0.1.2", 24, 1450, "eth0")).status == FAILED
    assert judge_addressing("s", check, Addressing(None, None, None, None)).status == FAILED


def test_reach_tells_reach_from_blocked_and_a_broken_probe_from_both() -> None:
    reach = ReachCheck("a", "b", "tcp", "reach", "red")
    blocked = ReachCheck("a", "b", "tcp", "blocked", "red")
    assert judge_reach("s", reach, "reach", "").status == PASSED
    assert judge_reach("s", reach, "timeout", "").status == FAILED
    assert judge_reach("s", blocked, "unreachable", "").status == PASSED
    assert judge_reach("s", blocked, "reach", "").status == FAILED
    assert judge_reach("s", blocked, "error", "EPERM").status == ERROR


def test_lookup_expectations_resolve_references_against_the_build() -> None:
    check = LookupCheck("a", "tasks.rr", ("${rr.tasks.red}", "${b.red}"))
    expected = expected_answers(check, {"b": {"red": "10.0.0.9"}}, {}, {"rr": {"red": ["10.0.0.3", "10.0.0.2"]}})
    assert expected == ["10.0.0.2", "10.0.0.3", "10.0.0.9"]
    assert judge_lookup("s", check, expected, "NOERROR", ["10.0.0.9", "10.0.0.3", "10.0.0.2"], "").status == PASSED
    assert judge_lookup("s", check, expected, "NOERROR", ["10.0.0.9"], "").status == FAILED
    assert judge_lookup("s", check, expected, "SERVFAIL", [], "").status == FAILED


def test_the_underlay_carrier_is_esp_only_when_no_payload_was_readable() -> None:
    check = ReachCheck("a", "b", "tcp", "reach", "red", underlay="esp")
    assert UnderlayFacts(esp=6).carried_as == "esp"
    assert UnderlayFacts(vxlan=6, plaintext=2).carried_as == "vxlan"
    assert UnderlayFacts(esp=6, plaintext=1).carried_as.startswith("mixed")
    assert judge_underlay("s", check, "esp", "").status == PASSED
    failed = judge_underlay("s", check, UnderlayFacts(vxlan=4, plaintext=2).carried_as, "")
    assert (failed.check, failed.status, failed.observed) == ("a->b on red tcp/8080 [underlay]", FAILED, "vxlan")


def test_nxdomain_is_expected_by_name() -> None:
    check = LookupCheck("a", "nosuch", ("NXDOMAIN",))
    assert judge_lookup("s", check, ["NXDOMAIN"], "NXDOMAIN", [], "").status == PASSED
    failed = judge_lookup("s", check, ["NXDOMAIN"], "NOERROR", ["10.0.0.1"], "")
    assert (failed.status, failed.observed) == (FAILED, "NOERROR ['10.0.0.1']")


def test_the_ingress_mesh_source_is_the_receiving_nodes_ingress_sbox_address() -> None:
    """Recorded facts of a probe through worker1's routing mesh: the task saw worker1's ingress-sbox
    (10.0.0.3) where the mesh works as moby programs it; the client itself (10.250.0.1, no SNAT) or
    another node's sandbox (10.0.0.2) is a failure; no answer cannot be judged."""
    check = ReachCheck("underlay", "node:worker1", "tcp", "reach", port=8080, source="ingress")
    ingress = {"manager": "10.0.0.2", "worker1": "10.0.0.3", "worker2": "10.0.0.4"}
    expected = expected_source(check, {}, ingress)
    assert expected == "10.0.0.3"
    through_mesh = ReachFacts("10.250.0.12", "tcp", 8080, "reach", seen="10.0.0.3")
    right = judge_source("s", check, expected, through_mesh.outcome, through_mesh.seen, through_mesh.describe())
    assert (right.status, right.check, right.observed) == (PASSED, "underlay->node:worker1 tcp/8080 [source]",
                                                           "10.0.0.3")
    for wrong in ("10.250.0.1", "10.0.0.2"):
        verdict = judge_source("s", check, expected, "reach", wrong, "")
        assert (verdict.status, verdict.expected, verdict.observed) == (FAILED, "10.0.0.3", wrong)
    assert judge_source("s", check, expected, "timeout", None, "").status == ERROR


def test_a_declared_source_address_or_container_reference_resolves_as_written() -> None:
    by_reference = ReachCheck("a", "b", "udp", "reach", "red", 53, source="${a.red}")
    assert expected_source(by_reference, {"a": {"red": "10.251.1.2"}}, {}) == "10.251.1.2"
    literal = ReachCheck("a", "b", "udp", "reach", "red", 53, source="10.251.1.9")
    assert expected_source(literal, {}, {}) == "10.251.1.9"
