"""One run produces the JSON report, the terminal table, JUnit XML with readable names, and a pcap
of each failing probe that tcpdump reads."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from netconform.report.records import SCHEMA, SCHEMA_VERSION

SPEC = """\
    networks:
      alpha: {}
      beta: {}
    containers:
      a1: {network: alpha, dns: ["${sentinel.address}"]}
      a2: {network: alpha}
      b1: {network: beta}
    expect:
      a1:
        interface: {eth0: {mtu: 1400}}
        lookup: {nothing.netconform.test: ["198.18.0.99"]}
    reachability:
      - {from: a1, to: a2, proto: tcp, port: 8080, expect: reach}
      - {from: a1, to: b1, proto: tcp, port: 8080, expect: reach}
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    workdir = tmp_path_factory.mktemp("reports")
    (workdir / "rep.yaml").write_text(textwrap.dedent(SPEC))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "rep.yaml",
         "--report-dir", "out", "--junitxml", "out/junit.xml", "--attempts", "2", "--attempt-timeout", "0.5"],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )
    return workdir, result


def test_run_fails_for_the_three_wrong_expectations(run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = run
    assert result.returncode == 1, result.stdout[-3000:]


def test_json_report_holds_verdicts_and_observed_facts(run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    workdir, _ = run
    document = json.loads((workdir / "out" / "report.json").read_text())
    assert (document["schema"], document["schema_version"]) == (SCHEMA, SCHEMA_VERSION)
    assert document["daemon"]["version"] and document["daemon"]["api_version"]
    assert document["host"]["packages"]["docker.io"], document["host"]  # installed by ci/ensure-engine
    assert document["host"]["distribution"]
    assert document["summary"]["counts"] == {"total": 4, "passed": 1, "failed": 3, "error": 0, "skipped": 0}
    checks = {check["id"]: check for check in document["checks"]}
    mtu = checks["rep.yaml::a1::interface.eth0.mtu"]
    assert (mtu["outcome"], mtu["expected"], mtu["observed"]) == ("failed", "1400", "1500")
    assert "interfaces" in mtu["evidence"] and mtu["spec"] == {"path": "rep.yaml", "line": 10}
    blocked = checks["rep.yaml::reachability::a1->b1 tcp/8080"]
    assert (blocked["observed"], blocked["probe"]) == ("blocked", "a1->b1 tcp/8080")
    # The rule that decided, from the replay's firewall trace in the daemon's netns.
    trace = blocked["evidence"]["firewall path (nft trace in the daemon's netns)"]
    assert "DROP by ip filter DOCKER-ISOLATION-STAGE-2" in trace, trace
    assert "DOCKER-ISOLATION-STAGE-2" in (workdir / "out" / "report.html").read_text()
    [scenario] = document["scenarios"]
    observed = scenario["observed"]
    assert set(observed["containers"]) == {"a1", "a2", "b1"}
    assert observed["containers"]["a1"]["lookups"]["A nothing.netconform.test"]["rcode"] == "NXDOMAIN"
    probes = {result["probe"]: result for result in observed["reach"]}
    assert [a["outcome"] for a in probes["a1->a2 tcp/8080"]["attempts"]] == ["reach"]
    assert probes["a1->b1 tcp/8080"]["outcome"] == "blocked" and probes["a1->b1 tcp/8080"]["arrived"]["count"] == 0
    assert probes["a1->b1 tcp/8080"]["sent"]["count"] >= 2
    assert len(probes["a1->b1 tcp/8080"]["attempts"]) == 2  # every retry is recorded


def test_a_failing_probe_leaves_pcaps_tcpdump_reads(run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    workdir, _ = run
    document = json.loads((workdir / "out" / "report.json").read_text())
    checks = {check["id"]: check for check in document["checks"]}
    pcaps = checks["rep.yaml::reachability::a1->b1 tcp/8080"]["artifacts"]
    assert [Path(path).name for path in pcaps] == [
        "rep-reachability-a1-_b1_tcp_8080.a1.pcap", "rep-reachability-a1-_b1_tcp_8080.b1.pcap"]
    read = subprocess.run(["tcpdump", "-n", "-r", workdir / "out" / pcaps[0]], capture_output=True, text=True,
                          timeout=30)
    assert read.returncode == 0, read.stderr
    syns = [line for line in read.stdout.splitlines() if ".8080: Flags [S]" in line]
    assert syns, read.stdout  # the replayed connection attempt towards b1:8080, from inside a1
    lookup = checks["rep.yaml::a1::lookup.nothing.netconform.test"]["artifacts"]
    dns = subprocess.run(["tcpdump", "-n", "-r", workdir / "out" / lookup[0]], capture_output=True, text=True,
                         timeout=30)
    assert "A? nothing.netconform.test." in dns.stdout, dns.stdout


def test_terminal_summary_table_and_failure_lines(run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    _, result = run
    lines = result.stdout.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("netconform: 4 checks")))
    assert lines[start + 1].split() == ["scenario", "addressing", "dns", "reachability"]
    assert lines[start + 3].split() == ["rep", "0/1", "FAIL", "0/1", "FAIL", "1/2", "FAIL"]
    assert "FAIL  rep reachability a1->b1 tcp/8080: expected reach, observed blocked" in lines


def test_junit_xml_names_are_readable(run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    workdir, _ = run
    root = ET.parse(workdir / "out" / "junit.xml").getroot()
    cases = {(case.get("classname"), case.get("name")): case for case in root.iter("testcase")}
    assert set(cases) == {("rep.yaml.a1", "interface.eth0.mtu"), ("rep.yaml.a1", "lookup.nothing.netconform.test"),
                          ("rep.yaml.reachability", "a1->a2 tcp/8080"), ("rep.yaml.reachability", "a1->b1 tcp/8080")}
    failure = cases[("rep.yaml.a1", "interface.eth0.mtu")].find("failure")
    assert failure is not None
    assert failure.get("message", "").startswith("netconform: a1 interface.eth0.mtu: expected 1400, observed 1500")
