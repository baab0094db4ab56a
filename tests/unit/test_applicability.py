"""A refused container's other checks (and probes from or to it) are skipped with the reason only
where the scenario declares that refusal for this daemon; an unexpected refusal skips nothing."""

from __future__ import annotations

from pathlib import Path

from test_judge import checks, make_facts

from netconform.judge.applicability import not_applicable

REFUSED_ON_20 = '''\
  bad:
    refused: {by: daemon.version, cases: {"<25": {matches: "conflicting options"}, ">=25": none}}
    interfaces: [lo]
  web:
    interfaces: [eth0, lo]
'''


def test_the_checks_of_a_container_refused_as_declared_are_not_applicable(tmp_path: Path) -> None:
    declared = checks(tmp_path, REFUSED_ON_20)
    facts = make_facts("20.10.24+dfsg1")
    reasons = {f"{check.subject} {check.prop}": not_applicable(check, declared, facts) for check in declared}
    assert reasons == {
        "bad refused": "",  # the refusal itself is the real check
        "bad interfaces": "not applicable on dockerd 20.10.24+dfsg1: the daemon refuses bad (conflicting options: "
                          "hostname and the network mode), checked by bad refused",
        "web interfaces": "",
    }


def test_an_unexpected_refusal_leaves_every_check_applicable(tmp_path: Path) -> None:
    declared = checks(tmp_path, REFUSED_ON_20)
    facts = make_facts("26.1.5")  # the case for >=25 expects no refusal: the other checks fail instead
    assert [not_applicable(check, declared, facts) for check in declared] == ["", "", ""]
