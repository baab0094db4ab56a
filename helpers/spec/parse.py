"""Load a scenario file and validate it against the schema; build the model or raise SpecError.

Every error names ``file:line``, the key, the problem and what is allowed. Nothing is created for
a spec that does not validate: the plugin loads the spec at collection time.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from netconform.errors import SpecError
from netconform.spec.model import (
    ENDPOINTS,
    PROTOCOLS,
    REACHABILITY,
    RESERVED_MODES,
    Check,
    ContainerSpec,
    NetworkSpec,
    PortSpec,
    ReachSpec,
    Scenario,
)
from netconform.spec.properties import allowed_properties, find_property
from netconform.spec.vacuity import refuse_vacuous
from netconform.spec.values import (
    Matcher,
    Names,
    Ref,
    Select,
    Value,
    Where,
    is_matcher_mapping,
    parse_expectation,
    parse_value,
)
from netconform.spec.yamlsrc import LocatedList, LocatedMap, load_located

T = TypeVar("T")
ECHO_PORT = 7  # the sentinel's echo service (netconform.hermetic.echo.DEFAULT_PORT; the model imports no services)

_KEY = re.compile(r"^[a-z][a-z0-9_-]{0,20}$")
_MAC = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
_PORT = re.compile(r"^(?:(?:(?P<host_ip>[0-9.]+):)?(?P<host_port>\d+)?:)?(?P<port>\d+)(?:/(?P<proto>tcp|udp))?$")

TOP_KEYS = {
    "description": "what the scenario shows, one sentence",
    "networks": "user-defined networks to create, by key",
    "containers": "containers to create, by key, in order",
    "expect": "expectations, by container key",
    "reachability": "a list of probes: from, to, proto, port, expect reach|blocked|one-way",
}
REACH_KEYS = {
    "name": "a label for the probe (default: from->to address proto/port)",
    "from": "a container key, host or sentinel",
    "to": "a container key, host or sentinel",
    "proto": "icmp, tcp or udp",
    "port": "the port the prober connects to (tcp/udp)",
    "address": "where to connect (default: to's address); an address, a ${reference} or a name to resolve",
    "network": "which of to's networks gives its address",
    "listen": "the address the listener binds in to's namespace (default 0.0.0.0)",
    "listen_port": "the port the listener binds (default: port)",
    "expect": "reach, blocked or one-way (the request arrives, no answer comes back)",
    "source": "the source address the listener must see",
    "churn": "probe (icmp only) continuously while the suite creates and removes this many bridge networks",
}
MAX_CHURN = 500
NETWORK_KEYS = {
    "driver": "bridge",
    "internal": "true/false",
    "subnet": "an IPv4 CIDR",
    "gateway": "an IPv4 address inside subnet",
    "ip_range": "an IPv4 CIDR inside subnet",
    "options": "driver options, e.g. com.docker.network.driver.mtu",
}
CONTAINER_KEYS = {
    "network": "bridge, host, none, container:<key>, or a network key",
    "networks": "a list of network keys (the first is attached at create)",
    "aliases": "network aliases: a list, or a mapping network -> list",
    "ip": "a fixed IPv4 address: a string, or a mapping network -> address",
    "hostname": "the container hostname",
    "mac_address": "a MAC address",
    "dns": "nameservers for --dns",
    "dns_search": "search domains for --dns-search",
    "dns_options": "options for --dns-option",
    "add_hosts": "a mapping name -> address or host-gateway",
    "publish": 'ports to publish: "80", "8080:80", "127.0.0.1:8080:80/udp"',
}
DRIVERS = ("bridge",)
# What a probe may be expected to observe ("inconclusive" is never an expectation: it is an error).
EXPECTED_OUTCOMES = ("reach", "blocked", "one-way")
BOOLEAN_PROPERTIES = ("created", "left_behind")
# What the daemon refuses (DOCKER-NETWORKING.md, "option conflicts"); only allowed in a spec that
# expects the refusal, so an accidental combination is caught before anything is created.
_REFUSED_WITH = {
    "container": ("hostname", "dns", "add_hosts", "publish", "mac_address", "aliases", "ip"),
    "host": ("mac_address", "aliases", "ip"),
    "none": ("aliases", "ip"),
}


def load_scenario(path: Path, display: str | None = None, *, checked_elsewhere: bool = False) -> Scenario:
    """Parse and validate one scenario file.

    Args:
        path: the file.
        display: how errors name it (default: ``path``).
        checked_elsewhere: the scenario may declare no expectations (a Python test checks it).

    Raises:
        SpecError: the first problem found, with file:line, key and what is allowed.
    """
    shown = display or str(path)
    raw = load_located(path, shown)
    return _Parser(shown, path.stem, checked_elsewhere).scenario(raw)


def _line(container: Any, key: str | int, default: int | None) -> int | None:
    if isinstance(container, LocatedMap):
        return container.key_lines.get(str(key), default)
    if isinstance(container, LocatedList) and isinstance(key, int) and key < len(container.item_lines):
        return container.item_lines[key]
    return default


class _Parser:
    def __init__(self, path: str, name: str, checked_elsewhere: bool = False) -> None:
        self.path = path
        self.name = name
        self.checked_elsewhere = checked_elsewhere

    def where(self, parent: Any, key: str | int, keypath: str) -> Where:
        return Where(self.path, _line(parent, key, getattr(parent, "line", None)), keypath)

    def mapping(self, raw: Any, keypath: str, line: int | None, allowed: Mapping[str, str] | None) -> LocatedMap:
        if not isinstance(raw, LocatedMap):
            kind = type(raw).__name__ if raw is not None else "nothing"
            raise SpecError(self.path, line, keypath, f"expected a mapping, found {kind}")
        if allowed is not None:
            for key in raw:
                if key not in allowed:
                    raise SpecError(
                        self.path, raw.key_lines[key], f"{keypath}.{key}" if keypath else key,
                        "unknown key", ", ".join(allowed),
                    )
        return raw

    def typed(self, parent: LocatedMap, key: str, keypath: str, kind: type[T] | tuple[type, ...],
              shown: str) -> T:
        value = parent[key]
        if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
            raise self.where(parent, key, keypath).error(f"expected {shown}, found a boolean", shown)
        if not isinstance(value, kind):
            found = "nothing" if value is None else type(value).__name__
            raise self.where(parent, key, keypath).error(f"expected {shown}, found {found}", shown)
        return value  # type: ignore[return-value]

    # -- top level ----------------------------------------------------------------------------

    def scenario(self, raw: Any) -> Scenario:
        top = self.mapping(raw, "", 1, TOP_KEYS)
        if "containers" not in top:
            raise SpecError(self.path, top.line, "containers", "missing: a scenario needs containers")
        description = str(top.get("description", ""))
        networks = self._networks(top)
        containers = self._containers(top, networks)
        names = Names(frozenset(containers), frozenset(networks) | {"bridge"})
        checks = self._expect(top, containers, names) + self._reachability(top, containers, names)
        self._require_declared_refusals(top, containers, checks)
        self._require_hermetic_dns(top, containers, checks)
        uses_sentinel = _mentions_sentinel((containers, checks))
        return Scenario(self.name, self.path, description, networks, containers, checks, uses_sentinel)

    # -- networks -----------------------------------------------------------------------------

    def _networks(self, top: LocatedMap) -> dict[str, NetworkSpec]:
        if "networks" not in top or top["networks"] is None:
            return {}
        nets = self.mapping(top["networks"], "networks", top.key_lines["networks"], None)
        result: dict[str, NetworkSpec] = {}
        for key, body in nets.items():
            keypath = f"networks.{key}"
            self._check_key(nets, key, keypath, reserved=(*RESERVED_MODES, "default"))
            spec = self.mapping(body if body is not None else _empty(nets.key_lines[key]), keypath,
                                nets.key_lines[key], NETWORK_KEYS)
            result[key] = self._network(key, spec, keypath, nets.key_lines[key])
        return result

    def _network(self, key: str, spec: LocatedMap, keypath: str, line: int) -> NetworkSpec:
        driver = "bridge"
        if "driver" in spec:
            driver = self.typed(spec, "driver", f"{keypath}.driver", str, "a driver name")
            if driver not in DRIVERS:
                raise self.where(spec, "driver", f"{keypath}.driver").error(
                    f"driver {driver!r} is not supported", ", ".join(DRIVERS))
        internal = False
        if "internal" in spec:
            internal = self.typed(spec, "internal", f"{keypath}.internal", bool, "true or false")
        subnet = self._cidr(spec, "subnet", keypath)
        ip_range = self._cidr(spec, "ip_range", keypath)
        gateway = None
        if "gateway" in spec:
            gateway = self._address(spec, "gateway", f"{keypath}.gateway")
        for name, value in (("gateway", gateway), ("ip_range", ip_range)):
            if value is None:
                continue
            where = self.where(spec, name, f"{keypath}.{name}")
            if subnet is None:
                raise where.error(f"{name} needs a subnet", "declare subnet as well")
            inside = (ipaddress.ip_address(value) in ipaddress.ip_network(subnet) if name == "gateway"
                      else ipaddress.ip_network(value).subnet_of(ipaddress.ip_network(subnet)))  # type: ignore[arg-type]
            if not inside:
                raise where.error(f"{value} is not inside subnet {subnet}", f"an address in {subnet}")
        options: tuple[tuple[str, str], ...] = ()
        if "options" in spec:
            opts = self.mapping(spec["options"], f"{keypath}.options", spec.key_lines["options"], None)
            options = tuple((name, _option_text(value)) for name, value in opts.items())
        return NetworkSpec(key, driver, internal, subnet, gateway, ip_range, options, line)

    def _cidr(self, spec: LocatedMap, key: str, keypath: str) -> str | None:
        if key not in spec:
            return None
        text = self.typed(spec, key, f"{keypath}.{key}", str, "an IPv4 CIDR such as 10.10.0.0/24")
        try:
            network = ipaddress.ip_network(text, strict=True)
        except ValueError as err:
            raise self.where(spec, key, f"{keypath}.{key}").error(
                f"invalid CIDR {text!r} ({err})", "an IPv4 CIDR such as 10.10.0.0/24") from err
        return str(network)

    def _address(self, spec: LocatedMap, key: str, keypath: str) -> str:
        text = self.typed(spec, key, keypath, str, "an IPv4 address")
        try:
            return str(ipaddress.ip_address(text))
        except ValueError as err:
            raise self.where(spec, key, keypath).error(f"invalid address {text!r}", "an IPv4 address") from err

    def _check_key(self, parent: LocatedMap, key: str, keypath: str, reserved: tuple[str, ...]) -> None:
        where = self.where(parent, key, keypath)
        if not _KEY.match(key):
            raise where.error(f"invalid name {key!r}", "lower-case letters, digits, '-' and '_', up to 21")
        if key in reserved:
            raise where.error(f"{key!r} is reserved", f"any name but {', '.join(reserved)}")

    # -- containers ---------------------------------------------------------------------------

    def _containers(self, top: LocatedMap, networks: dict[str, NetworkSpec]) -> dict[str, ContainerSpec]:
        body = self.mapping(top["containers"], "containers", top.key_lines["containers"], None)
        if not body:
            raise SpecError(self.path, top.key_lines["containers"], "containers", "no containers declared")
        keys = list(body)
        result: dict[str, ContainerSpec] = {}
        for key, raw in body.items():
            keypath = f"containers.{key}"
            self._check_key(body, key, keypath, reserved=RESERVED_MODES)
            spec = self.mapping(raw if raw is not None else _empty(body.key_lines[key]), keypath,
                                body.key_lines[key], CONTAINER_KEYS)
            result[key] = self._container(key, spec, keypath, body.key_lines[key], keys, networks, result)
        return result

    def _container(self, key: str, spec: LocatedMap, keypath: str, line: int, keys: list[str],
                   networks: dict[str, NetworkSpec], earlier: dict[str, ContainerSpec]) -> ContainerSpec:
        mode, target, attached = self._mode(key, spec, keypath, keys, networks, earlier)
        names = Names(frozenset(keys), frozenset(networks) | {"bridge"})
        aliases = self._per_network(spec, "aliases", keypath, attached, self._str_list)
        ips = self._per_network(spec, "ip", keypath, attached, self._ip_for)
        for net, ip in ips:
            subnet = networks[net].subnet if net in networks else None
            if subnet and ipaddress.ip_address(ip) not in ipaddress.ip_network(subnet):
                raise self.where(spec, "ip", f"{keypath}.ip").error(
                    f"{ip} is not inside {net}'s subnet {subnet}", f"an address in {subnet}")
        hostname = None
        if "hostname" in spec:
            hostname = self.typed(spec, "hostname", f"{keypath}.hostname", str, "a hostname")
        mac = None
        if "mac_address" in spec:
            mac = self.typed(spec, "mac_address", f"{keypath}.mac_address", str, "a MAC such as 02:42:ac:11:00:09")
            if not _MAC.match(mac):
                raise self.where(spec, "mac_address", f"{keypath}.mac_address").error(
                    f"invalid MAC {mac!r}", "six hex pairs separated by ':'")
        dns = tuple(self._values(spec, "dns", keypath, names))
        add_hosts: tuple[tuple[str, Value], ...] = ()
        if "add_hosts" in spec:
            hosts = self.mapping(spec["add_hosts"], f"{keypath}.add_hosts", spec.key_lines["add_hosts"], None)
            add_hosts = tuple(
                (name, parse_value(value, self.where(hosts, name, f"{keypath}.add_hosts.{name}"), names))
                for name, value in hosts.items()
            )
        publish = tuple(self._publish(spec, keypath))
        return ContainerSpec(
            key=key, mode=mode, target=target, networks=attached, aliases=aliases, ips=ips,
            hostname=hostname, mac_address=mac, dns=dns,
            dns_search=tuple(self._strings(spec, "dns_search", keypath)),
            dns_options=tuple(self._strings(spec, "dns_options", keypath)),
            add_hosts=add_hosts, publish=publish, line=line,
        )

    def _mode(self, key: str, spec: LocatedMap, keypath: str, keys: list[str],
              networks: dict[str, NetworkSpec], earlier: dict[str, ContainerSpec],
              ) -> tuple[str, str | None, tuple[str, ...]]:
        allowed = "bridge, host, none, container:<key>, or one of: " + (", ".join(networks) or "(no networks)")
        if "network" in spec and "networks" in spec:
            raise self.where(spec, "networks", f"{keypath}.networks").error(
                "give either network or networks, not both")
        if "networks" in spec:
            listed = self._str_list(spec, "networks", f"{keypath}.networks")
            if not listed:
                raise self.where(spec, "networks", f"{keypath}.networks").error("empty list", allowed)
            for name in listed:
                if name not in networks and name != "bridge":
                    raise self.where(spec, "networks", f"{keypath}.networks").error(
                        f"unknown network {name!r}", "bridge or one of: " + ", ".join(networks))
            if len(set(listed)) != len(listed):
                raise self.where(spec, "networks", f"{keypath}.networks").error("a network is listed twice")
            return ("network" if listed[0] != "bridge" else "bridge"), None, tuple(listed)
        mode = "bridge"
        if "network" in spec:
            mode = self.typed(spec, "network", f"{keypath}.network", str, allowed)
        where = self.where(spec, "network", f"{keypath}.network")
        if mode in RESERVED_MODES:
            return mode, None, (("bridge",) if mode == "bridge" else ())
        if mode.startswith("container:"):
            target = mode.split(":", 1)[1]
            if target == key:
                raise where.error("a container cannot join its own network namespace", allowed)
            if target not in keys:
                raise where.error(f"container {target!r} is not defined", "container:<one of " +
                                  ", ".join(k for k in keys if k != key) + ">")
            if target not in earlier:
                raise where.error(f"container {target!r} must be declared before {key!r}, which joins it",
                                  "declare the target first")
            return "container", target, ()
        if mode in networks:
            return "network", None, (mode,)
        raise where.error(f"unknown network mode {mode!r}", allowed)

    def _str_list(self, spec: LocatedMap, key: str, keypath: str) -> tuple[str, ...]:
        value = spec[key]
        if isinstance(value, str):
            return (value,)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.where(spec, key, keypath).error("expected a list of strings", "[a, b]")
        return tuple(value)

    def _ip_for(self, spec: LocatedMap, key: str, keypath: str) -> tuple[str, ...]:
        return (self._address(spec, key, keypath),)

    def _per_network(self, spec: LocatedMap, key: str, keypath: str, attached: tuple[str, ...],
                     read: Callable[[LocatedMap, str, str], tuple[str, ...]]) -> tuple[Any, ...]:
        """``key: value`` applies to the first network; ``key: {net: value}`` names networks."""
        if key not in spec:
            return ()
        first = attached[0] if attached else "bridge"
        value = spec[key]
        if isinstance(value, LocatedMap):
            pairs = []
            for net, _ in value.items():
                if net not in attached:
                    raise self.where(value, net, f"{keypath}.{key}.{net}").error(
                        f"the container is not attached to {net!r}", ", ".join(attached) or "(none)")
                pairs.append((net, read(value, net, f"{keypath}.{key}.{net}")))
        else:
            pairs = [(first, read(spec, key, f"{keypath}.{key}"))]
        if key == "ip":
            return tuple((net, values[0]) for net, values in pairs)
        return tuple(pairs)

    def _strings(self, spec: LocatedMap, key: str, keypath: str) -> tuple[str, ...]:
        return self._str_list(spec, key, f"{keypath}.{key}") if key in spec else ()

    def _values(self, spec: LocatedMap, key: str, keypath: str, names: Names) -> list[Value]:
        if key not in spec:
            return []
        raw = spec[key]
        items = raw if isinstance(raw, list) else [raw]
        return [parse_value(item, self.where(spec, key, f"{keypath}.{key}"), names) for item in items]

    def _publish(self, spec: LocatedMap, keypath: str) -> list[PortSpec]:
        if "publish" not in spec:
            return []
        raw = spec["publish"]
        items = raw if isinstance(raw, list) else [raw]
        ports = []
        for index, item in enumerate(items):
            where = self.where(raw if isinstance(raw, list) else spec, index if isinstance(raw, list) else "publish",
                               f"{keypath}.publish")
            match = _PORT.match(str(item))
            if not match:
                raise where.error(f"invalid port {item!r}", CONTAINER_KEYS["publish"])
            host_port = match.group("host_port")
            ports.append(PortSpec(int(match.group("port")), match.group("proto") or "tcp",
                                  int(host_port) if host_port else None, match.group("host_ip")))
        return ports

    # -- expectations -------------------------------------------------------------------------

    def _expect(self, top: LocatedMap, containers: dict[str, ContainerSpec], names: Names) -> tuple[Check, ...]:
        if top.get("expect") is None:
            if top.get("reachability") or self.checked_elsewhere:
                return ()
            raise SpecError(self.path, top.line, "expect", "missing: a scenario without expectations checks nothing")
        body = self.mapping(top["expect"], "expect", top.key_lines["expect"], None)
        checks: list[Check] = []
        for subject, tree in body.items():
            if subject not in containers:
                raise self.where(body, subject, f"expect.{subject}").error(
                    f"container {subject!r} is not defined", ", ".join(containers))
            props = self.mapping(tree, f"expect.{subject}", body.key_lines[subject], None)
            checks.extend(self._flatten(subject, props, "", names))
        if not checks and not self.checked_elsewhere:
            raise SpecError(self.path, top.key_lines["expect"], "expect", "no expectations declared")
        return tuple(checks)

    def _flatten(self, subject: str, tree: LocatedMap, prefix: str, names: Names) -> list[Check]:
        checks = []
        for key, value in tree.items():
            path = f"{prefix}{key}"
            keypath = f"expect.{subject}.{path}"
            where = self.where(tree, key, keypath)
            prop = find_property(path)
            if prop is not None and not prop.in_expect:
                prop = None
            # A mapping under a property is its matcher, except under sysctl.<name>, whose names nest.
            as_leaf = not isinstance(value, Mapping) or is_matcher_mapping(value) or not path.startswith("sysctl")
            if prop is not None and as_leaf:
                expectation = parse_expectation(value, where, names)
                self._check_value(path, expectation, where, names)
                match = prop.matches(path)
                assert match is not None
                param: Value = match.group(1) if match.groups() else None
                if prop.templated and isinstance(param, str):
                    param = parse_value(param, where, names)
                checks.append(Check(self.name, subject, path, prop.aspect, expectation, self.path, where.line, param))
            elif isinstance(value, LocatedMap) and value:
                checks.extend(self._flatten(subject, value, f"{path}.", names))
            else:
                raise where.error(f"unknown property {path!r}", allowed_properties())
        return checks

    # -- reachability -------------------------------------------------------------------------

    def _reachability(self, top: LocatedMap, containers: dict[str, ContainerSpec], names: Names) -> tuple[Check, ...]:
        raw = top.get("reachability")
        if raw is None:
            return ()
        if not isinstance(raw, LocatedList):
            raise SpecError(self.path, top.key_lines["reachability"], "reachability", "expected a list of probes",
                            ", ".join(REACH_KEYS))
        checks: list[Check] = []
        seen: dict[str, int | None] = {}
        for index, entry in enumerate(raw):
            line = raw.item_lines[index]
            keypath = f"reachability[{index}]"
            spec = self.mapping(entry, keypath, line, REACH_KEYS)
            reach, expect_where = self._reach(spec, keypath, containers, names)
            if reach.id in seen:
                raise Where(self.path, line, keypath).error(
                    f"probe {reach.id!r} is declared twice (first at line {seen[reach.id]})", "give it a name")
            seen[reach.id] = line
            expectation = parse_expectation(spec["expect"], expect_where, names)
            for value in _literals(expectation):
                if value not in EXPECTED_OUTCOMES:
                    raise expect_where.error(f"invalid outcome {value!r}", ", ".join(EXPECTED_OUTCOMES))
            refuse_vacuous(expectation, expect_where, EXPECTED_OUTCOMES)
            checks.append(Check(self.name, REACHABILITY, "reach", "reachability", expectation, self.path,
                                expect_where.line, reach=reach))
            if "source" in spec:
                if reach.proto == "icmp":
                    raise self.where(spec, "source", f"{keypath}.source").error(
                        "icmp probes see no source address", "tcp or udp probes")
                source_where = self.where(spec, "source", f"{keypath}.source")
                source = parse_expectation(spec["source"], source_where, names)
                refuse_vacuous(source, source_where)
                checks.append(Check(self.name, REACHABILITY, "source", "reachability", source, self.path,
                                    source_where.line, reach=reach))
        return tuple(checks)

    def _reach(self, spec: LocatedMap, keypath: str, containers: dict[str, ContainerSpec],
               names: Names) -> tuple[ReachSpec, Where]:
        ends = ", ".join([*containers, *ENDPOINTS])
        for required in ("from", "to", "proto", "expect"):
            if required not in spec:
                raise SpecError(self.path, spec.line, f"{keypath}.{required}", "missing", REACH_KEYS[required])
        frm = self.typed(spec, "from", f"{keypath}.from", str, ends)
        to = self.typed(spec, "to", f"{keypath}.to", str, ends)
        for key, value in (("from", frm), ("to", to)):
            if value not in containers and value not in ENDPOINTS:
                raise self.where(spec, key, f"{keypath}.{key}").error(f"unknown endpoint {value!r}", ends)
        proto = self.typed(spec, "proto", f"{keypath}.proto", str, ", ".join(PROTOCOLS))
        if proto not in PROTOCOLS:
            raise self.where(spec, "proto", f"{keypath}.proto").error(f"unknown protocol {proto!r}",
                                                                      ", ".join(PROTOCOLS))
        port = self._port(spec, "port", keypath)
        listen_port = self._port(spec, "listen_port", keypath)
        where_port = self.where(spec, "port" if "port" in spec else "proto", f"{keypath}.port")
        if proto == "icmp" and (port or listen_port):
            raise where_port.error("icmp has no ports", "drop port/listen_port")
        if proto != "icmp" and to == "sentinel":
            if port not in (None, ECHO_PORT) or listen_port is not None:
                raise where_port.error(f"the sentinel serves echo on port {ECHO_PORT} only", str(ECHO_PORT))
            port = ECHO_PORT
        if proto != "icmp" and port is None:
            raise where_port.error(f"a {proto} probe needs a port", "1-65535")
        network = None
        if "network" in spec:
            network = self.typed(spec, "network", f"{keypath}.network", str, "a network key")
            attached = containers[to].networks if to in containers else ()
            if network not in attached:
                raise self.where(spec, "network", f"{keypath}.network").error(
                    f"{to!r} is not attached to {network!r}", ", ".join(attached) or "(no networks)")
        address = listen = None
        if "address" in spec:
            address = parse_value(spec["address"], self.where(spec, "address", f"{keypath}.address"), names)
        if "listen" in spec:
            listen = parse_value(spec["listen"], self.where(spec, "listen", f"{keypath}.listen"), names)
            if to == "sentinel":
                raise self.where(spec, "listen", f"{keypath}.listen").error("the sentinel's listener is fixed")
        label = str(spec.get("name", ""))
        churn = 0
        if "churn" in spec:
            where_churn = self.where(spec, "churn", f"{keypath}.churn")
            churn = self.typed(spec, "churn", f"{keypath}.churn", int, f"a number of networks, 1-{MAX_CHURN}")
            if not 0 < churn <= MAX_CHURN:
                raise where_churn.error(f"churn {churn} is out of range", f"1-{MAX_CHURN}")
            if proto != "icmp":
                raise where_churn.error("a churn probe is a stream of echo requests", "proto: icmp")
        reach = ReachSpec(frm, to, proto, port, address, network, listen, listen_port, label, churn)
        return reach, self.where(spec, "expect", f"{keypath}.expect")

    def _port(self, spec: LocatedMap, key: str, keypath: str) -> int | None:
        if key not in spec:
            return None
        port = self.typed(spec, key, f"{keypath}.{key}", int, "a port number 1-65535")
        if not 0 < port < 65536:
            raise self.where(spec, key, f"{keypath}.{key}").error(f"port {port} is out of range", "1-65535")
        return port

    def _check_value(self, path: str, expectation: Matcher | Select, where: Where, names: Names) -> None:
        """Property-specific vocabulary, so a typo fails at load rather than as a false verdict; and
        no expectation that cannot fail."""
        domain: list[str] | None = None
        if path.startswith("namespaces."):
            domain = ["host", "private", *(f"container:{key}" for key in names.containers)]
        elif path in BOOLEAN_PROPERTIES:
            domain = ["true", "false"]
        refuse_vacuous(expectation, where, domain)
        if not path.startswith("namespaces."):
            return
        allowed = "host, private, or container:<" + ", ".join(sorted(names.containers)) + ">"
        for value in _literals(expectation):
            if not isinstance(value, str):
                raise where.error(f"invalid namespace owner {value!r}", allowed)
            if value in ("host", "private"):
                continue
            if value.startswith("container:") and value.split(":", 1)[1] in names.containers:
                continue
            raise where.error(f"invalid namespace owner {value!r}", allowed)

    def _require_hermetic_dns(self, top: LocatedMap, containers: dict[str, ContainerSpec],
                              checks: tuple[Check, ...]) -> None:
        """Lookups must never reach the host's upstream resolver (the network rule): a container
        that resolves names must use the sentinel as its --dns server."""
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
                self.path, check.line, f"containers.{owner.key}.dns",
                f"{check.name} makes {subject} resolve names, but {owner.key} does not use the sentinel as its "
                "nameserver, so unknown names would go to the host's upstream resolver",
                'dns: ["${sentinel.address}"]',
            )

    def _require_declared_refusals(self, top: LocatedMap, containers: dict[str, ContainerSpec],
                                   checks: tuple[Check, ...]) -> None:
        tested = {check.subject for check in checks if check.prop in ("refused", "created", "left_behind")}
        body = top["containers"]
        for key, spec in containers.items():
            conflicting = _refused_options(spec, top.get("networks") or {})
            if key in tested or not conflicting:
                continue
            raise SpecError(
                self.path, _line(body[key], conflicting[0], body.key_lines[key]),
                f"containers.{key}.{conflicting[0]}",
                f"the daemon refuses {conflicting[0]} with network mode {spec.network_mode!r}",
                f"drop it, or declare expect.{key}.refused to test that refusal",
            )


_LOOKUPS = ("lookup.", "reverse.", "forwarded.")
_NAME_FACTS = {"name", "short_id", "id", "hostname"}


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
    if spec.mode in _REFUSED_WITH and spec.mode != "bridge":
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


def _literals(expectation: Matcher | Select) -> list[Value]:
    if isinstance(expectation, Select):
        return [value for _, case in expectation.cases for value in _literals(case)]
    found: list[Value] = []
    for _, value in expectation.ops:
        found.extend(value if isinstance(value, tuple) else (value,))
    return found


def _option_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _empty(line: int) -> LocatedMap:
    empty = LocatedMap()
    empty.line = line
    empty.key_lines = {}
    return empty


def _mentions_sentinel(value: Any) -> bool:
    """Whether any reference or probe endpoint in the model names the sentinel."""
    if isinstance(value, Ref):
        return value.parts[0] == "sentinel"
    if isinstance(value, ReachSpec) and "sentinel" in (value.frm, value.to):
        return True
    if isinstance(value, dict):
        return any(_mentions_sentinel(item) for item in value.values())
    if isinstance(value, tuple | list):
        return any(_mentions_sentinel(item) for item in value)
    if hasattr(value, "__dataclass_fields__"):
        return any(_mentions_sentinel(getattr(value, name)) for name in value.__dataclass_fields__)
    return False
