"""``netconform upgrade``'s plan: which daemons in which order, each suite's command line, the pairs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest

from netconform.cli import build_parser, main
from netconform.cli.upgrade import diff_file, pairs, report_dir, suite_command
from netconform.cli.usage import USAGE_ERROR
from netconform.hermetic.daemon_versions import find_version

SOCKET = "unix:///run/netconform/daemons/0123abcd-v26/docker.sock"


def parsed(*argv: str) -> argparse.Namespace:
    """``netconform upgrade ARGV`` as parsed (with what follows "--" set aside, as main does)."""
    words = list(argv)
    passthrough: list[str] = []
    if "--" in words:
        words, passthrough = words[: words.index("--")], words[words.index("--") + 1 :]
    args = build_parser().parse_args(["upgrade", *words])
    args.pytest_args = passthrough
    return args


def _holds(command: list[str], words: list[str]) -> bool:
    return any(command[start : start + len(words)] == words for start in range(len(command)))


def test_versions_are_taken_in_order_by_either_name() -> None:
    args = parsed("20.10.24", "26", "28.5.2")
    assert [(t.name, t.version) for t in args.targets] == [
        ("20", find_version("20")), ("26", find_version("26")), ("28", find_version("28"))]
    assert [(a.name, b.name) for a, b in pairs(args.targets)] == [("20", "26"), ("26", "28")]
    assert [t.daemon_name for t in args.targets] == ["v20", "v26", "v28"]


def test_host_is_the_running_daemon_and_needs_no_version() -> None:
    args = parsed("host", "26")
    assert [(t.name, t.version) for t in args.targets] == [("host", None), ("26", find_version("26"))]


def test_reports_and_diffs_go_under_the_report_dir() -> None:
    args = parsed("20", "26", "--report-dir", "/tmp/out")
    before, after = args.targets
    assert report_dir(args, before) == Path("/tmp/out/20")
    assert diff_file(args, before, after) == Path("/tmp/out/diff-20-26.txt")
    assert report_dir(parsed("host", "26"), before) == Path("reports/upgrade/20")


@pytest.mark.parametrize(("argv", "says"), [
    (["26"], "needs at least two versions"),
    (["26", "26.1.5"], "version 26 given twice"),
    (["host", "20", "host"], "version host given twice"),
    (["20", "19"], "unknown Docker version '19' (known: 20 (20.10.24), 26 (26.1.5), 28 (28.5.2))"),
    (["20", "26", "--accept"], "expected one argument"),
])
def test_bad_usage_is_one_line_and_exit_2(argv: list[str], says: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["upgrade", *argv])
    assert exited.value.code == USAGE_ERROR
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and err.startswith("netconform upgrade: "), err


def test_a_dedicated_daemons_suite_runs_in_a_child_pytest_against_its_socket() -> None:
    args = parsed("20", "26", "-k", "bridge", "-m", "dns", "-n", "2", "--attempts", "5", "--report-dir", "out")
    command = suite_command(args, args.targets[1], SOCKET, 4242)
    assert command[:5] == [sys.executable, "-m", "pytest", "-p", "netconform"]
    for expected in (["-k", "bridge"], ["-m", "dns"], ["-p", "xdist", "-n", "2", "--dist", "loadfile"]):
        assert _holds(command, expected), (expected, command)
    assert f"--docker-host={SOCKET}" in command and "--daemon-pid=4242" in command, command
    assert "--attempts=5" in command and f"--report-dir={Path.cwd() / 'out' / '26'}" in command, command
    assert command[-1].endswith("suites"), "the shipped scenarios by default"


def test_the_host_run_uses_the_daemon_netconform_run_would_use() -> None:
    plain = suite_command(parsed("host", "26"), parsed("host", "26").targets[0])
    assert not any(word.startswith(("--docker-host", "--daemon-pid")) for word in plain), plain
    args = parsed("host", "26", "--docker-host", "unix:///srv/docker.sock")
    host, dedicated = args.targets
    assert "--docker-host=unix:///srv/docker.sock" in suite_command(args, host)
    # A dedicated daemon is always tested at its own socket, whatever --docker-host says.
    moved = suite_command(args, dedicated, SOCKET, 1)
    assert [w for w in moved if w.startswith("--docker-host")] == [f"--docker-host={SOCKET}"], moved


def test_scenarios_and_pytest_arguments_reach_every_run() -> None:
    args = parsed("20", "26", "--scenarios", "a.yaml", "more/", "-v", "--", "-x", "--lf")
    for daemon in args.targets:
        command = suite_command(args, daemon, SOCKET, 1)
        assert command[-4:] == ["-x", "--lf", "a.yaml", "more/"], command
        assert "-v" in command and "--rootdir" not in command, command


def test_a_malformed_accept_file_is_refused_before_any_daemon_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    accept = tmp_path / "accept.yaml"
    accept.write_text("fact: not a list\n")
    out = tmp_path / "reports"
    code = main(["upgrade", "20", "26", "--accept", str(accept), "--report-dir", str(out)])
    captured = capsys.readouterr()
    assert code == USAGE_ERROR
    assert captured.err.count("\n") == 1 and str(accept) in captured.err, captured.err
    assert "must be a YAML list" in captured.err, captured.err
    assert captured.out == "" and not out.exists(), "a suite ran despite the bad accept file"
