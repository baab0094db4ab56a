"""Probe what the kernel offers, by trying it in a scratch network namespace.

A feature counts as present only when the kernel does the thing: a link of the type is created
(macvlan and ipvlan on a veth parent), the IPVS generic netlink family resolves, an ESP xfrm state
is accepted. Every attempt runs in a forked child that unshares a network namespace of its own:
nothing is ever created in the host's (or the daemon's) namespace, and whatever the child made
goes with its namespace when it exits, also when it fails half-way. Asking may load a module
(the kernel autoloads on request), exactly as Docker asking for the same thing would.

The results are kept per process (:class:`FeatureProbe`): one pytest process probes once.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Iterable

from pyroute2 import IPRoute
from pyroute2.netlink import genlmsg
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.generic import GenericNetlinkSocket

from netconform.errors import NetconformError
from netconform.facts.kernel import KERNEL_FEATURES, KernelFeature
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.hermetic.xfrm_probe import try_esp_state

PROBE_BOUND = 10.0
_CLONE_NEWNET = 0x40000000
_PARENT = "ncprobe0"


Prober = Callable[[list[str]], dict[str, KernelFeature]]


class FeatureProbe:
    """What the kernel offers, probed on first request and kept for the life of the object.

    Args:
        probe: what asks the kernel (default :func:`probe_features`); given names, their answers.
    """

    def __init__(self, probe: Prober | None = None) -> None:
        self._probe = probe or probe_features
        self._found: dict[str, KernelFeature] = {}

    def features(self, names: Iterable[str]) -> dict[str, KernelFeature]:
        """Each named feature as probed (those not probed yet are probed now, in one child).

        Raises:
            ValueError: an unknown feature name.
        """
        wanted = list(dict.fromkeys(names))
        unknown = [name for name in wanted if name not in KERNEL_FEATURES]
        if unknown:
            raise ValueError(f"unknown kernel feature {unknown[0]!r} (known: {', '.join(KERNEL_FEATURES)})")
        missing = [name for name in wanted if name not in self._found]
        if missing:
            self._found.update(self._probe(missing))
        return {name: self._found[name] for name in wanted}

    def missing(self, names: Iterable[str]) -> list[KernelFeature]:
        """The named features the kernel lacks, in the order named."""
        return [feature for feature in self.features(names).values() if not feature.present]


def probe_features(names: Iterable[str]) -> dict[str, KernelFeature]:
    """Probe ``names`` in a child inside a new, throwaway network namespace.

    A probe that could not run at all (no permission to make a namespace) is reported as the
    feature missing with that reason: the scenario is skipped and says why.
    """
    wanted = list(names)
    try:
        return call_in_namespaces({}, _probe_here, wanted, timeout=PROBE_BOUND, what="probing kernel features")
    except NetconformError as err:
        return {name: KernelFeature(name, False, f"the probe could not run: {err}") for name in wanted}


# --- run inside the probing child ------------------------------------------------------------------


def _probe_here(names: list[str]) -> dict[str, KernelFeature]:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWNET): {os.strerror(code)}")
    found: dict[str, KernelFeature] = {}
    with IPRoute() as ipr:
        probes: dict[str, Callable[[], str]] = {
            "veth": lambda: _try_link(ipr, "ncveth0", kind="veth", peer="ncveth1"),
            "dummy": lambda: _try_link(ipr, "ncdummy0", kind="dummy"),
            "macvlan": lambda: _on_parent(ipr, "ncmacvlan0", kind="macvlan", macvlan_mode="bridge"),
            "ipvlan": lambda: _on_parent(ipr, "ncipvlan0", kind="ipvlan", ipvlan_mode=0),  # 0: L2
            "vxlan": lambda: _try_link(ipr, "ncvxlan0", kind="vxlan", vxlan_id=42, vxlan_port=4789),
            "ipvs": _try_ipvs,
            "esp": try_esp_state,
        }
        for name in names:
            try:
                problem = probes[name]()
            except Exception as err:  # one broken probe must not hide the others' answers
                problem = f"the probe failed: {type(err).__name__}: {err}"
            found[name] = KernelFeature(name, not problem, problem)
    return found


def _try_link(ipr: IPRoute, ifname: str, **spec: object) -> str:
    """Create a link and delete it again; '' when the kernel made it, else its error."""
    try:
        ipr.link("add", ifname=ifname, **spec)
    except NetlinkError as err:
        return _netlink_words(err)
    ipr.link("del", index=ipr.link_lookup(ifname=ifname)[0])
    return ""


def _on_parent(ipr: IPRoute, ifname: str, **spec: object) -> str:
    """A link on a parent: a veth end made for it (the parent kind the suite uses)."""
    if not ipr.link_lookup(ifname=_PARENT):
        problem = _try_parent(ipr)
        if problem:
            return f"no parent to put it on: {problem}"
    return _try_link(ipr, ifname, link=ipr.link_lookup(ifname=_PARENT)[0], **spec)


def _try_parent(ipr: IPRoute) -> str:
    try:
        ipr.link("add", ifname=_PARENT, kind="veth", peer=f"{_PARENT}p")
    except NetlinkError as err:
        return f"veth: {_netlink_words(err)}"
    return ""


def _try_ipvs() -> str:
    """Whether the generic netlink family IPVS resolves (the kernel loads ip_vs on the request)."""
    with GenericNetlinkSocket() as genl:
        try:
            genl.bind("IPVS", genlmsg)
        except NetlinkError as err:
            return f"generic netlink family IPVS: {_netlink_words(err)}"
    return ""


def _netlink_words(err: NetlinkError) -> str:
    """The kernel's answer in words ("Unknown device type" where the kernel says so)."""
    if err.code == errno.EOPNOTSUPP:
        return "Unknown device type (EOPNOTSUPP)"
    name = errno.errorcode.get(err.code, str(err.code))
    return f"{os.strerror(err.code)} ({name})"
