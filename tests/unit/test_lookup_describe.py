"""How a DNS lookup is described in evidence and error lines."""

from netconform.facts.outcomes import LookupResult


def test_an_asked_question_says_its_attempts_and_time() -> None:
    result = LookupResult("A", "web", "127.0.0.11", "timeout", attempts=2, elapsed=2.0)
    assert result.describe() == "A web @127.0.0.11: timeout (2 attempt(s), 2.00s)"


def test_answers_are_listed() -> None:
    result = LookupResult("A", "web", "127.0.0.11", "NOERROR", ["172.18.0.2"], attempts=1, elapsed=0.01)
    assert result.describe() == "A web @127.0.0.11: NOERROR ['172.18.0.2'] (1 attempt(s), 0.01s)"


def test_a_question_never_asked_claims_no_attempts() -> None:
    result = LookupResult("A", "web", None, "error", detail="the container's netns is gone")
    assert result.describe() == "A web @None: error the container's netns is gone"
