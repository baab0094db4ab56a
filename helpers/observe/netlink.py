"""Interfaces, addresses, routes and per-netns sysctls, read through netlink from inside a netns.

:func:`read_netns` runs in a process that has joined the target network namespace (the resident
visitor, :mod:`netconform.hermetic.resident`); it never parses ``ip`` output. :func:`interface_names`
is the names alone, for the rereads that only compare which interfaces exist: pyroute2 decodes
every attribute of every link and route in Python (~130 ms for a namespace with 150 veths, as the
daemon's gets during a run), the C library's ``if_nameindex`` makes the same link dump in ~1.5 ms.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from typing import Any

from pyroute2 import IPRoute

from netconform.facts import Interface, NetnsView, Route
from netconform.hermetic.resident import call_resident

_MAIN_TABLE = 254
_IFF_UP = 0x1
_AF_INET = 2
_AF_INET6 = 10
_RTN_UNICAST = 1
# Neighbour (ARP) entry states, linux/neighbour.h.
_NUD_STATES = {0x01: "INCOMPLETE", 0x02: "REACHABLE", 0x04: "STALE", 0x08: "DELAY", 0x10: "PROBE", 0x20: "FAILED",
               0x40: "NOARP", 0x80: "PERMANENT", 0x00: "NONE"}


def read_netns(sysctl_names: Sequence[str] = ()) -> NetnsView:
    """Dump the current network namespace (call from inside it)."""
    with IPRoute() as ipr:
        links = list(ipr.get_links())
        addrs = list(ipr.get_addr())
        routes = list(ipr.get_routes(family=_AF_INET, table=_MAIN_TABLE))
        routes6 = list(ipr.get_routes(family=_AF_INET6, table=_MAIN_TABLE))
        neighbours = list(ipr.get_neighbours(family=_AF_INET))
    names = {link["index"]: link.get("ifname") for link in links}
    interfaces = []
    for link in links:
        index = link["index"]
        addresses = [
            f"{addr.get('address')}/{addr['prefixlen']}"
            for addr in addrs
            if addr["index"] == index and addr.get("address")
        ]
        kind = link.get(("linkinfo", "kind")) if link.get("linkinfo") else None
        master = link.get("master")
        interfaces.append(
            Interface(
                index=index,
                name=str(link.get("ifname")),
                kind=str(kind or ("loopback" if link.get("ifname") == "lo" else "device")),
                mac=str(link.get("address") or ""),
                mtu=int(link.get("mtu") or 0),
                up=bool(link["flags"] & _IFF_UP),
                addresses=addresses,
                peer_index=link.get("link"),
                master=names.get(master) if master else None,
            )
        )
    def view(dumped: list[Any]) -> list[Route]:
        return [
            Route(
                dst="default" if route["dst_len"] == 0 else f"{route.get('dst')}/{route['dst_len']}",
                gateway=route.get("gateway"),
                dev=names.get(route.get("oif")),
            )
            for route in dumped
            if route["type"] == _RTN_UNICAST
        ]

    view_neighbours = [
        f"{entry.get('dst')} lladdr {entry.get('lladdr') or '-'} dev {names.get(entry['ifindex'])} "
        f"{_NUD_STATES.get(entry['state'], str(entry['state']))}"
        for entry in neighbours
    ]
    return NetnsView(interfaces, view(routes), _read_sysctls(sysctl_names), view_neighbours, view(routes6))


def interface_names() -> set[str]:
    """The names of the current network namespace's interfaces (call from inside it)."""
    return {name for _, name in socket.if_nameindex()}


def _read_sysctls(names: Sequence[str]) -> dict[str, str]:
    # /proc/sys/net shows the network namespace of the process that opens it: ours, after setns.
    values = {}
    for name in names:
        try:
            with open("/proc/sys/" + name.replace(".", "/")) as handle:
                values[name] = " ".join(handle.read().split())
        except OSError as err:
            values[name] = f"<unreadable: {err.strerror}>"
    return values


def observe_netns(ns_files: Mapping[str, str], sysctl_names: Sequence[str] = (), timeout: float = 10.0,
                  what: str = "netlink dump") -> NetnsView:
    """The network namespace named in ``ns_files['net']``, seen from inside."""
    return call_resident({"net": ns_files["net"]}, read_netns, tuple(sysctl_names), timeout=timeout, what=what)


def observe_interface_names(ns_files: Mapping[str, str], timeout: float = 10.0,
                            what: str = "interface names") -> set[str]:
    """The interface names of the network namespace named in ``ns_files['net']``, seen from inside."""
    return call_resident({"net": ns_files["net"]}, interface_names, timeout=timeout, what=what)
