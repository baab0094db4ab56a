"""Judging a Swarm scenario's facts against its expectations: one verdict per check.

Pure: the facts come in as plain values (:mod:`netconform.observe.swarm_probe` gathers them), and
every verdict carries what was expected, what was observed and the evidence, for the terminal and
the JSON report alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from netconform.spec.swarm import INGRESS_SOURCE, AddressCheck, LookupCheck, ReachCheck, parse_reference

PASSED, FAILED, SKIPPED, ERROR = "passed", "failed", "skipped", "error"
# Outcomes that say the network stopped the probe (an ICMP error, a reset, silence).
BLOCKED = ("timeout", "unreachable", "refused", "reset")


@dataclass(frozen=True)
class SwarmVerdict:
    scenario: str
    check: str
    status: str
    expected: str = ""
    observed: str = ""
    evidence: str = ""

    def line(self) -> str:
        """One terminal line: status, scenario, check, and for a failure expected vs observed."""
        text = f"{self.status.upper():7} {self.scenario}: {self.check}"
        if self.status == SKIPPED:
            return f"{text} ({self.evidence})"
        if self.status in (FAILED, ERROR):
            return f"{text}\n          expected {self.expected}, observed {self.observed}\n          {self.evidence}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Addressing:
    """What the container's interface on the overlay looks like (None: no such interface)."""

    address: str | None
    prefixlen: int | None
    mtu: int | None
    ifname: str | None


def judge_addressing(scenario: str, check: AddressCheck, seen: Addressing) -> SwarmVerdict:
    expected, observed, wrong = [], [], False
    evidence = f"interface {seen.ifname} holds {seen.address}/{seen.prefixlen}, mtu {seen.mtu}"
    if check.subnet is not None:
        inside = (seen.address is not None and seen.prefixlen is not None
                  and ipaddress.ip_interface(f"{seen.address}/{seen.prefixlen}").network
                  == ipaddress.ip_network(check.subnet))
        expected.append(f"address in {check.subnet}")
        observed.append(f"{seen.address}/{seen.prefixlen}")
        wrong |= not inside
    if check.mtu is not None:
        expected.append(f"mtu {check.mtu}")
        observed.append(f"mtu {seen.mtu}")
        wrong |= seen.mtu != check.mtu
    return SwarmVerdict(scenario, check.id, FAILED if wrong else PASSED, ", ".join(expected), ", ".join(observed),
                        evidence)


def judge_reach(scenario: str, check: ReachCheck, outcome: str, story: str) -> SwarmVerdict:
    """``outcome`` is the probe's (reach, timeout, refused...); ``story`` describes the probe."""
    if outcome not in ("reach", *BLOCKED):
        return SwarmVerdict(scenario, check.id, ERROR, check.expect, outcome, story)
    observed = "reach" if outcome == "reach" else "blocked"
    return SwarmVerdict(scenario, check.id, PASSED if observed == check.expect else FAILED, check.expect,
                        f"{observed} ({outcome})", story)


def judge_underlay(scenario: str, check: ReachCheck, carried_as: str, story: str) -> SwarmVerdict:
    """How the probe crossed the underlay (``esp``, ``vxlan``, or what was seen instead)."""
    return SwarmVerdict(scenario, f"{check.id} [underlay]", PASSED if carried_as == check.underlay else FAILED,
                        str(check.underlay), carried_as, story)


def expected_source(check: ReachCheck, containers: Mapping[str, Mapping[str, str]],
                    ingress: Mapping[str, str]) -> str:
    """The source address ``check`` expects its target to see, references resolved against the build.

    Args:
        containers: container -> network -> its address.
        ingress: node -> the address of its ingress-sbox on the ``ingress`` network.
    """
    assert check.source is not None
    if check.source == INGRESS_SOURCE:
        node = check.to.removeprefix("node:")
        return ingress.get(node, f"<no ingress-sbox address of {node}>")
    reference = parse_reference(check.source)
    if reference is None:
        return check.source
    subject, _, network = reference
    return containers.get(subject, {}).get(network, f"<{subject} not on {network}>")


def judge_source(scenario: str, check: ReachCheck, expected: str, outcome: str, seen: str | None,
                 story: str) -> SwarmVerdict:
    """The source address the target saw (its echo listener's peer) against the expected one.

    Through the ingress routing mesh this is not the client's: the receiving node's ingress-sbox
    load-balances with IPVS and SNATs what it forwards to its own address on the ingress network,
    so the task can answer through that node. moby libnetwork/service_linux.go,
    ``(*Sandbox).configureFWMark`` (commit 00232ac9812e), in NAT load-balancer mode:
    ``-t nat -A POSTROUTING -m ipvs --ipvs -d <subnet> -j SNAT --to-source <sandbox's address>``.
    """
    check_id = f"{check.id} [source]"
    if outcome != "reach" or seen is None:
        return SwarmVerdict(scenario, check_id, ERROR, expected, "no source seen",
                            f"the probe got no answer to read a source from: {story}")
    return SwarmVerdict(scenario, check_id, PASSED if seen == expected else FAILED, expected, seen, story)


def expected_answers(check: LookupCheck, containers: Mapping[str, Mapping[str, str]],
                     vips: Mapping[str, Mapping[str, str]],
                     tasks: Mapping[str, Mapping[str, Sequence[str]]]) -> list[str]:
    """The addresses (or ``NXDOMAIN``) a lookup expects, references resolved against the build."""
    values: list[str] = []
    for value in check.expect:
        reference = parse_reference(value)
        if reference is None:
            values.append(value)
            continue
        subject, kind, network = reference
        if kind == "vip":
            values.append(vips.get(subject, {}).get(network, f"<no VIP of {subject} on {network}>"))
        elif kind == "tasks":
            values.extend(tasks.get(subject, {}).get(network, ()))
        else:
            values.append(containers.get(subject, {}).get(network, f"<{subject} not on {network}>"))
    return sorted(values)


def judge_lookup(scenario: str, check: LookupCheck, expected: list[str], rcode: str, answers: Sequence[str],
                 story: str) -> SwarmVerdict:
    if expected == ["NXDOMAIN"]:
        observed = rcode if rcode != "NOERROR" else f"NOERROR {sorted(answers)}"
        return SwarmVerdict(scenario, check.id, PASSED if rcode == "NXDOMAIN" else FAILED, "NXDOMAIN", observed, story)
    if rcode not in ("NOERROR", "NXDOMAIN"):
        return SwarmVerdict(scenario, check.id, FAILED, str(expected), rcode, story)
    return SwarmVerdict(scenario, check.id, PASSED if sorted(answers) == expected else FAILED, str(expected),
                        str(sorted(answers)) if rcode == "NOERROR" else rcode, story)


def skipped(scenario: str, check_ids: Sequence[str], reason: str) -> list[SwarmVerdict]:
    return [SwarmVerdict(scenario, check_id, SKIPPED, evidence=reason) for check_id in check_ids]
