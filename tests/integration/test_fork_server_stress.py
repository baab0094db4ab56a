"""Namespace entry holds up under threads: the whole suite's observation, 50 times at once.

Every shipped scenario is built once; then 8 threads observe all of them (``observe_scenario``)
and make each one's first ICMP probe, 50 rounds in all. Every namespace call of a round is forked
by the fork server while the other threads hold docker connections, pyroute2 sockets, locks and
pipes; no round may hang (the whole run is bounded) and every round must see exactly what a
single-threaded observation saw.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import pytest

from netconform.engine.builder import BuiltScenario
from netconform.facts import ScenarioFacts
from netconform.harness.context import RunContext, RunOptions
from netconform.harness.on_demand import Prober
from netconform.hermetic.runs import RunIdentity, register, unregister
from netconform.observe.scenario import observe_scenario
from netconform.spec import Scenario, load_scenario
from netconform.spec.model import ReachSpec
from netconform.spec.shipped import shipped_scenarios

ROUNDS = 50
THREADS = 8
BOUND = 900.0  # seconds for all rounds; one round alone takes a few seconds


@pytest.fixture(scope="module")
def built() -> Iterator[tuple[RunContext, list[tuple[Scenario, BuiltScenario]]]]:
    run = RunIdentity.new()
    register(run)
    ctx = RunContext.open(RunOptions(), run)
    try:
        yield ctx, [(scenario, ctx.build(scenario)[0]) for scenario in map(load_scenario, shipped_scenarios())]
    finally:
        ctx.close()
        unregister(run)


def _first_icmp_probe(scenario: Scenario) -> list[ReachSpec]:
    probes = [check.reach for check in scenario.checks
              if check.reach is not None and check.reach.proto == "icmp" and not check.reach.churn]
    return probes[:1]


def _round(ctx: RunContext, scenarios: list[tuple[Scenario, BuiltScenario]]) -> dict[str, Any]:
    """Everything one observation of every scenario saw, as plain data (probes: their outcome)."""
    prober = Prober(ctx.daemon_pid, ctx.sentinel, timeout=0.5, attempts=2)
    seen: dict[str, Any] = {}
    for scenario, done in scenarios:
        sysctls = [c.prop.removeprefix("sysctl.") for c in scenario.checks if c.prop.startswith("sysctl.")]
        facts: ScenarioFacts = observe_scenario(done.scenario.name, done.networks, done.containers, ctx.client,
                                                ctx.daemon, ctx.daemon_pid, sysctls, timeout=30)
        if scenario.uses_sentinel:
            ctx.attach_sentinel(facts)
        prober.prefetch(facts, _first_icmp_probe(scenario), ctx.context)
        probes = {key: (result.address, result.outcome, result.error) for key, result in facts.reach.items()}
        facts.reach = {}
        observed = _without_neighbours(dataclasses.asdict(facts))
        # The host's network namespace is shared with everything else on the machine: another
        # run's networks come and go there. It is observed all the same (also through host-mode
        # containers), but not compared.
        host_net = observed["host"]["namespaces"].get("net")
        observed["host"] = {key: value for key, value in observed["host"].items()
                            if key not in ("net", "transient_interfaces")}
        for container in observed["containers"].values():
            if host_net is not None and container["namespaces"].get("net") == host_net:
                container.pop("net", None)
        seen[scenario.name] = {"facts": observed, "probes": probes}
    return seen


def _without_neighbours(value: Any) -> Any:
    """``value`` without neighbour tables: their entries come and go, and change state (REACHABLE,
    STALE) with the probes' own traffic and with time."""
    if isinstance(value, dict):
        return {key: _without_neighbours(item) for key, item in value.items() if key != "neighbours"}
    if isinstance(value, list):
        return [_without_neighbours(item) for item in value]
    return value


def _differences(seen: Any, reference: Any, path: str = "") -> Iterator[str]:
    """Where ``seen`` differs from ``reference``, as key paths with both values."""
    if isinstance(seen, dict) and isinstance(reference, dict):
        for key in sorted(set(seen) | set(reference), key=str):
            yield from _differences(seen.get(key), reference.get(key), f"{path}.{key}")
    elif seen != reference:
        yield f"{path}: {seen!r} instead of {reference!r}"


def test_observation_from_8_threads_50_times_never_hangs_and_always_sees_the_same(
    built: tuple[RunContext, list[tuple[Scenario, BuiltScenario]]],
) -> None:
    ctx, scenarios = built
    reference = _round(ctx, scenarios)
    assert any(entry["probes"] for entry in reference.values()), "no scenario made a probe"
    began = time.monotonic()
    pool = ThreadPoolExecutor(max_workers=THREADS)
    futures = [pool.submit(_round, ctx, scenarios) for _ in range(ROUNDS)]
    _, pending = wait(futures, timeout=BOUND)
    pool.shutdown(wait=not pending, cancel_futures=True)  # a hung thread must not hide the failure
    assert not pending, f"{len(pending)} of {ROUNDS} rounds did not finish within {BOUND:g}s"
    differing = [
        f"round {index}: {difference}" for index, future in enumerate(futures)
        for difference in _differences(future.result(), reference)
    ]
    where = sorted({difference.split(":")[1] for difference in differing})
    assert not differing, f"{len(differing)} differences from the reference, at {where}; first: {differing[:3]}"
    print(f"{ROUNDS} rounds of {len(scenarios)} scenarios on {THREADS} threads: {time.monotonic() - began:.1f}s")
