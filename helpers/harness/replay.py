"""Evidence for a failed probe or lookup: replay it under packet capture and firewall tracing.

The replay's own outcome is kept (a probe that behaves differently the second time shows as
such), each namespace involved is dumped again (addresses, routes, neighbours: the facts of the
build may be stale by then) and, for a reachability probe, the replay is traced through the
daemon namespace's firewall (nftables trace), so the story names the chain, the rule and the
verdict that decided.

A probe whose every attempt went unanswered, or a lookup that timed out, is replayed with one
attempt (:data:`SILENT_REPLAY_ATTEMPTS`): its own attempts already showed the silence, and one
more packet is all the capture and the trace need to show where it ends (a churn probe whose
every echo request went unanswered is replayed across one network change). On a broken host most
failures are such silences, and replaying each with every attempt waited them all out again.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from netconform.facts import LookupResult, ReachResult, ScenarioFacts
from netconform.harness.on_demand import Prober
from netconform.observe.capture import capturing
from netconform.observe.netlink import observe_netns
from netconform.observe.nftrace import ProbeMatch, packet_trace
from netconform.spec.model import Check
from netconform.spec.properties import LOOKUP_QTYPES
from netconform.spec.refs import resolve_value

SILENT_REPLAY_ATTEMPTS = 1


@dataclass
class Evidence:
    """What a failure leaves: pcaps of a replay, and sections describing the namespaces now."""

    paths: list[str]
    sections: dict[str, str]


@contextlib.contextmanager
def _captured(ends: Mapping[str, str], directory: Path | None, stem: str,
              source_port: int | None = None) -> Iterator[list[Path]]:
    if directory is None:
        yield []
        return
    # A replay with a source port of its own may run beside others to the same port (the
    # sentinel's): its captures keep only its own TCP segments, and everything else.
    only = f"not tcp or tcp port {source_port}" if source_port is not None else None
    with capturing(ends, directory, stem, only) as paths:
        yield paths


def keep_evidence(prober: Prober, check: Check, facts: ScenarioFacts, context: Mapping[str, Any],
                  directory: Path | None, run_id: str) -> Evidence:
    """Replay a failed probe or lookup, captured into ``directory`` (None: no capture) and, for a
    probe, traced through the daemon's firewall."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{check.scenario}-{check.subject}-{check.name}")[:120]
    sections: dict[str, str] = {}
    if check.reach is not None:
        spec = check.reach
        ends = {end: prober.netns(facts, end) for end in dict.fromkeys((spec.frm, spec.to))}
        first = facts.reach.get(spec.id)
        address = first.address if first is not None else ""
        declared = spec.port if isinstance(spec.port, int) else None  # a reference: known once probed
        source_port = prober.source_ports.for_probe(spec)
        match = _match(address, spec.proto, first.port if first is not None else declared, source_port)
        with _captured(ends, directory, stem, source_port) as paths:
            if match is None:
                replay = prober.make(facts, spec, context, replay_attempts(first), source_port).describe()
            else:
                with packet_trace(f"/proc/{prober.daemon_pid}/ns/net", run_id, match) as trace:
                    replay = prober.make(facts, spec, context, replay_attempts(first), source_port).describe()
                traced = trace.result()
                sections["firewall path (nft trace in the daemon's netns)"] = traced.describe()
                if directory is not None and traced.raw:
                    (directory / f"{stem}.nftrace.txt").write_text(traced.raw)
    else:
        family = check.prop.split(".", 1)[0]
        container = facts.containers[check.subject]
        if family not in LOOKUP_QTYPES or not container.created:
            return Evidence([], {})
        name = str(resolve_value(check.param, facts, context))
        qtype = LOOKUP_QTYPES[family]
        ends = {check.subject: prober.netns(facts, check.subject)}
        if prober.sentinel is not None:
            ends["sentinel"] = prober.netns(facts, "sentinel")
        with _captured(ends, directory, stem) as paths:
            first_lookup = container.lookups.get(f"{qtype} {name}")
            replay = prober._ask(facts, container, qtype, name, replay_attempts(first_lookup)).describe()
    if directory is not None:
        (directory / f"{stem}.replay.txt").write_text(replay + "\n")
    sections = {"replay": replay, **sections}
    for end, netns in ends.items():
        sections[f"{end} at failure"] = observe_netns({"net": netns}, what=f"netlink dump of {end}").describe()
    return Evidence([str(path) for path in paths], sections)


def replay_attempts(first: ReachResult | LookupResult | None) -> int | None:
    """How many attempts the replay of ``first`` makes: one after nothing but silence, else
    (None) as many as the run's probes make."""
    if isinstance(first, LookupResult):
        return SILENT_REPLAY_ATTEMPTS if first.rcode == "timeout" else None
    if first is not None and first.attempts and all(attempt.outcome == "timeout" for attempt in first.attempts):
        return SILENT_REPLAY_ATTEMPTS
    return None


def _match(address: str, proto: str, port: int | None, source_port: int | None) -> ProbeMatch | None:
    try:
        return ProbeMatch(dst=address, protocol=proto, dport=port, sport=source_port)
    except ValueError:
        return None
