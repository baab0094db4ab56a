"""The pool ledger: processes together hold at most its total; a gone process's lines lapse; a
build at its own turn waits for a share, one ahead takes only what is free."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from netconform.errors import EngineError
from netconform.hermetic.pool_ledger import PoolLedger
from netconform.hermetic.runs import process_start_time


def ledger(tmp_path: Path, total: int = 10, timeout: float = 5.0) -> PoolLedger:
    made = PoolLedger("/proc/self/ns/net", total, timeout)
    made.path = tmp_path / "net.pools"
    return made


def other_process_holds(book: PoolLedger, count: int) -> None:
    """A live process besides this one (our parent) holds ``count``."""
    parent = os.getppid()
    book.path.write_text(f"{parent}:{process_start_time(parent)} {count}\n")


def test_reservations_stay_within_the_total_and_come_back(tmp_path: Path) -> None:
    book = ledger(tmp_path)
    assert book.try_reserve(6) and book.try_reserve(4)
    assert not book.try_reserve(1)
    book.release(3)
    assert book.held() == (7, 7)
    assert book.try_reserve(3) and not book.try_reserve(1)


def test_other_live_processes_count_and_gone_ones_do_not(tmp_path: Path) -> None:
    book = ledger(tmp_path)
    other_process_holds(book, 7)
    with book.path.open("a") as lines:
        lines.write("999999999:1 10\n")  # no such pid: lapsed
        lines.write("1:not-its-start-time 10\n")  # pid 1, but not the process that wrote it
    assert not book.try_reserve(4)
    assert book.try_reserve(3)
    assert book.held() == (3, 10)
    assert "999999999" not in book.path.read_text(), "a lapsed line is dropped at the next write"


def test_a_build_at_its_turn_waits_for_another_process_to_give_back(tmp_path: Path) -> None:
    book = ledger(tmp_path)
    other_process_holds(book, 9)
    threading.Timer(0.3, lambda: book.path.write_text("")).start()  # the other process's teardown
    started = time.monotonic()
    book.reserve(4, "scenario x")
    assert time.monotonic() - started >= 0.25
    assert book.held() == (4, 4)


def test_more_than_the_total_is_granted_once_no_one_else_holds_any(tmp_path: Path) -> None:
    book = ledger(tmp_path, total=4)
    assert not book.try_reserve(6)
    book.reserve(6, "a scenario of six networks")
    assert book.held() == (6, 6)


def test_waiting_too_long_is_an_engine_error_naming_the_ledger(tmp_path: Path) -> None:
    book = ledger(tmp_path, timeout=0.3)
    other_process_holds(book, 10)
    with pytest.raises(EngineError, match=r"scenario y: 1 subnet\(s\) .* not free within 0.3s"):
        book.reserve(1, "scenario y")
    assert book.held() == (0, 10)
