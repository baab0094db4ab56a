"""The failed probes of a scenario, replayed together (bounded) when the first one is asked for.

A failed probe is replayed under capture and firewall tracing for its evidence
(:mod:`netconform.harness.replay`), and a replay of a blocked probe waits out every attempt again.
On a host where something is broken many probes of a scenario fail, and one replay after another
made the run many times slower. So the first failed probe of a scenario has every failed probe of
it replayed at once, at most :data:`PARALLEL_REPLAYS` at a time, and each later failure takes its
evidence from there. Probes that share a target namespace and port are replayed one after another,
as they were probed (:func:`netconform.harness.on_demand.one_at_a_time`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from netconform.errors import NetconformError
from netconform.facts import ScenarioFacts
from netconform.harness.on_demand import one_at_a_time
from netconform.harness.replay import Evidence
from netconform.spec.model import Check

PARALLEL_REPLAYS = 4

Replay = Callable[[Check], Evidence]


def _key(check: Check) -> tuple[str, str]:
    return check.subject, check.name


class ReplayBatch:
    """Evidence replayed ahead for the failed probes of the scenario being judged."""

    def __init__(self) -> None:
        self._facts: ScenarioFacts | None = None
        self._ready: dict[tuple[str, str], Evidence | NetconformError] = {}

    def evidence(self, check: Check, facts: ScenarioFacts, siblings: Sequence[Check], replay: Replay,
                 failed: Callable[[Check], bool]) -> Evidence:
        """The evidence of ``check`` (a failed one): replayed now with every other failed probe of
        ``siblings`` already made, or taken from such an earlier batch.

        Raises:
            NetconformError: the replay of ``check`` failed.
        """
        if self._facts is not facts:  # a new scenario: what was kept belongs to the last one
            self._facts, self._ready = facts, {}
        if check.reach is not None and _key(check) not in self._ready:
            batch = [check] + [other for other in siblings
                               if other.reach is not None and other.reach.id in facts.reach
                               and _key(other) not in self._ready and _key(other) != _key(check) and failed(other)]
            self._ready.update(_replay_all(batch, replay))
        kept = self._ready.pop(_key(check), None)
        if kept is None:
            return replay(check)
        if isinstance(kept, NetconformError):
            raise kept
        return kept


def _replay_all(checks: Sequence[Check], replay: Replay) -> dict[tuple[str, str], Evidence | NetconformError]:
    groups: dict[tuple[str, int | None], list[Check]] = defaultdict(list)
    for check in checks:
        assert check.reach is not None
        groups[one_at_a_time(check.reach)].append(check)
    done: dict[tuple[str, str], Evidence | NetconformError] = {}

    def run(group: list[Check]) -> None:
        for check in group:
            try:
                done[_key(check)] = replay(check)
            except NetconformError as err:
                done[_key(check)] = err

    with ThreadPoolExecutor(max_workers=min(PARALLEL_REPLAYS, len(groups))) as pool:
        for future in [pool.submit(run, group) for group in groups.values()]:
            future.result()
    return done
