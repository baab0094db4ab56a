"""The pytest plugin: options, markers, collection of scenario specs, run lifecycle.

Loaded by the project's root ``conftest.py``. Before anything runs, the controlling process
validates every spec it was given and checks the environment (daemon, permission, image), so a
bad spec or a missing daemon ends the run with one message and a distinct exit code (README).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import signal
import sys
from collections.abc import Generator
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from netconform.engine.existing import as_json, from_json
from netconform.errors import NetconformError, SpecError
from netconform.harness import fixtures, profile_items
from netconform.harness.audit import audit_items, audit_summary, existing_key, list_existing
from netconform.harness.build_ahead import DEFAULT_DEPTH
from netconform.harness.context import RunOptions, check_environment
from netconform.harness.items import (
    CheckItem,
    ScenarioFile,
    artifacts_key,
    context_key,
    finished_scenarios_key,
    identity_key,
    options_key,
    profile_key,
    run_context,
    spec_errors_key,
    verdict_key,
)
from netconform.harness.reporting import ReportPlugin
from netconform.harness.shares import SHARES_KEY, ShareScheduling, shares_files
from netconform.harness.sweep import sweep_stale
from netconform.hermetic.runs import RunIdentity, register, unregister
from netconform.hermetic.sentinel import DEFAULT_CIDR, DEFAULT_CIDR6
from netconform.hermetic.sentinel_veth import parse_slice_range6
from netconform.judge.failure import ConformanceFailure
from netconform.report.gather import CHECK_ATTR, SCENARIOS_ATTR
from netconform.report.records import check_record
from netconform.spec import load_scenario
from netconform.spec.model import SCENARIO_SUFFIXES
from netconform.spec.profile import HostProfile, load_profile
from netconform.spec.properties import ASPECTS
from netconform.spec.shipped import find_profile

MODE_MARKERS = {
    "bridge": "checks of containers on the default bridge",
    "host": "checks of containers in host network mode",
    "none": "checks of containers with network none",
    "container": "checks of containers joined to another container's netns",
    "custom": "checks of containers on user-defined networks",
}


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("netconform", "Docker network conformance")
    group.addoption("--docker-host", default=None,
                    help="daemon to test (unix:// socket; default $DOCKER_HOST or /var/run/docker.sock)")
    group.addoption("--daemon-pid", type=int, default=None,
                    help="pid of that dockerd (default: found from the socket)")
    group.addoption("--image", default=None,
                    help="image for scenario containers (default: the built-in probe image); never pulled")
    group.addoption("--probe-timeout", type=float, default=10.0,
                    help="seconds before an observation inside a namespace is abandoned (default 10)")
    group.addoption("--attempt-timeout", type=float, default=1.0,
                    help="seconds one reachability/DNS attempt waits for an answer (default 1)")
    group.addoption("--attempts", type=int, default=3,
                    help="attempts per reachability/DNS probe before it counts as unanswered (default 3)")
    group.addoption("--report-dir", default=None,
                    help="write report.json, report.html and failure evidence (pcaps) into this directory")
    group.addoption("--sentinel-cidr", default=DEFAULT_CIDR,
                    help=f"range the sentinel host takes its addresses from (default {DEFAULT_CIDR})")
    group.addoption("--sentinel-cidr6", default=DEFAULT_CIDR6,
                    help=f"IPv6 range the sentinel host takes its addresses from (default {DEFAULT_CIDR6}, a ULA "
                         "range: never routed beyond this machine); 'none' for a sentinel without IPv6")
    group.addoption("--profile", default=None, metavar="FILE|NAME",
                    help="host profile: the intended networking settings (a file, or a shipped one: "
                         "docker-defaults, hardened, cloud-mtu1450); each pinned setting is checked")
    group.addoption("--build-ahead", type=int, default=DEFAULT_DEPTH, metavar="N",
                    help="in a serial run, build up to the next N scenarios ahead (as many as the daemon's address "
                         "pools allow) so their probes share one waiting window "
                         f"(default {DEFAULT_DEPTH}; 0: one scenario at a time; off under xdist)")
    group.addoption("--audit-existing", action="store_true", default=False,
                    help="also audit the networks that existed before the run (the default bridge and the host's "
                         "own): isolation, ICC, egress and masquerade as each promises, as existing::<network> checks "
                         "(also set by a profile's audit_existing: true)")


def _options(config: pytest.Config) -> RunOptions:
    cidr = config.getoption("sentinel_cidr")
    try:
        if ipaddress.ip_network(cidr).version != 4:
            raise ValueError(cidr)
    except ValueError as err:
        raise pytest.UsageError(f"--sentinel-cidr {cidr!r} is not an IPv4 network such as 198.18.0.0/24") from err
    cidr6 = config.getoption("sentinel_cidr6")
    if cidr6 != "none":
        try:
            parse_slice_range6(cidr6)
        except ValueError as err:
            raise pytest.UsageError(f"--sentinel-cidr6 {cidr6!r} is not an IPv6 network such as {DEFAULT_CIDR6} "
                                    "(or 'none')") from err
    if config.getoption("attempts") < 1 or config.getoption("attempt_timeout") <= 0:
        raise pytest.UsageError("--attempts must be at least 1 and --attempt-timeout more than 0")
    return RunOptions(
        docker_host=config.getoption("docker_host"),
        daemon_pid=config.getoption("daemon_pid"),
        image=config.getoption("image"),
        probe_timeout=config.getoption("probe_timeout"),
        report_dir=config.getoption("report_dir"),
        attempt_timeout=config.getoption("attempt_timeout"),
        attempts=config.getoption("attempts"),
        sentinel_cidr=config.getoption("sentinel_cidr"),
        sentinel_cidr6="" if cidr6 == "none" else cidr6,
    )


def pytest_configure(config: pytest.Config) -> None:
    for aspect in ASPECTS:
        config.addinivalue_line("markers", f"{aspect}: netconform checks of the {aspect} aspect")
    for mode, meaning in MODE_MARKERS.items():
        config.addinivalue_line("markers", f"{mode}: {meaning}")
    config.stash[options_key] = _options(config)
    config.pluginmanager.register(fixtures, "netconform-fixtures")
    config.pluginmanager.register(profile_items, "netconform-profile")
    config.addinivalue_line("markers", "settings: netconform checks of the daemon's settings against a host profile")
    # The controller's preflight (pytest_cmdline_main, which runs first) loaded it already.
    if config.getoption("profile") and profile_key not in config.stash:
        try:
            config.stash[profile_key] = _load_profile(config)
        except NetconformError as err:
            raise pytest.UsageError(str(err)) from err
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and "netconform_run" in workerinput:
        run_id, owner = workerinput["netconform_run"]
        config.stash[identity_key] = RunIdentity.parse(run_id, owner)
        if "netconform_existing" in workerinput:
            config.stash[existing_key] = from_json(workerinput["netconform_existing"])
    else:
        config.stash[identity_key] = RunIdentity.new()
    if _is_controller(config):
        options = dataclasses.asdict(config.stash[options_key])
        config.pluginmanager.register(ReportPlugin(config, config.stash[identity_key].run_id, options),
                                      "netconform-report")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """pytest-xdist: a run of scenario files only sends each worker a fixed share of the files,
    which it builds ahead (harness.shares)."""
    files = _spec_files(config)
    if shares_files(config, files):
        return ShareScheduling(config, log, files)
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist: workers join the controller's run (same id, same owner), and learn how many
    shares the files are split into (when the run's scheduler shares them)."""
    run = node.config.stash[identity_key]
    node.workerinput["netconform_run"] = (run.run_id, run.owner)
    if shares_files(node.config, _spec_files(node.config)):
        node.workerinput[SHARES_KEY] = node.config.getoption("numprocesses")
    if existing_key in node.config.stash:  # one list for every worker: the daemon's before the run
        node.workerinput["netconform_existing"] = as_json(node.config.stash[existing_key])


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix in SCENARIO_SUFFIXES:
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


def _load_profile(config: pytest.Config) -> HostProfile:
    path = find_profile(config.getoption("profile"))
    return load_profile(path, _display(config, path))


def _audit_existing(config: pytest.Config) -> bool:
    """--audit-existing, or a profile that asks for it (audit_existing: true)."""
    return bool(config.getoption("audit_existing")) or (
        profile_key in config.stash and config.stash[profile_key].audit_existing)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """--audit-existing: the audit's items first, so its networks are probed before the run creates any."""
    if existing_key in config.stash:
        items[:0] = audit_items(session, config.stash[existing_key])


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _spec_files(config: pytest.Config) -> list[Path]:
    """The scenario files this invocation names (directly, or inside named directories)."""
    args = config.args or [str(config.rootpath / path) for path in config.getini("testpaths")]
    files: list[Path] = []
    for arg in args:
        path = Path(arg.split("::")[0])
        if not path.is_absolute():
            path = config.invocation_params.dir / path
        if path.is_file() and path.suffix in SCENARIO_SUFFIXES:
            files.append(path)
        elif path.is_dir():
            files.extend(sorted(p for suffix in SCENARIO_SUFFIXES for p in path.rglob(f"*{suffix}")
                                if not any(part.startswith(".") for part in p.relative_to(path).parts)))
    return files


def _display(config: pytest.Config, path: Path) -> str:
    root = config.rootpath
    return str(path.relative_to(root)) if path.is_relative_to(root) else str(path)


_TERM_OWNER = os.getpid()


def _raise_on_term(signum: int, frame: FrameType | None) -> None:
    # CI timeouts send SIGTERM: unwind like Ctrl-C so every teardown and finally runs. A forked
    # child (a namespace probe, a library's helper process) inherits this handler and must just
    # die, not unwind into a copy of the test session.
    if os.getpid() != _TERM_OWNER:
        os._exit(128 + signum)
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    """Preflight in the controlling process: specs valid, daemon reachable, image present.

    Returning an exit code here ends the run before a session (or an xdist worker) starts, with
    one message and nothing created.
    """
    if not _is_controller(config) or config.option.help or config.option.version:
        return None
    files = _spec_files(config)
    errors = []
    if config.getoption("profile"):
        try:
            config.stash[profile_key] = _load_profile(config)
        except SpecError as err:
            errors.append(err)
        except NetconformError as err:
            sys.stderr.write(f"netconform: {err}\n")
            return pytest.ExitCode.USAGE_ERROR
    bad_profile = bool(errors)
    for path in files:
        try:
            load_scenario(path, _display(config, path))
        except SpecError as err:
            errors.append(err)
    if errors:
        listing = "\n".join(f"  {problem}" for err in errors for problem in err.problems)
        what = f"{len(errors) - bad_profile} invalid scenario spec(s)"
        what = ("an invalid profile" + (f" and {what}" if len(errors) > 1 else "")) if bad_profile else what
        sys.stderr.write(f"netconform: {what}; nothing was created.\n{listing}\n")
        return SpecError.exit_code
    audit = _audit_existing(config)
    if not (files or audit or config.getoption("profile")) or (config.option.collectonly and not audit):
        return None
    options = config.stash[options_key] if options_key in config.stash else _options(config)
    try:
        if audit:
            config.stash[existing_key] = list_existing(options)
        if not config.option.collectonly:
            check_environment(options)
    except NetconformError as err:
        sys.stderr.write(f"netconform: {err}\n")
        return err.exit_code
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    global _TERM_OWNER
    _TERM_OWNER = os.getpid()
    signal.signal(signal.SIGTERM, _raise_on_term)
    if not _is_controller(config) or config.option.collectonly or not (
            _spec_files(config) or existing_key in config.stash):
        return
    register(config.stash[identity_key])
    try:
        context = run_context(config)
        sweep_stale(context.client, f"/proc/{context.daemon_pid}/ns/net")
    except NetconformError as err:
        pytest.exit(str(err), returncode=err.exit_code)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    try:
        if context_key in config.stash:
            context = config.stash[context_key]
            del config.stash[context_key]
            context.close()
    except NetconformError as err:  # the daemon went away mid-run: one line, not a traceback
        sys.stderr.write(f"netconform: {err}\n")
        if session.exitstatus == 0:
            session.exitstatus = err.exit_code
    finally:
        if _is_controller(config):
            unregister(config.stash[identity_key])
    if config.stash.get(spec_errors_key, None):
        session.exitstatus = SpecError.exit_code


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Attach the check's record (call) and finished scenarios' records (teardown) to the report,
    so they reach the controlling process also from xdist workers."""
    report = yield
    if call.when == "setup" and report.skipped and isinstance(item, CheckItem):
        # The scenario was not built (a kernel feature it needs is missing): the check is skipped, with why.
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        setattr(report, CHECK_ATTR, check_record(item.nodeid, item.check, None, "skipped", report.duration,
                                                 reason.removeprefix("Skipped: ")))
    if call.when == "call" and isinstance(item, CheckItem):
        verdict = item.stash.get(verdict_key, None)
        if report.passed:
            outcome, error = "passed", ""
        elif report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            outcome, error = "skipped", reason.removeprefix("Skipped: ")
        elif call.excinfo is not None and isinstance(call.excinfo.value, ConformanceFailure):
            unjudged = call.excinfo.value.verdict.unjudged
            outcome, error = ("error", unjudged) if unjudged else ("failed", "")
        else:
            outcome, error = "error", call.excinfo.exconly() if call.excinfo else str(report.longrepr)
        setattr(report, CHECK_ATTR, check_record(item.nodeid, item.check, verdict, outcome, report.duration,
                                                 error, item.stash.get(artifacts_key, [])))
    if call.when == "teardown":
        finished = item.config.stash.get(finished_scenarios_key, [])
        if finished:
            setattr(report, SCENARIOS_ATTR, list(finished))
            finished.clear()
    return report


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if existing_key not in config.stash or not _is_controller(config):
        return
    reports = [report for kind in ("passed", "failed", "skipped", "error")
               for report in terminalreporter.stats.get(kind, []) if hasattr(report, "nodeid")]
    lines = audit_summary(sorted(reports, key=lambda report: report.nodeid))
    if lines:
        terminalreporter.section("netconform existing networks")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_report_header(config: pytest.Config) -> str | None:
    if context_key not in config.stash:
        return None
    context = config.stash[context_key]
    return (f"netconform: run {context.run.run_id}, dockerd {context.daemon.version} "
            f"(API {context.daemon.api_version}, pid {context.daemon_pid}), image {context.image}")

