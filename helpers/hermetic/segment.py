"""A layer-2 segment for one scenario: a veth pair from the daemon's netns to the sentinel's.

::

    daemon's netns                               sentinel netns
    nc<run>p<n>  (the parent; host address)  <--veth-->  seg<n>  (the sentinel on the segment)
      └ macvlan/ipvlan children: the containers

The daemon's end is the parent a macvlan or ipvlan network names (``${segment.parent}``); never the
host's real uplink. Its name carries the run id (``nc<run id>p<n>``, at most 15 characters), so the
sentinel sweep (:mod:`netconform.hermetic.sentinel_sweep`) removes what a crashed run left. ``n``
is the first number free in the daemon's netns: the kernel refuses a name that exists, so workers
of one run never collide. Both ends come up without addresses; :meth:`Segment.address` gives them
theirs once the scenario's networks exist (their subnet may have moved). Deleting the parent
deletes the pair, and with it every macvlan or ipvlan child left on it.
"""

from __future__ import annotations

import errno
import ipaddress
import os

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netconform.errors import EnvironmentProblem
from netconform.facts import SegmentInfo
from netconform.hermetic.named_netns import run_in_netns
from netconform.hermetic.runs import NAME_PREFIX
from netconform.hermetic.sentinel_veth import delete_veth

MAX_SEGMENTS = 0x10000


def parent_name(run_id: str, number: int) -> str:
    """The daemon-side end of segment ``number`` of run ``run_id``: ``nc<run>p<number hex>``."""
    return f"{NAME_PREFIX}{run_id}p{number:x}"


class Segment:
    """One scenario's segment; :meth:`create`, then :meth:`address`, and always :meth:`remove`.

    Args:
        run_id: the run whose name the parent carries.
        attach_netns: the daemon's netns path (where the parent goes).
        sentinel_netns: the sentinel's netns path (where the other end goes).
    """

    def __init__(self, run_id: str, attach_netns: str, sentinel_netns: str) -> None:
        self.run_id = run_id
        self.attach_netns = attach_netns
        self.sentinel_netns = sentinel_netns
        self.parent = ""
        self.peer = ""
        self.parent_mac = ""

    def create(self) -> Segment:
        """Make the pair, both ends up, no addresses.

        Raises:
            EnvironmentProblem: netlink refused, or every name is taken.
        """
        number, self.parent_mac = run_in_netns(self.attach_netns, _create_here, self.run_id, self.sentinel_netns,
                                               what=f"creating a segment from {self.attach_netns}")
        self.parent, self.peer = parent_name(self.run_id, number), f"seg{number:x}"
        return self

    def address(self, subnet: str, sentinel: str, host: str | None) -> SegmentInfo:
        """Give the sentinel's end ``sentinel`` and the parent ``host`` (if any), in ``subnet``.

        Raises:
            EnvironmentProblem: netlink refused.
        """
        prefix = ipaddress.IPv4Network(subnet).prefixlen
        run_in_netns(self.sentinel_netns, _address_here, self.peer, sentinel, prefix,
                     what=f"addressing {self.peer} in {self.sentinel_netns}")
        if host is not None:
            run_in_netns(self.attach_netns, _address_here, self.parent, host, prefix,
                         what=f"addressing {self.parent} in {self.attach_netns}")
        return SegmentInfo(self.parent, self.parent_mac, subnet, sentinel, host)

    def remove(self) -> None:
        """Delete the pair (idempotent; nothing to do when it was never made).

        Raises:
            EnvironmentProblem: netlink refused.
        """
        if self.parent:
            delete_veth(self.attach_netns, self.parent)
            self.parent = ""


# --- run inside a namespace child (run_in_netns) -----------------------------------------------


def _create_here(run_id: str, peer_netns: str) -> tuple[int, str]:
    peer_fd = os.open(peer_netns, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as ipr:
            for number in range(MAX_SEGMENTS):
                name = parent_name(run_id, number)
                try:
                    ipr.link("add", ifname=name, kind="veth", peer={"ifname": f"seg{number:x}", "net_ns_fd": peer_fd})
                except NetlinkError as err:
                    if err.code == errno.EEXIST:
                        continue
                    raise
                index = ipr.link_lookup(ifname=name)[0]
                ipr.link("set", index=index, state="up")
                return number, str(ipr.get_links(index)[0].get("IFLA_ADDRESS"))
    finally:
        os.close(peer_fd)
    raise EnvironmentProblem(f"no free segment name for run {run_id}")


def _address_here(ifname: str, address: str, prefix: int) -> None:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=ifname)[0]
        ipr.addr("add", index=index, address=address, prefixlen=prefix)
        ipr.link("set", index=index, state="up")
