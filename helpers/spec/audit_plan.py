"""The audit of networks that existed before the run: what each promises, as two scenario specs.

Pure data, like the rest of the spec: the engine says which networks exist
(:mod:`netconform.engine.existing`), this module turns them into specs that name them with
``existing:`` (looked up, never created or removed) and into the promises each network makes,
one pytest item each (:mod:`netconform.harness.audit`).

Two scenarios, in this order:

* ``existing``: two probe containers on each audited network, probed as found. No network is
  created before its probes are made, since creating one makes the daemon re-apply its rules and
  kernel switches (``bridge-nf-call-iptables``), which would hide what a host lost since.
* ``existing-vs-run``: one probe container on each audited network and one on a network the
  run creates, for isolation from a new network in both directions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ICC_OPTION = "com.docker.network.bridge.enable_icc"
MASQUERADE_OPTION = "com.docker.network.bridge.enable_ip_masquerade"
DEFAULT_BRIDGE = "bridge"
AS_FOUND = "existing"
AGAINST_RUN = "existing-vs-run"
RUN_NETWORK = "run network"  # how promises name the network the run creates
_PROBE_PORT = 8100  # isolation probes use one port per source, so they run in parallel


@dataclass(frozen=True)
class ExistingNetwork:
    """A network as the daemon listed it before the run created anything."""

    name: str
    driver: str
    internal: bool = False
    options: tuple[tuple[str, str], ...] = ()

    def option(self, name: str, default: bool = True) -> bool:
        """A boolean driver option (Docker's default when the network does not set it)."""
        value = dict(self.options).get(name)
        return default if value is None else value.strip().lower() in ("true", "1")

    @property
    def audited(self) -> bool:
        return self.driver == "bridge"


@dataclass(frozen=True)
class Promise:
    """One promise of one existing network: a pytest item ``existing::<network>::<name>``.

    Attributes:
        network: the network's name.
        name: the promise, e.g. ``isolated to other-net``, ``icc disabled``, ``masquerade``.
        scenario: the scenario whose probe judges it (:data:`AS_FOUND` or :data:`AGAINST_RUN`).
        probe: the probe's name in that scenario's ``reachability`` list.
        source: judged by the probe's source check (masquerade) rather than its outcome.
        firewall: kept only by the rules Docker writes when it manages iptables.
        skip: why the network is not audited (then there is no probe).
    """

    network: str
    name: str
    scenario: str = AS_FOUND
    probe: str = ""
    source: bool = False
    firewall: bool = True
    skip: str = ""


@dataclass(frozen=True)
class AuditPlan:
    networks: tuple[ExistingNetwork, ...]
    specs: dict[str, dict[str, Any]]
    promises: tuple[Promise, ...]


def plan_audit(found: list[ExistingNetwork]) -> AuditPlan:
    """The specs and promises that audit ``found`` (the default bridge, if listed, first)."""
    audited = [network for network in found if network.audited]
    keys = {network.name: _key(index, network) for index, network in enumerate(audited)}
    promises: list[Promise] = []
    as_found: dict[str, Any] = _spec("every network that existed before the run, probed as found",
                                     audited, keys, ("a", "b"))
    against_run: dict[str, Any] = _spec("the networks that existed before the run, and one the run creates",
                                        audited, keys, ("a",))
    against_run["networks"]["run"] = {}
    against_run["containers"]["runa"] = {"network": "run"}
    for index, network in enumerate(found):
        if not network.audited:
            promises.append(Promise(network.name, "audit", skip=f"driver {network.driver!r}: only bridge networks "
                                                                 "are audited"))
            continue
        key = keys[network.name]
        promises += _own_promises(network, key, as_found["reachability"])
        for other in audited:
            if other is not network:
                promises.append(Promise(network.name, f"isolated to {other.name}", probe=_isolation(
                    as_found["reachability"], (key, network.name), (keys[other.name], other.name), index)))
                # The other network's own "isolated to" probe, made once, judged for both.
                promises.append(Promise(network.name, f"isolated from {other.name}",
                                        probe=f"{other.name} -> {network.name}"))
        run = ("run", RUN_NETWORK)
        promises.append(Promise(network.name, f"isolated to {RUN_NETWORK}", AGAINST_RUN,
                                _isolation(against_run["reachability"], (key, network.name), run, index)))
        promises.append(Promise(network.name, f"isolated from {RUN_NETWORK}", AGAINST_RUN,
                                _isolation(against_run["reachability"], run, (key, network.name), index)))
    return AuditPlan(tuple(found), {AS_FOUND: as_found, AGAINST_RUN: against_run}, tuple(promises))


def _key(index: int, network: ExistingNetwork) -> str:
    # Spec keys follow the spec's naming rule; the names are the network's own.
    return "dflt" if network.name == DEFAULT_BRIDGE else f"n{index}"


def _spec(description: str, audited: list[ExistingNetwork], keys: dict[str, str],
          probes: tuple[str, ...]) -> dict[str, Any]:
    networks = {keys[n.name]: {"existing": n.name} for n in audited if n.name != DEFAULT_BRIDGE}
    containers = {f"{keys[n.name]}{suffix}": {"network": keys[n.name] if n.name != DEFAULT_BRIDGE else "bridge"}
                  for n in audited for suffix in probes}
    return {"description": description, "networks": networks, "containers": containers, "reachability": []}


def _isolation(probes: list[dict[str, Any]], frm: tuple[str, str], to: tuple[str, str], index: int) -> str:
    """A probe from the first probe container on ``frm`` to the one on ``to`` ((key, name) each)."""
    name = f"{frm[1]} -> {to[1]}"
    probes.append({"name": name, "from": f"{frm[0]}a", "to": f"{to[0]}a", "proto": "tcp",
                   "port": _PROBE_PORT + index, "expect": "blocked"})
    return name


def _own_promises(network: ExistingNetwork, key: str, probes: list[dict[str, Any]]) -> list[Promise]:
    """ICC per enable_icc; egress and masquerade per enable_ip_masquerade, or none if internal."""
    promises = []
    icc = network.option(ICC_OPTION)
    promise = "icc" if icc else "icc disabled"
    name = f"{network.name} {promise}"
    probes.append({"name": name, "from": f"{key}a", "to": f"{key}b", "proto": "tcp", "port": 8080,
                   "expect": "reach" if icc else "blocked"})
    # Containers reaching each other is the bridge's own doing; keeping them apart is a rule's.
    promises.append(Promise(network.name, promise, probe=name, firewall=not icc))
    if network.internal:
        for proto in ("tcp", "icmp"):
            name = f"{network.name} no egress {proto}"
            probes.append({"name": name, "from": f"{key}a", "to": "sentinel", "proto": proto, "expect": "blocked"})
            promises.append(Promise(network.name, f"no egress ({proto})", probe=name))
        return promises
    masquerade = network.option(MASQUERADE_OPTION)
    source = "${sentinel.gateway_address}" if masquerade else f"${{container.{key}a.ip}}"
    name = f"{network.name} egress"
    probes.append({"name": name, "from": f"{key}a", "to": "sentinel", "proto": "tcp", "expect": "reach",
                   "source": source})
    promises.append(Promise(network.name, "egress", probe=name))
    promises.append(Promise(network.name, "masquerade" if masquerade else "no masquerade", probe=name, source=True))
    return promises
