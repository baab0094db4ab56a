"""The catalogue of properties a spec may expect of a container: name pattern, aspect, meaning.

This is the single list of what can be checked. The judge registers one observer per entry
(a unit test keeps the two in step); the spec loader rejects any property not listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAMESPACE_KINDS = ("net", "uts", "ipc", "pid", "mnt", "user", "cgroup")
ASPECTS = ("namespaces", "addressing", "hostname", "dns", "reachability", "options")


@dataclass(frozen=True)
class Property:
    """One checkable property. ``pattern`` is matched against the dotted path in ``expect``."""

    pattern: str
    shown: str
    aspect: str
    meaning: str
    # The parameter (the pattern's group) may hold ${references}, resolved when judged.
    templated: bool = False
    # False for the properties of reachability probes, which are not declared under expect.<container>.
    in_expect: bool = True

    def matches(self, path: str) -> re.Match[str] | None:
        return re.fullmatch(self.pattern, path)


PROPERTIES: tuple[Property, ...] = (
    Property(
        r"namespaces\.(net|uts|ipc|pid|mnt|user|cgroup)", "namespaces.<kind>", "namespaces",
        "whose namespace of this kind the container is in: host, private, or container:<name>",
    ),
    Property(r"interfaces", "interfaces", "addressing", "the set of interface names in the container's netns"),
    Property(r"interface\.([^.]+)\.ipv4", "interface.<if>.ipv4", "addressing",
             "the interface's IPv4 addresses (without prefix length)"),
    Property(r"interface\.([^.]+)\.addresses", "interface.<if>.addresses", "addressing",
             "every address of the interface as CIDR, IPv4 and IPv6"),
    Property(r"interface\.([^.]+)\.mtu", "interface.<if>.mtu", "addressing", "the interface MTU"),
    Property(r"interface\.([^.]+)\.mac", "interface.<if>.mac", "addressing", "the interface MAC address"),
    Property(r"interface\.([^.]+)\.kind", "interface.<if>.kind", "addressing",
             "the link kind netlink reports (veth, bridge, ...; 'device' when none)"),
    Property(r"interface\.([^.]+)\.bridge", "interface.<if>.bridge", "addressing",
             "the bridge the host end of this veth is enslaved to ('none' when not enslaved)"),
    Property(r"default_route\.via", "default_route.via", "addressing",
             "the IPv4 default route's gateway, or 'none' when there is no default route"),
    Property(r"default_route\.dev", "default_route.dev", "addressing",
             "the interface of the IPv4 default route, or 'none'"),
    Property(r"routes", "routes", "addressing",
             "IPv4 routes of the main table as 'default via GW dev IF' / 'CIDR dev IF'"),
    Property(r"sysctl\.(.+)", "sysctl.<name>", "addressing",
             "a network-namespace sysctl as seen inside the container (net.ipv4.ip_forward, ...)"),
    Property(r"hostname", "hostname", "hostname", "the nodename of the container's UTS namespace"),
    Property(r"hostname_file", "hostname_file", "hostname", "the content of the container's /etc/hostname"),
    Property(r"resolv\.(nameservers|search|options)", "resolv.<nameservers|search|options>", "dns",
             "the directives of the container's /etc/resolv.conf, parsed (comments and order of "
             "lines carry no meaning)"),
    Property(r"hosts_entries", "hosts_entries", "dns",
             "every mapping of /etc/hosts as 'address name...' lines, normalised (no comments/blank lines)"),
    Property(r"hosts\.(.+)", "hosts.<name>", "dns", "the addresses /etc/hosts maps the name to", templated=True),
    Property(r"lookup\.(.+)", "lookup.<name>", "dns",
             "the A answers for the name from the container's first nameserver, asked from inside its "
             "netns: sorted addresses, or NXDOMAIN / NODATA / SERVFAIL / REFUSED / timeout", templated=True),
    Property(r"reverse\.(.+)", "reverse.<address>", "dns",
             "the PTR answers for the address from the container's first nameserver", templated=True),
    Property(r"forwarded\.(.+)", "forwarded.<name>", "dns",
             "the source addresses the sentinel's DNS server saw asking for the name while the "
             "container looked it up ([] when the query never reached the sentinel)", templated=True),
    Property(r"reach", "reach", "reachability", "reach or blocked, from the probe's outcome", in_expect=False),
    Property(r"source", "source", "reachability", "the source address the listener saw", in_expect=False),
    Property(r"created", "created", "options", "whether the daemon accepted and started the container"),
    Property(r"refused", "refused", "options",
             "the daemon's error when it refuses to create/start the container ('none' when accepted)"),
    Property(r"left_behind", "left_behind", "options",
             "whether the daemon kept a container object although it refused to start it (removed by "
             "the suite either way)"),
)


def find_property(path: str) -> Property | None:
    for prop in PROPERTIES:
        if prop.matches(path):
            return prop
    return None


def allowed_properties() -> str:
    return ", ".join(prop.shown for prop in PROPERTIES if prop.in_expect)
