"""The failed probes and lookups of a scenario, replayed together (bounded) when the first is asked for.

A failed probe or lookup is replayed under capture (and a probe under firewall tracing) for its
evidence (:mod:`netconform.harness.replay`), and the replay of an unanswered one waits out every
attempt again. On a host where something is broken many of a scenario's probes and lookups fail,
and one replay after another made the run many times slower. So the first failure of a scenario
has every failed probe and lookup of it replayed at once, at most :data:`PARALLEL_REPLAYS` at a
time, and each later failure takes its evidence from there. What was made one after another is
replayed one after another: probes that share a target namespace and port
(:func:`netconform.harness.on_demand.one_at_a_time`), lookups of one name. A probe that two checks
judge (its outcome and its ``[source]``) is replayed once, for both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from netconform.errors import NetconformError
from netconform.facts import ScenarioFacts
from netconform.harness.on_demand import lookup_of, one_at_a_time
from netconform.harness.replay import Evidence
from netconform.spec.model import Check
from netconform.spec.refs import Unresolvable

PARALLEL_REPLAYS = 4

Replay = Callable[[Check], Evidence]


def _key(check: Check) -> tuple[str, str]:
    return check.subject, check.name


def replay_group(check: Check, facts: ScenarioFacts, context: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Checks with the same group are replayed one after another; None: ``check``'s probe or
    lookup was not made yet (or it has none), so it is replayed at its own turn."""
    if check.reach is not None:
        target, port = one_at_a_time(check.reach)
        return ("probe", target, str(port)) if check.reach.id in facts.reach else None
    try:
        asked = lookup_of(check, facts, context)
    except Unresolvable:
        return None
    if asked is None or f"{asked[1]} {asked[2]}" not in asked[0].lookups:
        return None
    return ("lookup", asked[2].lower().rstrip("."))


class ReplayBatch:
    """Evidence replayed ahead for the failed probes of the scenario being judged."""

    def __init__(self) -> None:
        self._facts: ScenarioFacts | None = None
        self._ready: dict[tuple[str, str], Evidence | NetconformError] = {}

    def evidence(self, check: Check, facts: ScenarioFacts, siblings: Sequence[Check], replay: Replay,
                 failed: Callable[[Check], bool], context: Mapping[str, Any]) -> Evidence:
        """The evidence of ``check`` (a failed one): replayed now with every other failed probe or
        lookup of ``siblings`` already made, or taken from such an earlier batch.

        Raises:
            NetconformError: the replay of ``check`` failed.
        """
        if self._facts is not facts:  # a new scenario: what was kept belongs to the last one
            self._facts, self._ready = facts, {}
        own = replay_group(check, facts, context)
        if own is not None and _key(check) not in self._ready:
            batch = {_key(check): (own, check)}
            for other in siblings:
                if _key(other) in self._ready or _key(other) in batch:
                    continue
                group = replay_group(other, facts, context)
                if group is not None and failed(other):
                    batch[_key(other)] = (group, other)
            self._ready.update(_replay_all(list(batch.values()), replay))
        kept = self._ready.pop(_key(check), None)
        if kept is None:
            return replay(check)
        if isinstance(kept, NetconformError):
            raise kept
        return kept


def _replay_all(checks: Sequence[tuple[tuple[str, ...], Check]],
                replay: Replay) -> dict[tuple[str, str], Evidence | NetconformError]:
    groups: dict[tuple[str, ...], list[Check]] = defaultdict(list)
    for group, check in checks:
        groups[group].append(check)
    done: dict[tuple[str, str], Evidence | NetconformError] = {}

    def run(group: list[Check]) -> None:
        probes: dict[str, Evidence | NetconformError] = {}  # a probe two checks judge is replayed once
        for check in group:
            probe = check.reach.id if check.reach is not None else None
            if probe is not None and probe in probes:
                done[_key(check)] = probes[probe]
                continue
            try:
                done[_key(check)] = replay(check)
            except NetconformError as err:
                done[_key(check)] = err
            if probe is not None:
                probes[probe] = done[_key(check)]

    with ThreadPoolExecutor(max_workers=min(PARALLEL_REPLAYS, len(groups))) as pool:
        for future in [pool.submit(run, group) for group in groups.values()]:
            future.result()
    return done
