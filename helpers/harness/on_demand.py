"""Probes a check needs before it can be judged: DNS lookups and reachability, done on demand.

The scenario is observed once when it is built; lookups and probes send traffic, so each is made
when the first check that needs it runs, and its result is kept in the scenario's facts for every
other check (and the report). Listeners are started in the target's namespace from the host and
stopped right after the probe.

Network rule: a probe only ever targets this run's own test hosts (:mod:`netconform.hermetic.destinations`).
Anything else is refused here, before a packet is sent.

A probe's outcome rests on three observations: the prober's attempts, its marked packets seen
leaving the prober's namespace, and those seen arriving in the target's (a witness started there
for the probe's duration). A probe that a network creation of the suite's own (another worker's,
another run's) may have misled is made again with creations held off
(:mod:`netconform.hermetic.isolation_lock`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any

from netconform.errors import ProbeError
from netconform.facts import ContainerFacts, LookupResult, ReachResult, ScenarioFacts, Sighting
from netconform.harness.settling import Settling
from netconform.harness.together import SourcePorts, made_together
from netconform.harness.vanished import Vanished
from netconform.hermetic.destinations import allowed_destinations
from netconform.hermetic.echo import serve_echo
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.hermetic.nsexec import call_in_namespaces, spawn_in_namespaces, start_in_namespaces
from netconform.hermetic.sentinel import Sentinel
from netconform.hermetic.sentinel_veth import SENTINEL_IFNAME
from netconform.observe.dns import ask
from netconform.observe.firewall_layout import docker_user_only_narrows
from netconform.observe.reach import ping_stream, probe_noting_creations
from netconform.observe.witness import ProbeMark, watch_arrivals
from netconform.spec.model import ReachSpec
from netconform.spec.refs import Unresolvable, primary_endpoint, resolve_value

PARALLEL_PROBES = 32
# Seconds a probe that reaches takes, roughly (its children's start), against attempts x timeout.
QUICK_PROBE = 0.2
# Seconds a window waits for other processes' batches of builds to end (a worker's takes ~20 s).
WINDOW_WAIT = 60.0
# One echo request every 2 ms while networks churn: a rule re-insertion leaves a window of 4-42 ms.
CHURN_INTERVAL = 0.002


class Prober:
    """Makes the probes of one run; ``sentinel`` is None when no scenario needs it."""

    def __init__(self, daemon_pid: int, sentinel: Sentinel | None, timeout: float = 1.0, attempts: int = 3,
                 lock: IsolationLock | None = None) -> None:
        self.daemon_pid = daemon_pid
        self.sentinel = sentinel
        self.timeout = timeout
        self.attempts = attempts
        self.lock = lock
        # Creates and removes networks for churn probes (the engine's); None: no churn probes.
        self.churn: Callable[[str, int], None] | None = None
        # Asked before and after each probe and lookup: is every end of it still there?
        self.vanished = Vanished()
        self.source_ports = SourcePorts()
        self.settling = Settling(timeout=10.0)

    # -- where things are ---------------------------------------------------------------------

    def netns(self, facts: ScenarioFacts, endpoint: str) -> str:
        """The path of ``endpoint``'s network namespace.

        Raises:
            ProbeError: the endpoint was never there, or is gone (see :meth:`gone`).
        """
        if endpoint == "sentinel" and self.sentinel is None:
            raise ProbeError("the scenario needs the sentinel, but none is running")
        container = facts.containers.get(endpoint)
        if container is not None and not container.created:
            raise ProbeError(f"container {endpoint} was not created ({container.error})")
        gone = self.gone(facts, endpoint)
        if gone:
            raise ProbeError(gone)
        if endpoint == "host":
            return f"/proc/{self.daemon_pid}/ns/net"
        if self.sentinel is not None and endpoint == "sentinel":
            return self.sentinel.netns_path
        return f"/proc/{facts.containers[endpoint].pid}/ns/net"

    def gone(self, facts: ScenarioFacts, *ends: str) -> str:
        """Why one of ``ends`` vanished during the run (the daemon restarted, a container was
        killed, the sentinel's namespace was removed); empty while all are there."""
        return self.vanished.why(facts, ends, self.sentinel)

    def _in_daemon_netns(self, facts: ScenarioFacts, endpoint: str) -> bool:
        if endpoint == "host":
            return True
        container = facts.containers.get(endpoint)
        return container is not None and container.namespaces.get("net") == facts.host.namespaces.get("net")

    def _check_destination(self, facts: ScenarioFacts, address: str, frm: str, named: bool = False) -> None:
        """Refuse any destination that is not one of this run's own test hosts (see
        :func:`allowed_destinations`), before a packet is sent."""
        allowed = allowed_destinations(facts, self.sentinel, frm, named, address)
        if not is_address(address) or ipaddress.ip_address(address) not in allowed:
            raise ProbeError(
                f"refusing to send traffic to {address}: it is not an address of this run's test hosts (its "
                "containers, its sentinel, the gateways of its networks, or a host address the spec names)")

    # -- DNS ----------------------------------------------------------------------------------

    def lookup(self, facts: ScenarioFacts, container: ContainerFacts, qtype: str, name: str) -> LookupResult:
        key = f"{qtype} {name}"
        if key not in container.lookups:
            container.lookups[key] = self._ask(facts, container, qtype, name)
        return container.lookups[key]

    def _ask(self, facts: ScenarioFacts, container: ContainerFacts, qtype: str, name: str,
             attempts: int | None = None) -> LookupResult:
        """Ask ``name`` from ``container`` (``attempts``: fewer than the run's, for a replay)."""
        attempts = attempts or self.attempts
        if not container.created:
            raise ProbeError(f"container {container.key} was not created ({container.error})")
        servers = container.resolv.nameservers if container.resolv else []
        if not servers:
            return LookupResult(qtype, name, None, "no nameserver", detail="resolv.conf lists no nameserver")
        server = servers[0]
        self._check_destination(facts, server, container.key)
        # Names the container's resolver does not know itself go on to the sentinel.
        ends = (container.key, "sentinel") if facts.sentinel is not None else (container.key,)
        gone = self.gone(facts, *ends)
        if gone:
            return LookupResult(qtype, name, server, "error", detail=gone)
        try:
            netns = self.netns(facts, container.key)
            self.settling.settle(facts)
            started = time.time()
            result = call_in_namespaces({"net": netns}, ask, server, name, qtype,
                                        self.timeout, attempts, timeout=self.timeout * attempts + 5,
                                        what=f"DNS {qtype} {name} from {container.key}")
        except ProbeError as err:
            return LookupResult(qtype, name, server, "error", detail=self.gone(facts, *ends) or str(err))
        finished = time.time()
        gone = self.gone(facts, *ends)
        if gone:  # during the lookup: what it saw says nothing about Docker
            return LookupResult(qtype, name, server, "error", detail=f"{gone} (while the lookup ran)")
        if self.sentinel is not None and qtype == "A":
            absolute = name if name.endswith(".") else name + "."
            # Only the queries made while this lookup ran: a peer's lookup of the same name a moment
            # earlier is masqueraded to the same host address and would pass for this container's.
            result.upstream_sources = sorted({
                query.source_ip for query in self.sentinel.dns_queries_seen(absolute) if started <= query.at <= finished
            })
        return result

    # -- reachability -------------------------------------------------------------------------

    def reach(self, facts: ScenarioFacts, spec: ReachSpec, context: Mapping[str, Any]) -> ReachResult:
        if spec.id not in facts.reach:
            facts.reach[spec.id] = self.make(facts, spec, context)
        return facts.reach[spec.id]

    def make(self, facts: ScenarioFacts, spec: ReachSpec, context: Mapping[str, Any],
             attempts: int | None = None, source_port: int | None = None) -> ReachResult:
        """Make the probe (again, for evidence; ``attempts``: fewer than the run's, and for a churn
        probe at most as many network changes; ``source_port``: the one a replay chose from
        :attr:`source_ports`), again with creations held off should one have misled it; a churn
        probe's own network changes each take the isolation lock alone (:mod:`netconform.engine.churn`)."""
        if spec.churn:
            return self._reach(facts, spec, context, attempts)
        return self._beside_creations(facts, spec, context, attempts, source_port)

    def _beside_creations(self, facts: ScenarioFacts, spec: ReachSpec, context: Mapping[str, Any],
                          attempts: int | None = None, source_port: int | None = None) -> ReachResult:
        """Make the probe while networks may be created (another worker's, another run's): it
        stands unless a creation overlapped it and it saw something arrive (or the daemon's
        DOCKER-USER rules accept traffic); then it is made again with creations held off
        (:mod:`netconform.hermetic.isolation_lock`)."""
        if self.lock is None:
            return self._reach(facts, spec, context, attempts, source_port)
        result, overlapped = self._probe(facts, spec, context, attempts, source_port, watch=True)
        if not overlapped or (
                result.outcome == "blocked"
                and docker_user_only_narrows(self.daemon_pid, ":" in result.address, self.timeout + 5)):
            return result
        with self._probing(f"probe {spec.id} again: a network was created while it ran"):
            return self._reach(facts, spec, context, attempts, source_port)

    def _probing(self, what: str) -> AbstractContextManager[None]:
        return self.lock.probing(what) if self.lock is not None else contextlib.nullcontext()

    def prefetch(self, facts: ScenarioFacts, specs: Sequence[ReachSpec], context: Mapping[str, Any],
                 ahead: Sequence[tuple[ScenarioFacts, Sequence[ReachSpec]]] = (),
                 silent: Collection[tuple[str, str]] = ()) -> None:
        """Make a scenario's probes concurrently: a blocked probe costs its full timeout, and they
        add up. TCP probes to one port of a container or the host run one after another, as their
        witness cannot tell them apart (:mod:`netconform.harness.together`). The probes of scenarios
        built ``ahead`` (:mod:`netconform.harness.build_ahead`) are made in the same window. Chains
        of probes ``silent`` names (scenario, probe id: expected not to reach) start first."""
        groups: dict[tuple[int, str, int | None], list[tuple[ScenarioFacts, ReachSpec]]] = defaultdict(list)
        for scenario, wanted in [(facts, specs), *ahead]:
            # One probe per id: a probe's outcome and its [source] are two checks of one spec.
            for spec in {spec.id: spec for spec in wanted}.values():
                # A container the daemon did not create leaves nothing to probe: its checks are
                # skipped, or fail and make the probe at their own turn.
                refused = any(not end.created for end in map(scenario.containers.get, (spec.frm, spec.to)) if end)
                if spec.id not in scenario.reach and not spec.churn and not refused:
                    target, port = made_together(spec)
                    # The host and the sentinel are the same namespace for every scenario.
                    shared = 0 if spec.to in ("host", "sentinel") and port is not None else id(scenario)
                    groups[(shared, target, port)].append((scenario, spec))
        if not groups:
            return

        def run(group: list[tuple[ScenarioFacts, ReachSpec]]) -> None:
            for scenario, spec in group:
                scenario.reach[spec.id] = self._beside_creations(scenario, spec, context)

        # The longest chains first: a group's probes take turns, and one started late ends the window
        # late. A probe expected to be blocked waits out all its attempts; one that reaches is quick.
        def length(chain: list[tuple[ScenarioFacts, ReachSpec]]) -> float:
            return sum(self.attempts * self.timeout if (scenario.scenario, spec.id) in silent else QUICK_PROBE
                       for scenario, spec in chain)

        chains = sorted(groups.values(), key=length, reverse=True)
        with self._window(), ThreadPoolExecutor(max_workers=min(PARALLEL_PROBES, len(groups))) as pool:
            for future in [pool.submit(run, group) for group in chains]:
                future.result()

    def _window(self) -> AbstractContextManager[None]:
        """A window's probes hold creations off together once no other process builds a batch
        (:mod:`netconform.hermetic.isolation_lock`); should one still build after
        :data:`WINDOW_WAIT` seconds, they watch for its creations instead."""
        if self.lock is None or not self.lock.after_builds(WINDOW_WAIT, "probe window: other builds"):
            return contextlib.nullcontext()
        return self.lock.probing("probe window")

    def _churn_probe(self, facts: ScenarioFacts, spec: ReachSpec, result: ReachResult, source_ns: str,
                     mark: ProbeMark, changes: int) -> None:
        """A stream of echo requests while the daemon creates and removes ``changes`` networks."""
        if self.churn is None:
            raise ProbeError(f"probe {spec.id}: this prober cannot change networks")
        stream = start_in_namespaces({"net": source_ns}, ping_stream, result.address, CHURN_INTERVAL, mark,
                                     ready_timeout=5.0, what=f"echo stream {spec.id}")
        try:
            self.churn(facts.scenario, changes)
        except BaseException:
            stream.abandon()
            raise
        result.attempts, result.sent = stream.finish(timeout=10.0)

    def _resolve(self, facts: ScenarioFacts, spec: ReachSpec, result: ReachResult) -> None:
        """Turn a name into the address the prober's own nameserver gives (a probe 'by name')."""
        prober = facts.containers.get(spec.frm)
        if prober is None:
            result.error = f"{result.address!r} is a name; only a container can probe by name (its resolver)"
            return
        answer = self.lookup(facts, prober, "A", result.address)
        if not answer.answers:
            result.error = f"{result.address!r} did not resolve: {answer.describe()}"
            return
        result.resolved_from = result.address
        result.address = sorted(answer.answers)[0]

    def _address_of(self, facts: ScenarioFacts, spec: ReachSpec, context: Mapping[str, Any]) -> str:
        if spec.address is not None:
            return str(resolve_value(spec.address, facts, context))
        if spec.to == "sentinel":
            assert self.sentinel is not None
            return self.sentinel.address
        if spec.to == "host":
            source = facts.containers.get(spec.frm)
            if source is None:
                raise ProbeError(f"probe {spec.id}: give 'address' (host has no default address from {spec.frm})")
            gateway = primary_endpoint(facts, source).gateway
            if not gateway:
                raise ProbeError(f"probe {spec.id}: {spec.frm} has no gateway; give 'address'")
            return str(gateway)
        target = facts.containers[spec.to]
        endpoint = target.endpoints.get(spec.network) if spec.network else primary_endpoint(facts, target)
        if endpoint is None or not endpoint.ip:
            where = f" on {spec.network}" if spec.network else ""
            raise ProbeError(f"probe {spec.id}: {spec.to} has no address{where}")
        return str(endpoint.ip)

    def _reach(self, facts: ScenarioFacts, spec: ReachSpec, context: Mapping[str, Any],
               replay_attempts: int | None = None, source_port: int | None = None) -> ReachResult:
        return self._probe(facts, spec, context, replay_attempts, source_port)[0]

    def _probe(self, facts: ScenarioFacts, spec: ReachSpec, context: Mapping[str, Any],
               replay_attempts: int | None = None, source_port: int | None = None,
               watch: bool = False) -> tuple[ReachResult, bool]:
        """The probe, and (``watch``) whether a network creation overlapped the sending of it."""
        # A replay of a churn probe makes at most as many network changes as attempts.
        attempts = replay_attempts or self.attempts
        changes = min(spec.churn, replay_attempts) if spec.churn and replay_attempts else spec.churn
        declared = spec.port if isinstance(spec.port, int) or spec.port is None else None
        result = ReachResult(spec.id, spec.frm, spec.to, spec.proto, "", facts.relocation.port(spec.proto, declared))
        try:
            if declared is None and spec.port is not None:
                result.port = int(resolve_value(spec.port, facts, context))  # a port the daemon chose
            result.address = self._address_of(facts, spec, context)
            if ":" in result.address and declared is not None and result.port != declared:
                result.port = ipv6_binding(facts, spec.proto, result.port)
            source_ns = self.netns(facts, spec.frm)
            target_ns = self.netns(facts, spec.to)
            self.settling.settle(facts)
            if not is_address(result.address):
                self._resolve(facts, spec, result)
                if result.error:
                    return result, False
            self._check_destination(facts, result.address, spec.frm, named=spec.address is not None)
            # In the daemon's own netns (the host, a host-mode container) other runs probe too, and a
            # TCP SYN carries no nonce: match the destination as well, which arrives unchanged there
            # (Docker's DNAT only ever sends packets on to a container's namespace).
            seen_as = result.address if self._in_daemon_netns(facts, spec.to) else None
            overlapped = False
            mark = ProbeMark(spec.proto, secrets.token_hex(8).encode("ascii"), spec.listener_port, seen_as,
                             source_port or self.source_ports.for_probe(spec))
            with contextlib.ExitStack() as stack:
                witness = start_in_namespaces({"net": target_ns}, watch_arrivals, mark, ready_timeout=5.0,
                                              what=f"arrival witness in {spec.to}")
                stack.callback(witness.abandon)
                if spec.proto != "icmp" and spec.to != "sentinel":
                    listen = str(resolve_value(spec.listen, facts, context)) if spec.listen is not None else None
                    if listen is None:
                        listen = (result.address if spec.to == "host" and is_address(result.address)
                                  else "::" if ":" in result.address else "0.0.0.0")
                    port = spec.listener_port
                    result.listener = f"{listen}:{port} in {spec.to}"
                    listener = spawn_in_namespaces({"net": target_ns}, serve_echo, port, listen,
                                                   ready_timeout=5.0, what=f"echo listener {result.listener}")
                    stack.callback(listener.stop)
                if spec.churn:
                    self._churn_probe(facts, spec, result, source_ns, mark, changes)
                else:
                    budget = (self.timeout + 1) * attempts * 2 + 5
                    # via host: out through the sentinel's own interface, past its loopback route.
                    device = SENTINEL_IFNAME if spec.via == "host" else None
                    result, overlapped = call_in_namespaces(
                        {"net": source_ns}, probe_noting_creations, self.lock if watch else None, result,
                        self.timeout, attempts, mark, device, timeout=budget, what=f"probe {spec.id}")
                try:
                    result.arrived = witness.finish(timeout=5.0)
                except ProbeError as err:
                    result.arrived = Sighting(error=str(err))
            gone = self.gone(facts, spec.frm, spec.to)
            if gone:  # during the probe: a vanished end reads as "blocked", which Docker did not do
                result.error = f"{gone} (while the probe ran)"
            return result, overlapped
        except (ProbeError, Unresolvable) as err:
            result.error = self.gone(facts, spec.frm, spec.to) or str(err)
            return result, False


def is_address(text: str) -> bool:
    """Whether ``text`` is an IP address (else a name to look up first)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def ipv6_binding(facts: ScenarioFacts, proto: str, moved: int | None) -> int | None:
    """The IPv6 host port of the binding whose IPv4 port is ``moved``: a port the daemon chose
    (the declared one was taken) may differ between 0.0.0.0 and ::, and relocation keeps the
    IPv4 one."""
    for container in facts.containers.values():
        for key, bound in container.published.items():
            hosts = {binding.rsplit(":", 1)[0]: int(binding.rsplit(":", 1)[1]) for binding in bound}
            if key.endswith(f"/{proto}") and moved in [port for host, port in hosts.items() if ":" not in host]:
                return next((port for host, port in hosts.items() if ":" in host), moved)
    return moved
