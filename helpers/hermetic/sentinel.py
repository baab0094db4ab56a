"""The sentinel host: a network namespace that plays "the internet" and external clients.

Each pytest process creates its own sentinel: a netns joined by a veth pair to the *attachment
namespace* (the netns the Docker daemon under test lives in), addressed from a small /30 slice of
a test range (``198.18.0.0/24`` by default, from the benchmarking block no real host talks to)::

    attachment netns                         sentinel netns  nc-<run>-sentinel-<pid>-<n>
    nc<run>s<slot>  198.18.0.1/30  <--veth-->  eth0  198.18.0.2/30, default via 198.18.0.1
                    fd00:198:18::1/126               fd00:198:18::2/126, default via fd00:198:18::1
    (gateway_address[6])                       (address[6])  echo :7 tcp+udp, DNS :53 udp+tcp

IPv6 comes from a ULA range (RFC 4193; :mod:`.sentinel_veth` says why).

The sentinel's default route points back at the attachment side, so it answers any source,
including container addresses that were not masqueraded. For containers to reach it, the
attachment namespace must forward IPv4; Docker enables that itself, the sentinel does not touch
sysctls.

The parts: the netns (:mod:`.named_netns`), the veth pair and its slice (:mod:`.sentinel_veth`),
what serves inside (:mod:`.sentinel_services`). Names carry the run id, so
:func:`netconform.hermetic.sentinel_sweep.sweep_stale_sentinels` can remove what a crashed run left
and nothing else.
"""

from __future__ import annotations

import itertools
import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from netconform.errors import EnvironmentProblem, NetconformError, PermissionProblem
from netconform.hermetic import authdns, echo
from netconform.hermetic.hostclean import namespace_id
from netconform.hermetic.named_netns import NETNS_DIR, create_named_netns, remove_named_netns
from netconform.hermetic.nsexec import NamespaceTask
from netconform.hermetic.runs import REGISTRY, RunIdentity
from netconform.hermetic.sentinel_facts import SentinelFacts
from netconform.hermetic.sentinel_services import (
    DEFAULT_RECORDS,
    DEFAULT_RECORDS6,
    QUERY_LOG,
    check_records,
    resolve_records,
    start_services,
)
from netconform.hermetic.sentinel_veth import (
    HEX_RUN_ID,
    SENTINEL_IFNAME,
    Placement,
    address_sentinel_end,
    attach_veth,
    delete_veth,
    parse_slice_range,
    parse_slice_range6,
    veth_name,
)

DEFAULT_CIDR = "198.18.0.0/24"
DEFAULT_CIDR6 = "fd00:198:18::/64"
DEFAULT_ZONE = authdns.DEFAULT_ZONE
STATE_DIR = REGISTRY.parent / "sentinels"
NETNS_KIND = "sentinel"  # the kind word in the netns name: nc-<run>-sentinel-<suffix>

_sequence = itertools.count(1)


class Sentinel:
    """A per-run stand-in for the outside world, reachable from the attachment namespace.

    Use as a context manager, or call :meth:`start` and (always, in a ``finally``) :meth:`stop`.

    Args:
        run: the run identity; the netns and veth names carry its id.
        attach_netns: path of the netns to attach to (``/proc/<dockerd pid>/ns/net`` or
            ``/run/netns/<name>``).
        cidr: the IPv4 range sentinels take their /30 slice from.
        cidr6: the IPv6 range sentinels take their /126 slice from; None for no IPv6.
        zone: the DNS zone the sentinel is authoritative for.
        records: name -> IPv4 address (or a placeholder of :mod:`.sentinel_services`: ``@sentinel``,
            ``@gateway``)
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
        cidr6: str | None = DEFAULT_CIDR6,
    ) -> None:
        self._run = run
        self._attach = attach_netns
        self._cidr = parse_slice_range(cidr)
        self._cidr6 = parse_slice_range6(cidr6) if cidr6 else None
        self._zone = zone if zone.endswith(".") else zone + "."
        self._record_spec = {**DEFAULT_RECORDS, **(records or {})}
        if not 0 < echo_port < 65536 or echo_port == authdns.DNS_PORT:
            raise ValueError(f"echo_port {echo_port} must be 1-65535 and not the DNS port 53")
        self._echo_port = echo_port
        if not HEX_RUN_ID.match(run.run_id):
            raise ValueError(f"run id {run.run_id!r} must be 8 hex digits to fit the veth name")
        check_records(self._zone, self._record_spec)
        self._netns_name = run.name(NETNS_KIND, suffix or f"{os.getpid()}-{next(_sequence)}")
        self._state_dir = STATE_DIR / self._netns_name
        self._placement: Placement | None = None
        self._records: dict[str, str] = {}
        self._records6: dict[str, str] = {}
        self._children: list[NamespaceTask] = []
        self._netns_created = False
        self._netns_id: tuple[int, int] | None = None
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
        self._netns_id = namespace_id(self.netns_path)
        self._placement = attach_veth(self._attach, self._netns_name, self._cidr, self._run.run_id, self._cidr6)
        self._veth_created = True
        address_sentinel_end(self._netns_name, self._placement)
        placed = self._placement
        self._records = resolve_records(self._record_spec, str(placed.address), str(placed.gateway))
        if placed.address6 is not None:
            self._records6 = resolve_records(DEFAULT_RECORDS6, str(placed.address6), str(placed.gateway6))
        self._children = start_services(
            self.ns_files, self._netns_name, self._echo_port, self._zone, self._records, str(self.query_log_path),
            self._records6,
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
        if self._veth_created and self._placement is not None:
            # Deleting the veth here, not by deleting the netns, makes it gone when stop returns:
            # netns teardown in the kernel is asynchronous. Before the services stop: while one
            # runs, its /proc entry enters the sentinel's netns even if its name was removed.
            try:
                self._delete_veth()
            except NetconformError as err:
                problems.append(str(err))
        self._veth_created = False
        while self._children:
            child = self._children.pop()
            try:
                child.stop()
            except OSError as err:
                problems.append(f"stopping {child.what}: {err}")
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

    def _delete_veth(self) -> None:
        """Delete the veth pair from the attachment side, or from the sentinel's end when the
        attachment path is gone (``/proc/<dockerd pid>/ns/net`` of a daemon that restarted: its
        netns, and the veth in it, may well outlive it)."""
        assert self._placement is not None
        if os.path.exists(self._attach):
            delete_veth(self._attach, veth_name(self._run.run_id, self._placement.slot))
            return
        inside = self._inside()
        if inside is not None:
            delete_veth(inside, SENTINEL_IFNAME)

    def _inside(self) -> str | None:
        """A path that still enters this sentinel's netns (its name, else a service's), or None."""
        if self._netns_id is not None and namespace_id(self.netns_path) == self._netns_id:
            return self.netns_path
        for child in self._children:
            path = f"/proc/{child.pid}/ns/net"
            if child.alive() and namespace_id(path) is not None:
                return path
        return None

    def alive(self) -> bool:
        """Whether every service of a started sentinel still runs."""
        return bool(self._children) and all(child.alive() for child in self._children)

    def damage(self) -> str:
        """What is missing from a started sentinel, in words for a story; empty while it is whole.

        Whole means: its netns is still the one it created under its name, and every service runs.
        A probe to a damaged sentinel says nothing about Docker.
        """
        if not self._netns_created:
            return f"sentinel {self._netns_name} is not started"
        problems = []
        if namespace_id(self.netns_path) != self._netns_id:
            problems.append(f"its network namespace {self.netns_path} was removed during the run")
        problems += [f"its {child.what.removesuffix(f' in {self._netns_name}')} (pid {child.pid}) no longer runs"
                     for child in self._children if not child.alive()]
        if not self._children:
            problems.append("its services were stopped")
        return f"sentinel {self._netns_name} is gone: " + "; ".join(problems) if problems else ""

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
    def address6(self) -> str | None:
        """The sentinel's own IPv6 address (None without IPv6)."""
        return self.facts().address6

    @property
    def gateway_address6(self) -> str | None:
        """The attachment side's IPv6 address (None without IPv6)."""
        return self.facts().gateway_address6

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
        return SentinelFacts.of(placement, self._netns_name, self.netns_path, self._attach,
                                veth_name(self._run.run_id, placement.slot), self._echo_port, authdns.DNS_PORT,
                                self._zone, (self._records, self._records6), self._start_seconds)

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

    def _placed(self) -> Placement:
        if self._placement is None or not self._netns_created:
            raise NetconformError(f"sentinel {self._netns_name} is not started")
        return self._placement


