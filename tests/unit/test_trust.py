"""Verdicts that can only go the way the daemon made them go (pure logic: no daemon).

Each test here fails on the behaviour before the witnesses: silence, a refusal or a local error
counted as "blocked"; any ICMP packet counted as an answer; an unreadable fact satisfying ``not``;
expectations that cannot fail accepted; any address on the host's LAN accepted as a destination.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from test_judge import checks, make_facts

from netconform.errors import SpecError
from netconform.facts import NO_ROUTE, Attempt, EndpointFacts, Interface, ReachResult, Sighting
from netconform.hermetic.destinations import allowed_destinations
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.judge import judge
from netconform.judge.readings import NotObservable, observe_reach
from netconform.observe.reach import classify_icmp, echo_request
from netconform.observe.witness import ProbeMark, sighting
from netconform.spec import load_scenario

# -- outcomes ---------------------------------------------------------------------------------


def result(*attempts: Attempt, sent: int | None = 3, arrived: int | None = 0, answers: int = 0,
           error: str = "") -> ReachResult:
    probe = ReachResult("a->b tcp/80", "a", "b", "tcp", "10.0.0.2", 80, attempts=list(attempts), error=error)
    probe.sent = None if sent is None else Sighting(count=sent)
    probe.arrived = None if arrived is None else Sighting(count=arrived, answers=answers)
    return probe


TIMEOUTS = (Attempt("timeout"), Attempt("timeout"), Attempt("timeout"))


@pytest.mark.parametrize(("probe", "outcome", "why"), [
    (result(Attempt("reach", "10.0.0.1"), arrived=1), "reach", "arrived"),
    (result(*TIMEOUTS), "blocked", "none arrived"),
    (result(Attempt("refused", detail="ECONNREFUSED")), "blocked", "none arrived"),
    (result(Attempt("unreachable", detail=f"{NO_ROUTE}: ENETUNREACH"), sent=0), "blocked", "no way to"),
    # Silence at the sender is not enough: the request arrived, nothing came back.
    (result(*TIMEOUTS, arrived=3), "one-way", "sent no answer"),
    (result(*TIMEOUTS, arrived=3, answers=3), "one-way", "one-way leak"),
    (result(Attempt("refused"), arrived=1), "one-way", "arrived"),
    # A broken probe is never "blocked".
    (result(Attempt("error", detail="EPERM: Operation not permitted")), "inconclusive", "probe itself failed"),
    (result(Attempt("protocol", detail="reply b'x'")), "inconclusive", "probe itself failed"),
    (result(*TIMEOUTS, sent=0), "inconclusive", "no packet of the probe was seen leaving"),
    (result(*TIMEOUTS, arrived=None), "inconclusive", "could not be watched"),
    (result(error="refusing to send traffic to 192.0.2.9"), "inconclusive", "refusing"),
    (result(Attempt("reach", "10.0.0.1"), arrived=0), "inconclusive", "something else answered"),
])
def test_outcome_needs_both_ends(probe: ReachResult, outcome: str, why: str) -> None:
    assert probe.decide()[0] == outcome
    assert why in probe.decide()[1]


def test_lost_packets_make_the_witness_inconclusive() -> None:
    probe = result(*TIMEOUTS)
    assert probe.arrived is not None
    probe.arrived.dropped = 2
    assert probe.outcome == "inconclusive"


def test_inconclusive_probe_is_an_error_verdict_and_has_no_source() -> None:
    with pytest.raises(NotObservable, match="inconclusive: the probe itself failed"):
        observe_reach("reach", result(Attempt("error", detail="EPERM")))
    with pytest.raises(NotObservable, match="inconclusive"):
        observe_reach("source", result(Attempt("error", detail="EPERM")))
    with pytest.raises(NotObservable, match="no source address was seen"):
        observe_reach("source", result(*TIMEOUTS, arrived=3, answers=3))  # one-way: arrived, none back
    assert observe_reach("reach", result(*TIMEOUTS)).value == "blocked"


def test_a_blocked_probe_has_no_source_rather_than_an_unknown_one() -> None:
    # Blocked is judged from both ends (seen leaving, nothing arrived): there was no connection.
    assert observe_reach("source", result(*TIMEOUTS)).value == "none"


# -- ICMP: only our own echo and errors about it ------------------------------------------------

def _ip(src: str, dst: str, payload: bytes, proto: int = socket.IPPROTO_ICMP) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 1, 0, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst)) + payload


def _reply(ident: int, seq: int, payload: bytes) -> bytes:
    return struct.pack("!BBHHH", 0, 0, 0, ident, seq) + payload


@pytest.mark.parametrize(("packet", "peer", "verdict"), [
    (_ip("10.0.0.2", "10.0.0.1", _reply(7, 1, b"p")), "10.0.0.2", "reach"),
    (_ip("10.0.0.9", "10.0.0.1", _reply(7, 1, b"p")), "10.0.0.9", None),       # someone else answered
    (_ip("10.0.0.2", "10.0.0.1", _reply(8, 1, b"p")), "10.0.0.2", None),       # another probe's id
    (_ip("10.0.0.2", "10.0.0.1", _reply(7, 2, b"p")), "10.0.0.2", None),       # another sequence
    (_ip("10.0.0.2", "10.0.0.1", _reply(7, 1, b"q")), "10.0.0.2", None),       # another payload
    (_ip("10.0.0.1", "10.0.0.1", struct.pack("!BBHI", 3, 1, 0, 0)
         + _ip("10.0.0.1", "10.0.0.2", echo_request(7, 1, b"p"))), "10.0.0.1", "unreachable"),
    (_ip("10.0.0.1", "10.0.0.1", struct.pack("!BBHI", 3, 1, 0, 0)
         + _ip("10.0.0.1", "10.0.0.3", echo_request(7, 1, b"p"))), "10.0.0.1", None),  # about another host
    (_ip("10.0.0.1", "10.0.0.1", struct.pack("!BBHI", 3, 1, 0, 0)
         + _ip("10.0.0.1", "10.0.0.2", echo_request(9, 1, b"p"))), "10.0.0.1", None),  # about another probe
])
def test_icmp_counts_only_what_is_ours(packet: bytes, peer: str, verdict: str | None) -> None:
    assert classify_icmp(packet, peer, "10.0.0.2", 7, 1, b"p") == verdict


def test_witness_recognises_the_probe_mark() -> None:
    mark = ProbeMark("icmp", b"0123456789abcdef")
    ours = _ip("10.0.0.1", "10.0.0.2", echo_request(mark.icmp_ident, 1, b"netconform-" + mark.nonce))
    other = _ip("10.0.0.1", "10.0.0.2", echo_request(mark.icmp_ident, 1, b"netconform-fedcba9876543210"))
    assert sighting(mark, ours) == "icmp echo 10.0.0.1 -> 10.0.0.2 seq 1"
    assert sighting(mark, other) is None
    tcp = ProbeMark("tcp", b"n", 8080)
    syn = _ip("10.0.0.1", "10.0.0.2", struct.pack("!HHIIBBHHH", 40000, 8080, 0, 0, 0x50, 0x02, 0, 0, 0), 6)
    synack = _ip("10.0.0.2", "10.0.0.1", struct.pack("!HHIIBBHHH", 8080, 40000, 0, 0, 0x50, 0x12, 0, 0, 0), 6)
    assert sighting(tcp, syn) == "tcp SYN 10.0.0.1:40000 -> 10.0.0.2:8080"
    assert sighting(tcp, synack) is None
    assert sighting(tcp, synack, answer=True) == "tcp SYN-ACK 10.0.0.2:8080 -> 10.0.0.1:40000"
    assert sighting(ProbeMark("tcp", b"n", 8081), syn) is None


def test_witness_tells_tcp_probes_to_one_port_apart_by_their_source_port() -> None:
    syn_from = {port: _ip("10.0.0.1", "10.0.0.2", struct.pack("!HHIIBBHHH", port, 7, 0, 0, 0x50, 0x02, 0, 0, 0), 6)
                for port in (20001, 20002)}
    synack_to = _ip("10.0.0.2", "10.0.0.1", struct.pack("!HHIIBBHHH", 7, 20001, 0, 0, 0x50, 0x12, 0, 0, 0), 6)
    first = ProbeMark("tcp", b"n", 7, source_port=20001)
    assert sighting(first, syn_from[20001]) == "tcp SYN 10.0.0.1:20001 -> 10.0.0.2:7"
    assert sighting(first, syn_from[20002]) is None, "the other probe's SYN, to the same port at once"
    assert sighting(first, synack_to, answer=True) == "tcp SYN-ACK 10.0.0.2:7 -> 10.0.0.1:20001"
    assert sighting(ProbeMark("tcp", b"n", 7, source_port=20002), synack_to, answer=True) is None


# -- nothing unobservable passes ----------------------------------------------------------------

def test_unreadable_sysctl_satisfies_no_matcher(tmp_path: Path) -> None:
    facts = make_facts()
    [check] = checks(tmp_path, "  web:\n    sysctl: {net.ipv4.ip_forward: {not: 0}}\n")
    verdict = judge(check, facts)
    assert not verdict.passed and verdict.status == "error"
    assert "sysctl net.ipv4.ip_forward could not be read" in verdict.unjudged


def test_missing_host_end_of_a_veth_is_not_observed_as_unbridged(tmp_path: Path) -> None:
    facts = make_facts()
    facts.containers["web"].host_peers.clear()
    [check] = checks(tmp_path, "  web:\n    interface: {eth0: {bridge: {not: br-x}}}\n")
    assert judge(check, facts).status == "error"


# -- no self-comparison -------------------------------------------------------------------------

def test_joined_interfaces_are_judged_from_separate_reads(tmp_path: Path) -> None:
    """The joiner's interfaces are its own read; a read that differs from X's fails."""
    facts = make_facts()
    joiner = facts.containers["joiner"]
    web = facts.containers["web"]
    assert joiner.net is web.net  # the synthetic facts share one view...
    assert joiner.net is not None
    joiner.net = type(joiner.net)(joiner.net.interfaces[:1], [])  # ...a separate read sees only lo
    [check] = checks(tmp_path, "  joiner:\n    interfaces: \"${container.web.interfaces}\"\n")
    assert not judge(check, facts).passed


def test_transient_host_interfaces_are_left_out_of_host_comparisons(tmp_path: Path) -> None:
    facts = make_facts()
    facts.host.transient_interfaces = ["veth1"]
    assert facts.host.stable_interfaces == ["lo", "docker0"]


# -- expectations that cannot fail are refused at load ------------------------------------------

@pytest.mark.parametrize(("body", "why"), [
    ("reachability:\n  - {from: a, to: b, proto: icmp, expect: {one_of: [reach, blocked, one-way]}}\n",
     "lists every possible value"),
    ("expect:\n  a:\n    created: {not: maybe}\n", "never 'maybe'"),
    ("expect:\n  a:\n    namespaces: {net: {one_of: [host, private, 'container:b', 'container:a']}}\n",
     "lists every possible value"),
    ("expect:\n  a:\n    interfaces: {contains: []}\n", "empty list"),
    ("expect:\n  a:\n    interfaces: {excludes: []}\n", "empty list"),
    ("expect:\n  a:\n    hostname: {matches: '.*'}\n", "matches any text"),
    ("expect:\n  a:\n    interface: {eth0: {ipv4: {in: 0.0.0.0/0}}}\n", "every address"),
    ("expect:\n  a:\n    created: {by: daemon.version, cases: {'<25': true, else: {not: 'no'}}}\n", "never 'no'"),
])
def test_expectations_that_cannot_fail_are_refused(tmp_path: Path, body: str, why: str) -> None:
    path = tmp_path / "v.yaml"
    path.write_text("containers:\n  a: {}\n  b: {}\n" + body)
    with pytest.raises(SpecError, match="cannot fail") as caught:
        load_scenario(path)
    assert why in str(caught.value) and caught.value.line is not None


def test_expectations_that_can_fail_still_load(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("containers:\n  a: {}\n  b: {}\nexpect:\n  a:\n    created: {not: false}\n"
                    "    hostname: {matches: '^[0-9a-f]{12}$'}\n"
                    "reachability:\n  - {from: a, to: b, proto: icmp, expect: {one_of: [reach, one-way]}}\n")
    assert len(load_scenario(path).checks) == 3


# -- the destination guard ----------------------------------------------------------------------

def test_guard_admits_only_the_runs_own_hosts() -> None:
    facts = make_facts()
    facts.host.net.interfaces.append(Interface(4, "eth0", "device", "02:00:00:00:00:01", 1500, True,
                                               ["192.0.2.2/24"]))
    facts.containers["web"].endpoints["bridge"] = EndpointFacts("bridge", "172.17.0.2", 16, "172.17.0.1", None)

    def allowed(address: str, frm: str = "web", named: bool = False) -> bool:
        import ipaddress
        return ipaddress.ip_address(address) in allowed_destinations(facts, None, frm, named, address)

    assert allowed("172.17.0.2")            # a container of the run
    assert allowed("172.17.0.1")            # the gateway of a network its containers are on
    assert not allowed("192.0.2.7")         # a LAN neighbour of the host, even named in the spec
    assert not allowed("192.0.2.7", named=True)
    assert not allowed("192.0.2.2")         # the host's own LAN address, unless the spec names it
    assert allowed("192.0.2.2", named=True)
    assert allowed("127.0.0.11")            # a container's own loopback (embedded DNS)
    assert not allowed("127.0.0.1", frm="host")
    assert allowed("127.0.0.1", frm="host", named=True)
    assert not allowed("10.255.255.53")     # the host's upstream resolver
    assert not allowed("8.8.8.8", named=True)


# -- the isolation lock -------------------------------------------------------------------------

def test_network_changes_wait_for_probes_and_probes_for_changes(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netconform.hermetic.isolation_lock.LOCK_DIR", tmp_path)
    lock = IsolationLock("/proc/self/ns/net", timeout=5)
    events: list[str] = []
    probing = threading.Event()

    def probe() -> None:
        with lock.probing("probe"):
            probing.set()
            time.sleep(0.3)
            events.append("probe done")

    def change() -> None:
        probing.wait()
        with lock.network_change("create"):
            events.append("network created")

    threads = [threading.Thread(target=probe), threading.Thread(target=change)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert events == ["probe done", "network created"]


def test_lock_wait_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netconform.hermetic.isolation_lock.LOCK_DIR", tmp_path)
    lock = IsolationLock("/proc/self/ns/net", timeout=0.2)
    with lock.network_change("holder"), pytest.raises(Exception, match=r"was not free within 0\.2s"), \
            lock.probing("waiter"):
        pass
