"""A daemon's networking settings as they are in effect, each with where it was read.

Read before a run creates anything (creating a network makes the daemon re-apply its rules), so
they describe the host as it was found. Values are JSON-able: bool, int, str, lists, None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Every setting netconform reads, its kind of value and what it means. Names are dockerd's option
# names with '_' (or the kernel's sysctl names); profiles and ${setting.*} references use them.
SETTINGS: dict[str, tuple[str, str]] = {
    "icc": ("bool", "containers on the default bridge may reach each other (--icc)"),
    "ip_masq": ("bool", "traffic leaving the default bridge is masqueraded to the host's address (--ip-masq)"),
    "iptables": ("bool", "Docker manages iptables: isolation between networks, NAT, published ports (--iptables)"),
    "ip6tables": ("bool", "Docker manages ip6tables for IPv6 networks (--ip6tables)"),
    "ip_forward": ("bool", "Docker turns on net.ipv4.ip_forward at start (--ip-forward)"),
    "userland_proxy": ("bool", "docker-proxy serves published ports for host-local clients (--userland-proxy)"),
    "ipv6": ("bool", "the default bridge has IPv6 (--ipv6)"),
    "mtu": ("int", "MTU of the default bridge's containers (--mtu)"),
    "bip": ("cidr", "the default bridge's gateway address and prefix (--bip)"),
    "fixed_cidr": ("cidr", "the part of the default bridge's subnet containers get addresses from (--fixed-cidr)"),
    "fixed_cidr_v6": ("cidr", "the IPv6 subnet the default bridge's containers get addresses from (--fixed-cidr-v6)"),
    "default_bind_ip": ("address", "host address published ports bind to when none is given (--ip)"),
    "bridge": ("str", "the default bridge's interface name (--bridge)"),
    "userns_remap": ("str", "user-namespace remapping: the user name, or '' when off (--userns-remap)"),
    "userns_remapped": ("bool", "the engine reports user-namespace remapping in effect"),
    "firewall_backend": ("str", "iptables or nftables (--firewall-backend, Docker 28+)"),
    "default_address_pools": ("pools", "where new networks' subnets come from (--default-address-pool)"),
    "dns": ("addresses", "nameservers given to containers (--dns); [] means the host's"),
    "dns_search": ("list", "search domains given to containers (--dns-search)"),
    "dns_options": ("list", "resolver options given to containers (--dns-opt)"),
    "net.ipv4.ip_forward": ("int", "the kernel forwards IPv4 in the daemon's network namespace"),
    "net.bridge.bridge-nf-call-iptables": ("int", "bridged IPv4 traffic passes iptables (br_netfilter)"),
    "net.bridge.bridge-nf-call-ip6tables": ("int", "bridged IPv6 traffic passes ip6tables (br_netfilter)"),
    "br_netfilter": ("bool", "br_netfilter is present (built in or loaded) in the daemon's network namespace"),
    "forward_policy": ("str", "policy of the FORWARD chain in the daemon's network namespace (ACCEPT or DROP)"),
    "docker_nat_chain": ("bool", "the nat table has Docker's DOCKER chain (Docker manages NAT)"),
}


@dataclass
class Setting:
    """One setting. ``value`` is None with ``unreadable`` saying why when it could not be read."""

    value: Any
    source: str
    unreadable: str = ""

    def describe(self) -> str:
        if self.unreadable:
            return f"<unreadable: {self.unreadable}>"
        return f"{self.value!r} ({self.source})"


@dataclass
class EffectiveSettings:
    """The daemon's networking settings, the command line and config file they came from."""

    settings: dict[str, Setting] = field(default_factory=dict)
    command_line: list[str] = field(default_factory=list)
    config_file: str | None = None

    def value(self, name: str) -> Any:
        return self.settings[name].value

    def describe(self) -> str:
        return "\n".join(f"{name}: {setting.describe()}" for name, setting in sorted(self.settings.items()))
