"""What a scenario creates: its networks and containers, built from a tree the schema has checked.

The schema has already checked keys, types and formats; what is checked here needs the scenario
as a whole: a container's network mode names a declared network or an earlier container, options
given per network name networks the container is attached to, addresses lie inside their subnet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from netconform.spec.model import RESERVED_MODES, ContainerSpec, NetworkSpec, PortSpec
from netconform.spec.values import Names, Value, Where, parse_value
from netconform.spec.yamlsrc import line_of, where


def build_networks(top: Mapping[str, Any], path: str, names: Names | None = None) -> dict[str, NetworkSpec]:
    """The ``networks`` block as NetworkSpecs, by key; ``names`` are what an option's ${reference}
    may name (none by default).

    Raises:
        SpecError: a gateway or ip_range outside its subnet; an existing network declared with
            more than its name, or twice.
    """
    declared = top.get("networks") or {}
    known = names or Names(frozenset(), frozenset())
    networks = {key: _network(key, body or {}, path, f"networks.{key}", line_of(declared, key), known)
                for key, body in declared.items()}
    named: dict[str, str] = {}
    for key, network in networks.items():
        if network.existing is not None and named.setdefault(network.existing, key) != key:
            raise where(path, declared[key], "existing", f"networks.{key}.existing").error(
                f"network {network.existing!r} is already declared as {named[network.existing]!r}",
                "one key per network")
    return networks


def _network(key: str, spec: Mapping[str, Any], path: str, keypath: str, line: int | None,
             names: Names) -> NetworkSpec:
    if "existing" in spec:
        return _existing(key, spec, path, keypath, line)
    # The schema has checked the formats (IPv4) and that gateway and ip_range come with a subnet.
    subnet = str(ipaddress.IPv4Network(spec["subnet"])) if "subnet" in spec else None
    gateway = str(ipaddress.IPv4Address(spec["gateway"])) if "gateway" in spec else None
    ip_range = str(ipaddress.IPv4Network(spec["ip_range"])) if "ip_range" in spec else None
    if subnet is not None:
        outside = {
            "gateway": gateway is not None and ipaddress.IPv4Address(gateway) not in ipaddress.IPv4Network(subnet),
            "ip_range": ip_range is not None and not ipaddress.IPv4Network(ip_range).subnet_of(
                ipaddress.IPv4Network(subnet)),
        }
        for name in ("gateway", "ip_range"):
            if outside[name]:
                raise where(path, spec, name, f"{keypath}.{name}").error(
                    f"{spec[name]} is not inside subnet {subnet}", f"an address in {subnet}")
    declared = spec.get("options") or {}
    options = tuple((name, parse_value(_option_text(value), where(path, declared, name, f"{keypath}.options.{name}"),
                                       names)) for name, value in declared.items())
    subnet6 = str(ipaddress.IPv6Network(spec["subnet6"])) if "subnet6" in spec else None
    gateway6 = str(ipaddress.IPv6Address(spec["gateway6"])) if "gateway6" in spec else None
    if subnet6 is not None and gateway6 is not None and ipaddress.IPv6Address(gateway6) not in ipaddress.IPv6Network(
            subnet6):
        raise where(path, spec, "gateway6", f"{keypath}.gateway6").error(
            f"{gateway6} is not inside subnet6 {subnet6}", f"an address in {subnet6}")
    return NetworkSpec(key, spec.get("driver", "bridge"), bool(spec.get("internal", False)), subnet, gateway,
                       ip_range, options, line, subnet6=subnet6, gateway6=gateway6)


def _existing(key: str, spec: Mapping[str, Any], path: str, keypath: str, line: int | None) -> NetworkSpec:
    """A network looked up by name: what it is was decided when it was created, not here."""
    name = spec["existing"]
    if name in RESERVED_MODES:
        mode = "network: bridge" if name == "bridge" else f"network: {name}"
        raise where(path, spec, "existing", f"{keypath}.existing").error(
            f"{name!r} is not a user-defined network", f"the name of a user-defined network ({mode} for {name})")
    declared = [other for other in spec if other != "existing"]
    if declared:
        raise where(path, spec, declared[0], f"{keypath}.{declared[0]}").error(
            "an existing network is only named: its driver, addresses and options are its own", "existing alone")
    return NetworkSpec(key, line=line, existing=name)


def build_containers(top: Mapping[str, Any], networks: dict[str, NetworkSpec], path: str,
                     ) -> dict[str, ContainerSpec]:
    """The ``containers`` block as ContainerSpecs, by key, in the order declared.

    Raises:
        SpecError: the first container whose mode, networks or addresses do not fit the scenario.
    """
    declared = top["containers"]
    names = Names(frozenset(declared), frozenset(networks) | {"bridge"}, "segment" in top)
    result: dict[str, ContainerSpec] = {}
    for key, body in declared.items():
        builder = _ContainerBuilder(path, key, body or {}, networks, names)
        result[key] = builder.build(list(declared), result, line_of(declared, key))
    return result


class _ContainerBuilder:
    """One container: resolves its network mode and reads its options."""

    def __init__(self, path: str, key: str, spec: Mapping[str, Any], networks: dict[str, NetworkSpec],
                 names: Names) -> None:
        self.path = path
        self.key = key
        self.spec = spec
        self.keypath = f"containers.{key}"
        self.networks = networks
        self.names = names

    def build(self, keys: list[str], earlier: dict[str, ContainerSpec], line: int | None) -> ContainerSpec:
        spec = self.spec
        mode, target, attached = self._mode(keys, earlier)
        ips = tuple((net, str(ipaddress.ip_address(ip))) for net, ip in self._per_network("ip", attached))
        for net, ip in ips:
            subnet = self.networks[net].subnet if net in self.networks else None
            if subnet and ipaddress.ip_address(ip) not in ipaddress.ip_network(subnet):
                raise self._where("ip").error(f"{ip} is not inside {net}'s subnet {subnet}", f"an address in {subnet}")
        hosts = spec.get("add_hosts") or {}
        add_hosts = tuple((name, self._value(value, hosts, name, f"add_hosts.{name}")) for name, value in hosts.items())
        return ContainerSpec(
            key=self.key, mode=mode, target=target, networks=attached,
            aliases=tuple((net, _strings(value)) for net, value in self._per_network("aliases", attached)),
            ips=ips, hostname=spec.get("hostname"), userns=spec.get("userns"), mac_address=spec.get("mac_address"),
            dns=tuple(self._value(value, spec, "dns", "dns") for value in _strings(spec.get("dns", ()))),
            dns_search=_strings(spec.get("dns_search", ())), dns_options=_strings(spec.get("dns_options", ())),
            add_hosts=add_hosts, publish=self._published(), publish_all=bool(spec.get("publish_all", False)),
            expose=tuple(_port(item)[0] for item in _items(spec.get("expose", []))), line=line,
            at_create=bool(spec.get("networks_at_create", False)), gw_priorities=self._gw_priorities(attached),
            sysctls=tuple((name, str(value)) for name, value in (spec.get("sysctls") or {}).items()),
        )

    def _gw_priorities(self, attached: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
        """Gateway priorities go in the create request: of the first network, or of every one
        with networks_at_create."""
        priorities = tuple((net, int(value)) for net, value in self._per_network("gw_priority", attached))
        late = [net for net, _ in priorities if net != attached[0]] if attached else []
        if late and not self.spec.get("networks_at_create"):
            raise self._where("gw_priority").error(
                f"{late[0]} is connected after create, where no gateway priority can be given",
                "networks_at_create: true, or a priority for the first network only")
        return priorities

    def _published(self) -> tuple[PortSpec, ...]:
        """``publish`` with ranges spread into one port each (as the docker CLI sends them)."""
        ports: list[PortSpec] = []
        for item in _items(self.spec.get("publish", [])):
            text = str(item)
            host = text.rsplit(":", 2)[0] if text.count(":") == 2 else None
            host_ip = self._value(host, self.spec, "publish", "publish") if host else None
            try:
                ports.extend(replace(port, host_ip=host_ip) for port in _port(text))
            except ValueError as err:
                raise self._where("publish").error(f"{text!r}: {err}", '"18100-18102:8100-8102"') from None
        return tuple(ports)

    def _where(self, key: str) -> Where:
        return where(self.path, self.spec, key, f"{self.keypath}.{key}")

    def _value(self, raw: Any, node: Mapping[str, Any], key: str, keypath: str) -> Value:
        """A value that may hold ${references}, found at ``node[key]``."""
        return parse_value(raw, where(self.path, node, key, f"{self.keypath}.{keypath}"), self.names)

    def _mode(self, keys: list[str], earlier: dict[str, ContainerSpec]) -> tuple[str, str | None, tuple[str, ...]]:
        """(mode, target container, networks attached) from ``network`` or ``networks``."""
        spec, networks = self.spec, self.networks
        allowed = "bridge, host, none, container:<key>, or one of: " + (", ".join(networks) or "(no networks)")
        if "network" in spec and "networks" in spec:
            raise self._where("networks").error("give either network or networks, not both")
        if "networks" in spec:
            listed = _strings(spec["networks"])
            for name in listed:
                if name not in networks and name != "bridge":
                    raise self._where("networks").error(
                        f"unknown network {name!r}", "bridge or one of: " + ", ".join(networks))
            return ("network" if listed[0] != "bridge" else "bridge"), None, listed
        mode = spec.get("network", "bridge")
        where_mode = self._where("network")
        if mode in RESERVED_MODES:
            return mode, None, (("bridge",) if mode == "bridge" else ())
        if mode.startswith("container:"):
            target = mode.split(":", 1)[1]
            if target == self.key:
                raise where_mode.error("a container cannot join its own network namespace", allowed)
            if target not in keys:
                raise where_mode.error(f"container {target!r} is not defined", "container:<one of " +
                                       ", ".join(k for k in keys if k != self.key) + ">")
            if target not in earlier:
                raise where_mode.error(f"container {target!r} must be declared before {self.key!r}, which joins it",
                                       "declare the target first")
            return "container", target, ()
        if mode in networks:
            return "network", None, (mode,)
        raise where_mode.error(f"unknown network mode {mode!r}", allowed)

    def _per_network(self, key: str, attached: tuple[str, ...]) -> list[tuple[str, Any]]:
        """``key: value`` applies to the first network; ``key: {net: value}`` names networks."""
        if key not in self.spec:
            return []
        value = self.spec[key]
        if not isinstance(value, Mapping):
            return [(attached[0] if attached else "bridge", value)]
        for net in value:
            if net not in attached:
                raise where(self.path, value, net, f"{self.keypath}.{key}.{net}").error(
                    f"the container is not attached to {net!r}", ", ".join(attached) or "(none)")
        return list(value.items())


def _strings(value: Any) -> tuple[str, ...]:
    """A string or a list of strings (the schema allows both) as a tuple."""
    return (value,) if isinstance(value, str) else tuple(value)


def _items(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _port(item: str | int) -> list[PortSpec]:
    """``80``, ``"8080:80"``, ``"127.0.0.1:8080:80/udp"``, ``"18100-18102:8100-8102"`` (the schema
    has checked the form; the host address is left to the caller, it may be a reference).

    Raises:
        ValueError: a range that runs backwards, or host and container ranges of different lengths.
    """
    text, _, protocol = str(item).partition("/")
    *host, port = text.split(":")
    inside = _range(port)
    outside = _range(host[-1]) if host and host[-1] else None
    if outside is not None and len(outside) != len(inside):
        raise ValueError(f"{len(outside)} host ports for {len(inside)} container ports")
    return [PortSpec(number, protocol or "tcp", outside[index] if outside else None)
            for index, number in enumerate(inside)]


def _range(text: str) -> range:
    first, _, last = text.partition("-")
    span = range(int(first), int(last or first) + 1)
    if not span:
        raise ValueError(f"the range {text} runs backwards")
    return span


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
