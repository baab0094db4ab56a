"""The HTML report of a real failing run, rendered in headless Chromium: a screenshot is taken, and
the DOM the browser built has the conformance table, the reachability grid with the mismatch
highlighted, the topology picture and the failure's evidence.

Chromium runs with its background networking off, behind a dead local proxy, and (as root) in a
network namespace of its own with nothing in it, so rendering the page sends nothing anywhere.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from htmldom import Element, parse

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
WINDOW = (1400, 2000)
BROWSER_TIMEOUT = 120
# A wrong MTU, and a probe expected to reach across two isolated networks: both must fail.
SPEC = """\
    description: Two isolated user-defined networks, with two wrong expectations.
    networks:
      alpha: {}
      beta: {}
    containers:
      a1: {network: alpha}
      a2: {network: alpha}
      b1: {network: beta}
    expect:
      a1:
        interface: {eth0: {mtu: 1400}}
    reachability:
      - {from: a1, to: a2, proto: tcp, port: 8080, expect: reach}
      - {from: a1, to: b1, proto: tcp, port: 8080, expect: reach}
      - {from: a1, to: sentinel, proto: tcp, expect: reach}
"""


@pytest.fixture(scope="module")
def chromium() -> Path:
    """Debian's Chromium, installed by ci/ensure-browser when missing (skipped only if that fails)."""
    if not CHROMIUM.exists():
        try:
            result = subprocess.run([str(ROOT / "ci" / "ensure-browser")], capture_output=True, text=True,
                                    timeout=900, stdin=subprocess.DEVNULL)
            reason = (result.stdout + result.stderr).strip()[-600:]
        except subprocess.TimeoutExpired:
            reason = "ci/ensure-browser did not finish within 900s"
        if not CHROMIUM.exists():
            pytest.skip(f"{CHROMIUM} is missing and could not be installed: {reason}")
    return CHROMIUM


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html of a real run of the failing scenario above."""
    workdir = tmp_path_factory.mktemp("html")
    (workdir / "html-demo.yaml").write_text(textwrap.dedent(SPEC))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "html-demo.yaml",
         "--report-dir", "out", "--attempts", "1", "--attempt-timeout", "0.5", "-q"],
        cwd=workdir, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    page = workdir / "out" / "report.html"
    assert page.is_file(), result.stdout[-3000:]
    return page


def browse(chromium: Path, page: Path, workdir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs headless Chromium on ``page`` with a new empty profile, off the network."""
    profile = workdir / f"profile-{len(list(workdir.glob('profile-*')))}"
    profile.mkdir()
    command = [
        str(chromium), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--proxy-server=http://127.0.0.1:9", f"--user-data-dir={profile}", *args, page.as_uri(),
    ]
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare:
        command = [unshare, "--net", *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT,
                          stdin=subprocess.DEVNULL, cwd=workdir)


@pytest.fixture(scope="module")
def dom(chromium: Path, report: Path, tmp_path_factory: pytest.TempPathFactory) -> Element:
    result = browse(chromium, report, tmp_path_factory.mktemp("dom"), "--dump-dom")
    assert result.returncode == 0 and "</html>" in result.stdout, result.stderr[-2000:]
    return parse(result.stdout)


def test_screenshot_is_a_real_png_of_the_window(chromium: Path, report: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    started = time.monotonic()
    result = browse(chromium, report, tmp_path, f"--screenshot={shot}", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                    "--hide-scrollbars")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    assert struct.unpack(">II", data[16:24]) == WINDOW
    # A blank page of that size compresses to a few kB; the report's tables and picture do not.
    assert len(data) > 40_000, f"{len(data)} bytes: the page looks empty"
    assert time.monotonic() - started < BROWSER_TIMEOUT


def test_rendered_page_has_the_conformance_table(dom: Element) -> None:
    row = dom.find("table", id="conformance").find("tr", data_scenario="html-demo")
    cells = {cell.attrs["data-aspect"]: cell for cell in row.find_all("td")}
    assert cells["addressing"].text() == "0/1 FAIL" and "fail" in cells["addressing"].classes
    assert cells["reachability"].text() == "2/3 FAIL" and "fail" in cells["reachability"].classes


def test_rendered_page_highlights_the_reachability_mismatch(dom: Element) -> None:
    grid = dom.find("table", id="reach-html-demo")
    mismatched = [cell for cell in grid.find_all("td") if "mismatch" in cell.classes]
    assert len(mismatched) == 1
    probe = mismatched[0].find("div", cls="probe")
    assert probe.attrs["data-probe"] == "a1->b1 tcp/8080"
    assert "expected reach" in probe.text() and "observed blocked" in probe.text()
    assert "match" in grid.find("div", data_probe="a1->a2 tcp/8080").classes


def test_rendered_page_draws_the_topology(dom: Element) -> None:
    svg = dom.find("figure", id="topology-html-demo").find("svg")
    assert "topology" in svg.classes
    containers = {group.attrs["data-container"] for group in svg.find_all("g", cls="container")}
    assert containers == {"a1", "a2", "b1"}
    assert {group.attrs["data-network"] for group in svg.find_all("g", cls="network")} == {"alpha", "beta"}
    assert svg.find_all("g", cls="sentinel")


def test_rendered_page_shows_the_failures_with_their_evidence(dom: Element) -> None:
    failures = {article.attrs["data-check"]: article for article in dom.find("section", id="failures").find_all(
        "article", cls="failure")}
    assert set(failures) == {"html-demo.yaml::a1::interface.eth0.mtu", "html-demo.yaml::reachability::a1->b1 tcp/8080"}
    mtu = failures["html-demo.yaml::a1::interface.eth0.mtu"]
    assert "mtu 1500" in mtu.find("div", data_section="interfaces").find("pre").text()
    probe = failures["html-demo.yaml::reachability::a1->b1 tcp/8080"]
    assert "blocked" in probe.find("div", data_section="probe").text()
    assert [link for link in probe.find_all("a") if link.attrs["href"].endswith(".pcap")]
