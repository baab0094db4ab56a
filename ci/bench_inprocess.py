"""Benchmark parts measured inside this process, through one run context on the host's daemon.

bare cost, build + observe, checks judged once and twice on the same containers, and one
container's facts read by netconform and by pytest-testinfra's ``docker://`` backend.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from collections.abc import Callable, Sequence

import testinfra

from netconform.harness.context import RunContext
from netconform.judge import judge
from netconform.observe.scenario import DEFAULT_SYSCTLS
from netconform.observe.visit import visit_process
from netconform.spec import Scenario

# What both readers fetch of one container: the facts netconform reads for every container.
TESTINFRA_COMMANDS = ("ip -o link", "ip -o addr", "ip route", "ip neigh", "hostname", "ls -l /proc/self/ns/")
GENERATED = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


def buildable(context: RunContext, scenarios: Sequence[Scenario]) -> list[Scenario]:
    """The scenarios this host can build (the suite skips the others for a missing kernel feature)."""
    return [scenario for scenario in scenarios if not context.missing_features(scenario)]


def _bare(context: RunContext, scenario: Scenario) -> float:
    started = time.perf_counter()
    if scenario.uses_sentinel:
        context.start_sentinel()
    segment = context.make_segment(scenario)
    try:
        context.engine.teardown(context.engine.build(scenario))
    finally:
        if segment is not None:
            segment.remove()
    return time.perf_counter() - started


def _observed(context: RunContext, scenario: Scenario) -> float:
    started = time.perf_counter()
    built, _ = context.build(scenario)
    context.teardown(built)
    return time.perf_counter() - started


def bare_cost(context: RunContext, scenarios: Sequence[Scenario]) -> float:
    """Build and tear down every scenario with the engine alone: SDK calls, no observation."""
    return sum(_bare(context, scenario) for scenario in scenarios)


def bare_and_observed(context: RunContext, scenarios: Sequence[Scenario]) -> tuple[float, float]:
    """Seconds of :func:`bare_cost` and of the same through netconform (build, observe, tear down;
    no lookups or probes), scenario by scenario in turn, so a change in the machine's load falls on
    both alike."""
    bare = observed = 0.0
    for scenario in scenarios:
        bare += _bare(context, scenario)
        observed += _observed(context, scenario)
    return bare, observed


def doubled(scenario: Scenario, own_probes: bool) -> Scenario:
    """The scenario with every check twice. A copy judges the facts and probes its original does
    (``own_probes`` False: a second expectation on the same observation), or each copy of a
    reachability check makes a probe of its own (True: twice the probes)."""
    copies = tuple(
        dataclasses.replace(check, reach=dataclasses.replace(check.reach, label=f"{check.reach.id} (again)"))
        if check.reach is not None and own_probes else check
        for check in scenario.checks
    )
    return dataclasses.replace(scenario, checks=scenario.checks + copies)


def judged(context: RunContext, scenarios: Sequence[Scenario]) -> tuple[float, int]:
    """Build, make every probe and lookup, judge every check, tear down: seconds and checks judged."""
    started = time.perf_counter()
    count = 0
    for scenario in scenarios:
        built, facts = context.build(scenario)
        try:
            for check in scenario.checks:
                context.prepare(check, facts, scenario.checks)
                judge(check, facts, context.context)
                count += 1
        finally:
            context.teardown(built)
    return time.perf_counter() - started, count


def _median(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def facts_side_by_side(context: RunContext, scenario: Scenario, repeat: int = 7) -> tuple[float, float]:
    """One container's facts (interfaces, addresses, routes, neighbours, the three generated
    files, hostname, namespaces, the default sysctls), read by netconform and through testinfra's
    ``docker://`` backend on the same container: median seconds of each."""
    built, facts = context.build(scenario)
    try:
        container = next(c for c in facts.containers.values() if c.created)
        pid = container.pid
        assert pid is not None

        def ours() -> object:
            return visit_process(pid, DEFAULT_SYSCTLS, 10.0, "benchmark")

        def theirs() -> object:
            host = testinfra.get_host(f"docker://{container.id}")
            outputs = [host.run(command).stdout for command in TESTINFRA_COMMANDS]
            outputs += [host.file(name).content_string for name in GENERATED]
            outputs += [host.file("/proc/sys/" + name.replace(".", "/")).content_string for name in DEFAULT_SYSCTLS]
            return outputs

        os.environ.setdefault("DOCKER_HOST", context.options.docker_host or "unix:///var/run/docker.sock")
        ours()  # warm the fork server
        theirs()
        return _median(ours, repeat), _median(theirs, repeat)
    finally:
        context.teardown(built)
