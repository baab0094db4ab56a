"""A network namespace as read through netlink: its interfaces, addresses, routes and sysctls."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

_LINK_LOCAL6 = ipaddress.IPv6Network("fe80::/10")


def _link_local(address: str) -> bool:
    return ipaddress.IPv6Address(address.split("%")[0]) in _LINK_LOCAL6


@dataclass(frozen=True)
class NamespaceId:
    """A namespace's identity: the (device, inode) of its /proc/<pid>/ns/<kind> file."""

    kind: str
    dev: int
    inode: int

    def __str__(self) -> str:
        return f"{self.kind}:[{self.inode}]"


@dataclass
class Interface:
    index: int
    name: str
    kind: str
    mac: str
    mtu: int
    up: bool
    addresses: list[str] = field(default_factory=list)
    peer_index: int | None = None
    master: str | None = None

    @property
    def ipv4(self) -> list[str]:
        return [cidr.split("/")[0] for cidr in self.addresses if ":" not in cidr]

    @property
    def ipv6(self) -> list[str]:
        """The IPv6 addresses other than link-local ones (fe80::/10), without prefix length."""
        return [address for address in self._ipv6 if not _link_local(address)]

    @property
    def ipv6_link_local(self) -> list[str]:
        return [address for address in self._ipv6 if _link_local(address)]

    @property
    def _ipv6(self) -> list[str]:
        return [cidr.split("/")[0] for cidr in self.addresses if ":" in cidr]

    def describe(self) -> str:
        addresses = " ".join(self.addresses) or "no address"
        extra = f" master {self.master}" if self.master else ""
        state = "UP" if self.up else "DOWN"
        return f"{self.index}: {self.name} ({self.kind}) {state} mtu {self.mtu} {self.mac} {addresses}{extra}"


@dataclass
class Route:
    dst: str
    gateway: str | None
    dev: str | None

    def describe(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        dev = f" dev {self.dev}" if self.dev else ""
        return f"{self.dst}{via}{dev}"


@dataclass
class NetnsView:
    """One network namespace as netlink and /proc/sys/net show it from inside."""

    interfaces: list[Interface]
    routes: list[Route]
    sysctls: dict[str, str] = field(default_factory=dict)
    neighbours: list[str] = field(default_factory=list)
    # IPv6 routes of the main table, apart so the IPv4 ``routes`` keep their meaning in old reports.
    routes6: list[Route] = field(default_factory=list)

    def describe(self) -> str:
        """Interfaces, routes and neighbours as an engineer reads them after a failure."""
        return "\n".join([
            *(iface.describe() for iface in self.interfaces),
            *(f"route {route.describe()}" for route in [*self.routes, *self.routes6]),
            *(f"neighbour {entry}" for entry in self.neighbours),
        ])

    def interface(self, name: str) -> Interface | None:
        return next((iface for iface in self.interfaces if iface.name == name), None)

    def by_index(self, index: int) -> Interface | None:
        return next((iface for iface in self.interfaces if iface.index == index), None)

    def default_route(self, family: int = 4) -> Route | None:
        """The default route of IPv4 (``family`` 4) or IPv6 (6)."""
        return next((route for route in (self.routes if family == 4 else self.routes6) if route.dst == "default"),
                    None)
