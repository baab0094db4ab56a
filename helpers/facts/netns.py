"""A network namespace as read through netlink: its interfaces, addresses, routes and sysctls."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    def describe(self) -> str:
        """Interfaces, routes and neighbours as an engineer reads them after a failure."""
        return "\n".join([
            *(iface.describe() for iface in self.interfaces),
            *(f"route {route.describe()}" for route in self.routes),
            *(f"neighbour {entry}" for entry in self.neighbours),
        ])

    def interface(self, name: str) -> Interface | None:
        return next((iface for iface in self.interfaces if iface.name == name), None)

    def by_index(self, index: int) -> Interface | None:
        return next((iface for iface in self.interfaces if iface.index == index), None)

    def default_route(self) -> Route | None:
        return next((route for route in self.routes if route.dst == "default"), None)
