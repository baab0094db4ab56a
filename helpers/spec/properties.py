"""The catalogue of properties a spec may expect of a container (or of the host, under
``expect.host``): name pattern, aspect, meaning.

This is the single list of what can be checked. The judge registers one observer per entry
(a unit test keeps the two in step); the spec loader rejects any property not listed here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAMESPACE_KINDS = ("net", "uts", "ipc", "pid", "mnt", "user", "cgroup")
ASPECTS = ("namespaces", "addressing", "hostname", "dns", "reachability", "options", "consistency")
# What a property is expected of: a container (expect.<container>), the daemon's host (expect.host)
# or a network (expect.<network>).
SUBJECTS = ("container", "host", "network")


@dataclass(frozen=True)
class Property:
    """One checkable property. ``pattern`` is matched against the dotted path in ``expect``;
    ``meaning`` says what the value is, ``how`` how netconform observes it."""

    pattern: str
    shown: str
    aspect: str
    meaning: str
    how: str
    # The parameter (the pattern's group) may hold ${references}, resolved when judged.
    templated: bool = False
    # False for the properties of reachability probes, which are not declared under expect.<container>.
    in_expect: bool = True
    subject: str = "container"

    def matches(self, path: str) -> re.Match[str] | None:
        return re.fullmatch(self.pattern, path)


# How the values are observed; shared by the properties read the same way.
_NETLINK = ("rtnetlink dumps (links, addresses, routes) made by a child of the suite that joined the "
            "container's network namespace with setns; never by parsing `ip` output")
_FILES = ("read from the host through /proc/<container pid>/root, i.e. the file as the container's mount "
          "namespace shows it")
_DNS = ("a DNS query sent with dnspython by a child that joined the container's network namespace, "
        "straight to the first nameserver of its resolv.conf (bounded attempts, each one recorded)")
_ENGINE = "the daemon's answer to the suite's create/start requests through the Docker API"
_PROBE = ("a probe from inside the prober's network namespace (ICMP echo, TCP connect, UDP echo) with "
          "packet witnesses (AF_PACKET sockets) counting its marked packets leaving the prober's namespace "
          "and arriving in the target's")

_SETTINGS = ("the daemon's settings as intended (the host profile's value where it pins one, else the effective "
             "one, read before the run created anything from the engine API, dockerd's command line, daemon.json, "
             "and the kernel and iptables in the daemon's network namespace; report.json and netconform profile "
             "init show them)")
_CONSISTENT = ("'consistent', or the contradiction between the daemon's own settings and the host that "
               "explains failing behaviour: ")

# An interface name, or a reference to one (``interface.${setting.bridge}.kind``: the default bridge's).
INTERFACE = r"interface\.(\$\{[^}]+\}|[^.]+)"

PROPERTIES: tuple[Property, ...] = (
    Property(
        r"namespaces\.(net|uts|ipc|pid|mnt|user|cgroup)", "namespaces.<kind>", "namespaces",
        "whose namespace of this kind the container is in: host, private, or container:<name>",
        how="the identity (device, inode) of /proc/<pid>/ns/<kind> of the container's process, compared "
            "with dockerd's own and with the containers declared before it",
    ),
    Property(r"interfaces", "interfaces", "addressing", "the set of interface names in the container's netns",
             how=_NETLINK + "; interfaces other scenarios created meanwhile are left out"),
    Property(INTERFACE + r"\.ipv4", "interface.<if>.ipv4", "addressing",
             "the interface's IPv4 addresses (without prefix length)", how=_NETLINK, templated=True),
    Property(INTERFACE + r"\.ipv6", "interface.<if>.ipv6", "addressing",
             "the interface's IPv6 addresses other than link-local ones (without prefix length)", how=_NETLINK,
             templated=True),
    Property(INTERFACE + r"\.ipv6_link_local", "interface.<if>.ipv6_link_local", "addressing",
             "the interface's IPv6 link-local addresses (fe80::/10, without prefix length)", how=_NETLINK,
             templated=True),
    Property(INTERFACE + r"\.addresses", "interface.<if>.addresses", "addressing",
             "every address of the interface as CIDR, IPv4 and IPv6", how=_NETLINK, templated=True),
    Property(INTERFACE + r"\.mtu", "interface.<if>.mtu", "addressing", "the interface MTU", how=_NETLINK,
             templated=True),
    Property(INTERFACE + r"\.mac", "interface.<if>.mac", "addressing", "the interface MAC address", how=_NETLINK,
             templated=True),
    Property(INTERFACE + r"\.kind", "interface.<if>.kind", "addressing",
             "the link kind netlink reports (veth, bridge, ...; 'device' when none)", how=_NETLINK, templated=True),
    Property(INTERFACE + r"\.bridge", "interface.<if>.bridge", "addressing",
             "the bridge the host end of this veth is enslaved to ('none' when not enslaved)",
             how="the veth's peer index read in the container's namespace, then that link and its master "
                 "read through rtnetlink in dockerd's network namespace", templated=True),
    Property(r"default_route\.via", "default_route.via", "addressing",
             "the IPv4 default route's gateway, or 'none' when there is no default route", how=_NETLINK),
    Property(r"default_route\.dev", "default_route.dev", "addressing",
             "the interface of the IPv4 default route, or 'none'", how=_NETLINK),
    Property(r"routes", "routes", "addressing",
             "IPv4 routes of the main table as 'default via GW dev IF' / 'CIDR dev IF'", how=_NETLINK),
    Property(r"default_route6\.via", "default_route6.via", "addressing",
             "the IPv6 default route's gateway, or 'none' when there is no IPv6 default route", how=_NETLINK),
    Property(r"default_route6\.dev", "default_route6.dev", "addressing",
             "the interface of the IPv6 default route, or 'none'", how=_NETLINK),
    Property(r"routes6", "routes6", "addressing",
             "IPv6 unicast routes of the main table as 'default via GW dev IF' / 'CIDR dev IF'", how=_NETLINK),
    Property(r"sysctl\.(.+)", "sysctl.<name>", "addressing",
             "a network-namespace sysctl as seen inside the container (net.ipv4.ip_forward, ...)",
             how="/proc/sys/<name> read by a child that joined the container's network namespace (/proc/sys/net "
                 "shows the namespace of the process that opens it)"),
    Property(r"hostname", "hostname", "hostname", "the nodename of the container's UTS namespace",
             how="gethostname() in a child that joined the container's UTS namespace"),
    Property(r"hostname_file", "hostname_file", "hostname", "the content of the container's /etc/hostname", how=_FILES),
    Property(r"resolv\.(nameservers|search|options)", "resolv.<nameservers|search|options>", "dns",
             "the directives of the container's /etc/resolv.conf, parsed (comments and order of "
             "lines carry no meaning)", how=_FILES + ", then parsed as glibc does"),
    Property(r"hosts_entries", "hosts_entries", "dns",
             "every mapping of /etc/hosts as 'address name...' lines, normalised (no comments/blank lines)",
             how=_FILES),
    Property(r"hosts\.(.+)", "hosts.<name>", "dns", "the addresses /etc/hosts maps the name to", how=_FILES,
             templated=True),
    Property(r"lookup\.(.+)", "lookup.<name>", "dns",
             "the A answers for the name from the container's first nameserver, asked from inside its "
             "netns: sorted addresses, or NXDOMAIN / NODATA / SERVFAIL / REFUSED / timeout", how=_DNS + "; type A",
             templated=True),
    Property(r"lookup6\.(.+)", "lookup6.<name>", "dns",
             "the AAAA answers for the name from the container's first nameserver, asked from inside its "
             "netns: sorted addresses, or NXDOMAIN / NODATA / SERVFAIL / REFUSED / timeout", how=_DNS + "; type AAAA",
             templated=True),
    Property(r"reverse\.(.+)", "reverse.<address>", "dns",
             "the PTR answers for the address (IPv4, or IPv6 through ip6.arpa) from the container's first "
             "nameserver", how=_DNS + "; type PTR", templated=True),
    Property(r"forwarded\.(.+)", "forwarded.<name>", "dns",
             "the source addresses the sentinel's DNS server saw asking for the name while the "
             "container looked it up ([] when the query never reached the sentinel)",
             how="the query log of the authoritative DNS server for netconform.test. that the sentinel host "
                 "runs in its own network namespace, read while the container's lookup was made", templated=True),
    Property(r"reach", "reach", "reachability", "reach or blocked, from the probe's outcome", how=_PROBE,
             in_expect=False),
    Property(r"source", "source", "reachability", "the source address the listener saw",
             how=_PROBE + "; the listener (the sentinel's echo service, or one the suite starts in the target) "
                 "reports the source address of what it received", in_expect=False),
    Property(r"created", "created", "options", "whether the daemon accepted and started the container", how=_ENGINE),
    Property(r"refused", "refused", "options",
             "the daemon's error when it refuses to create/start the container ('none' when accepted)", how=_ENGINE),
    Property(r"left_behind", "left_behind", "options",
             "whether the daemon kept a container object although it refused to start it (removed by "
             "the suite either way)",
             how=_ENGINE + ", then a lookup of the container by its name"),
    Property(r"refused", "refused", "options",
             "the daemon's error when it refuses to create the network ('none' when accepted); the scenario's "
             "build goes on without it, and a network expected to be refused carries no containers",
             how="the daemon's answer to the suite's network create request through the Docker API",
             subject="network"),
    Property(r"left_behind", "left_behind", "options",
             "whether a network of that name exists after the daemon refused it (removed by the suite either way)",
             how="the daemon's answer to the create request, then a lookup of the network by its name",
             subject="network"),
    Property(r"consistent\.bridge_netfilter", "consistent.bridge_netfilter", "consistency",
             _CONSISTENT + "Docker manages iptables (iptables: true) but bridged IPv4 traffic bypasses iptables "
             "(br_netfilter absent, or net.bridge.bridge-nf-call-iptables 0), so containers on one bridge reach "
             "each other whatever icc says; consistent when iptables is false", how=_SETTINGS, subject="host"),
    Property(r"consistent\.ip_forward", "consistent.ip_forward", "consistency",
             _CONSISTENT + "Docker turns on forwarding (ip_forward: true) but net.ipv4.ip_forward is 0, so "
             "nothing leaves a bridge for another one or the outside; consistent when ip_forward is false",
             how=_SETTINGS, subject="host"),
    Property(r"consistent\.nat_chain", "consistent.nat_chain", "consistency",
             _CONSISTENT + "Docker manages iptables (iptables: true) but the nat table has no DOCKER chain, so "
             "published ports and masquerade are missing; consistent when iptables is false",
             how=_SETTINGS, subject="host"),
)


# The DNS properties: the family word of the property path -> the query type it asks.
LOOKUP_QTYPES = {"lookup": "A", "lookup6": "AAAA", "reverse": "PTR", "forwarded": "A"}


def find_property(path: str, subject: str | None = None) -> Property | None:
    """The property ``path`` names; of ``subject`` (container or host) only, when given."""
    for prop in PROPERTIES:
        if prop.matches(path) and subject in (None, prop.subject):
            return prop
    return None


def allowed_properties(subject: str = "container") -> str:
    return ", ".join(prop.shown for prop in PROPERTIES if prop.in_expect and prop.subject == subject)
