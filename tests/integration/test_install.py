"""netconform as a user installs it: a wheel in a fresh virtualenv, used from outside the checkout.

One wheel and one virtualenv per test session (building and installing the dependencies from the
package index takes a while). The virtualenv has no access to the system's or this environment's
packages, and every command runs from a directory outside the checkout with PYTHONPATH unset, so
what is imported is what the wheel installed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUBCOMMANDS = ("run", "diff", "list", "explain", "profile", "sweep", "daemon")
# What a build must not see: caches, virtualenvs and an earlier build's leftovers (setuptools
# reuses build/lib, which may still hold modules that no longer exist).
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "__pycache__", "reports", ".cache",
                                     ".mypy_cache", ".ruff_cache", ".pytest_cache")
INSTALL_TIMEOUT = 900

pytestmark = pytest.mark.install

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="a run enters namespaces: needs root and the daemon")

SCENARIO = """\
description: A user's own scenario, kept in their project.
containers:
  web: {network: bridge}
expect:
  web:
    namespaces: {net: private, uts: private}
    interfaces: [lo, eth0]
    interface:
      eth0: {kind: veth, bridge: docker0}
"""


def _env() -> dict[str, str]:
    """This environment without what would make the outer test session's modules visible."""
    return {key: value for key, value in os.environ.items()
            if key != "PYTHONPATH" and not key.startswith(("PYTEST_", "VIRTUAL_ENV"))}


def _run(command: list[str], cwd: Path, timeout: float = INSTALL_TIMEOUT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout,
                          check=False)


def _check(command: list[str], cwd: Path) -> str:
    done = _run(command, cwd)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="session")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv with netconform installed from a wheel built from this checkout."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    shutil.copytree(ROOT, source, ignore=NOT_SOURCES, symlinks=True)
    _check([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", str(source), "-w", str(work / "dist")], work)
    wheels = list((work / "dist").glob("netconform-*.whl"))
    assert len(wheels) == 1, wheels
    env = work / "venv"
    _check([sys.executable, "-m", "venv", str(env)], work)  # without --system-site-packages
    _check([str(env / "bin" / "python"), "-m", "pip", "install", "-q", str(wheels[0])], work)
    return env


def test_the_wheel_installs_netconform_and_no_generic_top_level_name(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    where = _check([python, "-c", "import netconform.harness.plugin, netconform.cli; print(netconform.__file__)"],
                   tmp_path)
    assert Path(where.strip()).is_relative_to(venv), where
    missing = _run([python, "-c", "import helpers"], tmp_path)
    assert missing.returncode == 1 and "No module named 'helpers'" in missing.stderr
    site = Path(_check([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path).strip())
    assert not (site / "helpers").exists()
    top_level = list(site.glob("netconform-*.dist-info/top_level.txt"))
    assert [path.read_text().split() for path in top_level] == [["netconform"]]
    assert (site / "netconform" / "spec" / "scenario.schema.yaml").is_file()  # package data: specs are checked by it
    shipped = sorted(path.name for path in (site / "netconform" / "suites").glob("*.yaml"))
    assert shipped == sorted(path.name for path in (ROOT / "suites").glob("*.yaml"))
    profiles = sorted(path.name for path in (site / "netconform" / "profiles").glob("*.yaml"))
    assert profiles == sorted(path.name for path in (ROOT / "profiles").glob("*.yaml")) and profiles
    assert (site / "netconform" / "spec" / "profile.schema.yaml").is_file()


def test_help_lists_the_subcommands(venv: Path, tmp_path: Path) -> None:
    out = _check([str(venv / "bin" / "netconform"), "--help"], tmp_path)
    for command in SUBCOMMANDS:
        assert f"\n    {command} " in out, out
    assert (venv / "bin" / "netconform-diff").exists()


def test_list_shows_the_shipped_scenarios(venv: Path, tmp_path: Path) -> None:
    out = _check([str(venv / "bin" / "netconform"), "list"], tmp_path)
    for path in (ROOT / "suites").glob("*.yaml"):
        assert f"{path.stem}  (suites/{path.name}; " in out
    assert out.rstrip().splitlines()[-1].startswith(f"{len(list((ROOT / 'suites').glob('*.yaml')))} scenarios, ")


def test_the_html_report_renders_from_the_templates_the_wheel_ships(venv: Path, tmp_path: Path) -> None:
    """The report's Jinja templates are package data: an installed wheel finds them, not the checkout's."""
    script = ("import json, sys, netconform.report.html as html; "
              "print(html.environment().loader.get_source(html.environment(), 'report.html')[1]); "
              "html.write_html(json.load(open(sys.argv[1])), __import__('pathlib').Path('report.html'))")
    where = _check([str(venv / "bin" / "python"), "-c", script, str(ROOT / "tests" / "data" / "report-failures.json")],
                   tmp_path)
    assert Path(where.strip()).is_relative_to(venv), where
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!doctype html>") and 'id="conformance"' in page and "<svg " in page


@needs_root
def test_run_from_another_directory_passes_and_prints_the_table(venv: Path, tmp_path: Path) -> None:
    done = _run([str(venv / "bin" / "netconform"), "run", "-k", "bridge", "--report-dir", "reports"], tmp_path)
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    assert "netconform conformance" in out and "0 failed, 0 errors" in out
    table = out[out.index("netconform conformance"):]
    assert "\nbridge " in table and "\ndns-bridge " in table
    assert (tmp_path / "reports" / "report.json").is_file()  # relative to where the command ran
    progress = out[out.index(" selected"):out.index("netconform conformance")]  # after the rootdir line
    assert "\nsuites/bridge.yaml " in progress and "site-packages" not in progress, progress[:2000]


@needs_root
def test_a_users_project_runs_its_own_scenarios_with_plain_pytest(venv: Path, tmp_path: Path) -> None:
    """No conftest, no -p: the plugin comes from the installed package's pytest11 entry point."""
    (tmp_path / "scenarios").mkdir()
    (tmp_path / "scenarios" / "web.yaml").write_text(SCENARIO)
    done = _run([str(venv / "bin" / "pytest"), "scenarios/", "-v", "-p", "no:cacheprovider"], tmp_path)
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    assert "scenarios/web.yaml::web::interface.eth0.bridge PASSED" in out
    assert "5 passed" in out, out[-2000:]
    assert "netconform conformance" in out


@needs_root
def test_run_under_xdist_keeps_a_scenario_on_one_worker(venv: Path, tmp_path: Path) -> None:
    """No pyproject.toml of the checkout here: run itself asks for --dist loadfile, and a run of
    scenario files only is then sent out in shares of whole files (harness/shares.py)."""
    done = _run([str(venv / "bin" / "netconform"), "run", "-n", "2", "-k", "bridge and alpha", "-v"], tmp_path)
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    assert "created: 2/2 workers" in out and "scheduling tests via ShareScheduling" in out, out[:2000]


@needs_root
def test_a_users_python_tests_use_the_fixtures_over_the_five_modes(venv: Path, tmp_path: Path) -> None:
    """The example test file, copied into a user's folder, runs with the installed package only."""
    shutil.copy(ROOT / "examples" / "test_network_modes.py", tmp_path / "test_modes.py")
    done = _run([str(venv / "bin" / "pytest"), "test_modes.py", "-p", "no:cacheprovider"], tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert "17 passed" in last and "failed" not in last and "error" not in last, last
