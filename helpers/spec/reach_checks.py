"""The checks of a scenario's ``reachability`` list: a reach check per probe, and a source check
where the probe names the source address its listener must see.

The schema has checked each entry's keys, types and ranges; what is checked here relates an entry
to the scenario (endpoints, networks) and its keys to each other (ports by protocol, the sentinel).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from netconform.spec.model import ENDPOINTS, REACHABILITY, Check, ContainerSpec, ReachSpec
from netconform.spec.vacuity import refuse_vacuous
from netconform.spec.values import Names, Where, literals, parse_expectation, parse_value
from netconform.spec.yamlsrc import line_of, where

ECHO_PORT = 7  # the sentinel's echo service (netconform.hermetic.echo.DEFAULT_PORT; the model imports no services)
# What a probe may be expected to observe ("inconclusive" is never an expectation: it is an error).
EXPECTED_OUTCOMES = ("reach", "blocked", "one-way")


def reach_checks(top: Mapping[str, Any], containers: dict[str, ContainerSpec], names: Names, scenario: str,
                 path: str) -> tuple[Check, ...]:
    """The checks of ``reachability``, in the order written.

    Raises:
        SpecError: the first probe that does not fit the scenario or is declared twice.
    """
    entries = top.get("reachability") or []
    checks: list[Check] = []
    seen: dict[str, int | None] = {}
    for index, spec in enumerate(entries):
        keypath = f"reachability[{index}]"
        line = line_of(entries, index)
        reach = _probe(spec, keypath, containers, names, path)
        if reach.id in seen:
            raise Where(path, line, keypath).error(
                f"probe {reach.id!r} is declared twice (first at line {seen[reach.id]})", "give it a name")
        seen[reach.id] = line
        expect_at = where(path, spec, "expect", f"{keypath}.expect")
        expectation = parse_expectation(spec["expect"], expect_at, names)
        for value in literals(expectation):
            if value not in EXPECTED_OUTCOMES:
                raise expect_at.error(f"invalid outcome {value!r}", ", ".join(EXPECTED_OUTCOMES))
        refuse_vacuous(expectation, expect_at, EXPECTED_OUTCOMES)
        checks.append(Check(scenario, REACHABILITY, "reach", "reachability", expectation, path, expect_at.line,
                            reach=reach))
        if "source" in spec:
            source_at = where(path, spec, "source", f"{keypath}.source")
            if reach.proto == "icmp":
                raise source_at.error("icmp probes see no source address", "tcp or udp probes")
            source = parse_expectation(spec["source"], source_at, names)
            refuse_vacuous(source, source_at)
            checks.append(Check(scenario, REACHABILITY, "source", "reachability", source, path, source_at.line,
                                reach=reach))
    return tuple(checks)


def _probe(spec: Mapping[str, Any], keypath: str, containers: dict[str, ContainerSpec], names: Names,
           path: str) -> ReachSpec:
    """The probe of one entry, its endpoints, ports and options checked against each other."""

    def at(key: str) -> Where:
        return where(path, spec, key, f"{keypath}.{key}")

    ends = ", ".join([*containers, *ENDPOINTS])
    frm, to, proto = spec["from"], spec["to"], spec["proto"]
    for key in ("from", "to"):
        if spec[key] not in containers and spec[key] not in ENDPOINTS:
            raise at(key).error(f"unknown endpoint {spec[key]!r}", ends)
    port, listen_port = spec.get("port"), spec.get("listen_port")
    port_at = where(path, spec, "port" if "port" in spec else "proto", f"{keypath}.port")
    if proto == "icmp" and (port or listen_port):
        raise port_at.error("icmp has no ports", "drop port/listen_port")
    if proto != "icmp" and to == "sentinel":
        if port not in (None, ECHO_PORT) or listen_port is not None:
            raise port_at.error(f"the sentinel serves echo on port {ECHO_PORT} only", str(ECHO_PORT))
        port = ECHO_PORT
    if proto != "icmp" and port is None:
        raise port_at.error(f"a {proto} probe needs a port", "1-65535")
    if isinstance(port, str):
        port = parse_value(port, port_at, names)
        if listen_port is None:
            raise port_at.error("a port given by reference needs the listener's port", "listen_port")
    via = spec.get("via")
    if via is not None and (frm != "sentinel" or proto == "icmp"):
        raise at("via").error("only the sentinel's tcp and udp probes go through the host this way",
                              "from: sentinel with proto tcp or udp")
    network = spec.get("network")
    if network is not None:
        attached = containers[to].networks if to in containers else ()
        if network not in attached:
            raise at("network").error(f"{to!r} is not attached to {network!r}", ", ".join(attached) or "(no networks)")
    address = parse_value(spec["address"], at("address"), names) if "address" in spec else None
    listen = parse_value(spec["listen"], at("listen"), names) if "listen" in spec else None
    if listen is not None and to == "sentinel":
        raise at("listen").error("the sentinel's listener is fixed")
    churn = spec.get("churn", 0)
    if churn and proto != "icmp":
        raise at("churn").error("a churn probe is a stream of echo requests", "proto: icmp")
    return ReachSpec(frm, to, proto, port, address, network, listen, listen_port, spec.get("name", ""), churn, via)
