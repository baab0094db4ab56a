"""Judging facts against expectations, on synthetic facts (pure logic: no daemon, no namespaces)."""

from __future__ import annotations

from pathlib import Path

import pytest

from netconform.facts import (
    ContainerFacts,
    DaemonFacts,
    EndpointFacts,
    HostFacts,
    Interface,
    NamespaceId,
    NetnsView,
    NetworkFacts,
    Route,
    ScenarioFacts,
)
from netconform.judge import judge
from netconform.judge.matchers import holds
from netconform.spec import Check, load_scenario
from netconform.spec.values import Select, choose

KINDS = ("net", "uts", "ipc", "pid", "mnt", "user", "cgroup")


def ns(kind: str, inode: int) -> NamespaceId:
    return NamespaceId(kind, 4, inode)


def make_facts(version: str = "20.10.24+dfsg1") -> ScenarioFacts:
    host_ns = {kind: ns(kind, 1000 + i) for i, kind in enumerate(KINDS)}
    host_net = NetnsView([Interface(1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, ["127.0.0.1/8"]),
                          Interface(5, "docker0", "bridge", "02:42:78:b0:30:46", 1500, True, ["172.17.0.1/16"]),
                          Interface(9, "veth1", "veth", "aa:aa:aa:aa:aa:01", 1500, True, [], 2, "docker0")], [])
    web_net = NetnsView(
        [Interface(1, "lo", "loopback", "00:00:00:00:00:00", 65536, True, ["127.0.0.1/8"]),
         Interface(2, "eth0", "veth", "02:42:ac:11:00:02", 1500, True, ["172.17.0.2/16"], 9)],
        [Route("default", "172.17.0.1", "eth0"), Route("172.17.0.0/16", None, "eth0")],
        {"net.ipv4.ip_unprivileged_port_start": "0"},
    )
    web = ContainerFacts(
        key="web", name="nc-x-main-s-web", created=True, id="abcdef0123456789" * 4, pid=42,
        network_mode="bridge", primary_network="bridge",
        endpoints={"bridge": EndpointFacts("bridge", "172.17.0.2", 16, "172.17.0.1", "02:42:ac:11:00:02")},
        namespaces={**{kind: ns(kind, 2000 + i) for i, kind in enumerate(KINDS)},
                    "user": host_ns["user"], "cgroup": host_ns["cgroup"]},
        net=web_net, uts_hostname="abcdef012345", host_peers={"eth0": host_net.interfaces[2]},
    )
    joiner = ContainerFacts(
        key="joiner", name="nc-x-main-s-joiner", created=True, id="f" * 64, pid=43,
        network_mode=f"container:{web.id}", joined="web",
        namespaces={**{kind: ns(kind, 3000 + i) for i, kind in enumerate(KINDS)}, "net": web.namespaces["net"]},
        net=web_net, uts_hostname="ffffffffffff",
    )
    refused = ContainerFacts(key="bad", name="nc-x-main-s-bad", created=False,
                             error="conflicting options: hostname and the network mode")
    daemon = DaemonFacts(version, "1.41", "Debian", "6.1", "overlay2", "cgroupfs", "1", False)
    host = HostFacts(7, host_ns, host_net, "vm", 1)
    bridge = NetworkFacts("bridge", "bridge", "b" * 64, "bridge", "172.17.0.0/16", "172.17.0.1", "docker0", False)
    return ScenarioFacts("s", daemon, host, {"bridge": bridge},
                         {"web": web, "joiner": joiner, "bad": refused})


def checks(tmp_path: Path, expect: str) -> list[Check]:
    """The checks of ``expect`` (the refused container 'bad' always declares its refusal)."""
    path = tmp_path / "s.yaml"
    declared = "bad:" in expect
    path.write_text("containers:\n  web: {}\n  joiner: {network: 'container:web'}\n"
                    "  bad: {network: 'container:web', hostname: x}\nexpect:\n" + expect
                    + ("" if declared else "  bad:\n    created: false\n"))
    loaded = list(load_scenario(path).checks)
    return loaded if declared else loaded[:-1]


def verdicts(tmp_path: Path, expect: str, version: str = "20.10.24+dfsg1") -> list[tuple[str, bool, str]]:
    facts = make_facts(version)
    return [(c.prop, (v := judge(c, facts)).passed, v.observed) for c in checks(tmp_path, expect)]


def test_true_expectations_pass(tmp_path: Path) -> None:
    results = verdicts(tmp_path, """\
  web:
    namespaces: {net: private, user: host, cgroup: host, uts: private}
    interfaces: [eth0, lo]
    interface:
      eth0: {ipv4: {equals: "${container.web.ip}", in: "${network.bridge.subnet}"}, mtu: 1500,
             mac: "02:42:AC:11:00:02", kind: veth, bridge: docker0, addresses: [172.17.0.2/16]}
    default_route: {via: "${network.bridge.gateway}", dev: eth0}
    routes: [default via 172.17.0.1 dev eth0, 172.17.0.0/16 dev eth0]
    sysctl: {net.ipv4.ip_unprivileged_port_start: 0}
    hostname: "${container.web.short_id}"
  joiner:
    namespaces: {net: "container:web", uts: private}
    interfaces: "${container.web.interfaces}"
    interface: {eth0: {ipv4: "${container.web.ip}"}}
  bad:
    refused: {matches: "conflicting options: hostname"}
    created: false
""")
    assert [r for r in results if not r[1]] == []
    assert len(results) == 22


@pytest.mark.parametrize(
    ("expect", "observed"),
    [
        ("namespaces: {net: host}", "private"),
        ("namespaces: {user: private}", "host"),
        ("interfaces: [lo]", "[lo, eth0]"),
        ("interface: {eth0: {ipv4: {in: 10.0.0.0/8}}}", "[172.17.0.2]"),
        ("interface: {eth0: {mtu: 1400}}", "1500"),
        ("interface: {eth0: {mac: '02:42:ac:11:00:03'}}", "02:42:ac:11:00:02"),
        ("interface: {eth0: {bridge: br-123}}", "docker0"),
        ("interface: {eth1: {mtu: 1500}}", "(not observable: there is no interface 'eth1' in the container's "
                                           "network namespace)"),
        ("default_route: {via: none}", "172.17.0.1"),
        ("routes: [default via 172.17.0.1 dev eth0]", "[default via 172.17.0.1 dev eth0, 172.17.0.0/16 dev eth0]"),
        ("sysctl: {net.ipv4.ip_unprivileged_port_start: 1024}", "0"),
        ("hostname: web", "abcdef012345"),
    ],
)
def test_wrong_expectations_fail_with_the_observed_value(tmp_path: Path, expect: str, observed: str) -> None:
    [(prop, passed, seen)] = verdicts(tmp_path, "  web:\n    " + expect + "\n")
    assert not passed and seen == observed, prop


def test_refused_container_fails_every_other_check_with_the_daemon_error(tmp_path: Path) -> None:
    facts = make_facts()
    [check] = checks(tmp_path, "  bad:\n    refused: x\n    interfaces: [lo]\n")[1:]
    verdict = judge(check, facts)
    assert not verdict.passed
    assert "conflicting options: hostname" in verdict.observed
    assert "conflicting options" in verdict.evidence["daemon error"]


def test_version_selection_picks_the_case_for_the_daemon(tmp_path: Path) -> None:
    expect = '  web:\n    interface: {eth0: {mtu: {by: daemon.version, cases: {"<25": 1500, ">=25": 9000}}}}\n'
    assert verdicts(tmp_path, expect, "20.10.24+dfsg1") == [("interface.eth0.mtu", True, "1500")]
    assert verdicts(tmp_path, expect, "26.1.5+dfsg1") == [("interface.eth0.mtu", False, "1500")]


def test_selection_without_an_applicable_case_fails_rather_than_passes(tmp_path: Path) -> None:
    [check] = checks(tmp_path, '  web:\n    hostname: {by: daemon.version, cases: {"<20": x}}\n')
    verdict = judge(check, make_facts())
    assert not verdict.passed and "no case" in verdict.note


def test_unresolvable_reference_fails(tmp_path: Path) -> None:
    [check] = checks(tmp_path, '  web:\n    hostname: "${container.bad.short_id}"\n')
    verdict = judge(check, make_facts())
    assert not verdict.passed and "was not created" in verdict.expected


def test_choose_by_version_strips_debian_suffixes() -> None:
    select = Select("daemon.version", (("<25", "old"), (">=25", "new")))  # type: ignore[arg-type]
    assert choose(select, {"daemon.version": "20.10.24+dfsg1"}) == "old"
    assert choose(select, {"daemon.version": "26.1.5+dfsg1-9+b6"}) == "new"
    assert choose(select, {}) is None


@pytest.mark.parametrize(
    ("op", "observed", "expected", "result"),
    [
        ("equals", ["lo", "eth0"], ["eth0", "lo"], True),
        ("equals", ["lo", "lo"], ["lo"], False),
        ("equals", "172.17.0.2", "172.017.0.2", False),
        ("equals", 1400, "1400", True),
        ("equals", True, "true", True),
        ("equals", "02:42:AC:11:00:02", "02:42:ac:11:00:02", True),
        ("in", ["10.0.0.5"], "10.0.0.0/24", True),
        ("in", [], "10.0.0.0/24", False),
        ("in", ["10.0.1.5"], "10.0.0.0/24", False),
        ("one_of", "b", ["a", "b"], True),
        ("contains", ["a", "b", "c"], ["a", "c"], True),
        ("contains", ["a"], ["a", "c"], False),
        ("excludes", ["a", "b"], ["c"], True),
        ("excludes", ["a", "b"], ["b"], False),
        ("matches", "conflicting options: dns", "^conflicting", True),
        ("matches", [], ".*", False),
        ("not", "a", "b", True),
    ],
)
def test_matcher_operators(op: str, observed: object, expected: object, result: bool) -> None:
    assert holds(op, observed, expected) is result
