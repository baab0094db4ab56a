"""Trace a replayed probe through the nftables firewall of a network namespace.

When a reachability check fails, its probe is replayed; under :func:`packet_trace` the replay's
packets are marked with ``meta nftrace set 1`` and ``nft monitor trace`` reports every chain and
rule they meet, so the evidence names the rule that decided (Docker's iptables-nft rules are nft
rules and show up as such)::

    with packet_trace("/proc/1234/ns/net", run.run_id, ProbeMatch("10.0.2.2", "icmp", "10.0.1.2")) as trace:
        replay()
    print(trace.result().describe())

The marking table ``inet nc_<run id>_trace_<pid>_<n>`` (its rules: :func:`.nftrace_ruleset.trace_ruleset`)
is removed in a ``finally``; a crashed run's table is removed by :func:`sweep_stale_traces`.
Everything runs on the host through ``nsenter --net`` with argument lists. Tracing never raises
into the caller's story: when it cannot run (no nft, no root, an iptables-legacy firewall whose
x_tables rules nft cannot see), the result says so with ``available=False`` and a reason.

nftables 1.0.6 (Debian 12) has no JSON form of trace events (``nft -j monitor trace`` prints
text), so the text format is parsed (:mod:`.nftrace_events`) and its events are grouped into
the probe's packets (:mod:`.nftrace_packets`).
"""

from __future__ import annotations

import itertools
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from netconform.errors import EnvironmentProblem, NetconformError, ProbeError
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.hermetic.runs import stale_runs
from netconform.observe.nftrace_events import TraceStep, parse_events, parse_rule_handles, unknown_rule_tables
from netconform.observe.nftrace_packets import TracedPacket, TraceResult, assemble
from netconform.observe.nftrace_ruleset import ProbeMatch, trace_ruleset, trace_run_id, trace_table_name

__all__ = [
    "PacketTrace",
    "ProbeMatch",
    "TraceResult",
    "TraceStep",
    "TracedPacket",
    "packet_trace",
    "sweep_stale_traces",
    "trace_run_id",
    "trace_table_name",
]

NFT_TIMEOUT = 5.0
READY_TIMEOUT = 3.0
QUIET = 0.15  # the monitor's output has settled once it stops growing for this long...
SETTLE_TIMEOUT = 1.0  # ...or after this long at most
STOP_TIMEOUT = 2.0
_NETLINK_NETFILTER = "12"
_sequence = itertools.count(1)
_NFTRACE_GROUP = 1 << (9 - 1)  # NFNLGRP_NFTRACE in the Groups bitmask of /proc/<pid>/net/netlink


class PacketTrace:
    """A trace in progress; :meth:`result` once the ``with`` block of :func:`packet_trace` ended."""

    def __init__(self, netns: str, table: str, match: ProbeMatch) -> None:
        self.netns = netns
        self.table = table
        self.match = match
        self._result: TraceResult | None = None

    def result(self) -> TraceResult:
        """The traced packets (or why there are none).

        Raises:
            NetconformError: the trace is still running.
        """
        if self._result is None:
            raise NetconformError(f"the trace in {self.netns} is still running: read it after the with block")
        return self._result

    def _finish(
        self,
        available: bool,
        reason: str = "",
        notes: list[str] | None = None,
        raw: str = "",
        packets: tuple[TracedPacket, ...] = (),
    ) -> None:
        self._result = TraceResult(
            available, self.netns, f"inet {self.table}", self.match, packets, reason, tuple(notes or ()), raw
        )


@contextmanager
def packet_trace(netns_path: str, run_id: str, match: ProbeMatch) -> Iterator[PacketTrace]:
    """Trace the packets of ``match`` in ``netns_path`` while the block runs.

    Args:
        netns_path: the netns whose firewall decides (``/proc/<dockerd pid>/ns/net``,
            ``/run/netns/<name>``).
        run_id: the run's id; the trace table is named with it.
        match: the probe (destination, protocol, optional source and destination port).

    Yields:
        The trace; call :meth:`PacketTrace.result` after the block.

    Raises:
        ValueError: ``run_id`` is malformed (nothing has been created).
    """
    trace = PacketTrace(netns_path, trace_table_name(run_id, os.getpid(), next(_sequence)), match)
    notes: list[str] = []
    reason = _unavailable(netns_path, notes)
    if reason:
        trace._finish(False, reason, notes)
        yield trace
        return
    created = False
    monitor: _Monitor | None = None
    try:
        try:
            created = True  # a timed-out nft may still have created it: the delete below tells
            _nft(netns_path, "-f", "-", stdin=trace_ruleset(trace.table, match))
            monitor = _Monitor(netns_path)
            monitor.wait_ready()
        except (NetconformError, OSError) as err:
            reason = str(err)
        yield trace
    finally:
        raw = ""
        if monitor is not None:
            raw, problem = monitor.stop()
            notes.extend([problem] if problem else [])
        handles = _rule_handles(netns_path, raw, notes) if raw else {}
        if created:
            _remove_table(netns_path, trace.table, notes)
        if reason:
            trace._finish(False, reason, notes, raw)
        else:
            packets = assemble(parse_events(raw, handles), ("inet", trace.table), match)
            trace._finish(True, "", notes, raw, packets)


def sweep_stale_traces(netns_path: str, *, dry_run: bool = False) -> list[str]:
    """Remove the trace tables of stale runs from ``netns_path``; nothing else is touched.

    Only ``inet nc_<run id>_trace...`` tables whose run :func:`netconform.hermetic.runs.stale_runs` reports are
    deleted: live runs' tables and tables netconform did not name stay. With ``dry_run`` nothing is
    deleted, only listed.

    Returns:
        What was removed (or would be), one line each (``"table inet nc_1a2b3c4d_trace in /run/netns/x"``).

    Raises:
        EnvironmentProblem: nft could not list or delete the tables (the rest is still removed).
    """
    stale = set(stale_runs())
    if not stale or shutil.which("nft") is None or not os.path.exists(netns_path):
        return []
    removed: list[str] = []
    problems: list[str] = []
    try:
        tables = _tables(netns_path)
    except (NetconformError, OSError) as err:
        raise EnvironmentProblem(f"sweeping stale trace tables in {netns_path}: {err}") from err
    for family, name in tables:
        if family != "inet" or trace_run_id(name) not in stale:
            continue
        try:
            if not dry_run:
                _nft(netns_path, "delete", "table", family, name)
            removed.append(f"table {family} {name} in {netns_path}")
        except (NetconformError, OSError) as err:
            problems.append(str(err))
    if problems:
        raise EnvironmentProblem("sweeping stale trace tables failed: " + "; ".join(problems))
    return removed


# --- plumbing ----------------------------------------------------------------------------------


def _nft(netns: str, *args: str, stdin: str | None = None) -> str:
    """Run ``nft args`` inside ``netns``; its stdout.

    Raises:
        ProbeError: nft failed or did not finish within :data:`NFT_TIMEOUT`.
    """
    command = ["nsenter", f"--net={netns}", "nft", *args]
    try:
        done = subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=NFT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise ProbeError(f"{' '.join(command)!r} did not finish within {NFT_TIMEOUT:g}s") from None
    if done.returncode != 0:
        raise ProbeError(f"{' '.join(command)!r} exited {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def _tables(netns: str) -> list[tuple[str, str]]:
    """(family, name) of every nftables table in ``netns``."""
    words = (line.split() for line in _nft(netns, "list", "tables").splitlines())
    return [(w[1], w[2]) for w in words if len(w) == 3 and w[0] == "table"]


def _remove_table(netns: str, table: str, notes: list[str]) -> None:
    try:
        _nft(netns, "delete", "table", "inet", table)
    except (NetconformError, OSError) as err:
        try:
            left = ("inet", table) in _tables(netns)
        except (NetconformError, OSError):
            left = True
        if left:
            notes.append(f"the trace table was left behind (sweep_stale_traces removes it): {err}")


def _xtables_here() -> list[str]:
    """In a child inside the netns: the x_tables (iptables-legacy) tables registered here."""
    found: list[str] = []
    for name, family in (("ip_tables_names", "ip"), ("ip6_tables_names", "ip6")):
        try:
            found.extend(f"{family} {table}" for table in Path("/proc/self/net", name).read_text().split())
        except OSError:
            continue  # the module is not loaded: no legacy table can exist
    return found


def _unavailable(netns: str, notes: list[str]) -> str:
    """Why tracing cannot run in ``netns`` ("" when it can); caveats go to ``notes``."""
    for tool, package in (("nft", "nftables"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return f"{tool} is missing (apt-get install {package})"
    if os.geteuid() != 0:
        return "tracing needs root (nsenter and nftables)"
    if not os.path.exists(netns):
        return f"the netns {netns} does not exist"
    try:
        legacy = call_in_namespaces({"net": netns}, _xtables_here, timeout=NFT_TIMEOUT, what=f"x_tables in {netns}")
        tables = _tables(netns)
    except (NetconformError, OSError) as err:
        return f"the firewall of {netns} could not be read: {err}"
    if legacy and not tables:
        return f"the firewall here is iptables-legacy (x_tables: {', '.join(legacy)}), whose rules nft trace cannot see"
    if legacy:
        notes.append(
            f"x_tables (iptables-legacy) tables {', '.join(legacy)} are present too: "
            "their rules are missing from this trace"
        )
    return ""


def _rule_handles(netns: str, raw: str, notes: list[str]) -> dict[tuple[str, str, str, int], str]:
    """Name the rules the monitor reported by handle only (added after it read the ruleset)."""
    handles: dict[tuple[str, str, str, int], str] = {}
    # Tracers' tables (another replay's may be gone by now) are left out of the story anyway.
    for family, table in sorted(found for found in unknown_rule_tables(raw) if trace_run_id(found[1]) is None):
        try:
            handles.update(parse_rule_handles(_nft(netns, "-a", "list", "table", family, table)))
        except (NetconformError, OSError) as err:
            notes.append(f"rules of {family} {table} are named by handle only: {err}")
    return handles


class _Monitor:
    """``nft monitor trace`` inside a netns, writing to a temporary file (a pipe could fill up)."""

    def __init__(self, netns: str) -> None:
        self.netns = netns
        # Closed by stop(), which the caller runs in a finally.
        self._out: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self._err: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            self.process = subprocess.Popen(
                ["nsenter", f"--net={netns}", "nft", "monitor", "trace"],
                stdin=subprocess.DEVNULL,
                stdout=self._out,
                stderr=self._err,
            )
        except BaseException:
            self._out.close()
            self._err.close()
            raise

    def wait_ready(self) -> None:
        """Wait until nft has joined the trace group, so no event of the replay is missed.

        Raises:
            ProbeError: nft exited, or had not joined within :data:`READY_TIMEOUT`.
        """
        deadline = time.monotonic() + READY_TIMEOUT
        while not _joined_trace_group(self.process.pid):
            if self.process.poll() is not None:
                raise ProbeError(
                    f"nft monitor trace in {self.netns} exited {self.process.returncode}: "
                    f"{self._read(self._err).strip()}"
                )
            if time.monotonic() > deadline:
                raise ProbeError(f"nft monitor trace in {self.netns} was not listening within {READY_TIMEOUT:g}s")
            time.sleep(0.01)

    def stop(self) -> tuple[str, str]:
        """Let the last events arrive, stop nft; its output and a problem worth a note ("" if none)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT
        size, quiet_since = -1, time.monotonic()
        while self.process.poll() is None and time.monotonic() < deadline:
            now_size = os.fstat(self._out.fileno()).st_size
            if now_size != size:
                size, quiet_since = now_size, time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET:
                break
            time.sleep(0.03)
        problem = ""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        elif self.process.returncode != 0:
            problem = f"nft monitor trace exited {self.process.returncode} early: {self._read(self._err).strip()}"
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        try:
            return self._read(self._out), problem
        finally:
            self._out.close()
            self._err.close()

    @staticmethod
    def _read(stream: IO[bytes]) -> str:
        stream.seek(0)
        return stream.read().decode(errors="replace")


def _joined_trace_group(pid: int) -> bool:
    """Whether process ``pid`` holds a netfilter netlink socket that joined NFNLGRP_NFTRACE."""
    try:
        sockets = {os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")}
        table = Path(f"/proc/{pid}/net/netlink").read_text().splitlines()[1:]
    except OSError:
        return False  # nsenter is still becoming nft, or it has exited
    for line in table:
        columns = line.split()
        if (
            len(columns) >= 10
            and columns[1] == _NETLINK_NETFILTER
            and f"socket:[{columns[9]}]" in sockets
            and int(columns[3], 16) & _NFTRACE_GROUP
        ):
            return True
    return False
