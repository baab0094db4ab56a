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
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.hermetic.resident import call_resident
from netconform.observe.dad import await_dad, tentative_addresses
from netconform.observe.identity import namespace_ids, read_generated_files
from netconform.observe.netlink import read_netns


@dataclass
class ProcessView:
    """What one visit read: namespace identities, the network view, the nodename, generated files."""

    namespaces: dict[str, NamespaceId]
    net: NetnsView
    hostname: str
    files: dict[str, str]


def _read_inside(sysctl_names: Sequence[str]) -> tuple[NetnsView, str]:
    # A scenario is observed as it settles: a fresh global IPv6 address (a container's, a bridge's
    # gateway) is tentative for about a second, and meanwhile a peer's SYN goes unanswered and
    # source selection passes it over (docker-proxy then dials from another of the host's
    # addresses). Link-local ones are left alone: every new veth has one, and nothing probes them.
    await_dad(global_only=True)
    return read_netns(sysctl_names), socket.gethostname()


def _read_if_settled(sysctl_names: Sequence[str]) -> tuple[NetnsView, str] | None:
    """:func:`_read_inside` when no global IPv6 address here is tentative, else None (at once)."""
    if tentative_addresses(global_only=True):
        return None
    return read_netns(sysctl_names), socket.gethostname()


def visit_process(pid: int, sysctl_names: Sequence[str], timeout: float, what: str) -> ProcessView:
    """Read ``pid``'s namespaces: its network view and nodename from inside, the rest via /proc.

    Raises:
        ProbeError: the process is gone, or the reading failed or did not answer within ``timeout``.
    """
    namespaces = namespace_ids(pid)
    inside = {"net": f"/proc/{pid}/ns/net", "uts": f"/proc/{pid}/ns/uts"}
    label = f"{what} (network view and hostname)"
    seen = call_resident(inside, _read_if_settled, tuple(sysctl_names), timeout=timeout, what=label)
    if seen is None:  # a fresh address is still tentative: wait in a child of its own, not in the
        # resident that every other visit of this process goes through
        seen = call_in_namespaces(inside, _read_inside, tuple(sysctl_names), timeout=timeout, what=label)
    net, hostname = seen
    return ProcessView(namespaces, net, hostname, read_generated_files(pid))
