"""The HTML report, rendered from two real JSON reports (tests/data): the conformance table, the
failures with their evidence, the reachability grids, the topology pictures, and escaping."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from htmldom import Element, parse

from netconform.report.html import render_html, write_html
from netconform.report.terminal import render_table
from netconform.report.topology import topology_of

DATA = Path(__file__).resolve().parents[1] / "data"
SVG = "{http://www.w3.org/2000/svg}"
SAMPLES = ["report-pass.json", "report-failures.json"]
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quoted" \'single\''


def load(name: str) -> dict[str, Any]:
    return json.loads((DATA / name).read_text())


@pytest.fixture(params=SAMPLES, ids=["pass", "failures"])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def page_of(document: dict[str, Any], tmp_path: Path) -> tuple[str, Element]:
    text = write_html(document, tmp_path / "report.html").read_text()
    return text, parse(text)


def terminal_rows(document: dict[str, Any]) -> list[list[str]]:
    """The terminal summary's table, cell by cell (its columns are separated by two spaces or more)."""
    lines = render_table(document)
    return [re.split(r" {2,}", line.strip()) for index, line in enumerate(lines) if index != 1]


def test_conformance_table_has_one_row_per_scenario_with_the_terminal_cells(document: dict[str, Any],
                                                                             tmp_path: Path) -> None:
    _, page = page_of(document, tmp_path)
    table = page.find("table", id="conformance")
    expected = terminal_rows(document)
    header = [cell.text() for cell in table.find("thead").find_all("th")]
    rows = table.find("tbody").find_all("tr")
    shown = [[row.find("th").text(), *(cell.text() for cell in row.find_all("td"))] for row in rows]
    assert header == expected[0]
    assert shown == expected[1:]
    assert [row.attrs["data-scenario"] for row in rows] == sorted(document["summary"]["table"])


def test_conformance_cells_are_coloured_by_outcome(tmp_path: Path) -> None:
    _, page = page_of(load("report-failures.json"), tmp_path)
    row = page.find("table", id="conformance").find("tr", data_scenario="reachx")
    cells = {cell.attrs["data-aspect"]: cell for cell in row.find_all("td")}
    assert cells["addressing"].text() == "0/1 FAIL" and "fail" in cells["addressing"].classes
    assert cells["reachability"].text() == "2/4 FAIL" and "fail" in cells["reachability"].classes
    assert cells["dns"].text() == "-" and "none" in cells["dns"].classes
    _, passing = page_of(load("report-pass.json"), tmp_path / "pass")
    states = {cls for cell in passing.find("table", id="conformance").find_all("td")
              for cls in cell.classes & {"ok", "fail", "skip", "none"}}
    assert states == {"ok", "none"}


def test_header_names_the_run_the_daemon_and_the_totals(tmp_path: Path) -> None:
    document = load("report-failures.json")
    _, page = page_of(document, tmp_path)
    header = page.find("header", id="summary")
    assert "FAIL" in header.find("h1").text()
    facts = header.text()
    for value in (document["run"]["id"], "2026-11-28 07:09:31 UTC", "20.10.24+dfsg1", "API 1.41", "vm"):
        assert value in facts
    totals = {next(iter(span.classes - {"count", "zero"})): span.find("b").text()
              for span in page.find("p", id="totals").find_all("span", cls="count")}
    assert totals == {"total": "24", "passed": "20", "failed": "4", "error": "0", "skipped": "0"}


def test_failures_are_listed_with_expected_observed_evidence_and_artifacts(tmp_path: Path) -> None:
    document = load("report-failures.json")
    # As the plugin writes it: the artifacts in evidence/ beside report.html.
    for check in document["checks"]:
        check["artifacts"] = [str(tmp_path / "evidence" / Path(item).name) for item in check["artifacts"]]
    _, page = page_of(document, tmp_path)
    failed = [check for check in document["checks"] if check["outcome"] == "failed"]
    articles = page.find("section", id="failures").find_all("article", cls="failure")
    assert [article.attrs["data-check"] for article in articles] == [check["id"] for check in failed]
    for check, article in zip(failed, articles, strict=True):
        shown = {dt.text(): dd.text() for dt, dd in _pairs(article.find("dl", cls="expected-observed"))}
        assert shown["expected"] == check["expected"] and shown["observed"] == check["observed"]
        sections = article.find_all("div", cls="evidence")
        assert {div.attrs["data-section"]: div.find("pre").text() for div in sections} == check["evidence"]
        links = [a.attrs["href"] for a in article.find_all("a") if a.attrs["href"].endswith(".pcap")]
        assert links == [f"evidence/{Path(item).name}" for item in check["artifacts"]]


def test_artifacts_recorded_relative_to_the_report_dir_are_linked_as_they_are(tmp_path: Path) -> None:
    document = load("report-failures.json")
    for check in document["checks"]:
        check["artifacts"] = [f"evidence/{Path(item).name}" for item in check["artifacts"]]
    _, page = page_of(document, tmp_path / "anywhere")
    hrefs = [a.attrs["href"] for a in page.find("section", id="failures").find_all("a")
             if a.attrs["href"].endswith(".pcap")]
    assert hrefs[:2] == ["evidence/dnsx-web-lookup.db-back.web.pcap", "evidence/dnsx-web-lookup.db-back.sentinel.pcap"]
    assert len(hrefs) == 6


def _pairs(dl: Element) -> list[tuple[Element, Element]]:
    items = [child for child in dl.children if isinstance(child, Element)]
    return list(zip(items[::2], items[1::2], strict=True))


def test_failing_checks_link_to_their_evidence(tmp_path: Path) -> None:
    _, page = page_of(load("report-failures.json"), tmp_path)
    failures = {article.attrs["id"] for article in page.find_all("article", cls="failure")}
    rows = page.find_all("tr", cls="failed")
    assert len(rows) == 4
    assert {row.find("a").attrs["href"].lstrip("#") for row in rows} == failures


def test_reachability_grid_shows_expected_vs_observed_and_highlights_mismatches(tmp_path: Path) -> None:
    _, page = page_of(load("report-failures.json"), tmp_path)
    grid = page.find("table", id="reach-reachx")
    assert [th.text() for th in grid.find("thead").find_all("th")][1:] == ["b1", "a2", "sentinel"]
    probes = {div.attrs["data-probe"]: div for div in grid.find_all("div", cls="probe")}
    blocked = probes["a1->b1 tcp/8080"]
    assert "mismatch" in blocked.classes
    assert "expected reach" in blocked.text() and "observed blocked (timeout)" in blocked.text()
    source = probes["a1->sentinel tcp/7"]
    assert "mismatch" in source.classes and "match" in source.find("span", cls="verdict").classes
    assert "source 198.18.0.1" in source.find("div", cls="source").text()
    assert "172.31.0.2" in source.find("div", cls="source").text()
    assert "match" in probes["a1->a2 tcp/8080"].classes
    cells = [cell for cell in grid.find_all("td") if "mismatch" in cell.classes]
    assert len(cells) == 2 and grid.attrs["data-mismatches"] == "2"


def test_reachability_grid_of_a_passing_scenario_has_every_probe_and_no_mismatch(tmp_path: Path) -> None:
    document = load("report-pass.json")
    _, page = page_of(document, tmp_path)
    grid = page.find("table", id="reach-reach-custom")
    scenario = next(item for item in document["scenarios"] if item["name"] == "reach-custom")
    assert len(grid.find_all("div", cls="probe")) == len(scenario["declared"]["reachability"])
    assert not [div for div in grid.find_all("div") if "mismatch" in div.classes]
    assert [th.text() for th in grid.find("tbody").find_all("th")] == ["a1", "a2", "b1", "both", "host"]


def test_topologies_are_well_formed_svg_with_each_container_and_network(document: dict[str, Any],
                                                                         tmp_path: Path) -> None:
    text, page = page_of(document, tmp_path)
    svgs = re.findall(r"<svg\b.*?</svg>", text, flags=re.S)
    assert len(svgs) == len(document["scenarios"])
    for scenario, svg in zip(document["scenarios"], svgs, strict=True):
        root = ET.fromstring(svg)
        assert root.tag == f"{SVG}svg"
        drawn = {group.get("data-container") for group in root.iter(f"{SVG}g")
                 if "container" in (group.get("class") or "").split()}
        created = {key for key, facts in scenario["observed"]["containers"].items() if facts["created"]}
        assert drawn == created, scenario["name"]
        networks = {group.get("data-network") for group in root.iter(f"{SVG}g") if group.get("class") == "network"}
        assert set(scenario["declared"]["networks"]) <= networks
        has_sentinel = any(group.get("class") == "sentinel" for group in root.iter(f"{SVG}g"))
        assert has_sentinel == bool(scenario["observed"]["sentinel"])
    assert page.find("figure", id="topology-" + document["scenarios"][0]["name"]).find("svg", cls="topology")


def test_topology_shows_modes_addresses_and_refusals() -> None:
    scenarios = {scenario["name"]: scenario for scenario in load("report-pass.json")["scenarios"]}
    both = next(node for node in topology_of(scenarios["reach-custom"]).nodes if node.key == "both")
    assert [(link.network, link.label) for link in both.links] == [("alpha", "eth0 172.19.0.4/16"),
                                                                   ("beta", "eth1 172.20.0.3/16")]
    joiner = next(node for node in topology_of(scenarios["container"]).nodes if node.key == "joiner")
    assert (joiner.mode, joiner.target, joiner.links) == ("container", "base", ())
    hosted = topology_of(scenarios["host"])
    assert {node.mode for node in hosted.nodes} == {"host"} and hosted.networks == ()
    refused = topology_of(scenarios["conflicts"]).not_created
    assert {node.key for node in refused} >= {"joined-dns", "bridge-ip"}
    assert all(node.error for node in refused)


def test_a_scenario_that_was_not_built_is_drawn_as_declared(tmp_path: Path) -> None:
    document = load("report-failures.json")
    scenario = next(item for item in document["scenarios"] if item["name"] == "reachx")
    scenario["observed"] = None
    scenario["build_error"] = "Error response from daemon: " + HOSTILE
    # As netconform.report.gather records a check whose scenario setup failed: no probe, no verdict.
    for check in document["checks"]:
        if check["scenario"] == "reachx":
            check.update(probe=None, outcome="error", expected=None, observed=None, evidence={}, artifacts=[],
                         error="Failed: scenario reachx could not be built")
    text, page = page_of(document, tmp_path)
    section = page.find("section", id="scenario-reachx")
    assert "as declared" in section.find("figcaption").text()
    assert HOSTILE in section.find("div", cls="build-error").text()
    svg = ET.fromstring(re.findall(r"<svg\b.*?</svg>", text, flags=re.S)[1])
    assert {group.get("data-container") for group in svg.iter(f"{SVG}g") if group.get("data-container")} == {
        "a1", "b1", "a2"}
    # The grid falls back to the declared probes, each with its check's error.
    probes = section.find("table", cls="reach-grid").find_all("div", cls="probe")
    assert [probe.attrs["data-probe"] for probe in probes] == ["a1->b1 tcp/8080", "a1->a2 tcp/8080",
                                                               "a1->sentinel tcp/7"]
    assert all("error" in probe.classes and "could not be built" in probe.text() for probe in probes)
    assert "error" in probes[2].find("div", cls="source").classes


def test_everything_from_the_document_is_escaped(tmp_path: Path) -> None:
    document = copy.deepcopy(load("report-failures.json"))
    failed = next(check for check in document["checks"] if check["outcome"] == "failed")
    failed.update(outcome="error", error=HOSTILE, observed=HOSTILE, note=HOSTILE,
                  evidence={HOSTILE: HOSTILE}, artifacts=[f"/tmp/{HOSTILE}.pcap"])
    failed["subject"] = HOSTILE
    document["daemon"]["version"] = HOSTILE
    document["run"]["machine"] = HOSTILE
    document["run"]["argv"].append(HOSTILE)
    scenario = document["scenarios"][0]
    scenario["description"] = HOSTILE
    first = next(iter(scenario["observed"]["containers"].values()))
    first.update(created=False, error=HOSTILE)
    scenario["observed"]["sentinel"]["netns"] = HOSTILE
    text, page = page_of(document, tmp_path)
    tags = {element.tag for element in page.iter()}
    assert "script" not in tags and "img" not in tags
    assert "<script" not in text and "<img" not in text
    assert not [element for element in page.iter() if any(name.startswith("on") for name in element.attrs)]
    assert page.text().count(HOSTILE) >= 8
    for svg in re.findall(r"<svg\b.*?</svg>", text, flags=re.S):
        ET.fromstring(svg)


# Names the document carries into text, attributes and the SVG alike; each can end an attribute,
# open an element, or read as an entity if it is not escaped.
HOSTILE_CONTAINER = 'a1"><script>alert("c")</script>'
HOSTILE_NETWORK = "beta' onmouseover='alert(1)' &amp; <svg onload=alert(2)>"
HOSTILE_SCENARIO = 'reach<i>x</i> & "quoted"'


def renamed(document: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    """The document with each name replaced wherever it occurs as a word (keys, ids, probe ids...)."""
    text = json.dumps(document)
    for old, new in names.items():
        text = re.sub(rf"\b{re.escape(old)}\b", json.dumps(new)[1:-1].replace("\\", "\\\\"), text)
    return dict(json.loads(text))


def test_hostile_names_and_errors_are_escaped_in_text_attributes_and_svg(tmp_path: Path) -> None:
    document = renamed(load("report-failures.json"),
                       {"a1": HOSTILE_CONTAINER, "beta": HOSTILE_NETWORK, "reachx": HOSTILE_SCENARIO})
    blocked = next(check for check in document["checks"] if check["name"].endswith(" tcp/8080")
                   and check["outcome"] == "failed")
    blocked.update(outcome="error", error=HOSTILE)
    scenario = next(item for item in document["scenarios"] if item["name"] == HOSTILE_SCENARIO)
    scenario["description"] = HOSTILE
    text, page = page_of(document, tmp_path)

    # Nothing became markup: no element, attribute or entity came from the data.
    assert {element.tag for element in page.iter()}.isdisjoint({"script", "img", "i"})
    assert not [element for element in page.iter() if any(name.startswith("on") for name in element.attrs)]
    for raw in (HOSTILE, HOSTILE_CONTAINER, HOSTILE_NETWORK, HOSTILE_SCENARIO, "<script", "<i>"):
        assert raw not in text, raw
    assert "&amp;amp;" in text  # the network's literal "&amp;" stays text

    # Text: each comes back exactly as it was.
    row = page.find("table", id="conformance").find("tr", data_scenario=HOSTILE_SCENARIO)
    assert row.find("a").text() == HOSTILE_SCENARIO and row.find("a").attrs["title"] == HOSTILE
    section = page.find("section", data_scenario=HOSTILE_SCENARIO)
    assert section.find("p", cls="description").text() == HOSTILE
    article = page.find("article", data_check=blocked["id"])
    assert article.find("dd", cls="error").text() == HOSTILE
    assert section.find("tr", data_check=blocked["id"]).find_all("code")[-1].text() == HOSTILE
    subjects = {row.find_all("td")[1].text() for row in section.find_all("tr", cls="check")}
    assert HOSTILE_CONTAINER in subjects

    # Attributes: ids, probe ids and tooltips hold the names whole.
    grid = section.find("table", cls="reach-grid")
    assert [th.text() for th in grid.find("tbody").find_all("th")] == [HOSTILE_CONTAINER]
    probe = grid.find("div", data_probe=f"{HOSTILE_CONTAINER}->b1 tcp/8080")
    assert "error" in probe.classes and HOSTILE in probe.attrs["title"]
    assert probe.find("span", cls="verdict").text() == f"could not be judged ! {HOSTILE}"

    # SVG: well-formed XML holding the same names, in its text and attributes.
    svg = ET.fromstring(re.findall(r"<svg\b.*?</svg>", text, flags=re.S)[1])
    assert svg.get("aria-label") == f"topology of {HOSTILE_SCENARIO}"
    assert svg.findtext(f"{SVG}title") == f"topology of {HOSTILE_SCENARIO}"
    box = next(group for group in svg.iter(f"{SVG}g") if group.get("data-container") == HOSTILE_CONTAINER
               and "container" in (group.get("class") or "").split())
    assert box.findtext(f"{SVG}title", "").startswith(f"{HOSTILE_CONTAINER}: ")
    name = box.find(f"{SVG}text")
    assert name is not None and HOSTILE_CONTAINER in "".join(name.itertext())
    network = next(group for group in svg.iter(f"{SVG}g") if group.get("data-network") == HOSTILE_NETWORK
                   and group.get("class") == "network")
    assert HOSTILE_NETWORK in "".join(network.itertext())


def test_the_page_is_self_contained_deterministic_and_small(tmp_path: Path) -> None:
    document = load("report-pass.json")
    first = render_html(document, tmp_path)
    assert first == render_html(copy.deepcopy(document), tmp_path)
    assert len(first.encode()) < 600_000
    without_namespace = first.replace('xmlns="http://www.w3.org/2000/svg"', "")
    for reference in ("http://", "https://", "<link", "src=", "@import", "url(", "<script"):
        assert reference not in without_namespace, reference


def test_write_html_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "nested" / "report.html"
    assert write_html(load("report-pass.json"), target) == target
    assert target.read_text().startswith("<!doctype html>")
    assert sorted(path.name for path in target.parent.iterdir()) == ["report.html"]


def test_topology_shows_ipv6_beside_ipv4() -> None:
    """Where an endpoint, a network or the sentinel has IPv6, its address follows the IPv4 one."""
    scenario = copy.deepcopy({item["name"]: item for item in load("report-pass.json")["scenarios"]}["reach-custom"])
    observed = scenario["observed"]
    observed["networks"]["alpha"].update(subnet6="fd00:c0de:1::/64", gateway6="fd00:c0de:1::1")
    observed["containers"]["both"]["endpoints"]["alpha"].update(ipv6="fd00:c0de:1::4", prefix6=64)
    observed["sentinel"] = {"address": "198.18.0.2", "gateway_address": "198.18.0.1", "address6": "fd00:198:18::2",
                            "gateway_address6": "fd00:198:18::1", "netns": "ns", "zone": "netconform.test."}
    topology = topology_of(scenario)
    both = next(node for node in topology.nodes if node.key == "both")
    assert both.links[0].label == "eth0 172.19.0.4/16 fd00:c0de:1::4/64"
    alpha = next(network for network in topology.networks if network.key == "alpha")
    assert (alpha.subnet.split()[-1], alpha.gateway.split()[-1]) == ("fd00:c0de:1::/64", "fd00:c0de:1::1")
    assert topology.sentinel is not None
    assert (topology.sentinel.address, topology.sentinel.gateway_address) == ("198.18.0.2 fd00:198:18::2",
                                                                              "198.18.0.1 fd00:198:18::1")
