"""Waiting out IPv6 duplicate address detection before a probe leaves a fresh namespace.

A container's IPv6 addresses are "tentative" for about a second after it starts (DAD, RFC 4862):
the kernel neither sources packets from them nor answers neighbour solicitations for them, so an
IPv6 probe sent then is held back and leaves only after the prober stopped waiting. Observed on
20.10: both attempts of a 2 x 0.5 s probe left together, 1.04 s after the first was sent.
"""

from __future__ import annotations

import socket
import time

from pyroute2 import IPRoute

IFA_F_TENTATIVE = 0x40
DAD_BOUND = 5.0


RT_SCOPE_UNIVERSE = 0


def tentative_addresses(global_only: bool = False) -> list[str]:
    """The IPv6 addresses of the current namespace still under duplicate address detection
    (``global_only``: not link-local ones)."""
    with IPRoute() as ipr:
        return [str(addr.get("address")) for addr in ipr.get_addr(family=socket.AF_INET6)
                if (addr["flags"] | (addr.get_attr("IFA_FLAGS") or 0)) & IFA_F_TENTATIVE
                and (not global_only or addr["scope"] == RT_SCOPE_UNIVERSE)]


def await_dad(bound: float = DAD_BOUND, global_only: bool = False) -> list[str]:
    """Wait (at most ``bound`` seconds) until no IPv6 address here is tentative; call inside the
    namespace. Returns the addresses still tentative when the bound passed (empty when settled)."""
    deadline = time.monotonic() + bound
    while (pending := tentative_addresses(global_only)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pending
