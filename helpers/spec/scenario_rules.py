"""Rules that span what a scenario creates and what it checks, applied once both are built.

- An option combination the daemon refuses is allowed only in a spec that expects the refusal, so
  an accidental one is caught before anything is created.
- Name lookups never reach the host's upstream resolver: a container that resolves names uses the
  sentinel as its nameserver.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from netconform.errors import SpecError
from netconform.spec.model import Check, ContainerSpec
from netconform.spec.values import Ref, Value
from netconform.spec.yamlsrc import line_of

# What the daemon refuses (DOCKER-NETWORKING.md, "option conflicts").
_REFUSED_WITH = {
    "container": ("hostname", "dns", "add_hosts", "publish", "mac_address", "aliases", "ip"),
    "host": ("mac_address", "aliases", "ip"),
    "none": ("aliases", "ip"),
}
_LOOKUPS = ("lookup.", "reverse.", "forwarded.")
_NAME_FACTS = {"name", "short_id", "id", "hostname"}


def require_declared_refusals(top: Mapping[str, Any], containers: dict[str, ContainerSpec],
                              checks: tuple[Check, ...], path: str) -> None:
    """Refuse a combination the daemon refuses unless ``expect.<container>`` tests that refusal.

    Raises:
        SpecError: at the first such option of a container whose refusal is not tested.
    """
    tested = {check.subject for check in checks if check.prop in ("refused", "created", "left_behind")}
    body = top["containers"]
    for key, spec in containers.items():
        conflicting = _refused_options(spec, top.get("networks") or {})
        if key in tested or not conflicting:
            continue
        raise SpecError(
            path, line_of(body[key], conflicting[0]) or line_of(body, key), f"containers.{key}.{conflicting[0]}",
            f"the daemon refuses {conflicting[0]} with network mode {spec.network_mode!r}",
            f"drop it, or declare expect.{key}.refused to test that refusal",
        )


def require_empty_refused_networks(top: Mapping[str, Any], refused: set[str],
                                   containers: dict[str, ContainerSpec], path: str) -> None:
    """A network the scenario expects the daemon to refuse carries no container: nothing could be
    attached to it, and the containers' own checks would test the refusal twice.

    Raises:
        SpecError: at the first container attached to such a network.
    """
    body = top["containers"]
    for key, spec in containers.items():
        attached = [net for net in spec.networks if net in refused]
        if attached:
            raise SpecError(path, line_of(body, key), f"containers.{key}",
                            f"{key} is attached to {attached[0]!r}, which the scenario expects the daemon to refuse",
                            "no container on a network expected to be refused")


def require_hermetic_dns(containers: dict[str, ContainerSpec], checks: tuple[Check, ...], path: str) -> None:
    """Lookups must never reach the host's upstream resolver (the network rule): a container
    that resolves names must use the sentinel as its --dns server.

    Raises:
        SpecError: at the first check that makes a container resolve names without the sentinel.
    """
    for check in checks:
        if check.reach is not None:
            if check.reach.frm not in containers or not _is_name(check.reach.address):
                continue
            subject = check.reach.frm
        elif check.prop.startswith(_LOOKUPS):
            subject = check.subject
        else:
            continue
        owner = _resolver_owner(containers, subject)
        if any(isinstance(value, Ref) and value.parts == ("sentinel", "address") for value in owner.dns):
            continue
        raise SpecError(
            path, check.line, f"containers.{owner.key}.dns",
            f"{check.name} makes {subject} resolve names, but {owner.key} does not use the sentinel as its "
            "nameserver, so unknown names would go to the host's upstream resolver",
            'dns: ["${sentinel.address}"]',
        )


def _is_name(value: Value) -> bool:
    """Whether a probe address is a name to resolve rather than an address."""
    if isinstance(value, Ref):
        return value.parts[-1] in _NAME_FACTS
    if isinstance(value, str):
        try:
            ipaddress.ip_address(value)
        except ValueError:
            return True
    return False


def _resolver_owner(containers: dict[str, ContainerSpec], key: str) -> ContainerSpec:
    """Whose resolv.conf a container uses: its own, or the target's for container:<target>."""
    spec = containers[key]
    while spec.mode == "container" and spec.target:
        spec = containers[spec.target]
    return spec


def _refused_options(spec: ContainerSpec, networks: Mapping[str, Any]) -> list[str]:
    """Options the daemon refuses for this container's attachment (see DOCKER-NETWORKING.md)."""
    if spec.mode in _REFUSED_WITH:
        return [option for option in _REFUSED_WITH[spec.mode] if _has_option(spec, option)]
    refused = []
    if any(net == "bridge" for net, _ in spec.aliases):
        refused.append("aliases")
    for net, _ in spec.ips:
        if net == "bridge" or "subnet" not in (networks.get(net) or {}):
            refused.append("ip")
    return refused


def _has_option(spec: ContainerSpec, option: str) -> bool:
    values = {
        "hostname": spec.hostname, "dns": spec.dns, "add_hosts": spec.add_hosts, "publish": spec.publish,
        "mac_address": spec.mac_address, "aliases": spec.aliases, "ip": spec.ips,
    }
    return bool(values[option])
