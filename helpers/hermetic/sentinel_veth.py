"""The veth pair joining a sentinel's netns to the attachment netns, addressed from a free /30 slice.

::

    attachment netns                         sentinel netns
    nc<run>s<slot>  198.18.0.1/30  <--veth-->  eth0  198.18.0.2/30, default via 198.18.0.1
                    fd00:198:18::1/126               fd00:198:18::2/126, default via fd00:198:18::1
                                                     127.0.0.0/8 via 198.18.0.1 (sockets bound to eth0)

IPv6 comes from a ULA range (RFC 4193, ``fd00:198:18::/64`` by default, echoing 198.18): ULAs are
meant for use inside a site and are never routed on the internet, which is the network rule's
promise; the documentation range 2001:db8::/32 is reserved for examples in text, not for live
interfaces, and the containers' IPv6 networks are ULA too, so both ends have the same scope.
The IPv6 slice (a /126 of the IPv6 range) has the same slot number as the IPv4 one: the slot is
already unique under the lock, so no second search is needed. IPv6 addresses are added without
duplicate address detection (nothing else uses the slice), so they are usable at once.

The attachment-side name ``nc<run id>s<slot in hex>`` (at most 15 characters, the kernel's limit)
carries the run id, so a sweep can tell a crashed run's veth from anything else. Slices are
claimed under a host-wide lock: pytest workers and concurrent runs share the range. Netlink runs
in children inside the namespaces (:mod:`netconform.hermetic.named_netns` says why).
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import ipaddress
import os
import re
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netconform.errors import EnvironmentProblem
from netconform.hermetic.named_netns import NETNS_DIR, run_in_netns
from netconform.hermetic.runs import NAME_PREFIX, REGISTRY

SLICE_PREFIX = 30
SLICE6_PREFIX = 126
# Address flag: skip duplicate address detection (linux/if_addr.h), else the address stays
# "tentative" for a second or two and neither binds nor sources packets.
IFA_F_NODAD = 0x02
# The veth name has room for four hex digits of slot number.
MAX_SLOTS = 0x10000
SENTINEL_IFNAME = "eth0"
LOOPBACK_NET = "127.0.0.0/8"
LOCK_PATH = REGISTRY.parent / "sentinel.lock"
LOCK_TIMEOUT = 10.0
# A sentinel's veth (s) or a segment's parent (p, netconform.hermetic.segment): both swept alike.
VETH_NAME = re.compile(rf"^{NAME_PREFIX}([0-9a-f]{{8}})[sp]([0-9a-f]{{1,4}})$")
# ... and for eight hex digits of run id.
HEX_RUN_ID = re.compile(r"^[0-9a-f]{8}$")


def veth_name(run_id: str, slot: int) -> str:
    """The attachment-side veth name of slot ``slot`` for run ``run_id``: ``nc<run>s<slot hex>``."""
    return f"{NAME_PREFIX}{run_id}s{slot:x}"


@dataclass(frozen=True)
class Placement:
    """Where a sentinel's veth pair sits: its slot in the range, its /30 and both ends' addresses."""

    slot: int
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    address: ipaddress.IPv4Address
    # The IPv6 slice of the same slot, when the sentinel has IPv6.
    subnet6: ipaddress.IPv6Network | None = None
    gateway6: ipaddress.IPv6Address | None = None
    address6: ipaddress.IPv6Address | None = None


def parse_slice_range(cidr: str) -> ipaddress.IPv4Network:
    """The IPv4 range sentinels take their slices from.

    Raises:
        ValueError: ``cidr`` is not an IPv4 network, or smaller than one slice.
    """
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError as err:
        raise ValueError(f"sentinel cidr {cidr!r} is not an IPv4 network: {err}") from err
    if network.prefixlen > SLICE_PREFIX:
        raise ValueError(f"sentinel cidr {cidr!r} is smaller than one /{SLICE_PREFIX} slice")
    return network


def parse_slice_range6(cidr6: str) -> ipaddress.IPv6Network:
    """The IPv6 range sentinels take their /126 slices from.

    Raises:
        ValueError: ``cidr6`` is not an IPv6 network, or smaller than one slice.
    """
    try:
        network = ipaddress.IPv6Network(cidr6)
    except ValueError as err:
        raise ValueError(f"sentinel cidr6 {cidr6!r} is not an IPv6 network: {err}") from err
    if network.prefixlen > SLICE6_PREFIX:
        raise ValueError(f"sentinel cidr6 {cidr6!r} is smaller than one /{SLICE6_PREFIX} slice")
    return network


def slice6(cidr6: ipaddress.IPv6Network, slot: int) -> tuple[ipaddress.IPv6Network, ipaddress.IPv6Address,
                                                                ipaddress.IPv6Address] | None:
    """The ``slot``-th /126 of ``cidr6`` with its gateway (::1) and sentinel (::2) ends; None when
    the range has fewer slices."""
    if slot >= 1 << (SLICE6_PREFIX - cidr6.prefixlen):
        return None
    base = int(cidr6.network_address) + (slot << (128 - SLICE6_PREFIX))
    subnet = ipaddress.IPv6Network((base, SLICE6_PREFIX))
    return subnet, ipaddress.IPv6Address(base + 1), ipaddress.IPv6Address(base + 2)


def attach_veth(attach_netns: str, sentinel_netns: str, cidr: ipaddress.IPv4Network, run_id: str,
                cidr6: ipaddress.IPv6Network | None = None) -> Placement:
    """Claim the first free slice of ``cidr`` and create the veth pair, its attachment end addressed and up.

    Args:
        attach_netns: path of the netns to attach to.
        sentinel_netns: the name of the sentinel's netns under /run/netns, where ``eth0`` goes.
        cidr: the range to take the slice from.
        run_id: the run whose veth name to use.
        cidr6: the IPv6 range whose slice of the same slot the veth gets too; None for IPv4 only.

    Raises:
        EnvironmentProblem: no slice is free, the lock stayed taken, or netlink refused; no veth
            is left behind.
    """
    with _slice_lock():
        outcome = run_in_netns(
            attach_netns,
            _attach_here,
            cidr,
            run_id,
            str(NETNS_DIR / sentinel_netns),
            cidr6,
            what=f"attaching {sentinel_netns} to {attach_netns}",
        )
    if isinstance(outcome, str):
        raise EnvironmentProblem(f"sentinel {sentinel_netns}: {outcome}")
    return outcome


def address_sentinel_end(sentinel_netns: str, placement: Placement) -> None:
    """Bring up lo and ``eth0`` in the sentinel's netns, address it, and route everything back.

    Raises:
        EnvironmentProblem: netlink refused.
    """
    run_in_netns(
        str(NETNS_DIR / sentinel_netns),
        _configure_here,
        placement,
        what=f"addressing {SENTINEL_IFNAME} in {sentinel_netns}",
    )


def delete_veth(attach_netns: str, name: str) -> None:
    """Delete the veth ``name`` in ``attach_netns``; nothing to do when the netns is gone.

    Raises:
        EnvironmentProblem: netlink refused.
    """
    if not os.path.exists(attach_netns):
        return  # the attachment netns is gone, and its end of the veth with it
    run_in_netns(attach_netns, _delete_link_here, name, what=f"deleting veth {name} in {attach_netns}")


def _free_slice(
    cidr: ipaddress.IPv4Network,
    taken: list[ipaddress.IPv4Network],
    links: set[str | None],
    run_id: str,
) -> Placement | None:
    for slot, subnet in enumerate(cidr.subnets(new_prefix=SLICE_PREFIX)):
        if slot >= MAX_SLOTS:
            return None
        if any(network.overlaps(subnet) for network in taken):
            continue
        if veth_name(run_id, slot) in links:
            continue
        hosts = list(subnet.hosts())
        return Placement(slot, subnet, hosts[0], hosts[1])
    return None


@contextmanager
def _slice_lock(timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Serialise slice claims across pytest workers and concurrent runs on this host."""
    LOCK_PATH.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(LOCK_PATH, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise EnvironmentProblem(
                        f"another process held {LOCK_PATH} for more than {timeout:g}s while "
                        "claiming a sentinel address slice"
                    ) from None
                time.sleep(0.01)
        yield
    finally:
        os.close(fd)


# --- run inside a namespace child (run_in_netns) -----------------------------------------------


def _attach_here(cidr: ipaddress.IPv4Network, run_id: str, peer_netns: str,
                 cidr6: ipaddress.IPv6Network | None) -> Placement | str:
    """Claim the first free slice and create the veth pair; returns why not when none is free."""
    with IPRoute() as ipr:
        taken = [
            ipaddress.IPv4Interface(f"{msg.get('IFA_ADDRESS')}/{msg['prefixlen']}").network
            for msg in ipr.addr("dump", family=2)
        ]
        links = {msg.get("IFLA_IFNAME") for msg in ipr.link("dump")}
        placement = _free_slice(cidr, taken, links, run_id)
        if placement is None:
            in_use = ", ".join(str(n) for n in taken if n.overlaps(cidr)) or "none"
            return (
                f"no free /{SLICE_PREFIX} left in {cidr} (addresses in use: {in_use}); "
                "sweep stale sentinels or pass another cidr"
            )
        if cidr6 is not None:
            sliced = slice6(cidr6, placement.slot)
            if sliced is None:
                return f"slot {placement.slot} has no /{SLICE6_PREFIX} left in {cidr6}; pass a larger cidr6"
            placement = dataclasses.replace(placement, subnet6=sliced[0], gateway6=sliced[1], address6=sliced[2])
        name = veth_name(run_id, placement.slot)
        peer_fd = os.open(peer_netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ipr.link("add", ifname=name, kind="veth", peer={"ifname": SENTINEL_IFNAME, "net_ns_fd": peer_fd})
        finally:
            os.close(peer_fd)
        index = ipr.link_lookup(ifname=name)[0]
        try:
            ipr.addr("add", index=index, address=str(placement.gateway), prefixlen=SLICE_PREFIX)
            if placement.gateway6 is not None:
                _enable_ipv6(name)
                ipr.addr("add", index=index, address=str(placement.gateway6), prefixlen=SLICE6_PREFIX,
                         flags=IFA_F_NODAD)
            ipr.link("set", index=index, state="up")
        except BaseException:
            # The parent learns the slot only from our answer: leave no veth it cannot name.
            ipr.link("del", index=index)
            raise
    return placement


def _configure_here(placement: Placement) -> None:
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        index = ipr.link_lookup(ifname=SENTINEL_IFNAME)[0]
        ipr.addr("add", index=index, address=str(placement.address), prefixlen=SLICE_PREFIX)
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst="0.0.0.0/0", gateway=str(placement.gateway))
        if placement.address6 is not None:
            # The default route covers every container range (fd00::/8 and others) via the host,
            # so unmasqueraded container sources are answered too.
            _enable_ipv6(SENTINEL_IFNAME)
            ipr.addr("add", index=index, address=str(placement.address6), prefixlen=SLICE6_PREFIX,
                     flags=IFA_F_NODAD)
            ipr.route("add", dst="::/0", gateway=str(placement.gateway6), family=socket.AF_INET6)
        # "via host" probes: a socket bound to eth0 skips the loopback route (its device is lo) and
        # sends 127.0.0.x to the attachment side, as a neighbour routing toward the host's loopback
        # would; the answer comes back from 127.0.0.x. Unbound sockets still take the loopback route.
        ipr.route("add", dst=LOOPBACK_NET, gateway=str(placement.gateway), oif=index)
        for name in ("route_localnet", "accept_local"):
            Path(f"/proc/sys/net/ipv4/conf/{SENTINEL_IFNAME}/{name}").write_text("1\n")


def _enable_ipv6(ifname: str) -> None:
    """Turn IPv6 on for ``ifname`` (a namespace whose ``default.disable_ipv6`` is 1 creates links without)."""
    Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6").write_text("0\n")


def _delete_link_here(name: str) -> None:
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            try:
                ipr.link("del", index=index)
            except NetlinkError as err:
                if err.code != errno.ENODEV:
                    raise
