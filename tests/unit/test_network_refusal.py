"""A network the scenario expects the daemon to refuse: how the spec says it, and how it is judged
(on synthetic facts; the daemon's own refusal is in suites/macvlan.yaml)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.facts import NetworkFacts, NetworkRefusal
from netconform.judge import judge
from netconform.spec import load_scenario
from tests.unit.test_judge import make_facts

SPEC = """\
    networks:
      bad:
        driver: macvlan
        options: {parent: ncnoparent0}
    containers:
      web: {}
    expect:
      bad:
        refused: {matches: "parent interface .*not found"}
        left_behind: false
"""
ERROR = "-o parent interface was not found on the host: ncnoparent0"


def verdicts(tmp_path: Path, spec: str, refusal: NetworkRefusal | None) -> list[tuple[str, bool, str]]:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(spec))
    scenario = load_scenario(path)
    facts = make_facts()
    if refusal is not None:
        facts.refused_networks["bad"] = refusal
    else:
        facts.networks["bad"] = NetworkFacts("bad", "nc-x-bad", "c" * 64, "macvlan", "10.0.0.0/24", None, "", False)
    return [(check.prop, (verdict := judge(check, facts)).passed, verdict.observed) for check in scenario.checks]


def test_the_network_is_marked_for_refusal_and_its_checks_are_the_networks(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SPEC))
    scenario = load_scenario(path)
    assert scenario.networks["bad"].refusal_expected
    assert [(check.subject, check.prop, check.of_network) for check in scenario.checks] == [
        ("bad", "refused", True), ("bad", "left_behind", True)]


def test_a_refusal_as_expected_passes(tmp_path: Path) -> None:
    assert verdicts(tmp_path, SPEC, NetworkRefusal(ERROR)) == [
        ("refused", True, ERROR), ("left_behind", True, "false")]


def test_an_accepted_network_or_a_leftover_fails(tmp_path: Path) -> None:
    assert verdicts(tmp_path, SPEC, None) == [("refused", False, "none"), ("left_behind", True, "false")]
    assert verdicts(tmp_path, SPEC, NetworkRefusal(ERROR, left_behind=True))[1] == ("left_behind", False, "true")


def test_a_different_error_fails(tmp_path: Path) -> None:
    assert verdicts(tmp_path, SPEC, NetworkRefusal("invalid subnet"))[0] == ("refused", False, "invalid subnet")


@pytest.mark.parametrize(("change", "problem"), [
    (("web: {}", "web: {network: bad}"), "web is attached to 'bad', which the scenario expects the daemon to refuse"),
    (("refused: {matches", "hostname: {matches"), "unknown property 'hostname.matches' of the network"),
])
def test_a_spec_that_cannot_work_is_refused(tmp_path: Path, change: tuple[str, str], problem: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent(SPEC).replace(*change))
    with pytest.raises(SpecError) as caught:
        load_scenario(path)
    assert problem in caught.value.problem
