"""Removals in the background: each failure reported once, in its scenario's name; waiting for all."""

from __future__ import annotations

import threading

import pytest

from netconform.errors import EngineError
from netconform.harness.removals import Removals


def test_a_failed_removal_is_reported_once_in_its_scenarios_name() -> None:
    removals, removed = Removals(), []
    release = threading.Event()

    def slow() -> None:
        release.wait(5)
        removed.append("slow")

    def refused() -> None:
        raise EngineError("teardown left resources behind: network n1: in use")

    removals.submit("slow", slow)
    removals.submit("refused", refused)
    release.set()
    assert removals.failures(wait_all=True) == [
        "scenario refused could not be removed: teardown left resources behind: network n1: in use"]
    assert removed == ["slow"]
    assert removals.failures(wait_all=True) == [], "reported once"
    removals.close()


def test_an_unfinished_removal_is_not_reported_until_it_ends() -> None:
    removals, release = Removals(), threading.Event()

    def blocked() -> None:
        release.wait(5)
        raise EngineError("gone wrong")

    removals.submit("later", blocked)
    assert removals.failures() == []
    release.set()
    removals.wait()
    assert removals.failures() == ["scenario later could not be removed: gone wrong"]
    removals.close()


def test_a_bug_in_a_removal_is_raised_not_reported() -> None:
    removals = Removals()

    def broken() -> None:
        raise KeyError("bug")

    removals.submit("buggy", broken)
    with pytest.raises(KeyError):
        removals.failures(wait_all=True)
    removals.close()
