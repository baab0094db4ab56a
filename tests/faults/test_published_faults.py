"""Published-port checks fail, in words a user reads, when what they check is broken for real.

The scenarios below are small copies of ``reach-published-bound`` and ``reach-published-forms``
and pass on a dedicated 20.10 daemon with default flags
(:func:`test_published_specs_pass_without_a_fault`). Each other test breaks one kind of check: a
firewall rule in the dedicated daemon's netns (Docker 28's own raw-table rule against routed
loopback traffic; a drop of the ports behind ``-P`` and a range's last port), or an expectation
that is wrong on this daemon (the hairpin source without the userland proxy; a loopback binding
reachable from the host's other address).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faultrun import assert_fault_seen, assert_passes, run_specs
from injectors import Plan, Rule, in_netns, run

from netconform.hermetic.dedicated_daemon import DedicatedDaemon

pytestmark = [
    pytest.mark.faults,
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="fault tests need root"),
]

BOUND = """\
    containers:
      local: {publish: ["127.0.0.1:18090:8090"]}
      outside: {publish: ["${sentinel.gateway_address}:18091:8091"]}
    reachability:
      - {name: routed loopback, from: sentinel, to: local, address: 127.0.0.1, via: host, port: 18090,
         listen_port: 8090, proto: tcp, expect: reach, source: "${sentinel.address}"}
      - {name: outside bound, from: sentinel, to: outside, address: "${sentinel.gateway_address}", port: 18091,
         listen_port: 8091, proto: tcp, expect: reach, source: "${sentinel.address}"}
      - {name: outside not on loopback, from: host, to: outside, address: 127.0.0.1, port: 18091,
         listen_port: 8091, proto: tcp, expect: %(loopback)s}
    """
FORMS = """\
    containers:
      every: {expose: [8095], publish_all: true}
      ranged: {publish: ["0.0.0.0:18100-18102:8100-8102"]}
      hair: {publish: ["0.0.0.0:18097:8097"]}
      neighbour: {}
    reachability:
      - {name: all exposed, from: sentinel, to: every, address: "${sentinel.gateway_address}",
         port: "${container.every.published.tcp.8095}", listen_port: 8095, proto: tcp, expect: reach,
         source: "${sentinel.address}"}
      - {name: range first, from: sentinel, to: ranged, address: "${sentinel.gateway_address}", port: 18100,
         listen_port: 8100, proto: tcp, expect: reach}
      - {name: range last, from: sentinel, to: ranged, address: "${sentinel.gateway_address}", port: 18102,
         listen_port: 8102, proto: tcp, expect: reach}
      - {name: hairpin, from: neighbour, to: hair, address: "${sentinel.gateway_address}", port: 18097,
         listen_port: 8097, proto: tcp, expect: reach, source: "%(hairpin_source)s"}
    """
RIGHT = {"published_bound": BOUND % {"loopback": "blocked"},
         "published_forms": FORMS % {"hairpin_source": "${setting.bip_address}"}}


def test_published_specs_pass_without_a_fault(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """The baseline: with nothing broken, every check of both scenarios passes."""
    assert_passes(run_specs(tmp_path / "run", daemon, RIGHT))


def test_routed_loopback_dropped_in_raw_prerouting(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """20.10 forwards packets for 127.0.0.1:18090 that a neighbour routes to the host: the DNAT
    rule of the loopback binding matches them. Docker 28's own guard, a raw PREROUTING DROP of
    that address and port unless the packet came in on lo, added by hand: the routed probe is
    blocked (its source none); the port bound to the host's address still reaches."""
    guard = Rule("raw", "PREROUTING", ("-d", "127.0.0.1/32", "!", "-i", "lo", "-p", "tcp", "--dport", "18090",
                                       "-j", "DROP"))
    # 20.10 uses no raw table: make it exist (empty) before the run reads the netns's rulesets.
    netns = str(daemon.netns_path)
    run(in_netns(netns, guard.argv("-I")), "create the raw table")
    run(in_netns(netns, guard.argv("-D")), "leave it empty")
    plan = Plan(rules=(guard,))
    result = run_specs(tmp_path / "run", daemon, {"published_bound": RIGHT["published_bound"]}, plan)
    name = "published_bound.yaml::reachability::routed loopback"
    assert_fault_seen(result, {
        name: ["expected:  reach", "observed:  blocked", "tcp sentinel -> local 127.0.0.1:18090: blocked",
               "none arrived in local's"],
        f"{name} [source]": ["expected:  198.18.0.", "(from ${sentinel.address})", "observed:  none"],
    })


def test_ports_behind_publish_all_and_a_range_dropped(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """A DOCKER-USER drop of container ports 8095 and 8102 (after the DNAT): the port the daemon
    chose for -P and the last port of the range are blocked, the range's first port and the
    hairpin still reach."""
    plan = Plan(rules=tuple(Rule("filter", "DOCKER-USER", ("-p", "tcp", "--dport", port, "-j", "DROP"))
                            for port in ("8095", "8102")))
    result = run_specs(tmp_path / "run", daemon, {"published_forms": RIGHT["published_forms"]}, plan)
    words = ["expected:  reach", "observed:  blocked"]
    assert_fault_seen(result, {
        "published_forms.yaml::reachability::all exposed": [*words, "tcp sentinel -> every 198.18.0."],
        "published_forms.yaml::reachability::all exposed [source]": ["observed:  none"],
        "published_forms.yaml::reachability::range last": [*words, ":18102: blocked"],
    })


def test_wrong_expectations_of_hairpin_and_loopback_binding_fail(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """Expectations that hold on other setups fail with what this daemon does: the hairpin source
    a daemon without the userland proxy shows (the neighbour's own address; docker-proxy connects
    from the gateway), and a port bound to the host's sentinel-facing address reached on 127.0.0.1."""
    wrong = {"published_bound": BOUND % {"loopback": "reach"},
             "published_forms": FORMS % {"hairpin_source": "${container.neighbour.ip}"}}
    result = run_specs(tmp_path / "run", daemon, wrong)
    assert_fault_seen(result, {
        "published_bound.yaml::reachability::outside not on loopback": [
            "expected:  reach", "observed:  blocked", "tcp host -> outside 127.0.0.1:18091: blocked"],
        "published_forms.yaml::reachability::hairpin [source]": [
            "expected:  172.17.0.", "(from ${container.neighbour.ip})", "observed:  172.17.0.1"],
    })
