"""The netconform command: parsing, what list/explain print, the diff alias, sweep's dry run."""

from __future__ import annotations

import os
import tomllib
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import netconform.cli.sweep
import netconform.engine.attach
import netconform.harness.plugin
import netconform.harness.sweep
import netconform.hermetic.runs
from netconform.cli import main
from netconform.cli.run import plugin_options, pytest_args
from netconform.cli.usage import USAGE_ERROR
from netconform.errors import DaemonUnavailable, SpecError
from netconform.report import diff
from netconform.spec.properties import PROPERTIES
from netconform.spec.shipped import shipped_scenarios, suites_dir

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SUBCOMMANDS = ("run", "diff", "upgrade", "list", "explain", "profile", "sweep", "daemon")


def run_parsed(*argv: str) -> list[str]:
    """The pytest command line ``netconform run ARGV`` would run."""
    from netconform.cli import build_parser

    words = list(argv)
    passthrough: list[str] = []
    if "--" in words:
        words, passthrough = words[: words.index("--")], words[words.index("--") + 1 :]
    args = build_parser().parse_args(["run", *words])
    args.pytest_args = passthrough
    return pytest_args(args)


# --- usage --------------------------------------------------------------------------------------


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in SUBCOMMANDS:
        assert f"\n    {command} " in out, out


@pytest.mark.parametrize("argv", [[], ["bogus"], ["run", "--attempts", "x"], ["run", "--bogus-option", "p"],
                                  ["explain"], ["daemon", "start"], ["daemon", "start", "--name", "x",
                                                                     "--version", "19"]])
def test_bad_usage_is_exit_2_and_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == USAGE_ERROR
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("netconform"), captured.err
    assert "--help)" in captured.err


def test_a_netconform_error_is_one_line_with_its_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_daemon(host: str) -> Any:
        raise DaemonUnavailable(f"no Docker daemon socket at {host}:\n  start it")

    monkeypatch.setattr(netconform.engine.attach, "connect", no_daemon)
    assert main(["sweep", "--docker-host", "unix:///nowhere.sock"]) == DaemonUnavailable.exit_code
    err = capsys.readouterr().err
    assert err == "netconform sweep: no Docker daemon socket at unix:///nowhere.sock: start it\n"


# --- run ----------------------------------------------------------------------------------------


def test_run_defaults_to_the_shipped_scenarios_named_as_in_a_checkout() -> None:
    argv = run_parsed()
    assert argv[-3:] == ["--rootdir", str(suites_dir().parent), str(suites_dir())]
    assert argv[:2] == ["-p", "netconform"]  # by entry point name: loads even without autoloading
    assert not any(arg.startswith("--docker-host") or arg == "-n" for arg in argv)  # the plugin's defaults
    assert [path.name for path in shipped_scenarios()] == sorted(path.name for path in (ROOT / "suites").glob("*.yaml"))


def test_run_passes_selection_workers_and_plugin_options_to_pytest() -> None:
    argv = run_parsed("-k", "bridge and not dns", "-m", "dns", "-n", "2", "--docker-host", "unix:///d.sock",
                      "--attempts", "5", "--report-dir", "out", "--junitxml", "j.xml", "-v", "mine/",
                      "--", "-x", "--lf")
    assert argv[argv.index("-k") + 1] == "bridge and not dns"
    assert argv[argv.index("-m") + 1] == "dns"
    assert argv[argv.index("-n") + 1 : argv.index("-n") + 4] == ["2", "--dist", "loadfile"]
    assert {"--docker-host=unix:///d.sock", "--attempts=5", "--report-dir=out", "--junitxml=j.xml", "-v"} <= set(argv)
    assert argv[-3:] == ["-x", "--lf", "mine/"]  # the user's scenarios, no --rootdir of ours
    assert "--rootdir" not in argv


def test_run_reports_a_usage_error_the_plugin_finds_as_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    """pytest's usage error is 4; the command has one code for bad usage."""
    assert main(["run", "--sentinel-cidr", "::/64", "-k", "nothing"]) == USAGE_ERROR
    assert "--sentinel-cidr '::/64' is not an IPv4 network" in capsys.readouterr().err


def test_run_offers_every_option_of_the_plugin(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    out = capsys.readouterr().out
    declared = [name for names, _ in plugin_options() for name in names]
    assert len(declared) >= 8
    for name in declared:
        assert name in out
    assert "--profile" in out and "--made-up-option" not in out


# --- list and explain ---------------------------------------------------------------------------


def test_list_shows_each_shipped_scenario_its_description_and_its_checks(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for path in shipped_scenarios():
        assert f"\n{path.stem}  (suites/{path.name}; " in f"\n{out}"
    assert "Two containers on Docker's default bridge (docker0 unless" in out  # bridge.yaml's description
    assert "    alpha::interface.eth0.mtu  [addressing]\n" in out
    assert out.rstrip().splitlines()[-1].startswith(f"{len(shipped_scenarios())} scenarios, ")


def test_list_of_an_invalid_spec_is_the_spec_error_exit_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.yaml").write_text("containers:\n  a: {network: nope}\n")
    assert main(["list", str(tmp_path)]) == SpecError.exit_code
    assert "bad.yaml:2: containers.a.network: unknown network mode 'nope'" in capsys.readouterr().err


def test_list_properties_is_the_catalogue(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--properties"]) == 0
    out = capsys.readouterr().out
    for prop in PROPERTIES:
        assert f"{prop.shown}  [{prop.aspect}" in out


@pytest.mark.parametrize("name", ["interface.eth0.mtu", "interface.<if>.mtu"])
def test_explain_says_what_a_property_means_and_how_it_is_observed(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", name]) == 0
    out = capsys.readouterr().out
    assert out.startswith("interface.<if>.mtu  [addressing]\n  meaning:  the interface MTU\n  observed: rtnetlink")


def test_every_property_says_how_it_is_observed() -> None:
    assert all(len(prop.how) > 20 for prop in PROPERTIES)


def test_explain_of_an_unknown_property_names_close_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "interface.eth0.mut"]) == USAGE_ERROR
    err = capsys.readouterr().err
    assert err.startswith("netconform explain: unknown property 'interface.eth0.mut'; close matches: "
                          "interface.<if>.mtu, ")
    assert err.count("\n") == 1
    assert main(["explain", "lokup.db"]) == USAGE_ERROR
    assert "close matches: lookup.<name>, lookup6.<name> " in capsys.readouterr().err


# --- diff ---------------------------------------------------------------------------------------


def test_diff_is_netconform_diff_under_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = [str(DATA / "report-pass.json"), str(DATA / "report-failures.json")]
    assert main(["diff", *reports]) == diff.main(reports) == diff.EXIT_REGRESSION
    via_command, via_alias = capsys.readouterr().out.split("netconform diff: ")[1:]
    assert via_command == via_alias
    accepted = tmp_path / "accepted.yaml"
    accepted.write_text("- fact: nothing\n  reason: stale on purpose\n")
    for argv in (["--json"], ["--fail-on-change", "--accept", str(accepted), "--strict-accept"]):
        assert main(["diff", *argv, reports[0], reports[0]]) == diff.main([*argv, reports[0], reports[0]])
    capsys.readouterr()
    assert main(["diff", reports[0], str(tmp_path / "missing.json")]) == diff.EXIT_BAD_INPUT
    assert capsys.readouterr().err.startswith(f"netconform diff: {tmp_path / 'missing.json'}: cannot read")


# --- sweep --------------------------------------------------------------------------------------


class FakeContainer:
    def __init__(self, name: str, owner: str) -> None:
        self.name = name
        self.labels = {netconform.hermetic.runs.LABEL_RUN: "0badc0de", netconform.hermetic.runs.LABEL_OWNER: owner}
        self.removed = False

    def remove(self, **kwargs: Any) -> None:
        self.removed = True


class FakeClient:
    def __init__(self, containers: list[FakeContainer]) -> None:
        self.containers = SimpleNamespace(list=lambda **kwargs: containers)
        self.networks = SimpleNamespace(list=lambda **kwargs: [])

    def close(self) -> None:
        pass


@pytest.fixture
def no_dead_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """An empty run registry: no host-side leftovers to look for (and none touched)."""
    monkeypatch.setattr(netconform.hermetic.runs, "REGISTRY", tmp_path / "runs")
    monkeypatch.setattr(netconform.harness.sweep, "REGISTRY", tmp_path / "runs")
    monkeypatch.setattr(netconform.engine.attach, "find_daemon_pid", lambda socket: os.getpid())


@pytest.mark.usefixtures("no_dead_runs")
def test_sweep_with_nothing_to_sweep(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(netconform.engine.attach, "connect", lambda host: FakeClient([]))
    assert main(["sweep"]) == 0
    assert capsys.readouterr().out == "nothing to sweep: no leftovers of dead runs\n"


@pytest.mark.usefixtures("no_dead_runs")
def test_sweep_shows_what_it_would_remove_and_removes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = FakeContainer("nc-0badc0de-main-s-web", owner="999999999:1")  # no such pid
    this_process = netconform.hermetic.runs.RunIdentity.new().owner
    alive = FakeContainer("nc-0badc0de-main-s-db", owner=this_process)
    monkeypatch.setattr(netconform.engine.attach, "connect", lambda host: FakeClient([dead, alive]))
    assert main(["sweep"]) == 0
    assert capsys.readouterr().out == (
        "would remove 1 leftover(s) of dead runs:\n"
        "  container nc-0badc0de-main-s-web\n"
        "nothing was changed; netconform sweep --yes removes them\n"
    )
    assert not dead.removed and not alive.removed


# --- packaging ----------------------------------------------------------------------------------


def test_pyproject_lists_every_package_of_helpers() -> None:
    """packages.find cannot rename helpers/ to netconform, so pyproject lists the packages."""
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    found = {"netconform" + "".join(f".{part}" for part in init.parent.relative_to(ROOT / "helpers").parts)
             for init in (ROOT / "helpers").rglob("__init__.py")}
    assert set(setuptools["packages"]) == found | {"netconform.suites", "netconform.swarm_suites",
                                                   "netconform.profiles"}
    assert setuptools["package-dir"] == {"netconform": "helpers", "netconform.suites": "suites",
                                         "netconform.swarm_suites": "swarm", "netconform.profiles": "profiles"}


def test_the_plugin_is_registered_once_through_its_entry_point(pytestconfig: pytest.Config) -> None:
    """This very session loaded it from the entry point; the root conftest must not name it again."""
    points = [point for point in entry_points(group="pytest11") if point.value == "netconform.harness.plugin"]
    assert [point.name for point in points] == ["netconform"]
    assert pytestconfig.pluginmanager.get_plugin("netconform") is netconform.harness.plugin
    assert "pytest_plugins" not in (ROOT / "conftest.py").read_text()


def test_run_passes_the_plugins_flags_without_a_value() -> None:
    assert "--audit-existing" in run_parsed("--audit-existing")
    assert not any(word.startswith("--audit-existing") for word in run_parsed())
