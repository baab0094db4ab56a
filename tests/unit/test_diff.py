"""Comparing two reports: verdict changes, normalised fact changes, exit codes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from helpers.report.diff import EXIT_BAD_INPUT, EXIT_REGRESSION, EXIT_SAME, compare, main, render
from helpers.report.records import SCHEMA, SCHEMA_VERSION


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
