"""Where a scenario's declared subnets and published host ports landed in this run.

Scenarios name concrete subnets (``10.231.0.0/24``) and host ports (``18080``) because they read
well and pin what the daemon does with them. Two runs on one daemon, or a user's own network that
already holds the subnet, would collide on them, so the builder moves a network to a free subnet
(or lets the daemon pick a host port) when the declared one is taken, and records the move here.
Every literal address and published port the scenario states is read through it: expectations
follow the move, and the report says what moved and why.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

# An IPv4 address, optionally with a prefix length, not part of a longer dotted number.
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(/\d{1,2})?(?![\d.])")
# A MAC derived from an IPv4 address (Docker's 02:42:<the address's four bytes>, before 28).
_DERIVED_MAC = re.compile(r"(?<![0-9A-Fa-f:])02:42((?::[0-9A-Fa-f]{2}){4})(?![0-9A-Fa-f:])")


@dataclass
class Relocation:
    """Declared → actual subnets and (protocol, declared host port) → actual host port."""

    subnets: dict[str, str] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)  # "tcp/18080" -> 49153 (JSON-friendly keys)
    notes: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.subnets or self.ports)

    def move_subnet(self, declared: str, actual: str, why: str) -> None:
        self.subnets[declared] = actual
        self.notes.append(f"subnet {declared} moved to {actual}: {why}")

    def move_port(self, proto: str, declared: int, actual: int, why: str) -> None:
        self.ports[f"{proto}/{declared}"] = actual
        self.notes.append(f"host port {declared}/{proto} moved to {actual}: {why}")

    def port(self, proto: str, port: int | None) -> int | None:
        """The host port a declared published port landed on (others unchanged)."""
        if port is None:
            return None
        return self.ports.get(f"{proto}/{port}", port)

    def address(self, text: str) -> str:
        """``text`` with every IPv4 address or network inside a moved subnet moved with it, and
        every MAC derived from such an address (``02:42:<ipv4>``)."""
        if not self.subnets:
            return text
        return _DERIVED_MAC.sub(self._moved_mac, _IPV4.sub(self._moved, text))

    def _moved_mac(self, match: re.Match[str]) -> str:
        address = ".".join(str(int(byte, 16)) for byte in match.group(1)[1:].split(":"))
        moved = self.address(address)
        if moved == address:
            return match.group(0)
        return "02:42:" + ":".join(f"{int(byte):02x}" for byte in moved.split("."))

    def _moved(self, match: re.Match[str]) -> str:
        try:
            address = ipaddress.IPv4Address(match.group(1))
        except ValueError:
            return match.group(0)
        for declared, actual in self.subnets.items():
            old, new = ipaddress.IPv4Network(declared), ipaddress.IPv4Network(actual)
            if address in old:
                offset = int(address) - int(old.network_address)
                return str(ipaddress.IPv4Address(int(new.network_address) + offset)) + (match.group(2) or "")
        return match.group(0)
