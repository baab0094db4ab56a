"""Which frames seen on the machine's uplink are the run's traffic leaking out: the classifier.

The network rule says test traffic never leaves the machine. A frame on the uplink is the run's
when it carries one of its traces (:class:`RunTraces`, read from the run's ``report.json``):

- its source is an address of the run's containers, of the networks the daemon allocated (and the
  bridges they live on), or of the sentinel range; or its source MAC is a container's or a veth's;
- its destination is in the sentinel range;
- it carries a probe's mark. A masqueraded leak has the host's own source address and MAC, so only
  its content gives it away: an ICMP echo whose payload is ``netconform-<nonce>``
  (:func:`netconform.observe.reach.ping_once`), a UDP or TCP payload that is an echo request line
  (:func:`netconform.hermetic.echo.request_line`, what every TCP/UDP probe sends), a TCP SYN to a
  port the run's probes used, or a DNS query for a name in the run's test zone.

Parsing is pure and unit-tested; capturing is :mod:`.uplink_watch`.
"""

from __future__ import annotations

import ipaddress
import re
import struct
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from netconform.hermetic.authdns import DEFAULT_ZONE

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_ETH_IPV4, _ETH_IPV6, _ETH_ARP, _ETH_VLAN = 0x0800, 0x86DD, 0x0806, 0x8100
_ICMP, _TCP, _UDP, _ICMPV6 = 1, 6, 17, 58
_TCP_SYN, _TCP_ACK = 0x02, 0x10
_DNS_PORT = 53
_ICMP_MARK = b"netconform-"
# The echo protocol's request: one nonce line (hermetic/echo.py, _NONCE) and nothing else.
_ECHO_REQUEST = re.compile(rb"[A-Za-z0-9._-]{1,64}\n")
_NO_MAC = "00:00:00:00:00:00"


@dataclass(frozen=True)
class Leak:
    """One frame that should never have been on the uplink, and why."""

    interface: str
    direction: str
    summary: str
    reasons: tuple[str, ...]
    frame: bytes = field(repr=False)

    def __str__(self) -> str:
        return f"{self.interface} {self.direction}: {self.summary}: {'; '.join(self.reasons)}"


@dataclass(frozen=True)
class RunTraces:
    """What marks a frame as the run's (see the module docstring); values name their origin.

    Args:
        addresses: a container's (or a host veth end's) own address -> which one.
        networks: a subnet the run's traffic is sourced from -> which network or range.
        sentinel_ranges: destinations that are the sentinel's, never the outside world's.
        macs: a container's or a veth's MAC (lower case) -> which one.
        tcp_ports: destination ports the run's TCP probes used.
        zones: the run's DNS test zones (lower case, ending with a dot).
    """

    addresses: Mapping[Address, str] = field(default_factory=dict)
    networks: Mapping[Network, str] = field(default_factory=dict)
    sentinel_ranges: tuple[Network, ...] = ()
    macs: Mapping[str, str] = field(default_factory=dict)
    tcp_ports: frozenset[int] = frozenset()
    zones: tuple[str, ...] = (DEFAULT_ZONE,)

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> RunTraces:
        """The traces of the run a ``report.json`` (helpers/report/SCHEMA.md) describes."""
        found = _Collector()
        cidr = report.get("run", {}).get("options", {}).get("sentinel_cidr")
        if cidr:
            found.sentinel(ipaddress.ip_network(cidr, strict=False))
        bridge = report.get("daemon", {}).get("default_bridge") or {}
        found.network(bridge.get("subnet"), f"default bridge {bridge.get('bridge', '')}".strip())
        observed = [(item.get("name", "?"), item["observed"]) for item in report.get("scenarios", [])
                    if item.get("observed")]
        for name, facts in observed:
            found.scenario(name, facts)
        # Last, so that a subnet is named after its network rather than after its bridge.
        for _, facts in observed:
            found.bridges((facts.get("host") or {}).get("net") or {})
        return cls(found.addresses, found.networks, tuple(found.sentinels), found.macs, frozenset(found.ports),
                   tuple(sorted(found.zones)))

    def leak_reasons(self, frame: bytes) -> tuple[str, tuple[str, ...]]:
        """A one-line summary of an Ethernet ``frame`` (possibly truncated) and why it is the run's
        traffic (empty when it is not)."""
        src_mac, ethertype, payload = _ethernet(frame)
        reasons = [f"source MAC {src_mac} is {self.macs[src_mac]}'s"] if src_mac in self.macs else []
        packet = _parse(ethertype, payload)
        if packet is None:
            return f"{src_mac} ethertype {ethertype:#06x}", tuple(reasons)
        reasons += self._address_reasons(packet)
        reasons += self._content_reasons(packet)
        return packet.summary, tuple(reasons)

    def _address_reasons(self, packet: _Packet) -> Iterator[str]:
        if packet.src in self.addresses:
            yield f"source {packet.src} is {self.addresses[packet.src]}'s"
        else:
            for network, what in self.networks.items():
                if packet.src in network:
                    yield f"source {packet.src} is in {what} ({network})"
                    break
        for sentinel_range in self.sentinel_ranges:
            if packet.dst in sentinel_range:
                yield f"destination {packet.dst} is in the sentinel range {sentinel_range}"

    def _content_reasons(self, packet: _Packet) -> Iterator[str]:
        body = packet.body
        if packet.proto in (_ICMP, _ICMPV6) and len(body) >= 8 and body[8:].startswith(_ICMP_MARK):
            yield "an ICMP payload carrying a probe mark (netconform-<nonce>)"
        if packet.proto not in (_TCP, _UDP) or len(body) < 8:
            return
        dport = struct.unpack("!H", body[2:4])[0]
        data = body[8:] if packet.proto == _UDP else _tcp_payload(body)
        if _ECHO_REQUEST.fullmatch(data):
            yield f"a payload that is an echo request line ({data.strip().decode('ascii')!r}: a probe mark)"
        if packet.proto == _TCP and len(body) > 13:
            flags = body[13]
            if flags & _TCP_SYN and not flags & _TCP_ACK and dport in self.tcp_ports:
                yield f"a TCP SYN to port {dport}, a port the run's probes used"
        if dport == _DNS_PORT:
            qname = _dns_qname(data[2:] if packet.proto == _TCP else data)
            if qname is not None and any(qname == zone or qname.endswith("." + zone) for zone in self.zones):
                yield f"a DNS query for {qname}, in the run's test zone"


def classify(traces: RunTraces, frames: Iterable[tuple[str, str, bytes]]) -> list[Leak]:
    """The leaks among ``frames``: (interface, direction, Ethernet frame) as captured."""
    leaks = []
    for interface, direction, frame in frames:
        summary, reasons = traces.leak_reasons(frame)
        if reasons:
            leaks.append(Leak(interface, direction, summary, reasons, frame))
    return leaks


# --- report reading ----------------------------------------------------------------------------


def _zone(name: str) -> str:
    return name.lower() if name.endswith(".") else name.lower() + "."


@dataclass
class _Collector:
    """The traces gathered so far from a report; the first name given to a value stays."""

    addresses: dict[Address, str] = field(default_factory=dict)
    networks: dict[Network, str] = field(default_factory=dict)
    sentinels: dict[Network, None] = field(default_factory=dict)
    macs: dict[str, str] = field(default_factory=dict)
    ports: set[int] = field(default_factory=set)
    zones: set[str] = field(default_factory=lambda: {DEFAULT_ZONE})

    def network(self, subnet: str | None, what: str) -> None:
        if subnet:
            self.networks.setdefault(ipaddress.ip_network(subnet, strict=False), what)

    def sentinel(self, network: Network) -> None:
        if not any(network.subnet_of(known) for known in self.sentinels  # type: ignore[arg-type]
                   if known.version == network.version):
            self.sentinels[network] = None
            self.networks.setdefault(network, f"sentinel range {network}")

    def interface(self, interface: Mapping[str, Any], what: str) -> None:
        mac = (interface.get("mac") or "").lower()
        if mac and mac != _NO_MAC:
            self.macs.setdefault(mac, what)
        for text in interface.get("addresses", []):
            address = ipaddress.ip_interface(text).ip
            if not address.is_loopback:
                self.addresses.setdefault(address, what)

    def scenario(self, name: str, observed: Mapping[str, Any]) -> None:
        host_net = (observed.get("host") or {}).get("namespaces", {}).get("net")
        for key, network in (observed.get("networks") or {}).items():
            self.network(network.get("subnet"), f"network {name}/{key}")
        for key, container in (observed.get("containers") or {}).items():
            what = f"container {name}/{key}"
            for endpoint in (container.get("endpoints") or {}).values():
                if endpoint.get("ip"):
                    self.addresses.setdefault(ipaddress.ip_address(endpoint["ip"]), what)
                if endpoint.get("mac"):
                    self.macs.setdefault(endpoint["mac"].lower(), what)
            for ifname, peer in (container.get("host_peers") or {}).items():
                self.interface(peer, f"the host end of {what}'s {ifname}")
            # A container in the host's netns (network_mode host) has the host's own interfaces.
            if host_net is None or container.get("namespaces", {}).get("net") != host_net:
                for interface in (container.get("net") or {}).get("interfaces", []):
                    self.interface(interface, what)
        sentinel = observed.get("sentinel") or {}
        for key in ("address", "gateway_address"):
            if sentinel.get(key):
                self.sentinel(ipaddress.ip_network(sentinel[key]))
        if sentinel.get("zone"):
            self.zones.add(_zone(sentinel["zone"]))
        self.ports.update(int(reach["port"]) for reach in observed.get("reach", [])
                          if reach.get("proto") == "tcp" and reach.get("port"))

    def bridges(self, view: Mapping[str, Any]) -> None:
        """The subnets of the bridges in the daemon's netns (``NetnsView``), uplinks excepted."""
        # A bridge that carries a default route is an uplink, not one of the daemon's bridges.
        uplinks = {route.get("dev") for route in view.get("routes", []) if route.get("dst") in ("default", "0.0.0.0/0")}
        for interface in view.get("interfaces", []):
            if interface.get("kind") == "bridge" and interface.get("name") not in uplinks:
                for text in interface.get("addresses", []):
                    network = ipaddress.ip_interface(text).network
                    if not network.is_link_local:
                        self.networks.setdefault(network, f"bridge {interface.get('name')}")


# --- frame parsing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Packet:
    src: Address
    dst: Address
    proto: int  # 0 for ARP
    body: bytes  # the transport header and payload (empty for a later fragment)
    summary: str


def _mac(data: bytes) -> str:
    return ":".join(f"{byte:02x}" for byte in data)


def _ethernet(frame: bytes) -> tuple[str, int, bytes]:
    if len(frame) < 14:
        return "", 0, b""
    ethertype, offset = struct.unpack("!H", frame[12:14])[0], 14
    while ethertype == _ETH_VLAN and len(frame) >= offset + 4:
        ethertype, offset = struct.unpack("!H", frame[offset + 2: offset + 4])[0], offset + 4
    return _mac(frame[6:12]), ethertype, frame[offset:]


def _parse(ethertype: int, data: bytes) -> _Packet | None:
    if ethertype == _ETH_IPV4 and len(data) >= 20 and data[0] >> 4 == 4:
        src, dst = ipaddress.IPv4Address(data[12:16]), ipaddress.IPv4Address(data[16:20])
        later_fragment = struct.unpack("!H", data[6:8])[0] & 0x1FFF
        body = b"" if later_fragment else data[(data[0] & 0x0F) * 4:]
        return _Packet(src, dst, data[9], body, _describe(src, dst, data[9], body))
    if ethertype == _ETH_IPV6 and len(data) >= 40 and data[0] >> 4 == 6:
        src6, dst6 = ipaddress.IPv6Address(data[8:24]), ipaddress.IPv6Address(data[24:40])
        return _Packet(src6, dst6, data[6], data[40:], _describe(src6, dst6, data[6], data[40:]))
    if ethertype == _ETH_ARP and len(data) >= 28 and data[4:6] == b"\x06\x04":
        sender, target = ipaddress.IPv4Address(data[14:18]), ipaddress.IPv4Address(data[24:28])
        return _Packet(sender, target, 0, b"", f"arp {_mac(data[8:14])} ({sender}) asks for {target}")
    return None


def _describe(src: Address, dst: Address, proto: int, body: bytes) -> str:
    if proto in (_TCP, _UDP) and len(body) >= 4:
        sport, dport = struct.unpack("!HH", body[:4])
        return f"{'tcp' if proto == _TCP else 'udp'} {src}:{sport} -> {dst}:{dport}"
    names = {_ICMP: "icmp", _ICMPV6: "icmpv6"}
    return f"{names.get(proto, f'ip proto {proto}')} {src} -> {dst}"


def _tcp_payload(segment: bytes) -> bytes:
    return segment[(segment[12] >> 4) * 4:] if len(segment) > 12 else b""


def _dns_qname(message: bytes) -> str | None:
    """The first question's name of a DNS query (None for an answer or what does not parse)."""
    if len(message) < 12 or message[2] & 0x80 or struct.unpack("!H", message[4:6])[0] == 0:
        return None
    labels: list[str] = []
    offset = 12
    while offset < len(message):
        length = message[offset]
        if length == 0:
            return (".".join(labels) + ".").lower()
        if length & 0xC0 or offset + 1 + length > len(message):
            return None
        labels.append(message[offset + 1: offset + 1 + length].decode("ascii", "replace"))
        offset += 1 + length
    return None
