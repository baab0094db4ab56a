"""A scenario's topology as an inline SVG picture: the host's netns with its bridges, the containers
with their addresses on each network, the sentinel.

The picture is drawn from what was observed (``observed``), or from the spec (``declared``) when the
scenario was not built. It is a bus diagram: each network is a horizontal line (its bridge, inside
the host's netns box); each container is a column below, with one vertical link per network it is
attached to, labelled with the interface and address. Host-mode containers sit inside the host box,
``container:<x>`` joiners are stacked under their target in one frame (one netns), ``none``
containers have no link, and the sentinel hangs off the host box on the right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netconform.report.declared import value_text
from netconform.report.markup import Markup, el, join

PAD = 12
GUTTER = 236  # left part of the host box, where the networks are named
COL = 184  # one container column
BOX_W = 160
HEAD = 20  # height of a box's title line
LINE = 15  # height of each further line of a box
BUS_GAP = 58
LINK_GAP = 10  # between the links of one container, so each keeps its network's colour
HOP = 5  # half the gap a link leaves where it passes a network it is not attached to
SENTINEL_GAP = 100
SENTINEL_W = 214
FONT_PX = 11.5
CHAR_PX = 6.6  # average advance of the sans font at FONT_PX, to cut text that would overflow

PALETTE = ("#2563c9", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#be185d", "#0e7490")
STYLES = {
    "host": ("#fff6e5", "#c98a12", ""),
    "none": ("#f3f4f6", "#8b8f96", "4 3"),
    "container": ("#f4eefe", "#7d56c2", ""),
    "private": ("#eef4ff", "#4b6fc0", ""),
    "sentinel": ("#e8f6f1", "#1b8a6b", ""),
}


@dataclass(frozen=True)
class Network:
    """A network as drawn: its bridge in the host's netns."""

    key: str
    subnet: str
    bridge: str
    gateway: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Link:
    """A container's attachment to a network, labelled with its interface and address."""

    network: str
    label: str


@dataclass(frozen=True)
class Node:
    """A container. ``mode`` is bridge, network, host, none or container (then ``target``)."""

    key: str
    name: str
    mode: str
    target: str
    links: tuple[Link, ...]
    notes: tuple[str, ...]
    created: bool
    error: str


@dataclass(frozen=True)
class Sentinel:
    """The suite's stand-in for the outside, in its own netns joined to the host's by a veth."""

    address: str
    gateway_address: str
    netns: str
    zone: str


@dataclass(frozen=True)
class Topology:
    """What the picture shows. ``origin`` is ``observed`` or ``declared`` (scenario not built)."""

    origin: str
    host: str
    networks: tuple[Network, ...]
    nodes: tuple[Node, ...]
    sentinel: Sentinel | None

    @property
    def not_created(self) -> tuple[Node, ...]:
        """Containers the daemon refused (or that were never made): listed beside the picture."""
        return tuple(node for node in self.nodes if not node.created)


# -- from a scenario record ------------------------------------------------------------------------


def topology_of(scenario: dict[str, Any]) -> Topology:
    """The topology of a scenario record: as observed, or as declared when it was not built."""
    if scenario.get("observed") and not scenario.get("build_error"):
        return _observed(scenario)
    return _declared(scenario)


def _observed(scenario: dict[str, Any]) -> Topology:
    observed = scenario["observed"]
    declared = scenario["declared"]
    nodes = tuple(_observed_node(key, facts, declared["containers"].get(key, {}))
                  for key, facts in observed["containers"].items())
    keys = _network_keys(declared, nodes)
    known = observed.get("networks") or {}
    networks = tuple(_observed_network(known[key]) if key in known else _stub_network(key) for key in keys)
    host = observed.get("host") or {}
    label = "host network namespace"
    if host.get("hostname"):
        label += f" · {host['hostname']}"
    if host.get("daemon_pid"):
        label += f" · dockerd pid {host['daemon_pid']}"
    return Topology("observed", label, networks, nodes, _sentinel(observed.get("sentinel")))


def _declared(scenario: dict[str, Any]) -> Topology:
    declared = scenario["declared"]
    nodes = tuple(_declared_node(key, spec) for key, spec in declared["containers"].items())
    specs = declared["networks"]
    networks = tuple(_declared_network(specs[key]) if key in specs else _stub_network(key)
                     for key in _network_keys(declared, nodes))
    return Topology("declared", "host network namespace (scenario not built: as declared)", networks, nodes, None)


def _network_keys(declared: dict[str, Any], nodes: tuple[Node, ...]) -> list[str]:
    """Declared networks, then any other one a container is attached to (the default bridge)."""
    keys = list(declared["networks"])
    for node in nodes:
        keys += [link.network for link in node.links if link.network not in keys]
    return keys


def _observed_node(key: str, facts: dict[str, Any], spec: dict[str, Any]) -> Node:
    mode = str(spec.get("mode") or _mode_of(facts))
    target = str(spec.get("target") or facts.get("joined") or "")
    links: list[Link] = []
    if facts.get("created") and mode not in ("host", "none", "container"):
        interfaces = (facts.get("net") or {}).get("interfaces") or []
        for network, endpoint in (facts.get("endpoints") or {}).items():
            if endpoint:
                links.append(Link(network, _endpoint_label(endpoint, interfaces)))
    notes = _notes(mode, target, spec)
    if mode == "none" and facts.get("net"):
        notes += tuple(f"{iface['name']} {' '.join(iface['addresses'])}".strip()
                       for iface in facts["net"].get("interfaces") or [])
    return Node(key, str(facts.get("name") or key), mode, target, tuple(links), notes,
                bool(facts.get("created")), str(facts.get("error") or ""))


def _declared_node(key: str, spec: dict[str, Any]) -> Node:
    mode = str(spec.get("mode") or "bridge")
    fixed = {str(pair[0]): value_text(pair[1]) for pair in spec.get("ips") or []}
    networks = ["bridge"] if mode == "bridge" else list(spec.get("networks") or [])
    attached = mode in ("bridge", "network")
    links = tuple(Link(network, fixed.get(network, "")) for network in networks) if attached else ()
    target = str(spec.get("target") or "")
    return Node(key, key, mode, target, links, _notes(mode, target, spec), True, "")


def _mode_of(facts: dict[str, Any]) -> str:
    network_mode = str(facts.get("network_mode") or "")
    if network_mode in ("host", "none"):
        return network_mode
    if network_mode.startswith("container:") or facts.get("joined"):
        return "container"
    return "bridge" if network_mode in ("bridge", "default") else "network"


def _notes(mode: str, target: str, spec: dict[str, Any]) -> tuple[str, ...]:
    """The lines under a container's name: its mode in words, then what it publishes."""
    words = {
        "bridge": "default bridge",
        "network": "user-defined network",
        "host": "host network mode",
        "none": "none: loopback only",
        "container": f"container:{target}",
    }
    notes = [words.get(mode, mode)]
    for port in spec.get("publish") or []:
        host = f"{port['host_ip']}:" if port.get("host_ip") else ""
        notes.append(f"publish {host}{port.get('host_port') or '*'}→{port['container_port']}/{port['protocol']}")
    return tuple(notes)


def _endpoint_label(endpoint: dict[str, Any], interfaces: list[dict[str, Any]]) -> str:
    """``eth1 172.21.0.3/16``: the interface is the one inside the container that holds the address."""
    ip = str(endpoint.get("ip") or "")
    if not ip:
        return "no address"
    address = f"{ip}/{endpoint['prefix']}" if endpoint.get("prefix") else ip
    name = next((iface["name"] for iface in interfaces
                 if any(str(cidr).startswith(f"{ip}/") for cidr in iface.get("addresses") or [])), "")
    return f"{name} {address}".strip()


def _observed_network(facts: dict[str, Any]) -> Network:
    options = facts.get("options") or {}
    tags = [] if facts.get("driver") in (None, "bridge") else [str(facts["driver"])]
    if facts.get("key") == "bridge":
        tags.append("default bridge")
    tags += _option_tags(options, internal=bool(facts.get("internal")))
    return Network(str(facts.get("key")), str(facts.get("subnet") or "no subnet"), str(facts.get("bridge") or ""),
                   str(facts.get("gateway") or ""), tuple(tags))


def _declared_network(spec: dict[str, Any]) -> Network:
    options = {str(pair[0]): value_text(pair[1]) for pair in spec.get("options") or []}
    tags = [] if spec.get("driver") in (None, "bridge") else [str(spec["driver"])]
    tags += _option_tags(options, internal=bool(spec.get("internal")))
    return Network(str(spec["key"]), value_text(spec.get("subnet")) or "subnet chosen by the daemon", "",
                   value_text(spec.get("gateway")), tuple(tags))


def _stub_network(key: str) -> Network:
    return Network(key, "", "docker0" if key == "bridge" else "", "", ("default bridge",) if key == "bridge" else ())


def _option_tags(options: dict[str, Any], internal: bool) -> list[str]:
    """The options that change reachability, in words."""
    tags = ["internal"] if internal else []
    if str(options.get("com.docker.network.bridge.enable_icc", "")).lower() == "false":
        tags.append("no ICC")
    if str(options.get("com.docker.network.bridge.enable_ip_masquerade", "")).lower() == "false":
        tags.append("no masquerade")
    mtu = options.get("com.docker.network.driver.mtu")
    if mtu and str(mtu) != "1500":
        tags.append(f"mtu {mtu}")
    return tags


def _sentinel(facts: dict[str, Any] | None) -> Sentinel | None:
    if not facts:
        return None
    return Sentinel(str(facts.get("address") or ""), str(facts.get("gateway_address") or ""),
                    str(facts.get("netns") or ""), str(facts.get("zone") or ""))


# -- layout and drawing ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """Containers in one netns: a root and the containers joined to it (container:<root>)."""

    nodes: tuple[Node, ...]

    @property
    def root(self) -> Node:
        return self.nodes[0]

    @property
    def height(self) -> int:
        return sum(_box_height(node) for node in self.nodes) + 8 * (len(self.nodes) - 1)


def _groups(nodes: tuple[Node, ...]) -> list[_Group]:
    """Joiners go with the root of their chain of targets; a joiner whose target is absent stands alone."""
    drawn = {node.key: node for node in nodes if node.created}
    members: dict[str, list[Node]] = {}
    for node in drawn.values():
        members.setdefault(_root_key(node, drawn), []).append(node)
    return [_Group(tuple(sorted(members[key], key=lambda node: node.key != key))) for key in members]


def _root_key(node: Node, drawn: dict[str, Node]) -> str:
    seen = {node.key}
    while node.mode == "container" and node.target in drawn and node.target not in seen:
        node = drawn[node.target]
        seen.add(node.key)
    return node.key


def _box_height(node: Node) -> int:
    return HEAD + LINE * len(node.notes) + 8


def _colour(networks: tuple[Network, ...], key: str) -> str:
    keys = [network.key for network in networks]
    return PALETTE[keys.index(key) % len(PALETTE)] if key in keys else "#555"


def _fit(value: str, width: float, px: float = FONT_PX) -> str:
    """Cuts text that would overflow ``width`` pixels (SVG text does not wrap)."""
    limit = max(4, int(width / (CHAR_PX * px / FONT_PX)))
    return value if len(value) <= limit else value[: limit - 1] + "…"


def _label(x: float, y: float, value: str, width: float, **attrs: str | float | None) -> Markup:
    """A line of text cut to ``width``; the full text stays in a tooltip when cut."""
    shown = _fit(value, width)
    tip = el("title", value) if shown != value else None
    return el("text", tip, shown, x=round(x, 1), y=round(y, 1), **attrs)


def render_svg(topology: Topology, title: str) -> Markup:
    """The topology as an inline ``<svg>`` (well-formed XML, no external references).

    Args:
        topology: what to draw.
        title: the accessible title of the picture (the scenario).

    Returns:
        The ``<svg>`` element.
    """
    groups = _groups(topology.nodes)
    in_host = [group for group in groups if group.root.mode == "host"]
    below = [group for group in groups if group.root.mode != "host"]
    columns = max(1, len(in_host), len(below))
    host_w = GUTTER + columns * COL + 48  # room for the last column's address labels
    host_row = max((group.height for group in in_host), default=0)
    first_bus = PAD + 38 + (host_row + 22 if in_host else 0) + 16
    buses = {network.key: first_bus + index * BUS_GAP for index, network in enumerate(topology.networks)}
    host_bottom = (max(buses.values()) + 36) if buses else (PAD + 44 + (host_row + 14 if in_host else 0))
    columns_top = host_bottom + 46
    width = PAD + host_w + (SENTINEL_GAP + SENTINEL_W if topology.sentinel else 0) + PAD
    sentinel_bottom = PAD + 30 + HEAD + 3 * LINE + 8 if topology.sentinel else 0
    height = max([columns_top + group.height for group in below] + [host_bottom, sentinel_bottom]) + PAD
    parts = [
        el("title", title),
        _host_box(topology, host_w, host_bottom),
        [_bus(network, buses[network.key], host_w, _colour(topology.networks, network.key))
         for network in topology.networks],
        [_group(group, _column_x(index), PAD + 38, topology, {}) for index, group in enumerate(in_host)],
        [_group(group, _column_x(index), columns_top, topology, buses) for index, group in enumerate(below)],
        _sentinel_box(topology.sentinel, PAD + host_w) if topology.sentinel else None,
    ]
    return el("svg", parts, xmlns="http://www.w3.org/2000/svg", width=width, height=height,
              viewBox=f"0 0 {width} {height}", class_="topology", role="img", aria_label=title,
              font_family="DejaVu Sans, Liberation Sans, Arial, sans-serif", font_size=FONT_PX)


def _column_x(index: int) -> float:
    """The centre of a container column."""
    return PAD + GUTTER + index * COL + COL / 2


def _host_box(topology: Topology, host_w: int, bottom: int) -> Markup:
    return join(
        el("rect", x=PAD, y=PAD, width=host_w, height=bottom - PAD, rx=10, fill="#f8fafc", stroke="#94a3b8",
           stroke_width=1.5, class_="host-netns"),
        _label(PAD + 12, PAD + 22, topology.host, host_w - 24, font_weight="bold", fill="#334155"),
    )


def _bus(network: Network, y: int, host_w: int, colour: str) -> Markup:
    """A network: its bridge as a thick line, named in the gutter with subnet, bridge and options."""
    x = PAD + 14
    width = GUTTER - 26
    details = ([f"gw {network.gateway}"] if network.gateway else []) + list(network.tags)
    return el(
        "g",
        el("line", x1=PAD + GUTTER - 8, y1=y, x2=PAD + host_w - 14, y2=y, stroke=colour, stroke_width=5,
           stroke_linecap="round"),
        _label(x, y - 6, f"{network.key}  {network.subnet}".strip(), width, font_weight="bold", fill=colour),
        _label(x, y + 10, f"bridge {network.bridge}", width, fill="#475569") if network.bridge else None,
        _label(x, y + 24, " · ".join(details), width, fill="#475569") if details else None,
        class_="network", data_network=network.key,
    )


def _group(group: _Group, cx: float, top: int, topology: Topology, buses: dict[str, int]) -> Markup:
    """A netns: its containers stacked, a frame when several share it, links up to the networks."""
    parts: list[Markup] = []
    if len(group.nodes) > 1:
        parts.append(el("rect", x=cx - BOX_W / 2 - 6, y=top - 6, width=BOX_W + 12, height=group.height + 12, rx=10,
                        fill="none", stroke="#7d56c2", stroke_width=1.2, stroke_dasharray="5 3",
                        class_="shared-netns"))
    y = top
    for node in group.nodes:
        parts.append(_box(node, cx, y))
        y += _box_height(node) + 8
    parts.append(_links(group.root, cx, top, topology, buses))
    return join(parts)


def _box(node: Node, cx: float, top: int) -> Markup:
    style = "private" if node.mode in ("bridge", "network") else node.mode
    fill, stroke, dash = STYLES.get(style, STYLES["private"])
    x = cx - BOX_W / 2
    lines = [_label(x + 8, top + 15 + HEAD - 4 + LINE * index, note, BOX_W - 14, fill="#374151")
             for index, note in enumerate(node.notes)]
    return el(
        "g",
        el("title", f"{node.key}: {node.name}"),
        el("rect", x=x, y=top, width=BOX_W, height=_box_height(node), rx=6, fill=fill, stroke=stroke,
           stroke_width=1.5, stroke_dasharray=dash or None),
        _label(x + 8, top + 15, node.key, BOX_W - 14, font_weight="bold", fill="#111827"),
        lines,
        class_=f"container mode-{node.mode}", data_container=node.key,
    )


def _links(node: Node, cx: float, top: int, topology: Topology, buses: dict[str, int]) -> Markup:
    """One vertical line per network the container is attached to, hopping over the others."""
    links = sorted((link for link in node.links if link.network in buses), key=lambda link: buses[link.network])
    parts = []
    for index, link in enumerate(links):
        x = cx + (index - (len(links) - 1) / 2) * LINK_GAP
        bus_y = buses[link.network]
        colour = _colour(topology.networks, link.network)
        crossed = sorted(y for y in buses.values() if bus_y < y < top)
        parts.append(el(
            "g",
            [el("line", x1=x, y1=start, x2=x, y2=end, stroke=colour, stroke_width=2)
             for start, end in _segments(bus_y, top, crossed)],
            el("circle", cx=x, cy=bus_y, r=4.5, fill=colour, stroke="#fff", stroke_width=1.5),
            _label(x + 7, bus_y - 7, link.label, COL - 24, fill=colour, font_weight="bold", paint_order="stroke",
                   stroke="#fff", stroke_width=3) if link.label else None,
            class_="link", data_network=link.network, data_container=node.key,
        ))
    return join(parts)


def _segments(start: float, end: float, crossed: list[int]) -> list[tuple[float, float]]:
    """The pieces of a line from ``start`` down to ``end`` with a gap at each crossed network."""
    pieces: list[tuple[float, float]] = []
    for y in crossed:
        pieces.append((start, y - HOP))
        start = y + HOP
    pieces.append((start, end))
    return pieces


def _sentinel_box(sentinel: Sentinel, host_right: int) -> Markup:
    x = host_right + SENTINEL_GAP
    top = PAD + 30
    fill, stroke, _ = STYLES["sentinel"]
    notes = [sentinel.address, f"netns {sentinel.netns}", f"DNS zone {sentinel.zone}" if sentinel.zone else ""]
    notes = [note for note in notes if note]
    height = HEAD + LINE * len(notes) + 8
    wire_y = top + HEAD + 4
    return el(
        "g",
        el("line", x1=host_right, y1=wire_y, x2=x, y2=wire_y, stroke=stroke, stroke_width=2.5),
        _label(host_right + 4, wire_y - 6, sentinel.gateway_address, SENTINEL_GAP - 6, fill=stroke,
               font_size=10.5),
        el("text", "veth", x=host_right + 4, y=wire_y + 14, fill="#64748b", font_size=10.5),
        el("rect", x=x, y=top, width=SENTINEL_W, height=height, rx=6, fill=fill, stroke=stroke, stroke_width=1.5),
        _label(x + 8, top + 15, "sentinel (the outside)", SENTINEL_W - 14, font_weight="bold", fill="#111827"),
        [_label(x + 8, top + 15 + HEAD - 4 + LINE * index, note, SENTINEL_W - 14, fill="#374151")
         for index, note in enumerate(notes)],
        class_="sentinel",
    )
