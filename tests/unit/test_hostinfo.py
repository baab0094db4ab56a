"""Where host facts are read: here, unless the daemon lives in another mount namespace."""

from __future__ import annotations

import os

from netconform.observe.hostinfo import host_root


def test_a_daemon_in_this_mount_namespace_or_none_is_read_here() -> None:
    assert host_root(None) is None
    assert host_root(os.getpid()) is None  # same mount namespace as this process


def test_a_daemon_that_cannot_be_looked_at_is_read_here() -> None:
    assert host_root(2**22 + 7) is None  # no such process (pid_max is at most 2**22)
