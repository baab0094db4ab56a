"""Where each part of a topology picture goes: a bus diagram, laid out in pixels.

Each network is a horizontal line (its bridge, inside the host's netns box); each container is a
column below, with one vertical link per network it is attached to, labelled with the interface and
address. Host-mode containers sit inside the host box, ``container:<x>`` joiners are stacked under
their target in one frame (one netns), ``none`` containers have no link, and the sentinel hangs off
the host box on the right. The result, a :class:`Picture`, holds coordinates, colours and the text
of each label (cut to fit); the template ``templates/topology.svg`` turns it into SVG.
"""

from __future__ import annotations

from dataclasses import dataclass

from netconform.report.topology import Network, Node, Sentinel, Topology

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
# fill, stroke, dash pattern of a box, by the container's kind of netns.
STYLES = {
    "host": ("#fff6e5", "#c98a12", ""),
    "none": ("#f3f4f6", "#8b8f96", "4 3"),
    "container": ("#f4eefe", "#7d56c2", ""),
    "private": ("#eef4ff", "#4b6fc0", ""),
    "sentinel": ("#e8f6f1", "#1b8a6b", ""),
}


@dataclass(frozen=True)
class Label:
    """A line of text at (x, y), cut to its width; the whole text goes in a tooltip when cut."""

    x: float
    y: float
    full: str
    shown: str

    @property
    def cut(self) -> bool:
        """Whether ``shown`` is shorter than ``full``."""
        return self.shown != self.full


@dataclass(frozen=True)
class Box:
    """A rectangle; ``dash`` is a stroke pattern or empty."""

    x: float
    y: float
    width: float
    height: float
    fill: str = ""
    stroke: str = ""
    dash: str = ""


@dataclass(frozen=True)
class Bus:
    """A network: a thick line at ``y`` from ``x1`` to ``x2``, named in the gutter."""

    key: str
    colour: str
    y: float
    x1: float
    x2: float
    name: Label
    bridge: Label | None
    details: Label | None


@dataclass(frozen=True)
class Container:
    """A container's box with its name and the lines under it."""

    key: str
    mode: str
    tooltip: str
    box: Box
    name: Label
    notes: tuple[Label, ...]


@dataclass(frozen=True)
class Wire:
    """A container's link to a network: line pieces at ``x`` (gaps where it hops over other
    networks), a dot on the bus at ``bus_y``, the interface and address beside the dot."""

    network: str
    container: str
    colour: str
    x: float
    bus_y: float
    segments: tuple[tuple[float, float], ...]
    label: Label | None


@dataclass(frozen=True)
class Group:
    """Containers in one netns: a dashed frame when several share it, their boxes, the root's wires."""

    frame: Box | None
    containers: tuple[Container, ...]
    wires: tuple[Wire, ...]


@dataclass(frozen=True)
class SentinelPart:
    """The sentinel's box, and the veth from the host box to it labelled with the host's address."""

    wire_x1: float
    wire_x2: float
    wire_y: float
    colour: str
    gateway: Label
    veth: Label
    box: Box
    name: Label
    notes: tuple[Label, ...]


@dataclass(frozen=True)
class Picture:
    """A whole topology picture, in drawing order."""

    title: str
    width: float
    height: float
    font_px: float
    host_box: Box
    host: Label
    buses: tuple[Bus, ...]
    groups: tuple[Group, ...]
    sentinel: SentinelPart | None


@dataclass(frozen=True)
class _Netns:
    """Containers in one netns: a root and the containers joined to it (container:<root>)."""

    nodes: tuple[Node, ...]

    @property
    def root(self) -> Node:
        return self.nodes[0]

    @property
    def height(self) -> int:
        return sum(_box_height(node) for node in self.nodes) + 8 * (len(self.nodes) - 1)


def layout(topology: Topology, title: str) -> Picture:
    """Lays a topology out: the host box with its buses, the container columns, the sentinel.

    Args:
        topology: what to draw.
        title: the accessible title of the picture (the scenario).

    Returns:
        The picture, for ``templates/topology.svg``.
    """
    groups = _netns_groups(topology.nodes)
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
    return Picture(
        title=title, width=width, height=height, font_px=FONT_PX,
        host_box=Box(PAD, PAD, host_w, host_bottom - PAD),
        host=_label(PAD + 12, PAD + 22, topology.host, host_w - 24),
        buses=tuple(_bus(network, buses[network.key], host_w, _colour(topology.networks, network.key))
                    for network in topology.networks),
        groups=tuple([_group(group, _column_x(index), PAD + 38, topology, {}) for index, group in enumerate(in_host)]
                     + [_group(group, _column_x(index), columns_top, topology, buses)
                        for index, group in enumerate(below)]),
        sentinel=_sentinel(topology.sentinel, PAD + host_w) if topology.sentinel else None,
    )


def _netns_groups(nodes: tuple[Node, ...]) -> list[_Netns]:
    """Joiners go with the root of their chain of targets; a joiner whose target is absent stands alone."""
    drawn = {node.key: node for node in nodes if node.created}
    members: dict[str, list[Node]] = {}
    for node in drawn.values():
        members.setdefault(_root_key(node, drawn), []).append(node)
    return [_Netns(tuple(sorted(members[key], key=lambda node: node.key != key))) for key in members]


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


def _label(x: float, y: float, value: str, width: float) -> Label:
    return Label(round(x, 1), round(y, 1), value, _fit(value, width))


def _column_x(index: int) -> float:
    """The centre of a container column."""
    return PAD + GUTTER + index * COL + COL / 2


def _bus(network: Network, y: int, host_w: int, colour: str) -> Bus:
    """A network's bridge as a line, named in the gutter with subnet, bridge and options."""
    x = PAD + 14
    width = GUTTER - 26
    details = ([f"gw {network.gateway}"] if network.gateway else []) + list(network.tags)
    return Bus(
        key=network.key, colour=colour, y=y, x1=PAD + GUTTER - 8, x2=PAD + host_w - 14,
        name=_label(x, y - 6, f"{network.key}  {network.subnet}".strip(), width),
        bridge=_label(x, y + 10, f"bridge {network.bridge}", width) if network.bridge else None,
        details=_label(x, y + 24, " · ".join(details), width) if details else None,
    )


def _group(group: _Netns, cx: float, top: int, topology: Topology, buses: dict[str, int]) -> Group:
    """A netns: its containers stacked, a frame when several share it, links up to the networks."""
    frame = (Box(cx - BOX_W / 2 - 6, top - 6, BOX_W + 12, group.height + 12) if len(group.nodes) > 1 else None)
    containers = []
    y = top
    for node in group.nodes:
        containers.append(_container(node, cx, y))
        y += _box_height(node) + 8
    return Group(frame, tuple(containers), _wires(group.root, cx, top, topology, buses))


def _container(node: Node, cx: float, top: int) -> Container:
    style = "private" if node.mode in ("bridge", "network") else node.mode
    fill, stroke, dash = STYLES.get(style, STYLES["private"])
    x = cx - BOX_W / 2
    return Container(
        key=node.key, mode=node.mode, tooltip=f"{node.key}: {node.name}",
        box=Box(x, top, BOX_W, _box_height(node), fill, stroke, dash),
        name=_label(x + 8, top + 15, node.key, BOX_W - 14),
        notes=tuple(_label(x + 8, top + 15 + HEAD - 4 + LINE * index, note, BOX_W - 14)
                    for index, note in enumerate(node.notes)),
    )


def _wires(node: Node, cx: float, top: int, topology: Topology, buses: dict[str, int]) -> tuple[Wire, ...]:
    """One vertical line per network the container is attached to, hopping over the others."""
    links = sorted((link for link in node.links if link.network in buses), key=lambda link: buses[link.network])
    wires = []
    for index, link in enumerate(links):
        x = cx + (index - (len(links) - 1) / 2) * LINK_GAP
        bus_y = buses[link.network]
        crossed = sorted(y for y in buses.values() if bus_y < y < top)
        wires.append(Wire(
            network=link.network, container=node.key, colour=_colour(topology.networks, link.network), x=x,
            bus_y=bus_y, segments=tuple(_segments(bus_y, top, crossed)),
            label=_label(x + 7, bus_y - 7, link.label, COL - 24) if link.label else None,
        ))
    return tuple(wires)


def _segments(start: float, end: float, crossed: list[int]) -> list[tuple[float, float]]:
    """The pieces of a line from ``start`` down to ``end`` with a gap at each crossed network."""
    pieces: list[tuple[float, float]] = []
    for y in crossed:
        pieces.append((start, y - HOP))
        start = y + HOP
    pieces.append((start, end))
    return pieces


def _sentinel(sentinel: Sentinel, host_right: int) -> SentinelPart:
    x = host_right + SENTINEL_GAP
    top = PAD + 30
    fill, stroke, _ = STYLES["sentinel"]
    notes = [sentinel.address, f"netns {sentinel.netns}", f"DNS zone {sentinel.zone}" if sentinel.zone else ""]
    notes = [note for note in notes if note]
    wire_y = top + HEAD + 4
    return SentinelPart(
        wire_x1=host_right, wire_x2=x, wire_y=wire_y, colour=stroke,
        gateway=_label(host_right + 4, wire_y - 6, sentinel.gateway_address, SENTINEL_GAP - 6),
        veth=_label(host_right + 4, wire_y + 14, "veth", SENTINEL_GAP),
        box=Box(x, top, SENTINEL_W, HEAD + LINE * len(notes) + 8, fill, stroke),
        name=_label(x + 8, top + 15, "sentinel (the outside)", SENTINEL_W - 14),
        notes=tuple(_label(x + 8, top + 15 + HEAD - 4 + LINE * index, note, SENTINEL_W - 14)
                    for index, note in enumerate(notes)),
    )
