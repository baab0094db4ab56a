"""The structural check against scenario.schema.yaml: every problem at once, each with file:line,
the key, the problem and what is allowed; and a run or a listing of such a file ends with exit 10
and those lines, never a traceback."""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from netconform.errors import SpecError, SpecErrors
from netconform.spec import load_scenario
from netconform.spec.schema import SCHEMA_FILE, schema

ROOT = Path(__file__).resolve().parents[2]

SEVERAL = """\
    networks:
      appnet: {subnet: 10.1.0.0/33}
    containers:
      web:
        netwrk: appnet
        hostname: [a, b]
      db: {network: appnet}
    reachability:
      - {from: web, to: db, proto: sctp, port: 80, expect: reach}
"""


def error_of(tmp_path: Path, text: str) -> SpecError:
    path = tmp_path / "scn.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as info:
        load_scenario(path, "scn.yaml")
    return info.value


def test_the_schema_is_a_valid_draft_2020_12_schema_shipped_as_package_data() -> None:
    Draft202012Validator.check_schema(schema())
    assert schema()["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert any(fnmatch.fnmatch(SCHEMA_FILE.name, pattern) for pattern in package_data["netconform.spec"])


def test_an_unknown_key_suggests_the_close_name_and_lists_the_allowed(tmp_path: Path) -> None:
    err = error_of(tmp_path, """\
        containers:
          web: {hostnme: x}
        expect: {web: {hostname: x}}
    """)
    assert err.render() == (
        "scn.yaml:2: containers.web.hostnme: unknown key, did you mean 'hostname'? (allowed: network, networks, "
        "aliases, ip, networks_at_create, gw_priority, "
        "hostname, userns, mac_address, dns, dns_search, dns_options, add_hosts, publish, expose, "
        "publish_all, sysctls)")


def test_an_unknown_key_unlike_any_is_not_given_a_guess(tmp_path: Path) -> None:
    err = error_of(tmp_path, """\
        containers: {web: {}}
        expect: {web: {hostname: x}}
        colour: blue
    """)
    assert (err.line, err.key, err.problem) == (3, "colour", "unknown key")
    assert err.allowed == "description, networks, containers, expect, reachability, steps, requires, segment"


@pytest.mark.parametrize(("body", "line", "key", "problem", "allowed"), [
    ("containers:\n  web:\n    hostname: [a, b]\n", 3, "containers.web.hostname",
     "expected a string, found a list", "the container hostname"),
    ("containers:\n  web: {aliases: 5}\n", 2, "containers.web.aliases",
     "expected a string, a list or a mapping, found an integer", "network aliases"),
    ("containers: [web]\n", 1, "containers", "expected a mapping, found a list", "containers to create"),
    ("networks: {n: {internal: 'yes'}}\ncontainers: {web: {network: n}}\n", 1, "networks.n.internal",
     "expected a boolean, found a string", "true or false"),
    ("containers: {web: {}}\nreachability:\n  - {from: web, to: host, proto: tcp, port: '80', expect: reach}\n",
     3, "reachability[0].port", "invalid port '80'",
     "a number, or a ${container.<key>.published.<proto>.<port>} reference"),
])
def test_a_wrong_type_names_what_was_expected_and_found(tmp_path: Path, body: str, line: int, key: str,
                                                        problem: str, allowed: str) -> None:
    err = error_of(tmp_path, body + "expect: {web: {hostname: x}}\n")
    assert (err.line, err.key, err.problem) == (line, key, problem), err.render()
    assert allowed in err.allowed, err.render()


@pytest.mark.parametrize(("body", "key", "problem", "allowed"), [
    ("networks: {n: {driver: overlay}}\ncontainers: {a: {network: n}, b: {}}\n", "networks.n.driver",
     "unknown driver 'overlay'", "bridge, macvlan, ipvlan"),
    ("requires: [ipvlan, quantum]\ncontainers: {a: {}, b: {}}\n", "requires[1]",
     "unknown kernel feature 'quantum'", "veth, dummy, macvlan, ipvlan, vxlan, ipvs, esp"),
    ("containers: {a: {}, b: {}}\nreachability:\n  - {from: a, to: b, proto: sctp, port: 1, expect: reach}\n",
     "reachability[0].proto", "unknown protocol 'sctp'", "icmp, tcp, udp"),
])
def test_a_value_outside_an_enumeration_lists_the_allowed_values(tmp_path: Path, body: str, key: str,
                                                                  problem: str, allowed: str) -> None:
    err = error_of(tmp_path, body + "expect: {a: {hostname: x}}\n")
    assert (err.key, err.problem, err.allowed) == (key, problem, allowed), err.render()


def test_every_structural_problem_is_reported_with_its_line_in_line_order(tmp_path: Path) -> None:
    err = error_of(tmp_path, SEVERAL)
    assert isinstance(err, SpecErrors)
    assert [(problem.line, problem.key) for problem in err.problems] == [
        (2, "networks.appnet.subnet"),
        (5, "containers.web.netwrk"),
        (6, "containers.web.hostname"),
        (9, "reachability[0].proto"),
    ]
    lines = err.render().splitlines()
    assert len(lines) == 4 and all(line.startswith("scn.yaml:") for line in lines)
    assert lines[0] == ("scn.yaml:2: networks.appnet.subnet: invalid CIDR '10.1.0.0/33' ('33' is not a valid "
                        "netmask) (allowed: an IPv4 CIDR such as 10.10.0.0/24)")
    assert (err.line, err.key) == (2, "networks.appnet.subnet")  # the first problem, for one-problem readers


@pytest.mark.parametrize(("body", "line", "key", "problem", "allowed"), [
    ("networks:\n  host: {}\ncontainers: {web: {}}\n", 2, "networks.host", "'host' is reserved",
     "any name but bridge, host, none, default"),
    ("containers:\n  Web: {}\n", 2, "containers.Web", "invalid name 'Web'", "lower-case letters"),
    ("networks:\n  n:\n    gateway: 10.1.0.1\ncontainers: {web: {network: n}}\n", 3, "networks.n.gateway",
     "gateway needs subnet", "declare subnet as well"),
    ("networks: {n: {}}\ncontainers:\n  web: {networks: [n, n]}\n", 3, "containers.web.networks",
     "'n' is listed twice", "network keys"),
    ("networks: {n: {}}\ncontainers:\n  web:\n    network: n\n    ip: {n: 10.1.2.300}\n", 5, "containers.web.ip.n",
     "invalid address '10.1.2.300'", "an IPv4 address"),
    ("containers:\n  web: {publish: ['80', 'eighty']}\n", 2, "containers.web.publish[1]", "invalid port 'eighty'",
     '"8080:80"'),
    ("containers: {}\n", 1, "containers", "no containers declared", "containers to create"),
    ("description: empty\n", 1, "containers", "missing", "containers to create"),
])
def test_names_formats_dependencies_and_lists(tmp_path: Path, body: str, line: int, key: str, problem: str,
                                              allowed: str) -> None:
    err = error_of(tmp_path, body + "expect: {web: {hostname: x}}\n")
    assert (err.line, err.key, err.problem.split(" (")[0]) == (line, key, problem), err.render()
    assert allowed in err.allowed, err.render()


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    return subprocess.run([sys.executable, "-m", "netconform", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize("command", [["list", "bad.yaml"], ["run", "bad.yaml"]])
def test_list_and_run_of_a_broken_spec_exit_10_with_every_problem_and_no_traceback(
    tmp_path: Path, command: list[str]
) -> None:
    """A run stops before its session starts (nothing is created), so this needs no daemon."""
    (tmp_path / "bad.yaml").write_text(textwrap.dedent(SEVERAL))
    done = _cli(tmp_path, *command)
    assert done.returncode == SpecError.exit_code, done.stdout[-2000:] + done.stderr[-2000:]
    problems = [line.strip() for line in done.stderr.splitlines() if line.startswith("  bad.yaml:")]
    assert [problem.split(": ")[0:2] for problem in problems] == [
        ["bad.yaml:2", "networks.appnet.subnet"],
        ["bad.yaml:5", "containers.web.netwrk"],
        ["bad.yaml:6", "containers.web.hostname"],
        ["bad.yaml:9", "reachability[0].proto"],
    ], done.stderr
    assert "1 invalid scenario spec(s)" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_ipv6_networks_and_sysctls_are_validated(tmp_path: Path) -> None:
    base = """\
        networks:
          v6: {subnet6: %s, gateway6: %s}
        containers:
          c: {network: v6, sysctls: {%s: 1}}
        expect:
          c: {hostname: c}
    """
    host_bits = error_of(tmp_path, base % ('"fd00:1::5/64"', '"fd00:1::1"', "net.ipv6.conf.all.disable_ipv6"))
    assert "invalid CIDR 'fd00:1::5/64' (fd00:1::5/64 has host bits set)" in str(host_bits)
    assert "fd00:2::1 is not inside subnet6 fd00:1::/64" in str(error_of(
        tmp_path, base % ('"fd00:1::/64"', '"fd00:2::1"', "net.ipv6.conf.all.disable_ipv6")))
    assert "a net.* sysctl name" in str(error_of(tmp_path, base % ('"fd00:1::/64"', '"fd00:1::1"', "kernel.pid_max")))
    path = tmp_path / "good.yaml"
    path.write_text(textwrap.dedent(base % ('"fd00:1::/64"', '"fd00:1::1"', "net.ipv6.conf.all.disable_ipv6")))
    scenario = load_scenario(path, "good.yaml")
    network, container = scenario.networks["v6"], scenario.containers["c"]
    assert (network.subnet6, network.gateway6, container.sysctls) == (
        "fd00:1::/64", "fd00:1::1", (("net.ipv6.conf.all.disable_ipv6", "1"),))
