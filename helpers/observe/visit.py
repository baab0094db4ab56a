"""Everything observation reads of one process's namespaces, in one visit.

A process's network view and its UTS nodename are read by one child that joins both of its
namespaces (one fork, not one per fact); namespace identities and the generated files are read
from the host through /proc, which needs no child at all.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass

from netconform.facts import NamespaceId, NetnsView
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.observe.dad import await_dad
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


def visit_process(pid: int, sysctl_names: Sequence[str], timeout: float, what: str) -> ProcessView:
    """Read ``pid``'s namespaces: one child in its network and UTS namespaces, the rest via /proc.

    Raises:
        ProbeError: the process is gone, or the child failed or did not answer within ``timeout``.
    """
    namespaces = namespace_ids(pid)
    net, hostname = call_in_namespaces({"net": f"/proc/{pid}/ns/net", "uts": f"/proc/{pid}/ns/uts"},
                                       _read_inside, tuple(sysctl_names), timeout=timeout,
                                       what=f"{what} (network view and hostname)")
    return ProcessView(namespaces, net, hostname, read_generated_files(pid))
