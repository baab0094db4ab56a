"""The window a scenario's first reachability or DNS check opens: which probes and lookups a check
is judged on, made together with those of its siblings and of the scenarios built ahead, so that a
blocked probe and an unanswered lookup wait out their attempts side by side
(:mod:`netconform.harness.build_ahead`); the prober itself is :mod:`netconform.harness.on_demand`.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from netconform.errors import NetconformError
from netconform.facts import ContainerFacts, ScenarioFacts
from netconform.harness.on_demand import PARALLEL_PROBES, Prober
from netconform.judge.verdict import would_pass
from netconform.spec.model import Check
from netconform.spec.properties import LOOKUP_QTYPES
from netconform.spec.refs import Unresolvable, resolve_value


def is_lookup(check: Check) -> bool:
    """Whether ``check`` is judged on a DNS lookup."""
    return check.prop.split(".", 1)[0] in LOOKUP_QTYPES


def needs_window(check: Check) -> bool:
    """Whether ``check`` is judged on a probe or a DNS lookup, which a window makes."""
    return check.reach is not None or is_lookup(check)


def lookup_of(check: Check, facts: ScenarioFacts, context: Mapping[str, Any]) -> tuple[ContainerFacts, str, str] | None:
    """The container, query type and name a DNS check asks about (None: not a DNS check, or its
    container was not created).

    Raises:
        Unresolvable: the name refers to something the facts do not hold.
    """
    if not is_lookup(check):
        return None
    family = check.prop.split(".", 1)[0]
    container = facts.containers[check.subject]
    if not container.created:
        return None
    return container, LOOKUP_QTYPES[family], str(resolve_value(check.param, facts, context))


def prefetch_lookups(prober: Prober, facts: ScenarioFacts, checks: Sequence[Check], context: Mapping[str, Any],
                     ahead: Sequence[tuple[ScenarioFacts, Sequence[Check]]] = ()) -> None:
    """Make the DNS lookups of ``checks`` concurrently (an unanswered one waits out every attempt),
    with those of the scenarios built ``ahead``. Lookups of one name are made one after another:
    which upstream queries were a lookup's own is told by the name and the time it ran."""
    groups: dict[str, list[tuple[ScenarioFacts, ContainerFacts, str, str]]] = defaultdict(list)
    for scenario, wanted in [(facts, checks), *ahead]:
        for check in wanted:
            try:
                asked = lookup_of(check, scenario, context)
            except Unresolvable:
                continue  # its own turn reports it
            if asked is not None and f"{asked[1]} {asked[2]}" not in asked[0].lookups:
                groups[asked[2].lower().rstrip(".")].append((scenario, *asked))
    if len(groups) < 2:
        return

    def run(group: list[tuple[ScenarioFacts, ContainerFacts, str, str]]) -> None:
        for scenario, container, qtype, name in group:
            prober.lookup(scenario, container, qtype, name)

    with ThreadPoolExecutor(max_workers=min(PARALLEL_PROBES, len(groups))) as pool:
        for future in [pool.submit(run, group) for group in groups.values()]:
            future.result()


def expected_silent(scenarios: Sequence[tuple[ScenarioFacts, Sequence[Check]]],
                    context: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(scenario, probe id) of the probes expected not to reach: those wait out every attempt, so a
    window starts them first and the quick ones fill the wait."""
    return {(facts.scenario, check.reach.id) for facts, checks in scenarios for check in checks
            if check.reach is not None and check.prop == "reach"
            and would_pass(check, facts, context, "reach") is False}


def prepare(prober: Prober, check: Check, facts: ScenarioFacts, context: Mapping[str, Any],
            siblings: Sequence[Check] = (), ahead: Sequence[tuple[ScenarioFacts, Sequence[Check]]] = (),
            after_window: Callable[[], None] | None = None) -> None:
    """Make the probe or lookup ``check`` is judged on, unless an earlier check made it already.

    The first reachability or DNS check of a scenario makes all of its ``siblings``' probes and
    lookups, and those of the scenarios built ``ahead`` of their turn, in one window: a blocked
    probe and an unanswered lookup each wait out every attempt, side by side. ``after_window`` is
    called once those are made, before ``check``'s own probe (a churn probe is never in a window).
    """
    asked = lookup_of(check, facts, context) if check.reach is None else None
    if check.reach is None and asked is None:
        return
    specs = [other.reach for other in siblings if other.reach is not None] or \
        ([check.reach] if check.reach is not None else [])
    others = [(scenario, [c.reach for c in checks if c.reach is not None]) for scenario, checks in ahead]
    silent = expected_silent([(facts, siblings), *ahead], context)
    # What fails in the other kind's part is not this check's: that probe or lookup stays unmade,
    # and its own check makes it again and reports it.
    with ThreadPoolExecutor(max_workers=1) as beside:
        lookups = beside.submit(prefetch_lookups, prober, facts, siblings, context, ahead)
        with contextlib.suppress(*(() if check.reach is not None else (NetconformError,))):
            prober.prefetch(facts, specs, context, others, silent)
        with contextlib.suppress(*(() if asked is not None else (NetconformError,))):
            lookups.result()
    if after_window is not None:
        after_window()
    if check.reach is not None:
        prober.reach(facts, check.reach, context)
    elif asked is not None:
        prober.lookup(facts, *asked)
