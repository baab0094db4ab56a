"""Spec loading and schema validation: good specs build the model, bad ones name file:line and key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.spec import load_scenario
from netconform.spec.values import Matcher, Ref, Select, Template

MINIMAL = """\
    containers:
      web: {}
    expect:
      web:
        interfaces: [lo, eth0]
"""


def write(tmp_path: Path, text: str, name: str = "scn.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def error_of(tmp_path: Path, text: str) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_scenario(write(tmp_path, text), "scn.yaml")
    return info.value


def test_minimal_spec_builds_one_check_on_default_bridge(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, MINIMAL))
    assert scenario.name == "scn"
    assert scenario.containers["web"].mode == "bridge"
    assert scenario.containers["web"].networks == ("bridge",)
    [check] = scenario.checks
    assert (check.subject, check.prop, check.aspect, check.line) == ("web", "interfaces", "addressing", 5)
    assert check.expectation == Matcher((("equals", ("lo", "eth0")),))


def test_modes_networks_and_options(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(
            tmp_path,
            """\
        networks:
          appnet:
            subnet: 10.9.0.0/24
            gateway: 10.9.0.1
            options: {com.docker.network.driver.mtu: 1400}
          other: {}
        containers:
          a: {network: appnet, aliases: [www], ip: 10.9.0.5}
          b: {networks: [appnet, other], aliases: {other: [x, y]}}
          c: {network: container:a}
          d: {network: host, hostname: h}
          e: {network: none, publish: ["8080:80", "127.0.0.1:53:53/udp", "9000"]}
        expect:
          a: {hostname: x}
    """,
        )
    )
    a, b, c, d, e = scenario.containers.values()
    assert (a.mode, a.networks, a.aliases, a.ips) == (
        "network",
        ("appnet",),
        (("appnet", ("www",)),),
        (("appnet", "10.9.0.5"),),
    )
    assert b.networks == ("appnet", "other") and b.aliases == (("other", ("x", "y")),)
    assert (c.mode, c.target, c.mode_marker) == ("container", "a", "container")
    assert (d.mode, d.hostname) == ("host", "h")
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in e.publish] == [
        (None, 8080, 80, "tcp"),
        ("127.0.0.1", 53, 53, "udp"),
        (None, None, 9000, "tcp"),
    ]
    assert scenario.networks["appnet"].options == (("com.docker.network.driver.mtu", "1400"),)


def test_references_templates_and_selections(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(
            tmp_path,
            """\
        containers:
          web: {}
        expect:
          web:
            interface:
              eth0:
                ipv4: {equals: "${container.web.ip}", in: "${network.bridge.subnet}"}
            hostname_file: "${container.web.short_id}.x"
            namespaces:
              cgroup: {by: host.cgroup_version, cases: {"1": host, "2": private}}
              net: {by: daemon.version, cases: {"<25": private, else: private}}
    """,
        )
    )
    ipv4, hostfile, cgroup, net = scenario.checks
    assert ipv4.expectation == Matcher(
        (("equals", Ref(("container", "web", "ip"))), ("in", Ref(("network", "bridge", "subnet"))))
    )
    assert hostfile.expectation == Matcher((("equals", Template((Ref(("container", "web", "short_id")), ".x"))),))
    assert isinstance(cgroup.expectation, Select) and cgroup.expectation.by == "host.cgroup_version"
    assert isinstance(net.expectation, Select) and [k for k, _ in net.expectation.cases] == ["<25", "else"]


@pytest.mark.parametrize(
    ("text", "line", "key", "fragment", "allowed"),
    [
        pytest.param(
            """\
            containers:
              web: {netwrk: bridge}
            expect: {web: {interfaces: [lo]}}
            """,
            2,
            "containers.web.netwrk",
            "unknown key",
            "network, networks",
            id="unknown-key",
        ),
        pytest.param(
            """\
            networks:
              n: {subnet: 10.1.0.0/33}
            containers: {web: {network: n}}
            expect: {web: {interfaces: [lo]}}
            """,
            2,
            "networks.n.subnet",
            "invalid CIDR '10.1.0.0/33'",
            "IPv4 CIDR",
            id="bad-cidr",
        ),
        pytest.param(
            """\
            networks:
              n: {subnet: 10.1.0.0/24, gateway: 10.2.0.1}
            containers: {web: {network: n}}
            expect: {web: {interfaces: [lo]}}
            """,
            2,
            "networks.n.gateway",
            "not inside subnet",
            "an address in 10.1.0.0/24",
            id="gw-outside",
        ),
        pytest.param(
            """\
            networks:
              n: {internal: "yes"}
            containers: {web: {network: n}}
            expect: {web: {interfaces: [lo]}}
            """,
            2,
            "networks.n.internal",
            "expected a boolean, found a string",
            "true or false",
            id="wrong-type",
        ),
        pytest.param(
            """\
            containers:
              web: {network: container:db}
            expect: {web: {interfaces: [lo]}}
            """,
            2,
            "containers.web.network",
            "container 'db' is not defined",
            "container:<",
            id="undef-target",
        ),
        pytest.param(
            """\
            containers:
              web: {network: container:web}
            expect: {web: {interfaces: [lo]}}
            """,
            2,
            "containers.web.network",
            "cannot join its own",
            "",
            id="self-join",
        ),
        pytest.param(
            """\
            containers:
              web: {network: macvlan0}
            expect: {web: {interfaces: [lo]}}
            """,
            2,
            "containers.web.network",
            "unknown network mode 'macvlan0'",
            "bridge, host, none",
            id="impossible-mode",
        ),
        pytest.param(
            """\
            containers:
              a: {}
              b: {network: container:a, hostname: x}
            expect: {b: {interfaces: [lo]}}
            """,
            3,
            "containers.b.hostname",
            "refuses hostname with network mode 'container:a'",
            "declare expect.b.refused",
            id="refused-combination",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            expect:
              db: {interfaces: [lo]}
            """,
            3,
            "expect.db",
            "container 'db' is not defined",
            "web",
            id="undef-subject",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            expect:
              web:
                interface: {eth0: {mtuu: 1500}}
            """,
            4,
            "expect.web.interface.eth0.mtuu",
            "unknown property",
            "interface.<if>.mtu",
            id="unknown-property",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            expect:
              web:
                hostname: "${container.db.name}"
            """,
            4,
            "expect.web.hostname",
            "names container 'db'",
            "web",
            id="undef-ref",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            expect:
              web:
                hostname: "${container.web.colour}"
            """,
            4,
            "expect.web.hostname",
            "container has no fact 'colour'",
            "short_id",
            id="unknown-fact",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            expect:
              web:
                namespaces: {net: shared}
            """,
            4,
            "expect.web.namespaces.net",
            "invalid namespace owner 'shared'",
            "host, private",
            id="bad-namespace-owner",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            expect:
              web:
                hostname: {by: daemon.version, cases: {"~~25": x}}
            """,
            4,
            "expect.web.hostname.cases.~~25",
            "not a version range",
            "version specifiers",
            id="bad-version-range",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            expect:
              web:
                hostname: {roughly: x}
            """,
            4,
            "expect.web.hostname",
            "unknown matcher 'roughly'",
            "equals, not, in",
            id="bad-matcher",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            containers: {db: {}}
            expect: {web: {hostname: x}}
            """,
            2,
            "containers",
            "duplicate key (first at line 1)",
            "",
            id="duplicate-key",
        ),
        pytest.param(
            """\
            containers: {web: {}
            """,
            2,
            "(yaml)",
            "not valid YAML",
            "",
            id="not-yaml",
        ),
        pytest.param(
            """\
            containers: {web: {}}
            """,
            1,
            "expect",
            "checks nothing",
            "",
            id="no-expectations",
        ),
    ],
)
def test_invalid_specs_name_line_key_and_allowed(
    tmp_path: Path, text: str, line: int, key: str, fragment: str, allowed: str
) -> None:
    err = error_of(tmp_path, text)
    assert (err.path, err.line, err.key) == ("scn.yaml", line, key), err.render()
    assert fragment in err.problem, err.render()
    assert allowed in err.allowed, err.render()
    assert err.render().startswith(f"scn.yaml:{line}: {key}: ")


def test_refusal_combination_is_allowed_when_the_refusal_is_expected(tmp_path: Path) -> None:
    scenario = load_scenario(
        write(
            tmp_path,
            """\
        containers:
          a: {}
          b: {network: container:a, hostname: x}
        expect:
          b: {refused: {matches: "conflicting options: hostname"}}
    """,
        )
    )
    assert scenario.checks[0].prop == "refused" and scenario.checks[0].aspect == "options"


def test_shipped_suites_are_valid() -> None:
    suites = sorted(Path(__file__).resolve().parents[2].joinpath("suites").glob("*.yaml"))
    assert {path.stem for path in suites} >= {"bridge", "host", "none", "container", "custom"}
    for path in suites:
        assert load_scenario(path).checks, path


def test_reachability_entries_become_reach_and_source_checks(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, """\
        networks: {n: {}}
        containers:
          a: {network: n}
          b: {network: n}
        reachability:
          - {from: a, to: b, proto: tcp, port: 80, expect: reach, source: "${container.a.ip}"}
          - {from: a, to: sentinel, proto: udp, expect: blocked}
          - {name: ping gw, from: a, to: host, proto: icmp, expect: {by: daemon.version, cases: {else: reach}}}
    """))
    names = [(check.subject, check.name, check.prop, check.line) for check in scenario.checks]
    assert names == [
        ("reachability", "a->b tcp/80", "reach", 6),
        ("reachability", "a->b tcp/80 [source]", "source", 6),
        ("reachability", "a->sentinel udp/7", "reach", 7),
        ("reachability", "ping gw", "reach", 8),
    ]
    assert scenario.uses_sentinel


@pytest.mark.parametrize(
    ("entry", "key", "fragment"),
    [
        ("{from: a, to: c, proto: tcp, port: 1, expect: reach}", "reachability[0].to", "unknown endpoint 'c'"),
        ("{from: a, to: b, proto: sctp, port: 1, expect: reach}", "reachability[0].proto", "unknown protocol"),
        ("{from: a, to: b, proto: tcp, expect: reach}", "reachability[0].port", "needs a port"),
        ("{from: a, to: b, proto: icmp, port: 3, expect: reach}", "reachability[0].port", "icmp has no ports"),
        ("{from: a, to: sentinel, proto: tcp, port: 80, expect: reach}", "reachability[0].port",
         "serves echo on port 7 only"),
        ("{from: a, to: b, proto: tcp, port: 1, expect: maybe}", "reachability[0].expect", "invalid outcome"),
        ("{from: a, to: b, proto: icmp, expect: reach, source: x}", "reachability[0].source", "no source"),
        ("{from: a, to: b, proto: tcp, port: 70000, expect: reach}", "reachability[0].port", "out of range"),
        ("{from: a, to: b, proto: tcp, port: 1, expect: reach, network: m}", "reachability[0].network",
         "not attached to 'm'"),
        ("{from: a, to: b, proto: tcp, port: 1}", "reachability[0].expect", "missing"),
    ],
)
def test_invalid_reachability_entries(tmp_path: Path, entry: str, key: str, fragment: str) -> None:
    err = error_of(tmp_path, f"""\
        networks: {{n: {{}}}}
        containers: {{a: {{network: n}}, b: {{network: n}}}}
        reachability:
          - {entry}
    """)
    assert (err.key, err.line) == (key, 4), err.render()
    assert fragment in err.problem, err.render()


def test_lookups_require_the_sentinel_as_nameserver(tmp_path: Path) -> None:
    err = error_of(tmp_path, """\
        containers:
          web: {}
          joiner: {network: "container:web"}
        expect:
          joiner:
            lookup: {anything.example: NXDOMAIN}
    """)
    assert (err.key, err.line) == ("containers.web.dns", 6)
    assert "would go to the host's upstream resolver" in err.problem
    assert err.allowed == 'dns: ["${sentinel.address}"]'


def test_probe_by_name_requires_the_sentinel_as_nameserver(tmp_path: Path) -> None:
    err = error_of(tmp_path, """\
        networks: {n: {}}
        containers: {a: {network: n}, b: {network: n}}
        reachability:
          - {from: a, to: b, address: "${container.b.name}", proto: tcp, port: 1, expect: reach}
    """)
    assert err.key == "containers.a.dns"
