"""pytest fixtures for Python tests of Docker's network modes (registered by the plugin).

``netconform_scenario`` builds a scenario (a shipped one by name, a YAML file, or an inline
mapping) and ``netconform_container`` one of the five network modes; both build through this
process's :class:`RunContext`, the engine YAML files use, so what they create carries the run's
labels and is removed at the end of the scope, and by the same sweep if the run dies. Every test
that uses them becomes a record of kind ``test`` in the run's report, next to the YAML checks.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from netconform.errors import NetconformError, SpecError
from netconform.harness.context import RunContext
from netconform.harness.items import context_key, finished_scenarios_key, identity_key, run_context
from netconform.harness.modes import MODES, SUBJECT, mode_scenario
from netconform.harness.sources import CallSite, Source, default_name
from netconform.harness.sweep import sweep_stale
from netconform.harness.under_test import ContainerUnderTest, ScenarioBuilds, ScenarioUnderTest
from netconform.hermetic.runs import register
from netconform.report.gather import CHECK_ATTR
from netconform.report.records import python_test_record
from netconform.spec.properties import ASPECTS

SCOPES = ("function", "class", "module", "session")
names_key = pytest.StashKey[set[str]]()


def fixture_context(config: pytest.Config) -> RunContext:
    """The run context, opened as a YAML run's controller opens it: the run registered (so a crash
    is swept by the next run) and what dead runs left swept first."""
    if context_key not in config.stash:
        register(config.stash[identity_key])
        context = run_context(config)
        sweep_stale(context.client, f"/proc/{context.daemon_pid}/ns/net")
    return config.stash[context_key]


def _builds(request: pytest.FixtureRequest) -> Iterator[ScenarioBuilds]:
    config = request.config
    builds = ScenarioBuilds(lambda: fixture_context(config), config.stash.setdefault(names_key, set()),
                            config.stash.setdefault(finished_scenarios_key, []))
    try:
        yield builds
    finally:
        builds.close()


@pytest.fixture(scope="session")
def _netconform_builds_session(request: pytest.FixtureRequest) -> Iterator[ScenarioBuilds]:
    yield from _builds(request)


@pytest.fixture(scope="module")
def _netconform_builds_module(request: pytest.FixtureRequest) -> Iterator[ScenarioBuilds]:
    yield from _builds(request)


@pytest.fixture(scope="class")
def _netconform_builds_class(request: pytest.FixtureRequest) -> Iterator[ScenarioBuilds]:
    yield from _builds(request)


@pytest.fixture
def _netconform_builds_function(request: pytest.FixtureRequest) -> Iterator[ScenarioBuilds]:
    yield from _builds(request)


def _get(builds: ScenarioBuilds, source: Source, name: str, site: CallSite) -> ScenarioUnderTest:
    """A build, or the test fails with one line: the spec error or the daemon's refusal."""
    try:
        return builds.get(source, name, site)
    except SpecError as err:
        problem = f"invalid scenario spec: {err}"
    except NetconformError as err:
        problem = f"scenario {name} could not be built: {err}"
    # Outside the except blocks, so the report is this one line and not a chained traceback.
    pytest.fail(problem, pytrace=False)


class ScenarioFactory:
    """``netconform_scenario(source, scope=..., name=...)``: a built scenario for this test."""

    def __init__(self, request: pytest.FixtureRequest) -> None:
        self._request = request
        self.used: list[ScenarioUnderTest] = []

    def __call__(self, source: Source, *, scope: str = "function", name: str | None = None) -> ScenarioUnderTest:
        """Build ``source`` (once per ``scope``: later calls in the same scope get the same build).

        Args:
            source: a shipped scenario's name (``"custom"``), a path to a YAML file (relative to
                the test file), or a mapping in the shape of a scenario file.
            scope: function, class, module or session: when the scenario is torn down.
            name: the scenario's name (default: the shipped name, the file's stem, or ``inline``).
        """
        if scope not in SCOPES:
            raise ValueError(f"unknown scope {scope!r}; one of: {', '.join(SCOPES)}")
        caller = sys._getframe(1)
        site = CallSite(Path(caller.f_code.co_filename), caller.f_lineno, self._request.config.rootpath)
        builds = self._request.getfixturevalue(f"_netconform_builds_{scope}")
        under_test = _get(builds, source, name or default_name(source), site)
        self.used.append(under_test)
        return under_test


@pytest.fixture
def netconform_scenario(request: pytest.FixtureRequest) -> ScenarioFactory:
    """Build a scenario: ``netconform_scenario("custom")``, ``netconform_scenario(path)`` or
    ``netconform_scenario({"containers": {...}}, scope="module")``; gives facts and probes."""
    return ScenarioFactory(request)


def _mode_container(request: pytest.FixtureRequest, mode: str) -> ContainerUnderTest:
    if mode not in MODES:
        pytest.fail(f"netconform_container: unknown network mode {mode!r}; one of: {', '.join(MODES)}",
                    pytrace=False)
    builds = request.getfixturevalue("_netconform_builds_module")
    site = CallSite(request.path, None, request.config.rootpath)
    under_test = _get(builds, mode_scenario(mode), f"mode-{mode}", site)
    return ContainerUnderTest(under_test, SUBJECT, mode)


@pytest.fixture(scope="module")
def netconform_container(request: pytest.FixtureRequest) -> ContainerUnderTest:
    """The container under test in one network mode, built once per module and mode.

    Parametrize it indirectly with mode names:
    ``@pytest.mark.parametrize("netconform_container", MODES, indirect=True)``.
    """
    mode = getattr(request, "param", None)
    if mode is None:
        pytest.fail('netconform_container needs a mode: @pytest.mark.parametrize("netconform_container", '
                    f"{list(MODES)}, indirect=True)", pytrace=False)
    return _mode_container(request, str(mode))


@pytest.fixture(scope="module")
def netconform_bridge(request: pytest.FixtureRequest) -> ContainerUnderTest:
    """A container on the daemon's default bridge."""
    return _mode_container(request, "bridge")


@pytest.fixture(scope="module")
def netconform_host(request: pytest.FixtureRequest) -> ContainerUnderTest:
    """A container in the host's network namespace."""
    return _mode_container(request, "host")


@pytest.fixture(scope="module")
def netconform_none(request: pytest.FixtureRequest) -> ContainerUnderTest:
    """A container with network none."""
    return _mode_container(request, "none")


@pytest.fixture(scope="module")
def netconform_joiner(request: pytest.FixtureRequest) -> ContainerUnderTest:
    """A container in ``container:<other>`` mode; ``.other`` is the container it joined."""
    return _mode_container(request, "container")


@pytest.fixture(scope="module")
def netconform_custom(request: pytest.FixtureRequest) -> ContainerUnderTest:
    """A container on a user-defined network; ``.other`` is a peer on it (alias ``peer``)."""
    return _mode_container(request, "custom")


FIXTURES = ("netconform_scenario", "netconform_container", "netconform_bridge", "netconform_host",
            "netconform_none", "netconform_joiner", "netconform_custom")


# -- the report --------------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test using these fixtures is a record of kind ``test`` (its call, or its failed setup)."""
    report = yield
    if isinstance(item, pytest.Function) and (call.when == "call" or (call.when == "setup" and not report.passed)) \
            and any(name in FIXTURES for name in item.fixturenames):
        setattr(report, CHECK_ATTR, _record(item, report, call))
    return report


def _record(item: pytest.Function, report: pytest.TestReport, call: pytest.CallInfo[None]) -> dict[str, Any]:
    containers = [value for value in item.funcargs.values() if isinstance(value, ContainerUnderTest)]
    scenarios = [container.scenario for container in containers]
    scenarios += [used for value in item.funcargs.values() if isinstance(value, ScenarioFactory) for used in value.used]
    params = getattr(item, "callspec", None)
    mode = params.params.get("netconform_container") if params else None
    scenario = scenarios[0].name if scenarios else (f"mode-{mode}" if mode else item.path.stem)
    message = ""
    if not report.passed:
        crash = getattr(report.longrepr, "reprcrash", None)
        message = crash.message if crash is not None else str(report.longrepr)
    if report.passed:
        outcome = "passed"
    elif report.skipped:
        outcome = "skipped"
    elif call.when == "call" and call.excinfo is not None and call.excinfo.errisinstance((AssertionError,
                                                                                            pytest.fail.Exception)):
        outcome = "failed"
    else:
        outcome = "error"
    evidence = {"failure": message} if message else {}
    for container in containers:
        if container.facts.net is not None:
            evidence[f"{container.key} interfaces"] = container.facts.net.describe()
    for under_test in {id(used): used for used in scenarios}.values():
        for result in under_test.facts.reach.values():
            evidence[f"probe {result.probe}"] = result.describe()
    aspect = next((aspect for aspect in ASPECTS if item.get_closest_marker(aspect)), "test")
    path, line, _ = item.location
    return python_test_record(item.nodeid, scenario, containers[0].key if containers else "", item.originalname,
                              item.name, aspect, (path, line + 1 if line is not None else None), outcome,
                              report.duration, message if outcome == "error" else "", evidence)
