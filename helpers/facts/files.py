"""Meaning of the generated files: resolv.conf directives and /etc/hosts mappings.

Docker 26 writes comments and a generated header into resolv.conf that 20.10 does not; what is
compared is the parsed directives, never the bytes.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ResolvConf:
    nameservers: list[str]
    search: list[str]
    options: list[str]


def parse_resolv_conf(text: str) -> ResolvConf:
    """nameserver / search / domain / options lines; comments and unknown lines are ignored.

    As in glibc, the last of ``search`` and ``domain`` wins, and ``options`` lines accumulate.
    """
    conf = ResolvConf([], [], [])
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        keyword, *values = line.split()
        if keyword == "nameserver" and values:
            conf.nameservers.append(values[0])
        elif keyword in ("search", "domain"):
            conf.search = values
        elif keyword == "options":
            conf.options.extend(values)
    return conf


def parse_hosts(text: str) -> list[str]:
    """Each mapping as ``address name [name...]`` with single spaces; comments and blanks dropped."""
    entries = []
    for raw in text.splitlines():
        fields = raw.split("#", 1)[0].split()
        if len(fields) >= 2:
            entries.append(" ".join(fields))
    return entries


def hosts_addresses(entries: list[str], name: str) -> list[str]:
    """The addresses ``entries`` map ``name`` to, in file order, without repeats."""
    found: list[str] = []
    for entry in entries:
        address, *names = entry.split()
        if name in names and address not in found:
            found.append(address)
    return found
