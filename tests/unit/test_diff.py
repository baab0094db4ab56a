"""Comparing two reports: verdict changes, normalised fact changes, exit codes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from netconform.report.accepted import Change, load_accepted
from netconform.report.diff import EXIT_BAD_INPUT, EXIT_REGRESSION, EXIT_SAME, compare, main, render
from netconform.report.normalize import HOST_CONTEXT
from netconform.report.records import SCHEMA, SCHEMA_VERSION, chosen_case
from netconform.spec.values import Matcher, Select


def report(run_id: str, version: str, container_id: str, ip: str, subnet: str, lo: list[str],
           outcome: str = "passed") -> dict[str, Any]:
    name = f"nc-{run_id}-main-s-web"
    ns = {kind: {"kind": kind, "dev": 4, "inode": 1000 + i} for i, kind in enumerate(["net", "uts"])}
    host_ns = {kind: {"kind": kind, "dev": 4, "inode": 1 + i} for i, kind in enumerate(["net", "uts"])}
    return {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION,
        "run": {"id": run_id},
        "daemon": {"version": version, "api_version": "1.41", "default_bridge": {}, "info": {}},
        "summary": {"counts": {"total": 1, "passed": int(outcome == "passed")}},
        "checks": [{"id": "s.yaml::web::interface.eth0.mtu", "outcome": outcome, "expected": "1500",
                    "observed": "1500" if outcome == "passed" else "1400"}],
        "scenarios": [{
            "name": "s", "build_error": "",
            "declared": {"networks": {"appnet": {"subnet": None}}, "containers": {"web": {"ips": []}}},
            "observed": {
                "host": {"namespaces": host_ns},
                "networks": {"appnet": {"id": "f" * 64, "name": f"nc-{run_id}-main-s-appnet", "subnet": subnet,
                                        "gateway": subnet.replace(".0/16", ".1"), "bridge": "br-" + "f" * 12,
                                        "options": {}}},
                "containers": {"web": {
                    "key": "web", "name": name, "created": True, "error": None, "left_behind": False,
                    "id": container_id, "namespaces": ns, "uts_hostname": container_id[:12],
                    "endpoints": {"appnet": {"ip": ip, "mac": "02:42:" + ":".join(
                        f"{int(b):02x}" for b in ip.split("."))}},
                    "net": {"interfaces": [
                        {"name": "lo", "kind": "loopback", "mtu": 65536, "up": True, "addresses": lo,
                         "mac": "00:00:00:00:00:00"},
                        {"name": "eth0", "kind": "veth", "mtu": 1500, "up": True, "addresses": [f"{ip}/16"],
                         "mac": "02:42:" + ":".join(f"{int(b):02x}" for b in ip.split("."))}],
                        "routes": [{"dst": "default", "gateway": subnet.replace(".0/16", ".1"), "dev": "eth0"}],
                        "sysctls": {}},
                    "host_peers": {"eth0": {"master": "br-" + "f" * 12}},
                    "resolv": {"nameservers": ["127.0.0.11"], "search": [], "options": ["ndots:0"]},
                    "hosts_entries": [f"{ip} {container_id[:12]}"], "lookups": {},
                }},
                "sentinel": None, "reach": [],
            },
        }],
    }


BEFORE = report("aaaaaaaa", "20.10.24", "1" * 64, "172.18.0.2", "172.18.0.0/16", ["127.0.0.1/8"])


def test_same_behaviour_with_other_ids_names_and_addresses_is_no_change() -> None:
    after = report("bbbbbbbb", "20.10.24", "2" * 64, "172.19.0.5", "172.19.0.0/16", ["127.0.0.1/8"])
    diff = compare(BEFORE, after)
    assert (diff.regressions, diff.facts_changed, diff.regressed) == ([], [], False)


def test_a_real_change_is_reported_once_normalised() -> None:
    after = report("bbbbbbbb", "26.1.5", "2" * 64, "172.19.0.5", "172.19.0.0/16", ["127.0.0.1/8", "::1/128"])
    diff = compare(BEFORE, after)
    assert diff.facts_changed == [
        ("daemon version", "20.10.24", "26.1.5"),
        ("s web interface lo addresses", "[127.0.0.1/8]", "[127.0.0.1/8, ::1/128]"),
    ]
    assert not diff.regressed
    assert "No regression" in render(diff)[-1]


def test_pass_to_fail_is_a_regression_and_fail_to_pass_is_not() -> None:
    failing = report("bbbbbbbb", "26.1.5", "2" * 64, "172.19.0.5", "172.19.0.0/16", ["127.0.0.1/8"], "failed")
    assert compare(BEFORE, failing).regressions == [
        "s.yaml::web::interface.eth0.mtu: passed -> failed (expected 1500, observed 1400)"]
    assert compare(failing, BEFORE).fixed == ["s.yaml::web::interface.eth0.mtu: failed -> passed"]
    assert not compare(failing, BEFORE).regressed


def test_a_check_that_disappeared_is_a_regression() -> None:
    after = copy.deepcopy(BEFORE)
    after["checks"] = []
    diff = compare(BEFORE, after)
    assert diff.only_before == ["s.yaml::web::interface.eth0.mtu"] and diff.regressed


def test_cli_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before, same, worse, junk = (tmp_path / name for name in ("a.json", "b.json", "c.json", "d.json"))
    before.write_text(json.dumps(BEFORE))
    same.write_text(json.dumps(report("bbbbbbbb", "20.10.24", "2" * 64, "172.19.0.5", "172.19.0.0/16",
                                      ["127.0.0.1/8"])))
    worse.write_text(json.dumps(report("cccccccc", "20.10.24", "3" * 64, "172.19.0.5", "172.19.0.0/16",
                                       ["127.0.0.1/8"], "failed")))
    junk.write_text('{"schema": "something-else"}')
    assert main([str(before), str(same)]) == EXIT_SAME
    assert main([str(before), str(worse)]) == EXIT_REGRESSION
    assert "REGRESSION: 1 check(s)" in capsys.readouterr().out
    assert main([str(before), str(junk)]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.strip() == (
        f'netconform-diff: {junk}: not a netconform report (no "schema": "netconform-report")')
    assert main([str(before), str(tmp_path / "missing.json")]) == EXIT_BAD_INPUT
    assert main(["--json", str(before), str(worse)]) == EXIT_REGRESSION
    assert json.loads(capsys.readouterr().out)["regressed"] is True


UPGRADED = report("bbbbbbbb", "26.1.5+dfsg1", "2" * 64, "172.19.0.5", "172.19.0.0/16", ["127.0.0.1/8", "::1/128"])
# Addresses are a set-like fact: an entry names the address added, not the lists before and after.
LO_ENTRY = """
- fact: interface lo addresses
  added: "::1/128"
  places: [s/web]
  upgrade: "20.10 -> 26.1"
  reason: 26 adds ::1 on every container's loopback
"""
VERSION_ENTRY = """
- fact: daemon version
  upgrade: "<25 -> >=26,<27"
  reason: the upgrade itself
"""


@pytest.fixture
def reports(tmp_path: Path) -> tuple[str, str]:
    """BEFORE (20.10.24) and UPGRADED (26.1.5: version and lo addresses changed) as files."""
    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(BEFORE))
    after.write_text(json.dumps(UPGRADED))
    return str(before), str(after)


def accept_file(tmp_path: Path, text: str, name: str = "accepted.yaml") -> str:
    path = tmp_path / name
    path.write_text(text.lstrip("\n"))
    return str(path)


def test_fail_on_change_fails_on_a_change_no_entry_accepts(reports: tuple[str, str], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(list(reports)) == EXIT_SAME  # without the option, a change is only reported
    capsys.readouterr()
    accepted = accept_file(tmp_path, LO_ENTRY)
    assert main([*reports, "--fail-on-change", "--accept", accepted]) == EXIT_REGRESSION
    out = capsys.readouterr().out
    assert "Changes not accepted: 1\n  daemon behaviour: 1\n    daemon version: 20.10.24 -> 26.1.5+dfsg1\n" in out
    assert "CHANGED: 1 observed fact(s) changed that no accept entry accepts" in out
    assert "No regression" in out  # the failure is the change, not a check


def test_fail_on_change_passes_when_every_change_is_accepted_and_shows_why(
        reports: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = accept_file(tmp_path, LO_ENTRY, "a.yaml"), accept_file(tmp_path, VERSION_ENTRY, "b.yaml")
    assert main([*reports, "--fail-on-change", "--accept", first, "--accept", second]) == EXIT_SAME
    out = capsys.readouterr().out
    assert ("Changes accepted: 2\n"
            "  daemon behaviour: 2\n"
            "    daemon version: 20.10.24 -> 26.1.5+dfsg1\n"
            f"      reason: the upgrade itself  ({second}:1)\n"
            "    s/web: interface lo addresses: + ::1/128\n"
            f"      reason: 26 adds ::1 on every container's loopback  ({first}:1)\n") in out
    assert "Changes not accepted: none" in out and "No unaccepted change" in out
    assert main([*reports, "--fail-on-change", "--accept", first, "--accept", second, "--json"]) == EXIT_SAME
    document = json.loads(capsys.readouterr().out)
    assert (document["failed"], document["unaccepted"]) == (False, [])
    assert document["accepted"][1] == {"section": "daemon behaviour", "place": "s/web",
                                       "fact": "interface lo addresses", "kind": "added", "before": "",
                                       "after": "::1/128", "reason": "26 adds ::1 on every container's loopback",
                                       "entry": f"{first}:1"}


@pytest.mark.parametrize("narrower", [
    'added: ["::2/128"]',  # another entry added
    "places: [other/*]",  # another place
    'upgrade: "26.1 -> 27"',  # another upgrade of the chain: not applicable, so not stale either
])
def test_an_entry_accepts_only_the_values_places_and_versions_it_names(
        narrower: str, tmp_path: Path) -> None:
    key = narrower.split(":")[0]
    entry = "\n".join(line for line in LO_ENTRY.splitlines() if not line.strip().startswith(key + ":"))
    entries = load_accepted(Path(accept_file(tmp_path, entry + f"\n  {narrower}\n" + VERSION_ENTRY)))
    acceptance = compare(BEFORE, UPGRADED, entries).acceptance
    assert acceptance is not None
    assert acceptance.unaccepted == [Change("s/web", "interface lo addresses", "", "::1/128", "added")]
    assert (len(acceptance.stale), acceptance.other_upgrades) == ((0, 1) if key == "upgrade" else (1, 0))


def test_an_accept_entry_without_a_reason_is_refused(reports: tuple[str, str], tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    no_reason = accept_file(tmp_path, "# upgrade notes\n- fact: daemon version\n  upgrade: 20.10 -> 26.1\n")
    assert main([*reports, "--fail-on-change", "--accept", no_reason]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == (f"netconform-diff: {no_reason}:2: reason: missing: every entry needs a "
                                       f"reason: why the change is expected (mandatory)\n")
    empty = accept_file(tmp_path, '- fact: daemon version\n  reason: " "\n')
    assert main([*reports, "--accept", empty]) == EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith(f"netconform-diff: {empty}:2: reason: must be a non-empty string")


@pytest.mark.parametrize(("text", "line", "key", "problem"), [
    ("- fact: daemon version\n  reason: x\n - fact: y\n", 3, "(yaml)", "not valid YAML"),
    ("fact: daemon version\nreason: x\n", 1, "(file)", "must be a YAML list of accepted changes"),
    ("- daemon version\n", 1, "(entry)", "must be a mapping, not a string"),
    ("- fact: daemon version\n  reason: x\n  form: a\n", 3, "form", "unknown key (allowed: fact, from, to,"),
    ("- fact: created\n  from: False\n  reason: x\n", 2, "from",
     'must be a string as the diff prints it, not a boolean (quote it: from: "False")'),
    ("- fact: created\n  reason: x\n  places: []\n", 3, "places", "must be a non-empty list of strings"),
    ("- fact: created\n  reason: x\n  upgrade: 20.10\n", 3, "upgrade", 'must be "BEFORE -> AFTER"'),
    ("- fact: created\n  reason: x\n  upgrade: 20.10 -> twenty-six\n", 3, "upgrade",
     "'twenty-six' is neither a version prefix"),
    ("- fact: created\n  reason: x\n  reason: y\n", 3, "reason", "duplicate key (first at line 2)"),
])
def test_a_malformed_accept_file_is_one_line_with_file_line_and_key(
        text: str, line: int, key: str, problem: str, reports: tuple[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    path = accept_file(tmp_path, text)
    assert main([*reports, "--fail-on-change", "--accept", path]) == EXIT_BAD_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"netconform-diff: {path}:{line}: {key}: {problem}")
    assert captured.err.count("\n") == 1


def test_an_entry_that_matches_nothing_is_stale_and_fails_only_when_strict(
        reports: tuple[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stale = '- fact: routes\n  places: ["reach-internal/*"]\n  upgrade: "20.10 -> 26.1"\n  reason: no default route\n'
    path = accept_file(tmp_path, LO_ENTRY + VERSION_ENTRY + stale)
    assert main([*reports, "--fail-on-change", "--accept", path]) == EXIT_SAME
    out = capsys.readouterr().out
    assert ("Accept entries that matched no change (stale): 1\n"
            f"  {path}:10: routes  (places: reach-internal/*)  (upgrade 20.10 -> 26.1)\n") in out
    assert "STALE" not in out
    assert main([*reports, "--fail-on-change", "--accept", path, "--strict-accept"]) == EXIT_REGRESSION
    assert "STALE: 1 accept entry matched no change (--strict-accept)" in capsys.readouterr().out


def test_a_check_whose_version_case_switched_is_shown_as_such(tmp_path: Path) -> None:
    before, after = copy.deepcopy(BEFORE), copy.deepcopy(UPGRADED)
    before["checks"][0]["case"], after["checks"][0]["case"] = "<25", ">=25"
    assert "Checks whose version case switched: unknown (the reports record no case)" in render(
        compare(BEFORE, UPGRADED))  # reports written before check records had a case
    diff = compare(before, after, [*load_accepted(Path(accept_file(tmp_path, LO_ENTRY + VERSION_ENTRY)))])
    assert diff.case_switched == ['s.yaml::web::interface.eth0.mtu: case switched "<25" -> ">=25"']
    assert ('Checks whose version case switched: 1\n  s.yaml::web::interface.eth0.mtu: case switched "<25" -> ">=25"'
            in "\n".join(render(diff)))
    assert not diff.failed(fail_on_change=True)  # the spec declares the switch: it fails nothing
    after["checks"][0]["case"] = "<25"
    assert "Checks whose version case switched: none" in render(compare(before, after))


def test_the_check_record_names_the_case_the_note_says_applied() -> None:
    old, new, other = Matcher((("equals", "a"),)), Matcher((("equals", "b"),)), Matcher((("equals", "c"),))
    select = Select("daemon.version", (("<25", old), (">=25,<28", new), ("else", other)))
    assert chosen_case(select, "case for daemon.version=20.10.24+dfsg1") == "<25"
    assert chosen_case(select, "case for daemon.version=26.1.5+dfsg1; no capture: x") == ">=25,<28"
    assert chosen_case(select, "case for daemon.version=28.0.1") == "else"
    nested = Select("daemon.version", (("<25", Select("host.cgroup_version", (("1", old), ("2", new)))),))
    assert chosen_case(nested, "case for daemon.version=20.10.24; case for host.cgroup_version=2") == "<25; 2"
    assert chosen_case(old, "") == ""


def test_host_facts_have_no_place_and_are_host_context() -> None:
    before, after = copy.deepcopy(BEFORE), copy.deepcopy(BEFORE)
    before["host"], after["host"] = {"packages": {"docker.io": "20.10"}}, {"packages": {"docker.io": "26.1"}}
    assert compare(before, after).changes == [Change("", "host package docker.io", "20.10", "26.1",
                                                     section=HOST_CONTEXT)]


def test_each_entry_of_the_shipped_upgrade_chain_file_applies_to_exactly_one_step() -> None:
    entries = load_accepted(Path(__file__).parents[2] / "ci" / "upgrade-accepted.yaml")
    steps = [("20.10.24+dfsg1", "26.1.5+dfsg1"), ("26.1.5+dfsg1", "28.5.2+dfsg4")]  # ci/upgrade-check's chain
    applicable = {entry.source: [step for step in steps if entry.applies(*step)] for entry in entries}
    assert {source: found for source, found in applicable.items() if len(found) != 1} == {}
    assert {step for found in applicable.values() for step in found} == set(steps)  # both steps have entries
    assert not any(entry.applies("20.10.24+dfsg1", "28.5.2+dfsg4") for entry in entries)  # no skipping a step


def test_run_specific_values_are_replaced_as_whole_tokens_only() -> None:
    from netconform.report.normalize import Substitutions

    subs = Substitutions()
    subs.add("10.236.2.2", "<ip:preferred@second>")
    assert subs.apply("10.236.2.2") == "<ip:preferred@second>"
    assert subs.apply("10.236.2.2/24 dev eth1") == "<ip:preferred@second>/24 dev eth1"
    assert subs.apply("NOERROR [10.236.2.20]") == "NOERROR [10.236.2.20]"
    assert subs.apply("110.236.2.2") == "110.236.2.2"


def test_the_sentinels_ipv6_slice_is_no_change() -> None:
    """Each run's sentinel takes the next free /126: its IPv6 ends differ between runs like its IPv4 ones."""
    def with_sentinel(run_id: str, slot: int) -> dict[str, Any]:
        base = report(run_id, "20.10.24", f"{slot}" * 64, "172.18.0.2", "172.18.0.0/16", ["127.0.0.1/8"])
        observed = base["scenarios"][0]["observed"]
        observed["sentinel"] = {"address": f"198.18.0.{4 * slot + 2}", "gateway_address": f"198.18.0.{4 * slot + 1}",
                                "address6": f"fd00:198:18::{4 * slot + 2:x}",
                                "gateway_address6": f"fd00:198:18::{4 * slot + 1:x}", "netns": f"ns{slot}"}
        observed["containers"]["web"]["hosts_entries"].append(f"fd00:198:18::{4 * slot + 2:x} sentinel")
        return base

    diff = compare(with_sentinel("aaaaaaaa", 1), with_sentinel("bbbbbbbb", 3))
    assert diff.facts_changed == []


def test_endpoints_a_refused_create_lists_in_map_order_are_sorted() -> None:
    from netconform.report.normalize import _daemon_error

    said = "Container cannot be connected to network endpoints: <net:second>, <net:first>"
    assert _daemon_error(said) == "Container cannot be connected to network endpoints: <net:first>, <net:second>"
    assert _daemon_error("conflicting options: mac-address") == "conflicting options: mac-address"
