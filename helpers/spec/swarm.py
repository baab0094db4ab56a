"""Swarm scenarios: overlay networks, containers placed on nodes, services, and what to expect.

A Swarm scenario (``swarm/*.yaml`` of a checkout) runs on a lab of three daemons in one swarm
(:mod:`netconform.hermetic.swarm_lab`), never on the daemon ``./ci/conform`` tests. Pure data and
validation: no docker, no pyroute2. The shape::

    description: ...
    requires: [vxlan]                # kernel features; missing -> every check skipped with the reason
    networks:                        # overlays, attachable, created on the manager
      red: {subnet: 10.251.1.0/24, internal: false, encrypted: false}
    containers:                      # docker run on a node, attached to one or more overlays
      a: {node: manager, networks: [red]}
    services:                        # docker service create on the manager
      web: {networks: [red], replicas: 2, endpoint_mode: dnsrr, publish: [8080]}
    addressing:                      # the container's interface on that overlay
      - {container: a, network: red, subnet: 10.251.1.0/24, mtu: 1450}
    reachability:                    # from a container (or "underlay", the lab's gateway)
      - {from: a, to: b, network: red, proto: icmp, expect: reach}
      - {from: a, to: b, network: red, proto: tcp, expect: reach, underlay: vxlan}   # or esp
    lookups:                         # asked of the embedded DNS server (127.0.0.11) from a container
      - {from: a, name: tasks.web, expect: "${web.tasks.red}"}

A reachability target is a container (its address on ``network``), a service's VIP
(``web.vip``), ``underlay`` (the lab gateway: egress), or ``node:<name>`` (a node's underlay
address: the ingress routing mesh, with ``port`` published). ``underlay`` also judges how the
probe's packets crossed the underlay: ``esp`` (IPsec only, the payload never readable) or
``vxlan`` (plaintext VXLAN). Expected lookups are lists of
addresses or references (``${a.red}``, ``${web.vip.red}``, ``${web.tasks.red}``), or ``NXDOMAIN``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from netconform.errors import SpecError
from netconform.facts.kernel import KERNEL_FEATURES

NODES = ("manager", "worker1", "worker2")
UNDERLAY_TARGET = "underlay"
ENDPOINT_MODES = ("vip", "dnsrr")
OUTCOMES = ("reach", "blocked")
# How a probe between containers crosses the underlay: ESP only, or plaintext VXLAN.
CARRIERS = ("esp", "vxlan")
# ``source: ingress``: the task sees the receiving node's ingress-sbox address on the ingress
# network (the routing mesh's SNAT; see netconform.judge.swarm_verdicts.judge_source).
INGRESS_SOURCE = "ingress"
_REF = re.compile(r"^\$\{([a-z0-9_-]+)\.(vip\.|tasks\.)?([a-z0-9_-]+)\}$")
_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,15}$")
_TOP = {"description", "requires", "networks", "containers", "services", "addressing", "reachability",
        "lookups", "rejoin"}


@dataclass(frozen=True)
class OverlaySpec:
    key: str
    subnet: str | None = None
    internal: bool = False
    encrypted: bool = False


@dataclass(frozen=True)
class PlacedContainer:
    key: str
    node: str
    networks: tuple[str, ...]


@dataclass(frozen=True)
class ServiceSpec:
    key: str
    networks: tuple[str, ...]
    replicas: int = 2
    endpoint_mode: str = "vip"
    publish: tuple[int, ...] = ()


@dataclass(frozen=True)
class AddressCheck:
    container: str
    network: str
    subnet: str | None = None
    mtu: int | None = None

    @property
    def id(self) -> str:
        return f"{self.container} on {self.network}: addressing"


@dataclass(frozen=True)
class ReachCheck:
    frm: str
    to: str
    proto: str
    expect: str
    network: str | None = None
    port: int = 8080
    underlay: str | None = None  # one of CARRIERS: how the probe's packets cross the underlay
    source: str | None = None  # the source address the target sees: an address, ${c.net} or INGRESS_SOURCE

    @property
    def id(self) -> str:
        port = "" if self.proto == "icmp" else f"/{self.port}"
        via = f" on {self.network}" if self.network else ""
        return f"{self.frm}->{self.to}{via} {self.proto}{port}"


@dataclass(frozen=True)
class LookupCheck:
    frm: str
    name: str
    expect: tuple[str, ...]  # addresses or ${references}; ("NXDOMAIN",) for no such name

    @property
    def id(self) -> str:
        return f"{self.frm}: lookup {self.name}"


@dataclass(frozen=True)
class SwarmScenario:
    name: str
    path: str
    description: str
    requires: tuple[str, ...]
    networks: dict[str, OverlaySpec]
    containers: dict[str, PlacedContainer]
    services: dict[str, ServiceSpec]
    addressing: tuple[AddressCheck, ...]
    reachability: tuple[ReachCheck, ...]
    lookups: tuple[LookupCheck, ...]
    # A worker that leaves the swarm and rejoins before the checks run (its containers are made anew).
    rejoin: str | None = None

    @property
    def check_count(self) -> int:
        return len(self.addressing) + len(self.reachability) + len(self.lookups)


def load_swarm_scenario(path: Path) -> SwarmScenario:
    """Read and validate one Swarm scenario file.

    Raises:
        SpecError: the file is not a valid Swarm scenario; the message names the file and the key.
    """
    try:
        top = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise SpecError(str(path), None, "file", f"cannot read it as YAML: {err}") from err
    return parse_swarm_scenario(top, str(path), path.stem)


def parse_swarm_scenario(top: Any, where: str, name: str) -> SwarmScenario:
    """Validate the parsed YAML ``top`` of the scenario ``name`` (``where`` names it in errors)."""
    top = _mapping(top, where)
    unknown = sorted(set(top) - _TOP)
    if unknown:
        raise _error(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_TOP))})")
    requires = tuple(str(item) for item in top.get("requires") or ())
    for feature in requires:
        if feature not in KERNEL_FEATURES:
            known = ", ".join(KERNEL_FEATURES)
            raise _error(f"{where}: requires: unknown kernel feature {feature!r} (known: {known})")
    networks = {key: _overlay(key, _mapping(spec or {}, f"{where}: networks.{key}"), where)
                for key, spec in _mapping(top.get("networks") or {}, f"{where}: networks").items()}
    containers = {key: _container(key, spec, networks, where)
                  for key, spec in _mapping(top.get("containers") or {}, f"{where}: containers").items()}
    services = {key: _service(key, spec, networks, where)
                for key, spec in _mapping(top.get("services") or {}, f"{where}: services").items()}
    clash = set(containers) & set(services)
    if clash:
        raise _error(f"{where}: {sorted(clash)[0]!r} is both a container and a service")
    scenario = SwarmScenario(
        name=name, path=where, description=str(top.get("description") or "").strip(), requires=requires,
        networks=networks, containers=containers, services=services,
        addressing=tuple(_address(item, where) for item in top.get("addressing") or ()),
        reachability=tuple(_reach(item, where) for item in top.get("reachability") or ()),
        lookups=tuple(_lookup(item, where) for item in top.get("lookups") or ()),
        rejoin=_rejoin(top.get("rejoin"), where),
    )
    _check_references(scenario)
    return scenario


def _error(text: str) -> SpecError:
    """A SpecError from ``"<file>: <key>: <problem>"`` (Swarm specs carry no line numbers)."""
    path, _, rest = text.partition(": ")
    key, _, problem = rest.partition(": ")
    return SpecError(path, None, key, problem or "invalid")


def _mapping(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _error(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _only(spec: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise _error(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})")


def _key(key: str, where: str) -> str:
    if not _KEY.match(str(key)):
        raise _error(f"{where}: name {key!r} is not allowed ([a-z][a-z0-9_-], at most 16 characters)")
    return str(key)


def _overlay(key: str, spec: dict[str, Any], where: str) -> OverlaySpec:
    _only(spec, {"subnet", "internal", "encrypted"}, f"{where}: networks.{key}")
    subnet = spec.get("subnet")
    if subnet is not None:
        try:
            ipaddress.ip_network(str(subnet))
        except ValueError as err:
            raise _error(f"{where}: networks.{key}.subnet: {err}") from err
    return OverlaySpec(_key(key, where), None if subnet is None else str(subnet),
                       bool(spec.get("internal", False)), bool(spec.get("encrypted", False)))


def _networks_of(spec: dict[str, Any], networks: dict[str, OverlaySpec], where: str) -> tuple[str, ...]:
    names = tuple(str(name) for name in spec.get("networks") or ())
    if not names:
        raise _error(f"{where}: networks: name at least one overlay")
    for name in names:
        if name not in networks:
            raise _error(f"{where}: networks: {name!r} is not a network of the scenario ({', '.join(networks)})")
    return names


def _container(key: str, spec: Any, networks: dict[str, OverlaySpec], where: str) -> PlacedContainer:
    here = f"{where}: containers.{key}"
    spec = _mapping(spec, here)
    _only(spec, {"node", "networks"}, here)
    node = str(spec.get("node", ""))
    if node not in NODES:
        raise _error(f"{here}.node: {node!r} is not a lab node (nodes: {', '.join(NODES)})")
    return PlacedContainer(_key(key, where), node, _networks_of(spec, networks, here))


def _service(key: str, spec: Any, networks: dict[str, OverlaySpec], where: str) -> ServiceSpec:
    here = f"{where}: services.{key}"
    spec = _mapping(spec, here)
    _only(spec, {"networks", "replicas", "endpoint_mode", "publish"}, here)
    mode = str(spec.get("endpoint_mode", "vip"))
    if mode not in ENDPOINT_MODES:
        raise _error(f"{here}.endpoint_mode: {mode!r} (allowed: {', '.join(ENDPOINT_MODES)})")
    publish = tuple(int(port) for port in spec.get("publish") or ())
    if publish and mode == "dnsrr":
        raise _error(f"{here}: publish needs endpoint_mode vip (the routing mesh balances on the VIP)")
    return ServiceSpec(_key(key, where), _networks_of(spec, networks, here), int(spec.get("replicas", 2)),
                       mode, publish)


def _address(item: Any, where: str) -> AddressCheck:
    spec = _mapping(item, f"{where}: addressing")
    _only(spec, {"container", "network", "subnet", "mtu"}, f"{where}: addressing")
    mtu = spec.get("mtu")
    return AddressCheck(str(spec.get("container")), str(spec.get("network")),
                        None if spec.get("subnet") is None else str(spec["subnet"]),
                        None if mtu is None else int(mtu))


def _reach(item: Any, where: str) -> ReachCheck:
    spec = _mapping(item, f"{where}: reachability")
    _only(spec, {"from", "to", "proto", "expect", "network", "port", "underlay", "source"}, f"{where}: reachability")
    proto, expect = str(spec.get("proto")), str(spec.get("expect"))
    if proto not in ("icmp", "tcp", "udp"):
        raise _error(f"{where}: reachability: proto {proto!r} (allowed: icmp, tcp, udp)")
    if expect not in OUTCOMES:
        raise _error(f"{where}: reachability: expect {expect!r} (allowed: {', '.join(OUTCOMES)})")
    network, underlay = spec.get("network"), spec.get("underlay")
    if underlay is not None and (underlay not in CARRIERS or expect != "reach"):
        raise _error(f"{where}: reachability: underlay {underlay!r} needs expect reach "
                     f"(allowed: {', '.join(CARRIERS)})")
    source = spec.get("source")
    if source is not None and (proto == "icmp" or expect != "reach"):
        raise _error(f"{where}: reachability: source {source!r} needs proto tcp or udp and expect reach "
                     "(the echo listener reports the source it saw)")
    return ReachCheck(str(spec.get("from")), str(spec.get("to")), proto, expect,
                      None if network is None else str(network), int(spec.get("port", 8080)),
                      None if underlay is None else str(underlay), None if source is None else str(source))


def _lookup(item: Any, where: str) -> LookupCheck:
    spec = _mapping(item, f"{where}: lookups")
    _only(spec, {"from", "name", "expect"}, f"{where}: lookups")
    expect = spec.get("expect")
    values = tuple(str(value) for value in (expect if isinstance(expect, list) else [expect]))
    return LookupCheck(str(spec.get("from")), str(spec.get("name")), values)


def _rejoin(value: Any, where: str) -> str | None:
    if value is None:
        return None
    if value not in NODES[1:]:
        raise _error(f"{where}: rejoin: {value!r} is not a worker (workers: {', '.join(NODES[1:])})")
    return str(value)


def _check_references(scenario: SwarmScenario) -> None:
    """Every check names containers, services and networks the scenario declares."""
    where = scenario.path
    containers, services, networks = scenario.containers, scenario.services, scenario.networks
    for address in scenario.addressing:
        if address.container not in containers or address.network not in containers[address.container].networks:
            raise _error(f"{where}: addressing: {address.container!r} is not a container on {address.network!r}")
    for reach in scenario.reachability:
        if reach.frm not in containers and reach.frm != UNDERLAY_TARGET:
            raise _error(f"{where}: reachability: from {reach.frm!r} is not a container or {UNDERLAY_TARGET!r}")
        target = reach.to.removesuffix(".vip")
        node = reach.to.startswith("node:") and reach.to.removeprefix("node:") in NODES
        vip = reach.to.endswith(".vip") and target in services
        if not (reach.to == UNDERLAY_TARGET or node or vip or target in containers):
            raise _error(f"{where}: reachability: to {reach.to!r} is not a container, <service>.vip, "
                            f"{UNDERLAY_TARGET!r} or node:<name>")
        if reach.network is not None and reach.network not in networks:
            raise _error(f"{where}: reachability: network {reach.network!r} is not declared")
        if reach.network is None and (target in containers or target in services):
            raise _error(f"{where}: reachability {reach.id}: name the network whose address is probed")
        if reach.source == INGRESS_SOURCE and not node:
            raise _error(f"{where}: reachability {reach.id}: source {INGRESS_SOURCE!r} needs to: node:<name> "
                         "(the node whose routing mesh receives the probe)")
        if reach.source is not None and reach.source != INGRESS_SOURCE:
            _check_source(reach.source, scenario, f"{where}: reachability {reach.id}: source")
    for lookup in scenario.lookups:
        if lookup.frm not in containers:
            raise _error(f"{where}: lookups: from {lookup.frm!r} is not a container")
        for value in lookup.expect:
            _check_value(value, scenario, f"{where}: lookups {lookup.name!r}")


def _check_source(value: str, scenario: SwarmScenario, where: str) -> None:
    if value.startswith("${"):
        reference = parse_reference(value)
        if reference is not None and reference[1]:
            raise _error(f"{where}: {value!r} is a service's; a source is one address (allowed: ${{c.net}})")
        _check_value(value, scenario, where)
        return
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _error(f"{where}: {value!r} (allowed: an address, ${{c.net}}, {INGRESS_SOURCE})") from None


def _check_value(value: str, scenario: SwarmScenario, where: str) -> None:
    if value == "NXDOMAIN" or not value.startswith("${"):
        return
    match = _REF.match(value)
    if match is None:
        raise _error(f"{where}: reference {value!r} (allowed: ${{c.net}}, ${{svc.vip.net}}, ${{svc.tasks.net}})")
    subject, kind, network = match.groups()
    known = scenario.services if kind else scenario.containers
    if subject not in known or network not in scenario.networks:
        what = "service" if kind else "container"
        raise _error(f"{where}: reference {value!r} names an unknown {what} or network")


def parse_reference(value: str) -> tuple[str, str, str] | None:
    """``${a.red}`` -> ("a", "", "red"); ``${web.vip.red}`` -> ("web", "vip", "red"); else None."""
    match = _REF.match(value)
    if match is None:
        return None
    subject, kind, network = match.groups()
    return subject, (kind or "").rstrip("."), network
