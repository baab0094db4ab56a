"""Reachability checks fail, in words a user reads, when the property is broken for real.

Each scenario below passes on a dedicated 20.10 daemon with default flags
(:func:`test_every_spec_passes_without_its_fault`); each other test breaks one property with a
firewall rule, a sysctl or a link state in the dedicated daemon's netns or a container's, runs
the same scenario through the plugin, and checks that exactly the affected probes fail, with a
story that says what was expected, what was observed and how each attempt went. Restoration is
checked by the fixtures and :func:`faultrun.run_specs`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from faultrun import SENTINEL_CIDR, assert_fault_seen, assert_passes, dedicated_daemon, run_specs
from injectors import Plan, Rule, in_netns, remove_rules, restored, run

from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity

pytestmark = [
    pytest.mark.faults,
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="fault tests need root"),
]

SPECS = {
    "reach_same_network": """\
        networks:
          net: {subnet: 10.241.1.0/24, options: {com.docker.network.bridge.name: ncf-r1}}
        containers:
          a1: {network: net}
          a2: {network: net, ip: 10.241.1.20}
        reachability:
          - {from: a1, to: a2, proto: tcp, port: 8080, expect: reach}
          - {from: a1, to: a2, proto: udp, port: 8053, expect: reach}
          - {from: a1, to: a2, proto: icmp, expect: reach}
          - {from: a1, to: a2, proto: tcp, port: 8081, expect: reach}
        """,
    "reach_isolation": """\
        networks:
          alpha: {subnet: 10.241.2.0/24, options: {com.docker.network.bridge.name: ncf-ra}}
          beta: {subnet: 10.241.3.0/24, options: {com.docker.network.bridge.name: ncf-rb}}
        containers:
          a1: {network: alpha}
          b1: {network: beta}
        reachability:
          - {from: a1, to: b1, proto: tcp, port: 8080, expect: blocked}
          - {from: b1, to: a1, proto: icmp, expect: blocked}
          - {from: a1, to: host, proto: tcp, port: 18001, expect: reach}
        """,
    "reach_icc": """\
        networks:
          noicc:
            subnet: 10.241.4.0/24
            options: {com.docker.network.bridge.enable_icc: "false", com.docker.network.bridge.name: ncf-ri}
        containers:
          p1: {network: noicc}
          p2: {network: noicc}
        reachability:
          - {from: p1, to: p2, proto: tcp, port: 8080, expect: blocked}
          - {from: p2, to: p1, proto: icmp, expect: blocked}
          - {from: p1, to: host, proto: tcp, port: 18002, expect: reach}
        """,
    "reach_internal": """\
        networks:
          sealed: {internal: true, subnet: 10.241.5.0/24, options: {com.docker.network.bridge.name: ncf-rs}}
        containers:
          i1: {network: sealed, ip: 10.241.5.10}
          i2: {network: sealed}
        reachability:
          - {from: i1, to: sentinel, proto: tcp, expect: blocked}
          - {from: i1, to: sentinel, proto: icmp, expect: blocked}
          - {from: i1, to: i2, proto: tcp, port: 8080, expect: reach}
        """,
    "reach_egress": """\
        networks:
          out: {subnet: 10.241.6.0/24, options: {com.docker.network.bridge.name: ncf-re}}
        containers:
          onbridge: {}
          oncustom: {network: out}
        reachability:
          - {from: onbridge, to: sentinel, proto: tcp, expect: reach}
          - {from: oncustom, to: sentinel, proto: udp, expect: reach}
          - {from: oncustom, to: sentinel, proto: icmp, expect: reach}
          - {from: oncustom, to: host, proto: tcp, port: 18003, expect: reach}
        """,
    "reach_masquerade": """\
        networks:
          out: {subnet: 10.241.7.0/24, options: {com.docker.network.bridge.name: ncf-rm}}
        containers:
          masked: {network: out, ip: 10.241.7.10}
          onbridge: {}
        reachability:
          - {from: masked, to: sentinel, proto: tcp, expect: reach, source: "${sentinel.gateway_address}"}
          - {from: masked, to: sentinel, proto: udp, expect: reach, source: "${sentinel.gateway_address}"}
          - {from: onbridge, to: sentinel, proto: tcp, expect: reach, source: "${sentinel.gateway_address}"}
        """,
    "reach_published": """\
        containers:
          web:
            publish: ["18080:8080", "18081:8081/udp"]
        reachability:
          - name: sentinel -> web published tcp 18080
            from: sentinel
            to: web
            address: "${sentinel.gateway_address}"
            port: 18080
            listen_port: 8080
            proto: tcp
            expect: reach
            source: "${sentinel.address}"
          - name: sentinel -> web published udp 18081
            from: sentinel
            to: web
            address: "${sentinel.gateway_address}"
            port: 18081
            listen_port: 8081
            proto: udp
            expect: reach
            source: "${sentinel.address}"
        """,
    "reach_from_host": """\
        networks:
          net: {subnet: 10.241.8.0/24, options: {com.docker.network.bridge.name: ncf-rh}}
        containers:
          target: {network: net, ip: 10.241.8.10}
        reachability:
          - {from: host, to: target, proto: tcp, port: 31337, expect: reach}
          - {from: host, to: target, proto: icmp, expect: reach}
          - {from: host, to: target, proto: tcp, port: 31338, expect: reach}
        """,
    "reach_to_gateway": """\
        networks:
          net: {subnet: 10.241.9.0/24, options: {com.docker.network.bridge.name: ncf-rg}}
        containers:
          oncustom: {network: net}
          onbridge: {}
        reachability:
          - {from: oncustom, to: host, proto: tcp, port: 18001, expect: reach}
          - {from: oncustom, to: host, proto: udp, port: 18002, expect: reach}
          - {from: onbridge, to: host, proto: tcp, port: 18001, expect: reach}
        """,
    "reach_shared_loopback": """\
        containers:
          base: {}
          joined: {network: "container:base"}
          other: {}
        reachability:
          - {from: joined, to: base, address: 127.0.0.1, listen: 127.0.0.1, proto: tcp, port: 9000, expect: reach}
          - {from: base, to: joined, address: 127.0.0.1, listen: 127.0.0.1, proto: udp, port: 9001, expect: reach}
          - {from: other, to: other, address: 127.0.0.1, listen: 127.0.0.1, proto: tcp, port: 9000, expect: reach}
        """,
    "reach_none_loopback": """\
        containers:
          isolated: {network: none}
          other: {network: none}
        reachability:
          - {from: isolated, to: isolated, address: 127.0.0.1, listen: 127.0.0.1, proto: tcp, port: 9002,
             expect: reach}
          - {from: other, to: other, address: 127.0.0.1, listen: 127.0.0.1, proto: tcp, port: 9002, expect: reach}
        """,
}


def one(name: str) -> dict[str, str]:
    return {name: SPECS[name]}


def test_every_spec_passes_without_its_fault(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """The baseline: with nothing broken, every probe of every scenario here passes."""
    assert_passes(run_specs(tmp_path / "run", daemon, SPECS))


def test_restoration_check_notices_what_was_not_put_back(daemon: DedicatedDaemon) -> None:
    """The guard around every run works: a rule added outside the plan is reported as left over;
    the plan's own rules and sysctls are removed and written back."""
    netns = str(daemon.netns_path)
    stray = Rule("filter", "DOCKER-USER", ("-s", "10.241.99.0/24", "-j", "DROP"))
    left_over = re.escape("gained -A DOCKER-USER -s 10.241.99.0/24 -j DROP")
    try:
        with pytest.raises(AssertionError, match=left_over), restored(netns):
            run(in_netns(netns, stray.argv("-I")), "a stray rule")
    finally:
        remove_rules(netns, [stray])
    with restored(netns, Plan(rules=(stray,), sysctls=(("net.ipv4.ip_forward", "0"),))):
        run(in_netns(netns, stray.argv("-I")), "the plan's rule")
        run(in_netns(netns, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=0"]), "the plan's sysctl")


def test_same_network_reach_dropped_in_the_target(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """Peers on one network reach each other on any port. A firewall in ``a2``'s own netns that
    drops tcp/8080, udp/8053 and echo requests makes those probes go unanswered; the requests did
    arrive in ``a2``'s namespace (its witness saw them), so the outcome is one-way, not blocked;
    tcp/8081 still reaches."""
    plan = Plan(rules=tuple(Rule("filter", "INPUT", spec, where="a2") for spec in (
        ("-p", "tcp", "--dport", "8080", "-j", "DROP"),
        ("-p", "udp", "--dport", "8053", "-j", "DROP"),
        ("-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP"),
    )))
    result = run_specs(tmp_path / "run", daemon, one("reach_same_network"), plan)
    words = ["expected:  reach", "observed:  one-way", "a2 at failure:", "10.241.1.20/24",
             "which sent no answer (dropped inside it)", "arrived in a2:"]
    assert_fault_seen(result, {
        "reach_same_network.yaml::reachability::a1->a2 tcp/8080": [
            *words, "probe:     a1->a2 tcp/8080", "property:  reach  [reachability]",
            "tcp a1 -> a2 10.241.1.20:8080: one-way [timeout", "listener 0.0.0.0:8080 in a2",
            "tcp SYN 10.241.1."],
        "reach_same_network.yaml::reachability::a1->a2 udp/8053": [*words, "udp a1 -> a2 10.241.1.20:8053: one-way"],
        "reach_same_network.yaml::reachability::a1->a2 icmp": [*words, "icmp a1 -> a2 10.241.1.20: one-way"],
    })


def test_isolation_between_networks_opened_in_docker_user(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """Two user-defined networks are isolated (DOCKER-ISOLATION-STAGE-1/2). DOCKER-USER runs first:
    ACCEPT between the two bridges there, and the ``blocked`` expectations observe ``reach``."""
    plan = Plan(rules=(
        Rule("filter", "DOCKER-USER", ("-i", "ncf-ra", "-o", "ncf-rb", "-j", "ACCEPT")),
        Rule("filter", "DOCKER-USER", ("-i", "ncf-rb", "-o", "ncf-ra", "-j", "ACCEPT")),
    ))
    result = run_specs(tmp_path / "run", daemon, one("reach_isolation"), plan)
    words = ["expected:  blocked", "observed:  reach"]
    assert_fault_seen(result, {
        "reach_isolation.yaml::reachability::a1->b1 tcp/8080": [*words, "tcp a1 -> b1 10.241.3.2:8080: reach [reach"],
        "reach_isolation.yaml::reachability::b1->a1 icmp": [*words, "icmp b1 -> a1 10.241.2.2: reach [reach from"],
    })


def test_one_way_opening_is_a_leak_not_isolation(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """ACCEPT from alpha to beta in DOCKER-USER, but not back: a1's requests reach b1, whose answers
    are dropped by Docker's own isolation rules on the way back. The prober hears nothing, which
    used to pass as "blocked"; b1's witness saw the requests arrive and the answers leave, so the
    outcome is a one-way leak, and the firewall trace names the rule that dropped the answer."""
    plan = Plan(rules=(Rule("filter", "DOCKER-USER", ("-i", "ncf-ra", "-o", "ncf-rb", "-j", "ACCEPT")),))
    result = run_specs(tmp_path / "run", daemon, one("reach_isolation"), plan)
    assert_fault_seen(result, {
        "reach_isolation.yaml::reachability::a1->b1 tcp/8080": [
            "expected:  blocked", "observed:  one-way", "one-way leak", "arrived in b1's namespace",
            "answer(s) left it", "tcp SYN 10.241.2.2:", "firewall path (nft trace in the daemon's netns)",
            "DOCKER-ISOLATION-STAGE-2", "DROP"],
    })


def test_icc_disabled_network_without_bridge_netfilter(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """A network with enable_icc=false drops traffic between its containers in FORWARD, which only
    sees bridged frames while br_netfilter's ``net.bridge.bridge-nf-call-iptables`` is 1 (per netns
    on this kernel). Set to 0 in the dedicated daemon's netns after the network exists (creating a
    network sets it back to 1), the ``blocked`` expectations observe ``reach``; the gateway, which
    is not bridged traffic, stays reachable."""
    plan = Plan(sysctls=(("net.bridge.bridge-nf-call-iptables", "0"),))
    result = run_specs(tmp_path / "run", daemon, one("reach_icc"), plan)
    assert_fault_seen(result, {
        "reach_icc.yaml::reachability::p1->p2 tcp/8080": [
            "expected:  blocked", "observed:  reach", "tcp p1 -> p2 10.241.4.3:8080: reach [reach from 10.241.4.2"],
        "reach_icc.yaml::reachability::p2->p1 icmp": ["expected:  blocked", "observed:  reach"],
    })


def test_internal_network_gets_egress_through_docker_user(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """An --internal network has no way out. ACCEPT its subnet to and from the sentinel in
    DOCKER-USER, ahead of Docker's isolation rules, and ``i1`` reaches the outside (unmasqueraded:
    internal networks have no MASQUERADE rule, so the sentinel sees ``i1``'s own address)."""
    plan = Plan(rules=(
        Rule("filter", "DOCKER-USER", ("-s", "10.241.5.0/24", "-d", SENTINEL_CIDR, "-j", "ACCEPT")),
        Rule("filter", "DOCKER-USER", ("-s", SENTINEL_CIDR, "-d", "10.241.5.0/24", "-j", "ACCEPT")),
    ))
    result = run_specs(tmp_path / "run", daemon, one("reach_internal"), plan)
    assert_fault_seen(result, {
        "reach_internal.yaml::reachability::i1->sentinel tcp/7": [
            "expected:  blocked", "observed:  reach", "reach [reach from 10.241.5.10", "sentinel:"],
        "reach_internal.yaml::reachability::i1->sentinel icmp": ["expected:  blocked", "observed:  reach"],
    })


def test_egress_without_ip_forwarding(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """Bridge networks reach the outside through the daemon's host, which must forward IPv4.
    ``net.ipv4.ip_forward=0`` in the dedicated daemon's netns blocks every egress probe; the
    gateway (delivered locally, not forwarded) stays reachable."""
    plan = Plan(sysctls=(("net.ipv4.ip_forward", "0"),))
    result = run_specs(tmp_path / "run", daemon, one("reach_egress"), plan)
    words = ["expected:  reach", "observed:  blocked", "sentinel:"]
    assert_fault_seen(result, {
        "reach_egress.yaml::reachability::onbridge->sentinel tcp/7": [*words, "tcp onbridge -> sentinel"],
        "reach_egress.yaml::reachability::oncustom->sentinel udp/7": [*words, "udp oncustom -> sentinel"],
        "reach_egress.yaml::reachability::oncustom->sentinel icmp": [*words, "icmp oncustom -> sentinel"],
    })


def test_masquerade_skipped_shows_the_container_address(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """Egress is masqueraded to the host's address. A nat POSTROUTING RETURN for the network's
    subnet, ahead of Docker's MASQUERADE (inserted after the network exists), lets the container's
    own address through: the probes still reach, but the sentinel sees 10.241.7.10."""
    plan = Plan(rules=(Rule("nat", "POSTROUTING", ("-s", "10.241.7.0/24", "-d", SENTINEL_CIDR, "-j", "RETURN")),))
    result = run_specs(tmp_path / "run", daemon, one("reach_masquerade"), plan)
    words = ["property:  source  [reachability]", "expected:  198.18.0.", "(from ${sentinel.gateway_address})",
             "observed:  10.241.7.10"]
    assert_fault_seen(result, {
        "reach_masquerade.yaml::reachability::masked->sentinel tcp/7 [source]": [
            *words, "tcp masked -> sentinel", "reach [reach from 10.241.7.10"],
        "reach_masquerade.yaml::reachability::masked->sentinel udp/7 [source]": [*words, "udp masked -> sentinel"],
    })


def test_published_port_served_by_the_proxy_loses_the_client_address(daemon: DedicatedDaemon,
                                                                     tmp_path: Path) -> None:
    """A published port is DNATed to the container, which preserves the client's address. A nat
    DOCKER RETURN for tcp/18080 skips the DNAT: the connection lands on docker-proxy, listening on
    the same port in the daemon's netns, which connects to the container from the bridge gateway.
    The port still answers, but the container sees 172.17.0.1, not the sentinel; udp/18081 is
    untouched."""
    plan = Plan(rules=(Rule("nat", "DOCKER", ("-p", "tcp", "--dport", "18080", "-j", "RETURN")),))
    result = run_specs(tmp_path / "run", daemon, one("reach_published"), plan)
    assert_fault_seen(result, {
        "reach_published.yaml::reachability::sentinel -> web published tcp 18080 [source]": [
            "probe:     sentinel -> web published tcp 18080", "expected:  198.18.0.", "(from ${sentinel.address})",
            "observed:  172.17.0.1", "listener 0.0.0.0:8080 in web"],
    })


def test_published_port_without_proxy_or_dnat_is_closed(run_identity: RunIdentity, tmp_path: Path) -> None:
    """Without the userland proxy (``--userland-proxy=false``), the DNAT rule is the only way in:
    the same nat DOCKER RETURN leaves tcp/18080 unanswered. (20.10 still holds a listening socket
    on the host port to reserve it, so the handshake completes but nothing ever echoes.)"""
    plan = Plan(rules=(Rule("nat", "DOCKER", ("-p", "tcp", "--dport", "18080", "-j", "RETURN")),))
    with dedicated_daemon(run_identity, "faults-noproxy", ["--userland-proxy=false"]) as noproxy:
        result = run_specs(tmp_path / "run", noproxy, one("reach_published"), plan)
    name = "reach_published.yaml::reachability::sentinel -> web published tcp 18080"
    assert_fault_seen(result, {
        name: ["expected:  reach", "observed:  blocked", "tcp sentinel -> web 198.18.0.", ":18080: blocked [timeout",
               "none arrived in web's"],
        f"{name} [source]": ["expected:  198.18.0.", "observed:  none"],
    })


def test_host_to_container_dropped_in_output(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """The host reaches container addresses on any port. OUTPUT rules in the dedicated daemon's
    netns drop tcp/31337 and echo requests to the network: the TCP handshake times out with nothing
    seen leaving the host, and the kernel refuses to send the echo request (EPERM). Neither says
    anything about the path to the container, so both are errors (could not be judged), never a
    plain "blocked"; tcp/31338 still reaches."""
    plan = Plan(rules=(
        Rule("filter", "OUTPUT", ("-d", "10.241.8.0/24", "-p", "tcp", "--dport", "31337", "-j", "DROP")),
        Rule("filter", "OUTPUT", ("-d", "10.241.8.0/24", "-p", "icmp", "--icmp-type", "echo-request", "-j", "DROP")),
    ))
    result = run_specs(tmp_path / "run", daemon, one("reach_from_host"), plan)
    words = ["expected:  reach", "ERROR, could not be judged", "the probe was inconclusive"]
    assert_fault_seen(result, {
        "reach_from_host.yaml::reachability::host->target tcp/31337": [
            *words, "tcp host -> target 10.241.8.10:31337: inconclusive [timeout",
            "no packet of the probe was seen leaving host's namespace"],
        "reach_from_host.yaml::reachability::host->target icmp": [
            *words, "icmp host -> target 10.241.8.10: inconclusive [error (EPERM: Operation not permitted)",
            "the probe itself failed"],
    })


def test_container_to_gateway_dropped_in_input(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """Containers reach the host at their gateway address. An INPUT DROP for the network's bridge
    in the dedicated daemon's netns blocks that: the requests arrive at the bridge (the host's
    witness sees them) and get no answer, a one-way outcome; the default bridge's container still
    reaches."""
    plan = Plan(rules=(Rule("filter", "INPUT", ("-i", "ncf-rg", "-j", "DROP")),))
    result = run_specs(tmp_path / "run", daemon, one("reach_to_gateway"), plan)
    words = ["expected:  reach", "observed:  one-way", "oncustom at failure:", "route default via 10.241.9.1 dev eth0",
             "DROP by ip filter INPUT: iifname \"ncf-rg\" drop"]
    assert_fault_seen(result, {
        "reach_to_gateway.yaml::reachability::oncustom->host tcp/18001": [
            *words, "tcp oncustom -> host 10.241.9.1:18001: one-way", "listener 10.241.9.1:18001 in host"],
        "reach_to_gateway.yaml::reachability::oncustom->host udp/18002": [*words, "udp oncustom -> host"],
    })


def test_shared_loopback_down(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """container:X shares X's loopback. With ``lo`` down in X's (``base``'s) netns, neither side
    reaches the other's 127.0.0.1 listener; ``other``'s own loopback still works."""
    plan = Plan(links_down=(("base", "lo"),))
    result = run_specs(tmp_path / "run", daemon, one("reach_shared_loopback"), plan)
    assert_fault_seen(result, {
        "reach_shared_loopback.yaml::reachability::joined->base 127.0.0.1 tcp/9000": [
            "expected:  reach", "observed:  blocked", "tcp joined -> base 127.0.0.1:9000: blocked",
            "listener 127.0.0.1:9000 in base"],
        "reach_shared_loopback.yaml::reachability::base->joined 127.0.0.1 udp/9001": [
            "expected:  reach", "observed:  blocked"],
    })


def test_none_mode_loopback_down(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """A container with network none still has its own loopback. ``lo`` down in its netns, and its
    127.0.0.1 listener is out of reach; the other none container is unaffected."""
    plan = Plan(links_down=(("isolated", "lo"),))
    result = run_specs(tmp_path / "run", daemon, one("reach_none_loopback"), plan)
    assert_fault_seen(result, {
        "reach_none_loopback.yaml::reachability::isolated->isolated 127.0.0.1 tcp/9002": [
            "expected:  reach", "observed:  blocked", "tcp isolated -> isolated 127.0.0.1:9002: blocked"],
    })
