"""The machine's uplinks and a capture of everything that crosses them.

An uplink is an interface that carries a default route (IPv4 or IPv6, any routing table but the
local one) of a network namespace (the current one unless one is named), found through netlink.
:class:`UplinkCapture` opens one packet socket per uplink (AF_PACKET, like
:mod:`netconform.observe.witness`, but raw: the Ethernet header is kept for the source MAC), in that
namespace, and keeps the first bytes of every frame, both ways, until stopped. It only listens:
nothing is ever sent. What it sees is classified by :mod:`.uplink_leaks`.

Blind spots: frames on other interfaces (a second NIC without a default route, a VPN, a tunnel
that is not an uplink here), traffic of other network namespaces with their own uplinks (a
dedicated daemon's netns is not the host's), and frames the kernel dropped for the socket
(counted: :attr:`Capture.dropped`).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import select
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from pyroute2 import IPRoute

from netconform.errors import EnvironmentProblem
from netconform.hermetic.named_netns import run_in_netns

_ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_STATISTICS = 6
_SO_RCVBUFFORCE = 33
_RT_TABLE_LOCAL = 255
_RTN_UNICAST = 1
_SIOCGIFINDEX = 0x8933
_CLONE_NEWNET = 0x40000000
_DIRECTIONS = {0: "in", 1: "in (broadcast)", 2: "in (multicast)", 3: "in (other host)", 4: "out"}
# Enough for every header the classifier reads and a DNS question after them.
SNAPLEN = 512


@dataclass(frozen=True)
class Uplink:
    """An interface with a default route: its name, MAC and addresses, and the gateways via it."""

    index: int
    name: str
    mac: str
    addresses: tuple[str, ...]
    gateways: tuple[str, ...]


def _default_route_interfaces(ipr: IPRoute) -> dict[int, list[str]]:
    """Interface index -> the gateways of the default routes that leave through it."""
    found: dict[int, list[str]] = {}
    for family in (socket.AF_INET, socket.AF_INET6):
        for route in ipr.route("dump", family=family):
            table = route.get_attr("RTA_TABLE") or route["table"]
            if route["dst_len"] != 0 or table == _RT_TABLE_LOCAL or route["type"] != _RTN_UNICAST:
                continue
            multipath = route.get_attr("RTA_MULTIPATH")
            hops = [(hop["oif"], hop.get_attr("RTA_GATEWAY")) for hop in multipath] if multipath else [
                (route.get_attr("RTA_OIF"), route.get_attr("RTA_GATEWAY"))]
            for index, gateway in hops:
                if index:
                    found.setdefault(int(index), []).extend([str(gateway)] if gateway else [])
    return found


def uplinks(netns: str | None = None) -> list[Uplink]:
    """A network namespace's uplinks, by interface index.

    Args:
        netns: the path naming the netns (``/run/netns/<name>``); the current one when None.

    Raises:
        EnvironmentProblem: no default route, so there is no uplink to watch.
    """
    if netns is not None:
        return run_in_netns(netns, uplinks, what=f"finding the uplinks of {netns}")
    with IPRoute() as ipr:
        routes = _default_route_interfaces(ipr)
        found = []
        for index, gateways in sorted(routes.items()):
            link = ipr.get_links(index)[0]
            addresses = tuple(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}"
                              for addr in ipr.get_addr(index=index))
            found.append(Uplink(index, str(link.get_attr("IFLA_IFNAME")), str(link.get_attr("IFLA_ADDRESS")),
                                addresses, tuple(gateways)))
    if not found:
        raise EnvironmentProblem("this network namespace has no default route: there is no uplink to watch")
    return found


@dataclass
class Capture:
    """What a capture saw: (interface, direction, first bytes of the frame) and the totals.

    ``bound`` maps each interface to the index its socket is bound to, as the kernel resolved the
    name in the capture's netns: compare it with :attr:`Uplink.index` to know the right device
    was watched.
    """

    frames: list[tuple[str, str, bytes]] = field(default_factory=list)
    dropped: int = 0
    seconds: float = 0.0
    bound: dict[str, int] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        per: dict[str, int] = {}
        for interface, _, _ in self.frames:
            per[interface] = per.get(interface, 0) + 1
        return per


def _open(interface: str) -> socket.socket:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
    try:
        # A full run with others' downloads on the same uplink: a roomy buffer keeps drops at zero.
        sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, 64 << 20)
        sock.bind((interface, _ETH_P_ALL))
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _open_in(netns: str | None, interface: str) -> socket.socket:
    """:func:`_open` with the socket created in ``netns``: a packet socket captures in the netns it
    was created in, for its whole life.

    A short-lived thread of its own joins the netns (setns changes the calling thread only) and
    ends after creating the socket, so no other thread of this process ever changes namespace.
    """
    if netns is None:
        return _open(interface)
    made: list[socket.socket | BaseException] = []

    def enter_and_open() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
            try:
                if libc.setns(fd, _CLONE_NEWNET) != 0:
                    code = ctypes.get_errno()
                    raise OSError(code, f"setns({netns}): {os.strerror(code)}")
            finally:
                os.close(fd)
            made.append(_open(interface))
        except BaseException as err:  # handed to the caller's thread
            made.append(err)

    thread = threading.Thread(target=enter_and_open, name="uplink-capture-setns")
    thread.start()
    thread.join()
    if isinstance(made[0], BaseException):
        raise made[0]
    return made[0]


def _bound_index(sock: socket.socket) -> int:
    """The index of the interface ``sock`` is bound to, resolved in the socket's own netns."""
    name = str(sock.getsockname()[0])
    request = struct.pack("16si", name.encode(), 0)
    return int(struct.unpack("16si", fcntl.ioctl(sock.fileno(), _SIOCGIFINDEX, request))[1])


def _lost(sock: socket.socket) -> int:
    _, drops = struct.unpack("II", sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, 8))
    return int(drops)


class UplinkCapture:
    """Captures every frame on ``interfaces`` from :meth:`start` to :meth:`stop` (in a thread).

    Use as a context manager; the capture is in :attr:`result` after the block.

    Args:
        interfaces: the interfaces to watch, by name.
        snaplen: how many bytes of each frame to keep.
        netns: the path naming the netns the interfaces are in; the current one when None.

    Raises:
        OSError: a packet socket could not be opened (not root, no such interface or netns).
    """

    def __init__(self, interfaces: list[str], snaplen: int = SNAPLEN, netns: str | None = None) -> None:
        self.interfaces = interfaces
        self.snaplen = snaplen
        self.netns = netns
        self.result = Capture()
        self._sockets: list[socket.socket] = []
        self._stop_read, self._stop_write = -1, -1
        self._thread: threading.Thread | None = None
        self._started = 0.0

    def start(self) -> None:
        try:
            for name in self.interfaces:
                self._sockets.append(_open_in(self.netns, name))
                self.result.bound[name] = _bound_index(self._sockets[-1])
        except OSError:
            self._close()
            raise
        for sock in self._sockets:
            _lost(sock)  # reading the statistics resets them: count from now
        self._stop_read, self._stop_write = os.pipe()
        self._started = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="uplink-capture", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> Capture:
        """End the capture (the frames still queued are read first) and return it.

        Raises:
            EnvironmentProblem: the capture thread did not end within ``timeout``.
        """
        if self._thread is not None:
            os.write(self._stop_write, b"x")
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise EnvironmentProblem(f"the uplink capture did not stop within {timeout:g}s")
            self._thread = None
            self.result.seconds = time.monotonic() - self._started
        self._close()
        return self.result

    def _run(self) -> None:
        names = {sock.fileno(): name for sock, name in zip(self._sockets, self.interfaces, strict=True)}
        by_fd = {sock.fileno(): sock for sock in self._sockets}
        while True:
            readable, _, _ = select.select([*by_fd, self._stop_read], [], [])
            for fd in readable:
                if fd in by_fd:
                    self._drain(by_fd[fd], names[fd])
            if self._stop_read in readable:
                for fd, sock in by_fd.items():
                    self._drain(sock, names[fd])
                self.result.dropped = sum(_lost(sock) for sock in self._sockets)
                return

    def _drain(self, sock: socket.socket, interface: str) -> None:
        while True:
            try:
                frame, address = sock.recvfrom(self.snaplen)
            except BlockingIOError:
                return
            self.result.frames.append((interface, _DIRECTIONS.get(address[2], str(address[2])), frame))

    def _close(self) -> None:
        for sock in self._sockets:
            sock.close()
        self._sockets = []
        for fd in (self._stop_read, self._stop_write):
            if fd >= 0:
                os.close(fd)
        self._stop_read, self._stop_write = -1, -1

    def __enter__(self) -> UplinkCapture:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


def write_pcap(path: Path, frames: Iterator[bytes] | list[bytes]) -> Path:
    """Write Ethernet ``frames`` (as captured, possibly truncated) to a pcap file for Wireshark."""
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, 1))
        for frame in frames:
            out.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)))
            out.write(frame)
    return path
