"""Scenarios for Python tests go through the spec loader: same validation, errors at the call site."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.harness.modes import MODES, SUBJECT, mode_scenario
from netconform.harness.sources import CallSite, default_name, load_source
from netconform.report.records import python_test_record
from netconform.report.terminal import render_failures, render_table


@pytest.fixture
def site(tmp_path: Path) -> CallSite:
    return CallSite(tmp_path / "tests" / "test_user.py", 12, tmp_path)


def test_an_inline_mapping_is_a_scenario_without_expectations(site: CallSite) -> None:
    scenario = load_source({"networks": {"lan": {}}, "containers": {"web": {"network": "lan"}}}, "lan-web", site)
    assert scenario.name == "lan-web"
    assert scenario.containers["web"].networks == ("lan",)
    assert scenario.checks == ()
    assert scenario.path == "tests/test_user.py:12"


def test_a_bad_inline_mapping_is_a_spec_error_at_the_line_that_passed_it(site: CallSite) -> None:
    with pytest.raises(SpecError) as caught:
        load_source({"containers": {"web": {"netwrk": "bridge"}}}, "inline", site)
    assert str(caught.value) == (
        "tests/test_user.py:12: containers.web.netwrk: unknown key, did you mean 'network'? (inline scenario inline) "
        "(allowed: network, networks, aliases, ip, networks_at_create, gw_priority, "
        "hostname, userns, mac_address, dns, dns_search, dns_options, "
        "add_hosts, publish, expose, publish_all, sysctls)")


def test_every_problem_of_an_inline_mapping_is_reported_at_the_line_that_passed_it(site: CallSite) -> None:
    with pytest.raises(SpecError) as caught:
        load_source({"containers": {"web": {"hostname": 1, "dns": {}}}}, "inline", site)
    assert [(problem.line, problem.key) for problem in caught.value.problems] == [
        (12, "containers.web.hostname"), (12, "containers.web.dns")]  # in the order of the mapping
    assert all(problem.problem.endswith("(inline scenario inline)") for problem in caught.value.problems)


def test_an_inline_mapping_is_validated_like_a_file(site: CallSite) -> None:
    with pytest.raises(SpecError, match=r"containers\.b\.network: container 'a' must be declared before 'b'"):
        load_source({"containers": {"b": {"network": "container:a"}, "a": {}}}, "inline", site)
    with pytest.raises(SpecError, match=r"\(mapping\): not plain data"):
        load_source({"containers": {"web": {"hostname": object()}}}, "inline", site)


def test_a_yaml_file_is_found_next_to_the_test_and_keeps_its_lines(site: CallSite) -> None:
    site.path.parent.mkdir()
    (site.path.parent / "mine.yaml").write_text(textwrap.dedent("""\
        containers:
          web:
            network: nowhere
    """))
    with pytest.raises(SpecError, match=r"^tests/mine\.yaml:3: containers\.web\.network: unknown network mode"):
        load_source("mine.yaml", default_name("mine.yaml"), site)


def test_a_shipped_scenario_by_name_and_an_unknown_name(site: CallSite) -> None:
    scenario = load_source("custom", "custom", site)
    assert scenario.name == "custom" and scenario.checks  # the shipped expectations come along
    with pytest.raises(SpecError, match=r"scenario: no shipped scenario 'custm' \(allowed: bridge, .*custom"):
        load_source("custm", "custm", site)


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_scenario_validates(mode: str, site: CallSite) -> None:
    scenario = load_source(mode_scenario(mode), f"mode-{mode}", site)
    assert scenario.containers[SUBJECT].mode_marker == mode
    # Only the custom mode resolves names, and then only through the sentinel.
    assert scenario.uses_sentinel == (mode == "custom")


def test_a_failed_python_test_reads_as_a_failure_in_the_summary() -> None:
    record = python_test_record("t.py::test_x[none]", "mode-none", "subject", "test_x", "test_x[none]", "test",
                                ("t.py", 3), "failed", 0.1, evidence={"failure": "assert ['lo'] == ['eth0', 'lo']"})
    passed = python_test_record("t.py::test_x[host]", "mode-host", "subject", "test_x", "test_x[host]", "test",
                                ("t.py", 3), "passed", 0.1, evidence={"failure": "ignored when passed"})
    assert passed["evidence"] == {} and record["kind"] == "test"
    document = {"checks": [record, passed], "summary": {"table": {
        "mode-none": {"test": {"passed": 0, "failed": 1, "error": 0, "skipped": 0}},
        "mode-host": {"test": {"passed": 1, "failed": 0, "error": 0, "skipped": 0}}}}}
    assert render_failures(document) == ["FAIL  mode-none test_x[none]: assert ['lo'] == ['eth0', 'lo']"]
    assert render_table(document)[2:] == ["mode-host  1 ok", "mode-none  0/1 FAIL"]
