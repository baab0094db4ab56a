"""DNS and /etc/hosts checks fail, in words a user reads, when the property is broken for real.

Each scenario below passes on a dedicated 20.10 daemon with default flags
(:func:`test_every_spec_passes_without_its_fault`); each other test breaks one property for real,
in a daemon flag, the dedicated daemon's netns, a container's netns or a generated file, runs the
same scenario through the plugin, and checks that exactly the affected checks fail, with a story
that names what was expected and what was observed. Restoration is checked by the fixtures and
:func:`faultrun.run_specs`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faultrun import SENTINEL_CIDR, assert_fault_seen, assert_passes, dedicated_daemon, run_specs
from injectors import Plan, Rule

from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity

pytestmark = [
    pytest.mark.faults,
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="fault tests need root"),
]

# An address in the sentinel's test range that nothing answers on; it is only ever written into
# configuration, never sent to.
NOBODY = "198.18.0.77"

SPECS = {
    "dns_bridge_resolv": """\
        containers:
          plain: {}
          named: {dns: [198.18.0.66]}
        expect:
          plain:
            resolv:
              nameservers: "${host.resolv.external_nameservers}"
              search: "${host.resolv.search}"
              options: "${host.resolv.options}"
          named:
            resolv: {nameservers: [198.18.0.66]}
        """,
    "dns_custom_resolv": """\
        networks:
          net: {subnet: 10.240.2.0/24, options: {com.docker.network.bridge.name: ncf-dns2}}
        containers:
          kept: {network: net}
          rewritten: {network: net}
        expect:
          kept:
            resolv:
              nameservers: [127.0.0.11]
              options: {contains: ["ndots:0"]}
          rewritten:
            resolv:
              nameservers: [127.0.0.11]
              options: {contains: ["ndots:0"]}
        """,
    "dns_embedded_names": """\
        networks:
          net: {subnet: 10.240.3.0/24, options: {com.docker.network.bridge.name: ncf-dns3}}
        containers:
          web: {network: net, dns: ["${sentinel.address}"]}
          db: {network: net, aliases: [db-alias], dns: ["${sentinel.address}"]}
          worker: {network: net, dns: ["${sentinel.address}"]}
        expect:
          web:
            lookup:
              "${container.db.name}": ["${container.db.ip}"]
              db-alias: ["${container.db.ip}"]
          worker:
            lookup:
              "${container.db.name}": ["${container.db.ip}"]
              db-alias: ["${container.db.ip}"]
        """,
    "dns_reverse": """\
        networks:
          net: {subnet: 10.240.4.0/24, options: {com.docker.network.bridge.name: ncf-dns4}}
        containers:
          web: {network: net, dns: ["${sentinel.address}"]}
          db: {network: net, dns: ["${sentinel.address}"]}
        expect:
          web:
            reverse:
              "${container.db.ip}": ["${container.db.name}.${network.net.name}."]
          db:
            reverse:
              "${container.web.ip}": ["${container.web.name}.${network.net.name}."]
        """,
    "dns_forwarding": """\
        networks:
          net: {subnet: 10.240.5.0/24, options: {com.docker.network.bridge.name: ncf-dns5}}
        containers:
          onnet: {network: net, dns: ["${sentinel.address}"]}
          peer: {network: net, dns: ["${sentinel.address}"]}
        expect:
          onnet:
            lookup:
              sentinel.netconform.test: ["${sentinel.address}"]
              "${container.peer.name}": ["${container.peer.ip}"]
            forwarded:
              sentinel.netconform.test: ["${sentinel.gateway_address}"]
        """,
    "dns_forwarding_attribution": """\
        networks:
          net: {subnet: 10.240.7.0/24, options: {com.docker.network.bridge.name: ncf-dns7}}
        containers:
          peer: {network: net, dns: ["${sentinel.address}"]}
          onnet: {network: net, dns: ["${sentinel.address}"]}
        expect:
          peer:
            lookup:
              sentinel.netconform.test: ["${sentinel.address}"]
          onnet:
            forwarded:
              sentinel.netconform.test: ["${sentinel.gateway_address}"]
        """,
    "dns_unknown_names": """\
        networks:
          net: {subnet: 10.240.6.0/24, options: {com.docker.network.bridge.name: ncf-dns6}}
        containers:
          onnet: {network: net, dns: ["${sentinel.address}"]}
          onbridge: {dns: ["${sentinel.address}"]}
        expect:
          onnet:
            lookup:
              nothing-here.netconform.test: NXDOMAIN
              "${container.onnet.name}": ["${container.onnet.ip}"]
          onbridge:
            lookup:
              nothing-here.netconform.test: NXDOMAIN
        """,
    "dns_hosts_gateway": """\
        containers:
          asker:
            add_hosts: {gw.test: host-gateway, extra.test: 198.18.0.9}
        expect:
          asker:
            hosts:
              gw.test: ["${network.bridge.gateway}"]
              extra.test: [198.18.0.9]
        """,
    "dns_hosts_rewritten": """\
        containers:
          kept:
            add_hosts: {extra.test: 198.18.0.9}
          rewritten:
            add_hosts: {extra.test: 198.18.0.9}
        expect:
          kept:
            hosts:
              "${container.kept.short_id}": ["${container.kept.ip}"]
              extra.test: [198.18.0.9]
          rewritten:
            hosts:
              localhost: {contains: [127.0.0.1]}
              "${container.rewritten.short_id}": ["${container.rewritten.ip}"]
              extra.test: [198.18.0.9]
        """,
}

# Queries towards the sentinel's DNS server die in the dedicated daemon's FORWARD chain, where
# DOCKER-USER is consulted before any of Docker's own rules.
DNS_TO_SENTINEL_DROPPED = Plan(rules=tuple(
    Rule("filter", "DOCKER-USER", ("-d", SENTINEL_CIDR, "-p", proto, "--dport", "53", "-j", "DROP"))
    for proto in ("udp", "tcp")
))


def one(name: str) -> dict[str, str]:
    return {name: SPECS[name]}


def test_every_spec_passes_without_its_fault(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """The baseline: with nothing broken, every check of every scenario here passes."""
    assert_passes(run_specs(tmp_path / "run", daemon, SPECS))


def test_resolv_conf_on_the_default_bridge_with_daemon_dns_flags(run_identity: RunIdentity, tmp_path: Path) -> None:
    """resolv.conf on the default bridge: a daemon started with --dns/--dns-search/--dns-opt writes
    those instead of the host's nameservers, search list and options. A container's own --dns
    still wins (``named`` passes)."""
    flags = ["--dns", NOBODY, "--dns-search", "fault.test", "--dns-opt", "ndots:3"]
    with dedicated_daemon(run_identity, "faults-dns", flags) as misconfigured:
        result = run_specs(tmp_path / "run", misconfigured, one("dns_bridge_resolv"))
    assert_fault_seen(result, {
        "dns_bridge_resolv.yaml::plain::resolv.nameservers": [
            "property:  resolv.nameservers  [dns]", "(from ${host.resolv.external_nameservers})",
            f"observed:  [{NOBODY}]", f"nameserver {NOBODY}"],
        "dns_bridge_resolv.yaml::plain::resolv.search": ["observed:  [fault.test]", "search fault.test"],
        "dns_bridge_resolv.yaml::plain::resolv.options": ["observed:  [ndots:3]", "options ndots:3"],
    })


def test_resolv_conf_on_a_user_defined_network(run_identity: RunIdentity, tmp_path: Path) -> None:
    """resolv.conf on a user-defined network: ``nameserver 127.0.0.11`` and ``options ndots:0``.

    ndots:0: a daemon started with ``--dns-opt ndots:3`` writes the user's ndots instead (libnetwork
    only adds ndots:0 when no ndots is configured). 127.0.0.11: 20.10 always writes it for
    user-defined networks; no flag, sysctl or rule changes that, so the real-world way it breaks
    is the file being replaced after start (an entrypoint, a configuration agent, ``docker cp``),
    done here from the host through the container's root.
    """
    plan = Plan(files=(("rewritten", "/etc/resolv.conf", f"nameserver {NOBODY}\noptions ndots:0\n"),))
    with dedicated_daemon(run_identity, "faults-ndots", ["--dns-opt", "ndots:3"]) as misconfigured:
        result = run_specs(tmp_path / "run", misconfigured, one("dns_custom_resolv"), plan)
    assert_fault_seen(result, {
        "dns_custom_resolv.yaml::kept::resolv.options": [
            "expected:  contains [ndots:0]", "observed:  [ndots:3]", "nameserver 127.0.0.11"],
        "dns_custom_resolv.yaml::rewritten::resolv.nameservers": [
            "expected:  [127.0.0.11]", f"observed:  [{NOBODY}]", f"nameserver {NOBODY}"],
    })


def test_names_and_aliases_need_the_embedded_server(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """Container names and aliases resolve through the embedded server, which Docker reaches by
    DNAT of 127.0.0.11:53 to its real port inside each container's netns. Flushing those rules in
    ``web`` leaves it asking a port nobody listens on (no answer: a timeout, since an unconnected
    UDP socket is not told of the ICMP error); ``worker`` still resolves."""
    plan = Plan(flush=(("web", "nat", "DOCKER_OUTPUT"),))
    result = run_specs(tmp_path / "run", daemon, one("dns_embedded_names"), plan)
    words = ["property:  lookup.", "observed:  timeout", "@127.0.0.11: timeout (2 attempt(s)"]
    assert_fault_seen(result, {
        "dns_embedded_names.yaml::web::lookup.${container.db.name}": [*words, "(from [${container.db.ip}])"],
        "dns_embedded_names.yaml::web::lookup.db-alias": [*words, "A db-alias @127.0.0.11"],
    })


def test_reverse_lookup_needs_the_embedded_server(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """PTR of a peer's address is answered by the embedded server. Dropping ``web``'s datagrams to
    127.0.0.11 in its own OUTPUT chain makes the kernel refuse to send them (EPERM): the lookup
    failed in the prober, which says nothing about the server, so the check is an error with the
    reason, never an answer."""
    plan = Plan(rules=(Rule("filter", "OUTPUT", ("-d", "127.0.0.11/32", "-p", "udp", "-j", "DROP"), where="web"),))
    result = run_specs(tmp_path / "run", daemon, one("dns_reverse"), plan)
    assert_fault_seen(result, {
        "dns_reverse.yaml::web::reverse.${container.db.ip}": [
            "property:  reverse.${container.db.ip}  [dns]", "(from [${container.db.name}.${network.net.name}.])",
            "ERROR, could not be judged", "failed in the prober", "@127.0.0.11: error", "Operation not permitted"],
    })


def test_external_names_are_forwarded_to_the_sentinel(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """The embedded server forwards names it does not own to the --dns server (the sentinel), from
    the container's netns, masqueraded to the host. With DNS to the sentinel dropped in
    DOCKER-USER, the lookup gets no answer and the sentinel sees no query; the peer's name, which
    the embedded server answers itself, still resolves."""
    result = run_specs(tmp_path / "run", daemon, one("dns_forwarding"), DNS_TO_SENTINEL_DROPPED)
    assert_fault_seen(result, {
        "dns_forwarding.yaml::onnet::lookup.sentinel.netconform.test": [
            "expected:  [198.18.0.", "(from [${sentinel.address}])", "observed:  timeout",
            "A sentinel.netconform.test @127.0.0.11: timeout"],
        "dns_forwarding.yaml::onnet::forwarded.sentinel.netconform.test": [
            "property:  forwarded.sentinel.netconform.test", "(from [${sentinel.gateway_address}])",
            "observed:  []", "reaching the sentinel came from: nobody"],
    })


def test_forwarded_queries_are_those_of_the_asking_container(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """``forwarded`` must not credit a container with a peer's query. ``peer`` looks the name up
    first and is forwarded (masqueraded to the host's address, like any container); ``onnet``,
    whose embedded-DNS DNAT is flushed, never reaches the embedded server, so nothing is forwarded
    for it. (Until the lookup window was bounded to the lookup itself, the sentinel's queries of
    the second before counted, and this check passed on ``peer``'s query.)"""
    plan = Plan(flush=(("onnet", "nat", "DOCKER_OUTPUT"),))
    result = run_specs(tmp_path / "run", daemon, one("dns_forwarding_attribution"), plan)
    assert_fault_seen(result, {
        "dns_forwarding_attribution.yaml::onnet::forwarded.sentinel.netconform.test": [
            "observed:  []", "reaching the sentinel came from: nobody", "@127.0.0.11: timeout"],
    })


def test_unknown_names_get_nxdomain_not_a_timeout(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """An unknown name must be answered NXDOMAIN by whoever is authoritative, not time out. With
    DNS to the sentinel dropped, it times out: directly from the default bridge, and through the
    embedded server on a user-defined network."""
    result = run_specs(tmp_path / "run", daemon, one("dns_unknown_names"), DNS_TO_SENTINEL_DROPPED)
    assert_fault_seen(result, {
        "dns_unknown_names.yaml::onbridge::lookup.nothing-here.netconform.test": [
            "expected:  NXDOMAIN", "observed:  timeout", "A nothing-here.netconform.test @198.18.0."],
        "dns_unknown_names.yaml::onnet::lookup.nothing-here.netconform.test": [
            "expected:  NXDOMAIN", "observed:  timeout", "A nothing-here.netconform.test @127.0.0.11"],
    })


def test_host_gateway_follows_the_daemon_flag(run_identity: RunIdentity, tmp_path: Path) -> None:
    """/etc/hosts, host-gateway: it maps to the default bridge's gateway unless the daemon is started
    with ``--host-gateway-ip``; then it maps to that address. --add-host entries are unaffected."""
    with dedicated_daemon(run_identity, "faults-hostgw", ["--host-gateway-ip", NOBODY]) as misconfigured:
        result = run_specs(tmp_path / "run", misconfigured, one("dns_hosts_gateway"))
    assert_fault_seen(result, {
        "dns_hosts_gateway.yaml::asker::hosts.gw.test": [
            "property:  hosts.gw.test  [dns]", "(from [${network.bridge.gateway}])", f"observed:  [{NOBODY}]",
            f"{NOBODY}\tgw.test"],
    })


def test_own_name_and_added_hosts_in_a_rewritten_hosts_file(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """/etc/hosts, own name and --add-host: Docker writes both once, at start; nothing at the host
    level takes them away later except the file being replaced (an entrypoint, a configuration
    agent), done here from the host through the container's root. ``kept`` is untouched."""
    plan = Plan(files=(("rewritten", "/etc/hosts", "127.0.0.1\tlocalhost\n"),))
    result = run_specs(tmp_path / "run", daemon, one("dns_hosts_rewritten"), plan)
    assert_fault_seen(result, {
        "dns_hosts_rewritten.yaml::rewritten::hosts.${container.rewritten.short_id}": [
            "(from [${container.rewritten.ip}])", "observed:  []", "/etc/hosts:\n      127.0.0.1\tlocalhost"],
        "dns_hosts_rewritten.yaml::rewritten::hosts.extra.test": ["expected:  [198.18.0.9]", "observed:  []"],
    })
