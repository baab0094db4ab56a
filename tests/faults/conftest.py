"""Fixtures of the fault tests: a dedicated daemon per module, and the host left as it was.

Every fault is injected in the netns of a dedicated daemon (or of its containers), never in the
host's: the ``host_untouched`` fixture reads the host's rulesets and sysctls before the module's
first test and after its last one (the dedicated daemon stopped), and fails if they differ.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator

import pytest
from faultrun import dedicated_daemon
from injectors import diff, read_sysctls, rulesets

from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity

# Rules the host's own daemon adds and removes for networks and published ports of other runs
# (a concurrent suite run, xdist workers): not ours, and not stable while this module runs.
_HOST_DAEMON_CHURN = re.compile(r"br-[0-9a-f]{12}|--to-destination |! -i docker0 -o docker0 |-s (\S+)/32 -d \1/32 ")


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "fault tests need root (namespaces, iptables, dedicated daemons)"
    missing = [tool for tool in ("nsenter", "iptables", "iptables-save", "ip6tables-save", "sysctl")
               if shutil.which(tool) is None]
    return f"fault tests need {', '.join(missing)}" if missing else None


def _host_state() -> dict[str, object]:
    state: dict[str, object] = {
        program: [line for line in lines if not _HOST_DAEMON_CHURN.search(line)]
        for program, lines in rulesets(None).items()
    }
    state.update(read_sysctls(None))
    return state


@pytest.fixture(scope="module")
def host_untouched() -> Iterator[None]:
    """The host's iptables/ip6tables rulesets (every table) and sysctls read the same afterwards."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    before = _host_state()
    yield
    changed = diff(before, _host_state())
    assert changed == [], "the fault tests changed the host:\n" + "\n".join(changed)


@pytest.fixture(scope="module")
def run_identity(host_untouched: None, registered_run: RunIdentity) -> RunIdentity:
    """The run every dedicated daemon of the module belongs to (registered, so a crash is swept)."""
    return registered_run


@pytest.fixture(scope="module")
def daemon(run_identity: RunIdentity) -> Iterator[DedicatedDaemon]:
    """The module's dedicated 20.10 daemon, with default flags, in its own netns."""
    with dedicated_daemon(run_identity, "faults") as started:
        yield started
