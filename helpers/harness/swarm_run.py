"""Running Swarm scenarios on a lab: build, (rejoin), observe, judge, remove; one scenario at a time.

A scenario whose kernel features are missing is never built: each of its checks is skipped with
the kernel's reason. A build that fails makes each check an error with the daemon's words.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

import docker.errors

from netconform.engine.swarm_build import Endpoint, SwarmBuild
from netconform.errors import NetconformError
from netconform.hermetic.kernel_features import FeatureProbe
from netconform.hermetic.runs import RunIdentity
from netconform.hermetic.swarm_lab import UNDERLAY_GATEWAY, SwarmLab
from netconform.judge.swarm_verdicts import (
    ERROR,
    Addressing,
    SwarmVerdict,
    expected_answers,
    expected_source,
    judge_addressing,
    judge_lookup,
    judge_reach,
    judge_source,
    judge_underlay,
    skipped,
)
from netconform.observe import swarm_probe
from netconform.spec.swarm import UNDERLAY_TARGET, ReachCheck, SwarmScenario


def check_ids(scenario: SwarmScenario) -> list[str]:
    """The ids of every verdict the scenario gives (a reach check with ``underlay`` gives two)."""
    ids = [check.id for check in scenario.addressing]
    for reach in scenario.reachability:
        ids += [reach.id, *([f"{reach.id} [underlay]"] if reach.underlay else []),
                *([f"{reach.id} [source]"] if reach.source else [])]
    return ids + [check.id for check in scenario.lookups]


def run_scenarios(lab: SwarmLab, run: RunIdentity, scenarios: Iterable[SwarmScenario],
                  features: FeatureProbe | None = None) -> list[SwarmVerdict]:
    """Every check of every scenario, judged (or skipped, or an error), in order."""
    probe = features or FeatureProbe()
    verdicts: list[SwarmVerdict] = []
    for scenario in scenarios:
        missing = probe.missing(scenario.requires)
        if missing:
            reason = "; ".join(feature.skip_reason() for feature in missing)
            verdicts.extend(skipped(scenario.name, check_ids(scenario), reason))
            continue
        verdicts.extend(run_scenario(lab, run, scenario))
    return verdicts


def run_scenario(lab: SwarmLab, run: RunIdentity, scenario: SwarmScenario,
                 before_checks: Callable[[SwarmBuild], None] | None = None) -> list[SwarmVerdict]:
    """Build ``scenario``, observe and judge it, and remove it again (in a ``finally``).

    Args:
        before_checks: called with the build once it stands, before anything is observed (the
            fault tests break a property there).
    """
    build = SwarmBuild(scenario, lab, run)
    try:
        build.create()
        if scenario.rejoin:
            _rejoin(build, scenario.rejoin)
        if before_checks is not None:
            before_checks(build)
        verdicts = _judge(build)
    except NetconformError as err:
        verdicts = [SwarmVerdict(scenario.name, check, ERROR, observed="stopped before its checks",
                                 evidence=str(err)) for check in check_ids(scenario)]
    finally:
        problems = build.remove()
    if problems:
        verdicts.append(SwarmVerdict(scenario.name, "teardown", ERROR, "everything removed", "leftovers",
                                     "; ".join(problems)))
    return verdicts


def _rejoin(build: SwarmBuild, worker: str) -> None:
    """The worker leaves and rejoins; its containers (which lost the overlays) are made anew."""
    build.remove_containers((worker,))
    lab = build.lab
    lab.leave_and_rejoin(worker)
    build.place_containers((worker,))


def _judge(build: SwarmBuild) -> list[SwarmVerdict]:
    scenario = build.scenario
    verdicts = []
    for address in scenario.addressing:
        endpoint = build.containers[address.container]
        ip = endpoint.addresses.get(address.network)
        seen = swarm_probe.interface_of(swarm_probe.netns_of(endpoint.pid), ip) if ip else None
        verdicts.append(judge_addressing(scenario.name, address, Addressing(
            ip, seen.prefixlen if seen else None, seen.mtu if seen else None, seen.ifname if seen else None)))
    for check in scenario.reachability:
        verdicts.extend(_reach(build, check))
    containers = {key: endpoint.addresses for key, endpoint in build.containers.items()}
    vips = {key: service.vips for key, service in build.services.items()}
    tasks = {key: _task_addresses(service.tasks) for key, service in build.services.items()}
    for lookup in scenario.lookups:
        expected = expected_answers(lookup, containers, vips, tasks)
        found = swarm_probe.lookup(swarm_probe.netns_of(build.containers[lookup.frm].pid), lookup.name)
        verdicts.append(judge_lookup(scenario.name, lookup, expected, found.rcode, found.answers, found.describe()))
    return verdicts


def _task_addresses(tasks: list[Endpoint]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for task in tasks:
        for network, address in task.addresses.items():
            found.setdefault(network, []).append(address)
    return found


def _reach(build: SwarmBuild, check: ReachCheck) -> list[SwarmVerdict]:
    scenario = build.scenario
    prober = (build.lab.lab_netns_path if check.frm == UNDERLAY_TARGET
              else swarm_probe.netns_of(build.containers[check.frm].pid))
    listeners: list[str] = []
    if check.to == UNDERLAY_TARGET:
        address = UNDERLAY_GATEWAY
        listeners = [build.lab.lab_netns_path]
    elif check.to.startswith("node:"):
        address = build.lab.node(check.to.removeprefix("node:")).address
        listeners = [swarm_probe.netns_of(task.pid) for service in build.services.values() for task in service.tasks]
    elif check.to.endswith(".vip"):
        service = build.services[check.to.removesuffix(".vip")]
        address = service.vips.get(check.network or "", "")
        listeners = [swarm_probe.netns_of(task.pid) for task in service.tasks]
    else:
        target = build.containers[check.to]
        address = target.addresses.get(check.network or "", "")
        listeners = [swarm_probe.netns_of(target.pid)]
    if not address:
        return [SwarmVerdict(scenario.name, check.id, ERROR, check.expect, "no address",
                             f"{check.to} has no address on {check.network}")]
    lab = build.lab
    watch = (lab.lab_netns_path, [node.address for node in lab.nodes.values()]) if check.underlay else None
    try:
        facts, crossed = swarm_probe.reach(prober, address, check.proto,
                                           None if check.proto == "icmp" else check.port, listeners, watch)
    except NetconformError as err:
        return [SwarmVerdict(scenario.name, check.id, ERROR, check.expect, "the probe did not run", str(err))]
    verdicts = [judge_reach(scenario.name, check, facts.outcome, facts.describe())]
    if check.underlay and crossed is not None:
        verdicts.append(judge_underlay(scenario.name, check, crossed.carried_as, crossed.describe()))
    if check.source:
        containers = {key: endpoint.addresses for key, endpoint in build.containers.items()}
        expected = expected_source(check, containers, _ingress_sbox_addresses(lab))
        verdicts.append(judge_source(scenario.name, check, expected, facts.outcome, facts.seen, facts.describe()))
    return verdicts


def _ingress_sbox_addresses(lab: SwarmLab) -> dict[str, str]:
    """Node -> its ingress-sbox's address on the ``ingress`` network, as its daemon lists it (under
    the key ``ingress-sbox``, named ``ingress-endpoint``)."""
    found = {}
    for node in lab.nodes.values():
        with contextlib.suppress(docker.errors.APIError):
            members = node.client.networks.get("ingress").attrs.get("Containers") or {}
            for key, member in members.items():
                if key == "ingress-sbox" or member.get("Name") == "ingress-endpoint":
                    found[node.name] = str(member.get("IPv4Address", "")).split("/")[0]
    return found
