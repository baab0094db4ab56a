"""Observing a Swarm scenario from inside its containers' namespaces (the lab runs on this host).

Each probe forks a child into the prober's network namespace (``/proc/<pid>/ns/net``, or the lab's
underlay namespace); listeners for TCP/UDP run in the targets' namespaces for the probe's duration.
Probes return facts and never judge.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from pyroute2 import IPRoute

from netconform.errors import ProbeError
from netconform.facts import LookupResult
from netconform.hermetic.echo import echo_tcp, echo_udp, serve_echo
from netconform.hermetic.nsexec import call_in_namespaces, spawn_in_namespaces, start_in_namespaces
from netconform.observe.dns import ask
from netconform.observe.reach import ping_once
from netconform.observe.swarm_underlay import UnderlayFacts, watch_underlay
from netconform.observe.witness import ProbeMark

PROBE_TIMEOUT = 3.0
ATTEMPTS = 3
EMBEDDED_DNS = "127.0.0.11"


@dataclass(frozen=True)
class InterfaceFacts:
    """The interface holding an address in a namespace: its name, prefix and MTU."""

    address: str
    ifname: str | None
    prefixlen: int | None
    mtu: int | None


@dataclass(frozen=True)
class ReachFacts:
    """One reachability probe: where to, how, and what came back (``reach`` or why not)."""

    address: str
    proto: str
    port: int | None
    outcome: str
    seen: str | None = None
    detail: str = ""

    def describe(self) -> str:
        port = "" if self.port is None else f":{self.port}"
        seen = f", source seen {self.seen}" if self.seen else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.proto} to {self.address}{port}: {self.outcome}{seen}{detail}"


def netns_of(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


def interface_of(netns: str, address: str) -> InterfaceFacts:
    """The interface holding ``address`` in ``netns``.

    Raises:
        ProbeError: the namespace could not be entered.
    """
    found: InterfaceFacts = call_in_namespaces({"net": netns}, _interface_here, address, timeout=10.0,
                                               what=f"reading the interface of {address}")
    return found


def reach(netns: str, address: str, proto: str, port: int | None, listeners: Sequence[str] = (),
          underlay: tuple[str, list[str]] | None = None) -> tuple[ReachFacts, UnderlayFacts | None]:
    """Probe ``address`` from ``netns``; for tcp/udp an echo listener runs on ``port`` in each of
    ``listeners`` (namespaces) meanwhile. With ``underlay`` (the lab's netns and the node
    addresses), what crossed the underlay during the probe is counted too.

    Raises:
        ProbeError: a listener, the watcher or the prober could not run (not a network outcome).
    """
    nonce = secrets.token_hex(8)
    with _listening(listeners if proto != "icmp" else (), port):
        watcher = None
        if underlay is not None:
            watcher = start_in_namespaces({"net": underlay[0]}, watch_underlay, underlay[1], nonce.encode(),
                                          ready_timeout=10.0, what="watching the underlay")
        try:
            found: ReachFacts = call_in_namespaces(
                {"net": netns}, _reach_here, address, proto, port, nonce, timeout=PROBE_TIMEOUT * ATTEMPTS + 10.0,
                what=f"probing {proto} {address}")
        finally:
            crossed: UnderlayFacts | None = watcher.finish(10.0) if watcher is not None else None
    return found, crossed


def lookup(netns: str, name: str) -> LookupResult:
    """Ask the embedded DNS server of the container whose netns is ``netns`` for ``name`` (A)."""
    found: LookupResult = call_in_namespaces({"net": netns}, ask, EMBEDDED_DNS, name, timeout=20.0,
                                             what=f"asking {EMBEDDED_DNS} for {name}")
    return found


@contextmanager
def _listening(namespaces: Sequence[str], port: int | None) -> Iterator[None]:
    with ExitStack() as stack:
        for netns in namespaces:
            assert port is not None
            task = spawn_in_namespaces({"net": netns}, serve_echo, port, ready_timeout=10.0,
                                       what=f"echo listener on port {port} in {netns}")
            stack.callback(task.stop)
        yield


# --- run inside a child in the namespace -------------------------------------------------------


def _interface_here(address: str) -> InterfaceFacts:
    with IPRoute() as ipr:
        for entry in ipr.get_addr(family=2):
            if entry.get_attr("IFA_ADDRESS") == address:
                link = ipr.get_links(entry["index"])[0]
                return InterfaceFacts(address, link.get_attr("IFLA_IFNAME"), int(entry["prefixlen"]),
                                      int(link.get_attr("IFLA_MTU")))
    return InterfaceFacts(address, None, None, None)


def _reach_here(address: str, proto: str, port: int | None, nonce: str) -> ReachFacts:
    last = ReachFacts(address, proto, port, "error", detail="no attempt made")
    for number in range(1, ATTEMPTS + 1):
        if proto == "icmp":
            attempt = ping_once(address, PROBE_TIMEOUT, number, ProbeMark("icmp", nonce.encode()))
            last = ReachFacts(address, proto, None, attempt.outcome, attempt.seen, attempt.detail)
        else:
            if port is None:
                raise ProbeError(f"{proto} probe of {address} without a port")
            probe = echo_tcp if proto == "tcp" else echo_udp
            result = probe(address, port, PROBE_TIMEOUT, nonce)
            last = ReachFacts(address, proto, port, "reach" if result.ok else str(result.failure),
                              result.seen_ip, result.detail)
        if last.outcome in ("reach", "refused"):
            break
    return last
