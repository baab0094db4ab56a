"""HOSTS.yaml: the Docker hosts of a fleet run, validated when read (file:line, key, what is allowed).

The format is :data:`HOSTS_DOC`; ``netconform fleet --help`` shows it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netconform.errors import SpecError
from netconform.spec.yamlsrc import LocatedList, LocatedMap, load_located

DEFAULT_SOCKET = "/var/run/docker.sock"
HOSTS_DOC = """\
  hosts:
    - name: lab-a                       # names the host's row and its report directory
      docker_host: tcp://10.0.0.5:2376  # the daemon's API, as DOCKER_HOST
      tls:                              # optional; paths relative to HOSTS.yaml
        ca: certs/ca.pem                # the CA that signed the daemon's certificate
        cert: certs/cert.pem            # the client's certificate and key
        key: certs/key.pem
      profile: docker-defaults          # optional: a shipped profile's name, or a file
      socket: /var/run/docker.sock      # optional: the daemon's socket on that host (the default)"""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
KEYS = {
    "name": "a name for the host ([A-Za-z0-9_.-], unique in the file)",
    "docker_host": "the daemon's API: tcp://HOST:PORT (or unix:///path, ssh://... as DOCKER_HOST)",
    "tls": "a mapping of ca, cert and key: PEM files (relative to HOSTS.yaml)",
    "profile": "a host profile: a shipped one's name (docker-defaults) or a file",
    "socket": f"the daemon's unix socket on that host, mounted into the helper (default {DEFAULT_SOCKET})",
}
TLS_KEYS = ("ca", "cert", "key")


class HostsFileError(SpecError):
    """HOSTS.yaml is malformed: ``file:line: key: problem``."""

    exit_code = 17


@dataclass(frozen=True)
class Tls:
    """Client TLS material: the CA that signed the daemon's certificate, and our certificate and key."""

    ca: Path
    cert: Path
    key: Path


@dataclass(frozen=True)
class FleetHost:
    """One host of the fleet, as HOSTS.yaml declares it."""

    name: str
    docker_host: str
    tls: Tls | None = None
    profile: str | None = None  # a shipped profile's name or an absolute path
    socket: str = DEFAULT_SOCKET
    line: int = 0


def load_hosts(path: Path) -> list[FleetHost]:
    """The hosts of ``path``, in the order written.

    Raises:
        HostsFileError: unreadable, not YAML, or not as documented in the module docstring.
    """
    shown = str(path)
    try:
        document = load_located(path, shown)
    except SpecError as err:
        raise HostsFileError(err.path, err.line, err.key, err.problem, err.allowed) from err
    if not isinstance(document, LocatedMap) or set(document) != {"hosts"}:
        raise HostsFileError(shown, getattr(document, "line", 1), "(file)",
                             "must be a mapping with one key, hosts: a list of hosts", "hosts")
    listed = document["hosts"]
    if not isinstance(listed, LocatedList) or not listed:
        raise HostsFileError(shown, document.key_lines["hosts"], "hosts", "must be a non-empty list of hosts")
    hosts = [_host(shown, path.parent, item, line) for item, line in zip(listed, listed.item_lines, strict=True)]
    seen: dict[str, int] = {}
    for host in hosts:
        if host.name in seen:
            raise HostsFileError(shown, host.line, "name",
                                 f"{host.name!r} is already the name of the host at line {seen[host.name]}")
        seen[host.name] = host.line
    return hosts


def _host(shown: str, base: Path, item: Any, line: int) -> FleetHost:
    if not isinstance(item, LocatedMap):
        raise HostsFileError(shown, line, "(host)", f"must be a mapping, not {_kind(item)}", ", ".join(KEYS))

    def fail(key: str, problem: str, allowed: str = "") -> HostsFileError:
        return HostsFileError(shown, item.key_lines.get(key, item.line), key, problem, allowed)

    for key in item:
        if key not in KEYS:
            raise fail(key, "unknown key", ", ".join(KEYS))
    for key in ("name", "docker_host"):
        if key not in item:
            raise fail(key, f"missing: every host needs {KEYS[key]}")
    for key in ("name", "docker_host", "profile", "socket"):
        if key in item and (not isinstance(item[key], str) or not item[key].strip()):
            raise fail(key, f"must be a non-empty string: {KEYS[key]}, not {_kind(item[key])}")
    if not _NAME.match(item["name"]):
        raise fail("name", f"{item['name']!r} is not a valid host name", KEYS["name"])
    if "://" not in item["docker_host"]:
        raise fail("docker_host", f"{item['docker_host']!r} names no scheme", KEYS["docker_host"])
    if "socket" in item and not item["socket"].startswith("/"):
        raise fail("socket", f"{item['socket']!r} is not an absolute path", KEYS["socket"])
    profile = item.get("profile")
    if profile is not None and ("/" in profile or profile.endswith((".yaml", ".yml"))):
        profile = str((base / profile).resolve())
    return FleetHost(name=item["name"], docker_host=item["docker_host"].strip(),
                     tls=_tls(shown, base, item, fail) if "tls" in item else None, profile=profile,
                     socket=item.get("socket", DEFAULT_SOCKET), line=line)


def _tls(shown: str, base: Path, item: LocatedMap, fail: Any) -> Tls:
    tls = item["tls"]
    if not isinstance(tls, LocatedMap):
        raise fail("tls", f"must be a mapping, not {_kind(tls)}", ", ".join(TLS_KEYS))
    files: dict[str, Path] = {}
    for key in tls:
        if key not in TLS_KEYS:
            raise HostsFileError(shown, tls.key_lines[key], f"tls.{key}", "unknown key", ", ".join(TLS_KEYS))
    for key in TLS_KEYS:
        where = tls.key_lines.get(key, tls.line)
        if key not in tls:
            raise HostsFileError(shown, where, f"tls.{key}", "missing: tls needs ca, cert and key")
        if not isinstance(tls[key], str) or not tls[key].strip():
            raise HostsFileError(shown, where, f"tls.{key}", f"must be a file name, not {_kind(tls[key])}")
        files[key] = (base / tls[key]).resolve()
        if not files[key].is_file():
            raise HostsFileError(shown, where, f"tls.{key}", f"{files[key]} is not a readable file")
    return Tls(**files)


def _kind(value: Any) -> str:
    for kind, text in ((dict, "a mapping"), (list, "a list"), (bool, "a boolean"), (str, "a string")):
        if isinstance(value, kind):
            return text
    return "nothing" if value is None else f"a {type(value).__name__}"


def hosts_yaml(hosts: list[FleetHost]) -> str:
    """HOSTS.yaml text for ``hosts`` (absolute paths), as :func:`load_hosts` reads it back."""
    lines = ["hosts:"]
    for host in hosts:
        lines += [f"  - name: {host.name}", f"    docker_host: {host.docker_host}"]
        if host.tls is not None:
            lines.append(f"    tls: {{ca: {host.tls.ca}, cert: {host.tls.cert}, key: {host.tls.key}}}")
        if host.profile:
            lines.append(f"    profile: {host.profile}")
        if host.socket != DEFAULT_SOCKET:
            lines.append(f"    socket: {host.socket}")
    return "\n".join(lines) + "\n"
