"""The failed probes and lookups of a scenario, replayed together (bounded) when the first is asked for.

A failed probe or lookup is replayed under capture (and a probe under firewall tracing) for its
evidence (:mod:`netconform.harness.replay`), and the replay of an unanswered one waits out every
attempt again. On a host where something is broken many of a scenario's probes and lookups fail,
and one replay after another made the run many times slower. So the first failure of a scenario
has every failed probe and lookup of it replayed at once, at most :data:`PARALLEL_REPLAYS` at a
time, and each later failure takes its evidence from there; the failures of the scenarios built
``ahead`` (:mod:`netconform.harness.build_ahead`), whose probes were made in the same window, are
replayed in the same batch, so their waits overlap too. What was made one after another is
replayed one after another: probes that share a target namespace, protocol and port, and ICMP
probes to one target (a replay's trace and captures cannot tell two such apart), lookups of one
name; a TCP probe to the sentinel sends from a port of its own, which its replay's trace and
captures match, so those are replayed at once. A probe that two checks judge (its outcome and its
``[source]``) is replayed once, for both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from netconform.errors import NetconformError
from netconform.facts import ScenarioFacts
from netconform.harness.replay import Evidence
from netconform.harness.together import sends_from_own_port
from netconform.harness.windows import lookup_of
from netconform.spec.model import Check
from netconform.spec.refs import Unresolvable

# A replay mostly waits (its attempts, the capture and the trace settling): as many as probes.
PARALLEL_REPLAYS = 8

# Replays ``check`` of the scenario whose facts are given.
Replay = Callable[[Check, ScenarioFacts], Evidence]
Failed = Callable[[Check, ScenarioFacts], bool]
# (id of the scenario's facts, subject, check name)
Key = tuple[int, str, str]


def _key(check: Check, facts: ScenarioFacts) -> Key:
    return id(facts), check.subject, check.name


def replay_group(check: Check, facts: ScenarioFacts, context: Mapping[str, Any]) -> tuple[str, ...] | None:
    """Checks with the same group are replayed one after another; None: ``check``'s probe or
    lookup was not made yet (or it has none), so it is replayed at its own turn."""
    if check.reach is not None:
        spec = check.reach
        if spec.id not in facts.reach:
            return None
        if sends_from_own_port(spec):
            # Its trace and captures match the source port its replay sends from: a turn of its own.
            return ("probe", str(id(facts)), spec.id)
        # Otherwise a replay's firewall trace and captures match by destination, protocol and port
        # (not by source), so replays to one target take turns per protocol and port, and ICMP ones
        # per target; the host and the sentinel are the same namespace for every scenario.
        shared = "" if spec.to in ("host", "sentinel") else str(id(facts))
        return ("probe", shared, spec.to, spec.proto, str(spec.listener_port) if spec.proto != "icmp" else "")
    try:
        asked = lookup_of(check, facts, context)
    except Unresolvable:
        return None
    if asked is None or f"{asked[1]} {asked[2]}" not in asked[0].lookups:
        return None
    return ("lookup", asked[2].lower().rstrip("."))


class ReplayBatch:
    """Evidence replayed ahead for the failed probes of the scenarios being judged."""

    def __init__(self) -> None:
        self._ready: dict[Key, Evidence | NetconformError] = {}
        self._kept: dict[int, ScenarioFacts] = {}  # the facts ``_ready`` is keyed by (ids stay theirs)

    def evidence(self, check: Check, facts: ScenarioFacts, siblings: Sequence[Check], replay: Replay,
                 failed: Failed, context: Mapping[str, Any],
                 ahead: Sequence[tuple[ScenarioFacts, Sequence[Check]]] = ()) -> Evidence:
        """The evidence of ``check`` (a failed one): replayed now with every other failed probe or
        lookup of ``siblings`` already made, and those of the scenarios built ``ahead``, or taken
        from such an earlier batch.

        Raises:
            NetconformError: the replay of ``check`` failed.
        """
        # What was kept for scenarios no longer in play is dropped (their ids may be reused).
        live = [facts, *(other for other, _ in ahead)]
        self._kept = {key: kept for key, kept in self._kept.items() if any(kept is each for each in live)}
        self._ready = {key: kept for key, kept in self._ready.items() if key[0] in self._kept}
        own = replay_group(check, facts, context)
        if own is not None and _key(check, facts) not in self._ready:
            batch = {_key(check, facts): (own, check, facts)}
            for scenario, checks in [(facts, siblings), *ahead]:
                for other in checks:
                    key = _key(other, scenario)
                    if key in self._ready or key in batch:
                        continue
                    group = replay_group(other, scenario, context)
                    if group is not None and failed(other, scenario):
                        batch[key] = (group, other, scenario)
            self._kept.update({id(scenario): scenario for _, _, scenario in batch.values()})
            self._ready.update(_replay_all(list(batch.values()), replay))
        kept = self._ready.pop(_key(check, facts), None)
        if kept is None:
            return replay(check, facts)
        if isinstance(kept, NetconformError):
            raise kept
        return kept


def _replay_all(checks: Sequence[tuple[tuple[str, ...], Check, ScenarioFacts]],
                replay: Replay) -> dict[Key, Evidence | NetconformError]:
    groups: dict[tuple[str, ...], list[tuple[Check, ScenarioFacts]]] = defaultdict(list)
    for group, check, facts in checks:
        groups[group].append((check, facts))
    done: dict[Key, Evidence | NetconformError] = {}

    def run(group: list[tuple[Check, ScenarioFacts]]) -> None:
        # A probe two checks judge is replayed once.
        probes: dict[tuple[int, str], Evidence | NetconformError] = {}
        for check, facts in group:
            probe = (id(facts), check.reach.id) if check.reach is not None else None
            if probe is not None and probe in probes:
                done[_key(check, facts)] = probes[probe]
                continue
            try:
                done[_key(check, facts)] = replay(check, facts)
            except NetconformError as err:
                done[_key(check, facts)] = err
            if probe is not None:
                probes[probe] = done[_key(check, facts)]

    with ThreadPoolExecutor(max_workers=min(PARALLEL_REPLAYS, len(groups))) as pool:
        for future in [pool.submit(run, group) for group in groups.values()]:
            future.result()
    return done
