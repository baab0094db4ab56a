"""Daemon settings in specs: ``${setting.<name>}`` references and ``by: setting.<name>`` selections,
resolved against the intended settings the run context passes (pure logic: synthetic facts)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from netconform.cli import main
from netconform.errors import SpecError
from netconform.facts import ScenarioFacts
from netconform.facts.files import ResolvConf
from netconform.judge import judge
from netconform.judge.failure import render_story
from netconform.spec import Check, load_scenario
from netconform.spec.refs import Unresolvable, resolve_value
from netconform.spec.values import Ref
from tests.unit.test_judge import checks, make_facts

DEFAULTS: dict[str, Any] = {"setting.mtu": 1500, "setting.icc": True, "setting.bip": "172.17.0.1/16",
                            "setting.dns": [], "setting.dns_search": [], "setting.dns_options": [],
                            "setting.userns_remapped": False}


def load_error(tmp_path: Path, text: str) -> SpecError:
    path = tmp_path / "scn.yaml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(SpecError) as info:
        load_scenario(path, "scn.yaml")
    return info.value


def one(tmp_path: Path, expect: str) -> Check:
    [check] = checks(tmp_path, expect)
    return check


def test_setting_reference_follows_the_intended_value(tmp_path: Path) -> None:
    check = one(tmp_path, '  web:\n    interface: {eth0: {mtu: "${setting.mtu}"}}\n')
    assert judge(check, make_facts(), DEFAULTS).passed
    failed = judge(check, make_facts(), {**DEFAULTS, "setting.mtu": 1450})
    assert failed.status == "fail" and "${setting.mtu}" in failed.expected


def test_unreadable_setting_is_an_error_never_a_pass(tmp_path: Path) -> None:
    check = one(tmp_path, '  web:\n    interface: {eth0: {mtu: "${setting.mtu}"}}\n')
    verdict = judge(check, make_facts(), {})
    assert verdict.status == "error" and "could not be read" in verdict.unjudged


def test_selection_by_a_bool_setting_compares_true_false(tmp_path: Path) -> None:
    check = one(tmp_path, '  web:\n    namespaces: {user: {by: setting.userns_remapped, '
                          'cases: {"false": host, "true": private}}}\n')
    assert judge(check, make_facts(), DEFAULTS).passed
    remapped = judge(check, make_facts(), {**DEFAULTS, "setting.userns_remapped": True})
    assert remapped.status == "fail" and "setting.userns_remapped=true" in remapped.note


def test_selection_by_an_unreadable_setting_is_an_error(tmp_path: Path) -> None:
    check = one(tmp_path, '  web:\n    namespaces: {user: {by: setting.userns_remapped, '
                          'cases: {"false": host, "true": private}}}\n')
    verdict = judge(check, make_facts(), {})
    assert verdict.status == "error" and "could not be read" in verdict.unjudged


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"setting.bip": "10.9.0.1/24"}, ["10.9.0.0/24", "10.9.0.1"]),
        ({"setting.bip": "172.17.0.1/16"}, ["172.17.0.0/16", "172.17.0.1"]),
    ],
)
def test_bip_derived_refs(context: dict[str, Any], expected: list[str]) -> None:
    value = (Ref(("setting", "bip_subnet")), Ref(("setting", "bip_address")))
    assert resolve_value(value, make_facts(), context) == expected


def _with_host_resolv(nameservers: list[str]) -> ScenarioFacts:
    facts = make_facts()
    facts.host.resolv = ResolvConf(nameservers, ["corp.test"], ["ndots:1"])
    return facts


def test_default_bridge_resolv_is_the_daemons_dns_else_the_hosts() -> None:
    ref = Ref(("setting", "resolv.nameservers"))
    facts = _with_host_resolv(["127.0.0.53", "10.0.0.2"])
    assert resolve_value(ref, facts, DEFAULTS) == ["10.0.0.2"]
    assert resolve_value(ref, _with_host_resolv(["127.0.0.53"]), DEFAULTS) == ["8.8.8.8", "8.8.4.4"]
    assert resolve_value(ref, facts, {**DEFAULTS, "setting.dns": ["198.18.0.53"]}) == ["198.18.0.53"]
    host_mode = Ref(("setting", "resolv.host_nameservers"))
    assert resolve_value(host_mode, facts, DEFAULTS) == ["127.0.0.53", "10.0.0.2"]
    assert resolve_value(host_mode, facts, {**DEFAULTS, "setting.dns": ["198.18.0.53"]}) == ["198.18.0.53"]
    assert resolve_value(Ref(("setting", "resolv.search")), facts, DEFAULTS) == ["corp.test"]
    assert resolve_value(Ref(("setting", "resolv.search")), facts,
                         {**DEFAULTS, "setting.dns_search": ["a.test"]}) == ["a.test"]
    with pytest.raises(Unresolvable):
        resolve_value(Ref(("setting", "dns")), facts, {})


def test_setting_names_with_dots_resolve_as_one_name(tmp_path: Path) -> None:
    check = one(tmp_path, '  web:\n    sysctl: {net.ipv4.ip_unprivileged_port_start: '
                          '"${setting.net.bridge.bridge-nf-call-iptables}"}\n')
    assert judge(check, make_facts(), {"setting.net.bridge.bridge-nf-call-iptables": 0}).passed


@pytest.mark.parametrize(
    ("expect", "line", "fragment", "allowed"),
    [
        ('interface: {eth0: {mtu: "${setting.mut}"}}', 4, "no such daemon setting", "mtu"),
        ("namespaces: {user: {by: daemon.userns_remap, cases: {'false': host}}}", 4,
         "now the daemon setting 'setting.userns_remapped'", "by: setting.userns_remapped"),
        ("namespaces: {user: {by: setting.icc, cases: {sometimes: host, 'false': private}}}", 4,
         "true or false, never 'sometimes'", "true, false, else"),
        ("namespaces: {user: {by: setting.nope, cases: {'1': host}}}", 4, "cannot select by", "setting.<name>"),
    ],
)
def test_bad_setting_refs_and_selections_name_file_and_line(tmp_path: Path, expect: str, line: int,
                                                            fragment: str, allowed: str) -> None:
    err = load_error(tmp_path, f"""\
        containers:
          web: {{}}
        expect:
          web: {{{expect}}}
        """)
    assert (err.path, err.line) == ("scn.yaml", line), err.render()
    assert fragment in err.problem and allowed in err.allowed, err.render()


def test_bool_case_keys_may_be_yaml_booleans(tmp_path: Path) -> None:
    check = one(tmp_path, "  web:\n    namespaces: {user: {by: setting.userns_remapped, "
                          "cases: {false: host, true: private}}}\n")
    assert judge(check, make_facts(), DEFAULTS).passed



@pytest.mark.parametrize(("name", "head"), [("setting.mtu", "setting.mtu  [daemon setting, int]"),
                                            ("${setting.bip_subnet}", "setting.bip_subnet  [daemon setting, derived]")])
def test_explain_describes_setting_refs(name: str, head: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith(head + "\n  meaning:") and "profile" in out


def _host_check(tmp_path: Path, prop: str) -> Check:
    return one(tmp_path, f"  host:\n    {prop}: consistent\n")


@pytest.mark.parametrize(
    ("prop", "settings", "status", "cause"),
    [
        ("consistent.bridge_netfilter", {"iptables": True, "br_netfilter": True,
                                         "net.bridge.bridge-nf-call-iptables": 1}, "pass", ""),
        ("consistent.bridge_netfilter", {"iptables": True, "br_netfilter": True,
                                         "net.bridge.bridge-nf-call-iptables": 0}, "fail",
         "net.bridge.bridge-nf-call-iptables is 0"),
        ("consistent.bridge_netfilter", {"iptables": True, "br_netfilter": False}, "fail", "br_netfilter is absent"),
        ("consistent.bridge_netfilter", {"iptables": False, "br_netfilter": False}, "pass", ""),
        ("consistent.bridge_netfilter", {"iptables": True, "br_netfilter": True}, "error", "could not be read"),
        ("consistent.ip_forward", {"ip_forward": True, "net.ipv4.ip_forward": 0}, "fail", "net.ipv4.ip_forward is 0"),
        ("consistent.ip_forward", {"ip_forward": False, "net.ipv4.ip_forward": 0}, "pass", ""),
        ("consistent.nat_chain", {"iptables": True, "docker_nat_chain": False}, "fail", "no DOCKER chain"),
        ("consistent.nat_chain", {"iptables": True, "docker_nat_chain": True}, "pass", ""),
    ],
)
def test_host_consistency_names_the_contradiction(tmp_path: Path, prop: str, settings: dict[str, Any], status: str,
                                                  cause: str) -> None:
    verdict = judge(_host_check(tmp_path, prop), make_facts(), {f"setting.{k}": v for k, v in settings.items()})
    assert verdict.status == status, verdict
    assert cause in (verdict.observed + verdict.unjudged)


def test_host_properties_are_only_the_hosts(tmp_path: Path) -> None:
    err = load_error(tmp_path, """\
        containers:
          web: {}
        expect:
          host: {hostname: x}
        """)
    assert "unknown property 'hostname' of the host" in err.problem and "consistent.nat_chain" in err.allowed
    err = load_error(tmp_path, """\
        containers:
          web: {}
        expect:
          web: {consistent.nat_chain: consistent}
        """)
    assert "unknown property" in err.problem


def test_a_host_failure_story_says_it_is_about_the_host(tmp_path: Path) -> None:
    check = _host_check(tmp_path, "consistent.nat_chain")
    verdict = judge(check, make_facts(), {"setting.iptables": True, "setting.docker_nat_chain": False})
    story = render_story(check, None, verdict)
    assert "\n  host:      the daemon's host" in story and "no DOCKER chain" in story
    assert "docker_nat_chain: False" in story


@pytest.mark.parametrize(
    ("fixed_cidr", "expected"),
    [(None, "172.17.0.0/16"), ("172.17.0.128/25", "172.17.0.128/25"), ("172.17.0.129/25", "172.17.0.128/25")],
)
def test_bridge_address_range_is_fixed_cidr_else_the_bip_subnet(fixed_cidr: str | None, expected: str) -> None:
    context = {**DEFAULTS, "setting.fixed_cidr": fixed_cidr}
    assert resolve_value(Ref(("setting", "bridge_address_range")), make_facts(), context) == expected


def test_interface_key_may_name_the_default_bridge_by_its_setting(tmp_path: Path) -> None:
    """The container's eth0 stands in for the bridge: the key resolves when judged, per run."""
    check = one(tmp_path, '  web:\n    interface: {"${setting.bridge}": {mtu: 1500}}\n')
    assert check.prop == "interface.${setting.bridge}.mtu"
    assert judge(check, make_facts(), {**DEFAULTS, "setting.bridge": "eth0"}).passed
    other = judge(check, make_facts(), {**DEFAULTS, "setting.bridge": "ncbr0"})
    assert other.status == "error" and "there is no interface 'ncbr0'" in other.unjudged


def test_interface_key_with_an_unknown_setting_is_refused_at_load(tmp_path: Path) -> None:
    error = load_error(tmp_path, """\
        containers: {web: {}}
        expect:
          web:
            interface: {"${setting.brige}": {mtu: 1500}}
        """)
    assert "${setting.brige}: no such daemon setting" in str(error)


def test_an_endpoints_interface_is_found_by_its_mac() -> None:
    facts = make_facts()
    assert resolve_value(Ref(("container", "web", "networks", "bridge", "interface")), facts, {}) == "eth0"


def test_an_endpoint_whose_mac_no_interface_has_is_unresolvable() -> None:
    facts = make_facts()
    facts.containers["web"].endpoints["bridge"].mac = "02:00:00:00:00:99"
    with pytest.raises(Unresolvable, match="no one interface with the MAC of its bridge endpoint"):
        resolve_value(Ref(("container", "web", "networks", "bridge", "interface")), facts, {})
