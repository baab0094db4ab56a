"""A replay for evidence makes one attempt after a first try that met nothing but silence, and as
many as the run's probes otherwise (an answer, a refusal or an error is worth seeing again in full)."""

from __future__ import annotations

from netconform.facts import Attempt, LookupResult, ReachResult
from netconform.harness.replay import SILENT_REPLAY_ATTEMPTS, replay_attempts


def probed(*outcomes: str) -> ReachResult:
    result = ReachResult("a->b tcp/80", "a", "b", "tcp", "10.0.0.2", 80)
    result.attempts = [Attempt(outcome) for outcome in outcomes]
    return result


def test_a_probe_that_met_only_silence_is_replayed_once() -> None:
    assert replay_attempts(probed("timeout", "timeout", "timeout")) == SILENT_REPLAY_ATTEMPTS == 1


def test_a_probe_with_any_answer_or_refusal_is_replayed_in_full() -> None:
    assert replay_attempts(probed("timeout", "reach")) is None
    assert replay_attempts(probed("refused")) is None
    assert replay_attempts(probed("timeout", "error")) is None


def test_a_probe_that_made_no_attempt_or_was_never_made_is_replayed_in_full() -> None:
    assert replay_attempts(probed()) is None
    assert replay_attempts(None) is None


def test_only_a_lookup_that_timed_out_is_replayed_once() -> None:
    assert replay_attempts(LookupResult("A", "web", "127.0.0.11", "timeout", attempts=3)) == 1
    assert replay_attempts(LookupResult("A", "web", "127.0.0.11", "NXDOMAIN", attempts=1)) is None
    assert replay_attempts(LookupResult("A", "web", "127.0.0.11", "SERVFAIL", attempts=1)) is None
