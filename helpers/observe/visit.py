"""Everything observation reads of one process's namespaces, in one visit.

A process's network view and its UTS nodename are read in one call inside both of its namespaces,
by the resident visitor (:mod:`netconform.hermetic.resident`: no fork, no cold start); namespace
identities and the generated files are read from the host through /proc, which needs no child.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from netconform.facts import NamespaceId, NetnsView
from netconform.hermetic.nschild import enter
from netconform.hermetic.resident import call_resident
from netconform.observe.identity import namespace_ids, read_generated_files
from netconform.observe.netlink import interface_names, read_netns


@dataclass
class ProcessView:
    """What one visit read: namespace identities, the network view, the nodename, generated files."""

    namespaces: dict[str, NamespaceId]
    net: NetnsView
    hostname: str
    files: dict[str, str]


def _read_inside(sysctl_names: Sequence[str]) -> tuple[NetnsView, str]:
    # Not waiting for IPv6 DAD: an address reads the same, tentative or not; the wait is before a
    # scenario's first probe (netconform.harness.settling).
    return read_netns(sysctl_names), socket.gethostname()


def visit_process(pid: int, sysctl_names: Sequence[str], timeout: float, what: str) -> ProcessView:
    """Read ``pid``'s namespaces: its network view and nodename from inside, the rest via /proc.

    Raises:
        ProbeError: the process is gone, or the reading failed or did not answer within ``timeout``.
    """
    namespaces = namespace_ids(pid)
    inside = {"net": f"/proc/{pid}/ns/net", "uts": f"/proc/{pid}/ns/uts"}
    label = f"{what} (network view and hostname)"
    net, hostname = call_resident(inside, _read_inside, tuple(sysctl_names), timeout=timeout, what=label)
    return ProcessView(namespaces, net, hostname, read_generated_files(pid))


def _between_host_reads(daemon_netns: str, netns: str,
                        sysctl_names: Sequence[str]) -> tuple[set[str], NetnsView, set[str]]:
    # Run by the resident, which goes back to its own namespace afterwards.
    enter({"net": daemon_netns})
    before = interface_names()
    enter({"net": netns})
    view = read_netns(sysctl_names)
    enter({"net": daemon_netns})
    return before, view, interface_names()


def view_between_host_reads(daemon_pid: int, pid: int, sysctl_names: Sequence[str], timeout: float,
                            what: str) -> tuple[set[str], NetnsView, set[str]]:
    """``pid``'s network view, with the interface names of the daemon's namespace read just before
    and just after it (milliseconds apart): what another run's veth, moved into its container a
    moment after it was made, can have passed through unseen by both is that short a window."""
    return call_resident({}, _between_host_reads, f"/proc/{daemon_pid}/ns/net", f"/proc/{pid}/ns/net",
                         tuple(sysctl_names), timeout=timeout, what=what)
