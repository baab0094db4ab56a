"""The sentinel host: a network namespace that plays "the internet" and external clients.

Each pytest process creates its own sentinel: a netns joined by a veth pair to the *attachment
namespace* (the netns the Docker daemon under test lives in), addressed from a small /30 slice of
a test range (``198.18.0.0/24`` by default, from the benchmarking block no real host talks to)::

    attachment netns                         sentinel netns  nc-<run>-sentinel-<pid>-<n>
    nc<run>s<slot>  198.18.0.1/30  <--veth-->  eth0  198.18.0.2/30, default via 198.18.0.1
    (gateway_address)                          (address)  echo :7 tcp+udp, DNS :53 udp+tcp

The sentinel's default route points back at the attachment side, so it answers any source,
including container addresses that were not masqueraded. For containers to reach it, the
attachment namespace must forward IPv4; Docker enables that itself, the sentinel does not touch
sysctls.

Names carry the run id, so :func:`sweep_stale_sentinels` can remove what a crashed run left and
nothing else: the netns is ``RunIdentity.name("sentinel", ...)`` and the attachment-side veth is
``nc<run id>s<slot in hex>`` (at most 15 characters, the kernel's limit).

Every netlink step runs in a forked child inside the namespace it changes
(:func:`netconform.hermetic.nsexec.call_in_namespaces`) with a plain ``IPRoute()``. pyroute2's own
``netns=`` and ``netns.create`` fork helper children and stop them with SIGTERM; a child that
inherited a Python SIGTERM handler (the plugin turns SIGTERM into KeyboardInterrupt) raises instead
of exiting and runs on as a copy of the test process. The children here never receive SIGTERM.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import ipaddress
import itertools
import os
import re
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from netconform.errors import EnvironmentProblem, NetconformError, PermissionProblem, ProbeError
from netconform.hermetic import authdns, echo
from netconform.hermetic.nsexec import NamespaceChild, call_in_namespaces, spawn_in_namespaces
from netconform.hermetic.runs import NAME_PREFIX, REGISTRY, RunIdentity, run_id_of_name, stale_runs

DEFAULT_CIDR = "198.18.0.0/24"
DEFAULT_ZONE = authdns.DEFAULT_ZONE
SLICE_PREFIX = 30
# The veth name has room for four hex digits of slot number.
MAX_SLOTS = 0x10000
SENTINEL_IFNAME = "eth0"
NETNS_DIR = Path("/run/netns")
STATE_DIR = REGISTRY.parent / "sentinels"
LOCK_PATH = REGISTRY.parent / "sentinel.lock"
LOCK_TIMEOUT = 10.0
READY_TIMEOUT = 5.0
NETLINK_TIMEOUT = 10.0
QUERY_LOG = "dns-queries.jsonl"

# Record values that stand for addresses only known once the slice is claimed.
SENTINEL_ADDRESS = "@sentinel"
GATEWAY_ADDRESS = "@gateway"
DEFAULT_RECORDS: Mapping[str, str] = {"sentinel": SENTINEL_ADDRESS, "gateway": GATEWAY_ADDRESS}

_KIND = "sentinel"
_VETH = re.compile(rf"^{NAME_PREFIX}([0-9a-f]{{8}})s([0-9a-f]{{1,4}})$")
_HEX_RUN_ID = re.compile(r"^[0-9a-f]{8}$")
_sequence = itertools.count(1)
_CLONE_NEWNET = 0x40000000


def veth_name(run_id: str, slot: int) -> str:
    """The attachment-side veth name of slot ``slot`` for run ``run_id``: ``nc<run>s<slot hex>``."""
    return f"{NAME_PREFIX}{run_id}s{slot:x}"


def sentinel_run_id(name: str) -> str | None:
    """The run id in a sentinel netns name or a sentinel veth name; None for any other name."""
    match = _VETH.match(name)
    if match:
        return match.group(1)
    run_id = run_id_of_name(name)
    if run_id is None or not _HEX_RUN_ID.match(run_id) or name.split("-")[2] != _KIND:
        return None
    return run_id


@dataclass(frozen=True)
class SentinelFacts:
    """Where a started sentinel lives, for failure stories and reports."""

    netns_name: str
    netns_path: str
    attach_netns: str
    veth_name: str
    subnet: str
    address: str
    gateway_address: str
    echo_port: int
    dns_port: int
    zone: str
    records: Mapping[str, str]
    start_seconds: float


@dataclass(frozen=True)
class _Placement:
    slot: int
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    address: ipaddress.IPv4Address


class Sentinel:
    """A per-run stand-in for the outside world, reachable from the attachment namespace.

    Use as a context manager, or call :meth:`start` and (always, in a ``finally``) :meth:`stop`.

    Args:
        run: the run identity; the netns and veth names carry its id.
        attach_netns: path of the netns to attach to (``/proc/<dockerd pid>/ns/net`` or
            ``/run/netns/<name>``).
        cidr: the IPv4 range sentinels take their /30 slice from.
        zone: the DNS zone the sentinel is authoritative for.
        records: name -> IPv4 address (or :data:`SENTINEL_ADDRESS` / :data:`GATEWAY_ADDRESS`)
            served as A and PTR records, in addition to ``sentinel.<zone>`` and
            ``gateway.<zone>``. Names are relative to ``zone`` unless they end with a dot.
        echo_port: the TCP and UDP port of the echo service.
        suffix: what makes the netns name unique in the run; ``<pid>-<n>`` by default.

    Raises:
        ValueError: an argument is malformed (nothing has been created).
    """

    def __init__(
        self,
        run: RunIdentity,
        attach_netns: str,
        cidr: str = DEFAULT_CIDR,
        zone: str = DEFAULT_ZONE,
        records: Mapping[str, str] | None = None,
        echo_port: int = echo.DEFAULT_PORT,
        suffix: str | None = None,
    ) -> None:
        self._run = run
        self._attach = attach_netns
        self._cidr = _parse_cidr(cidr)
        self._zone = zone if zone.endswith(".") else zone + "."
        self._record_spec = {**DEFAULT_RECORDS, **(records or {})}
        if not 0 < echo_port < 65536 or echo_port == authdns.DNS_PORT:
            raise ValueError(f"echo_port {echo_port} must be 1-65535 and not the DNS port 53")
        self._echo_port = echo_port
        if not _HEX_RUN_ID.match(run.run_id):
            raise ValueError(f"run id {run.run_id!r} must be 8 hex digits to fit the veth name")
        # Validate the records now, with stand-in addresses, rather than after the netns exists.
        authdns.ZoneTable(self._zone, _resolve_records(self._record_spec, "192.0.2.1", "192.0.2.2"))
        self._netns_name = run.name(_KIND, suffix or f"{os.getpid()}-{next(_sequence)}")
        self._state_dir = STATE_DIR / self._netns_name
        self._placement: _Placement | None = None
        self._records: dict[str, str] = {}
        self._children: list[NamespaceChild] = []
        self._netns_created = False
        self._veth_created = False
        self._state_created = False
        self._start_seconds = 0.0

    # --- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Sentinel:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Sentinel:
        """Create the netns, the veth pair and the addresses, and start the services.

        Returns:
            The sentinel itself, started.

        Raises:
            NetconformError: the sentinel was started already.
            EnvironmentProblem: the attachment netns is missing, no slice is free, or netlink
                refused a step; everything created so far has been removed again.
            ProbeError: a service did not come up.
        """
        if self._netns_created or self._children:
            raise NetconformError(f"sentinel {self._netns_name} is started already")
        started = time.monotonic()
        try:
            self._start()
        except BaseException:
            self._stop(raise_errors=False)
            raise
        self._start_seconds = time.monotonic() - started
        return self

    def _start(self) -> None:
        if os.geteuid() != 0:
            raise PermissionProblem(f"sentinel {self._netns_name}: creating namespaces needs root")
        if not os.path.exists(self._attach):
            raise EnvironmentProblem(f"sentinel {self._netns_name}: attachment netns {self._attach!r} does not exist")
        self._state_dir.mkdir(parents=True)
        self._state_created = True
        create_named_netns(self._netns_name)
        self._netns_created = True
        with _slice_lock():
            outcome = _run_netlink(
                self._attach,
                _attach_here,
                self._cidr,
                self._run.run_id,
                self.netns_path,
                what=f"attaching {self._netns_name} to {self._attach}",
            )
        if isinstance(outcome, str):
            raise EnvironmentProblem(f"sentinel {self._netns_name}: {outcome}")
        self._placement = outcome
        self._veth_created = True
        _run_netlink(
            self.netns_path,
            _configure_here,
            outcome,
            what=f"addressing {SENTINEL_IFNAME} in {self._netns_name}",
        )
        self._records = _resolve_records(self._record_spec, str(self._placement.address), str(self._placement.gateway))
        ns = self.ns_files
        self._children.append(
            spawn_in_namespaces(
                ns,
                echo.serve_echo,
                self._echo_port,
                ready_timeout=READY_TIMEOUT,
                what=f"echo service in {self._netns_name}",
            )
        )
        self._children.append(
            spawn_in_namespaces(
                ns,
                authdns.serve_dns,
                self._zone,
                self._records,
                str(self.query_log_path),
                ready_timeout=READY_TIMEOUT,
                what=f"DNS service in {self._netns_name}",
            )
        )

    def stop(self) -> None:
        """Stop and reap the services, delete the veth, the netns and the state directory.

        Safe to call any number of times, also after a failed :meth:`start`.

        Raises:
            EnvironmentProblem: something could not be removed (every step is still attempted).
        """
        self._stop(raise_errors=True)

    def _stop(self, raise_errors: bool) -> None:
        problems: list[str] = []
        while self._children:
            child = self._children.pop()
            try:
                child.stop()
            except OSError as err:
                problems.append(f"stopping {child.what}: {err}")
        if self._veth_created and self._placement is not None:
            # Deleting the veth here, not by deleting the netns, makes it gone when stop returns:
            # netns teardown in the kernel is asynchronous.
            name = veth_name(self._run.run_id, self._placement.slot)
            try:
                _delete_link(self._attach, name)
            except NetconformError as err:
                problems.append(str(err))
        self._veth_created = False
        if self._netns_created:
            try:
                remove_named_netns(self._netns_name)
            except OSError as err:
                problems.append(f"removing netns {self._netns_name}: {err}")
        self._netns_created = False
        if self._state_created:
            try:
                shutil.rmtree(self._state_dir)
            except FileNotFoundError:
                pass
            except OSError as err:
                problems.append(f"removing {self._state_dir}: {err}")
        self._state_created = False
        if problems and raise_errors:
            raise EnvironmentProblem(f"sentinel {self._netns_name} left: " + "; ".join(problems))

    def alive(self) -> bool:
        """Whether every service of a started sentinel still runs."""
        return bool(self._children) and all(child.alive() for child in self._children)

    @property
    def service_pids(self) -> dict[str, int]:
        """What each running service is -> its pid (empty when stopped)."""
        return {child.what: child.pid for child in self._children}

    # --- what it is ----------------------------------------------------------------------------

    @property
    def netns_name(self) -> str:
        """The sentinel's netns name under /run/netns."""
        return self._netns_name

    @property
    def netns_path(self) -> str:
        """The path naming the sentinel's netns."""
        return str(NETNS_DIR / self._netns_name)

    @property
    def ns_files(self) -> dict[str, str]:
        """The namespace map for :func:`netconform.hermetic.nsexec.call_in_namespaces` into the sentinel."""
        return {"net": self.netns_path}

    @property
    def attach_netns(self) -> str:
        """The path of the netns the sentinel is attached to."""
        return self._attach

    @property
    def address(self) -> str:
        """The sentinel's own address: where echo and DNS answer."""
        return str(self._placed().address)

    @property
    def gateway_address(self) -> str:
        """The attachment side's address: the host as the sentinel sees it."""
        return str(self._placed().gateway)

    @property
    def subnet(self) -> str:
        """The /30 the veth pair lives in."""
        return str(self._placed().subnet)

    @property
    def veth_name(self) -> str:
        """The attachment-side veth's name."""
        return veth_name(self._run.run_id, self._placed().slot)

    @property
    def echo_port(self) -> int:
        """The TCP and UDP echo port."""
        return self._echo_port

    @property
    def dns_port(self) -> int:
        """The DNS port (UDP and TCP)."""
        return authdns.DNS_PORT

    @property
    def zone(self) -> str:
        """The zone the DNS service is authoritative for, absolute."""
        return self._zone

    @property
    def records(self) -> dict[str, str]:
        """The A records served (name -> address), placeholders resolved; empty before start."""
        return dict(self._records)

    @property
    def query_log_path(self) -> Path:
        """The DNS service's JSON-lines query log."""
        return self._state_dir / QUERY_LOG

    def facts(self) -> SentinelFacts:
        """Where the started sentinel lives."""
        placement = self._placed()
        return SentinelFacts(
            netns_name=self._netns_name,
            netns_path=self.netns_path,
            attach_netns=self._attach,
            veth_name=veth_name(self._run.run_id, placement.slot),
            subnet=str(placement.subnet),
            address=str(placement.address),
            gateway_address=str(placement.gateway),
            echo_port=self._echo_port,
            dns_port=authdns.DNS_PORT,
            zone=self._zone,
            records=dict(self._records),
            start_seconds=self._start_seconds,
        )

    # --- what it saw ---------------------------------------------------------------------------

    def dns_queries_seen(self, qname: str | None = None) -> list[authdns.DnsQuery]:
        """The DNS queries the sentinel answered, oldest first.

        A query is logged before its answer is sent: once a client holds the answer, the query
        is in this list.

        Args:
            qname: only queries for this name (case-insensitive; relative names are taken
                relative to the zone).

        Raises:
            ProbeError: the log is unreadable, or full so that queries were dropped.
        """
        self._placed()
        queries = authdns.read_query_log(self.query_log_path)
        if qname is None:
            return queries
        wanted = (qname if qname.endswith(".") else f"{qname}.{self._zone}").lower()
        return [query for query in queries if query.qname == wanted]

    def clear_dns_queries(self) -> None:
        """Forget the queries seen so far (the service appends to the emptied log)."""
        self._placed()
        os.truncate(self.query_log_path, 0)

    def _placed(self) -> _Placement:
        if self._placement is None or not self._netns_created:
            raise NetconformError(f"sentinel {self._netns_name} is not started")
        return self._placement


def sweep_stale_sentinels(attach_netns: Iterable[str] | None = None, *, dry_run: bool = False) -> list[str]:
    """Remove sentinel netns, veths and state directories of runs that are stale.

    Only names made by this module whose run id :func:`netconform.hermetic.runs.stale_runs` reports are
    touched; live runs and foreign names are left alone.

    Args:
        attach_netns: netns paths whose sentinel veths to delete too; the caller's own netns by
            default. (A veth whose peer netns is gone disappears by itself; deleting it here
            also cuts off a stale netns that some process still pins.)
        dry_run: only list what would be removed; nothing is changed.

    Returns:
        What was removed (or would be), one line each (``"veth nc1a2b3c4ds0 in /proc/1/ns/net"``).

    Raises:
        EnvironmentProblem: something stale could not be removed (the rest still is).
    """
    stale = set(stale_runs())
    if not stale:
        return []
    removed: list[str] = []
    problems: list[str] = []
    paths = list(attach_netns) if attach_netns is not None else [f"/proc/{os.getpid()}/ns/net"]
    for path in paths:
        try:
            names = _run_netlink(path, _sweep_veths_here, stale, dry_run, what=f"sweeping veths in {path}")
        except NetconformError as err:
            problems.append(str(err))
        else:
            removed.extend(f"veth {name} in {path}" for name in names)
    for name in sorted(netns.listnetns()):
        if sentinel_run_id(name) in stale and not _VETH.match(name):
            try:
                if not dry_run:
                    remove_named_netns(name)
                removed.append(f"netns {name}")
            except OSError as err:
                problems.append(f"removing netns {name}: {err}")
    if STATE_DIR.is_dir():
        for entry in sorted(STATE_DIR.iterdir()):
            if sentinel_run_id(entry.name) in stale:
                if not dry_run:
                    shutil.rmtree(entry, ignore_errors=True)
                removed.append(f"state {entry}")
    if problems:
        raise EnvironmentProblem("sweeping stale sentinels failed: " + "; ".join(problems))
    return removed


# --- plumbing ----------------------------------------------------------------------------------


def _parse_cidr(cidr: str) -> ipaddress.IPv4Network:
    try:
        network = ipaddress.IPv4Network(cidr)
    except ValueError as err:
        raise ValueError(f"sentinel cidr {cidr!r} is not an IPv4 network: {err}") from err
    if network.prefixlen > SLICE_PREFIX:
        raise ValueError(f"sentinel cidr {cidr!r} is smaller than one /{SLICE_PREFIX} slice")
    return network


def _resolve_records(spec: Mapping[str, str], address: str, gateway: str) -> dict[str, str]:
    stand_ins = {SENTINEL_ADDRESS: address, GATEWAY_ADDRESS: gateway}
    return {name: stand_ins.get(value, value) for name, value in spec.items()}


def _free_slice(
    cidr: ipaddress.IPv4Network,
    taken: list[ipaddress.IPv4Network],
    links: set[str | None],
    run_id: str,
) -> _Placement | None:
    for slot, subnet in enumerate(cidr.subnets(new_prefix=SLICE_PREFIX)):
        if slot >= MAX_SLOTS:
            return None
        if any(network.overlaps(subnet) for network in taken):
            continue
        if veth_name(run_id, slot) in links:
            continue
        hosts = list(subnet.hosts())
        return _Placement(slot, subnet, hosts[0], hosts[1])
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


T = TypeVar("T")


def _run_netlink(ns_path: str, fn: Callable[..., T], *args: Any, what: str) -> T:
    """Run ``fn(*args)`` in a child inside the netns ``ns_path``; failures become EnvironmentProblem."""
    try:
        return call_in_namespaces({"net": ns_path}, fn, *args, timeout=NETLINK_TIMEOUT, what=what)
    except ProbeError as err:
        raise EnvironmentProblem(str(err)) from err


def create_named_netns(name: str) -> str:
    """Create the netns ``/run/netns/<name>`` (like ``ip netns add``) and return its path.

    A throwaway child unshares a new netns and bind-mounts it; lo is left down.

    Raises:
        EnvironmentProblem: the name exists already, or the kernel refused.
    """
    try:
        call_in_namespaces({}, _create_netns_here, name, timeout=NETLINK_TIMEOUT, what=f"creating netns {name}")
    except ProbeError as err:
        raise EnvironmentProblem(str(err)) from err
    return str(NETNS_DIR / name)


def remove_named_netns(name: str) -> None:
    """Unmount and delete ``/run/netns/<name>`` if it exists (like ``ip netns delete``)."""
    if (NETNS_DIR / name).exists():
        netns.remove(name)


# --- run inside a namespace child (call_in_namespaces) -----------------------------------------


def _create_netns_here(name: str) -> None:
    if (NETNS_DIR / name).exists():
        raise FileExistsError(errno.EEXIST, f"netns {name} exists already")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWNET): {os.strerror(code)}")
    netns.attach(name, os.getpid())


def _attach_here(cidr: ipaddress.IPv4Network, run_id: str, peer_netns: str) -> _Placement | str:
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
        name = veth_name(run_id, placement.slot)
        peer_fd = os.open(peer_netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ipr.link("add", ifname=name, kind="veth", peer={"ifname": SENTINEL_IFNAME, "net_ns_fd": peer_fd})
        finally:
            os.close(peer_fd)
        index = ipr.link_lookup(ifname=name)[0]
        try:
            ipr.addr("add", index=index, address=str(placement.gateway), prefixlen=SLICE_PREFIX)
            ipr.link("set", index=index, state="up")
        except BaseException:
            # The parent learns the slot only from our answer: leave no veth it cannot name.
            ipr.link("del", index=index)
            raise
    return placement


def _configure_here(placement: _Placement) -> None:
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        index = ipr.link_lookup(ifname=SENTINEL_IFNAME)[0]
        ipr.addr("add", index=index, address=str(placement.address), prefixlen=SLICE_PREFIX)
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst="0.0.0.0/0", gateway=str(placement.gateway))


def _delete_link_here(name: str) -> None:
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=name):
            try:
                ipr.link("del", index=index)
            except NetlinkError as err:
                if err.code != errno.ENODEV:
                    raise


def _sweep_veths_here(stale: set[str], dry_run: bool) -> list[str]:
    removed = []
    with IPRoute() as ipr:
        for link in ipr.link("dump"):
            name = link.get("IFLA_IFNAME") or ""
            match = _VETH.match(name)
            if not match or match.group(1) not in stale:
                continue
            if link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") != "veth":
                continue  # our name on something we never create: not ours after all
            if not dry_run:
                try:
                    ipr.link("del", index=link["index"])
                except NetlinkError as err:
                    if err.code != errno.ENODEV:
                        raise
            removed.append(name)
    return removed


def _delete_link(ns_path: str, name: str) -> None:
    if not os.path.exists(ns_path):
        return  # the attachment netns is gone, and its end of the veth with it
    _run_netlink(ns_path, _delete_link_here, name, what=f"deleting veth {name} in {ns_path}")
