"""A scenario's ``steps``: changes made to it while it runs, each with the checks judged after it.

A step connects a container to a network or disconnects it (``docker network connect`` /
``disconnect``); its ``expect`` and ``reachability`` are the top-level blocks' vocabulary, read by
the same readers, and describe the scenario as observed after the step. What a step may do depends
on what the steps before it did: the attachments are followed step by step, so disconnecting a
container from a network it is not on, or connecting it twice, fails at load with file:line.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from netconform.errors import SpecError, SpecErrors
from netconform.spec.model import Check, ContainerSpec, NetworkSpec, StepSpec
from netconform.spec.property_checks import expect_checks
from netconform.spec.reach_checks import reach_checks
from netconform.spec.values import Names
from netconform.spec.yamlsrc import line_of, where

ACTIONS = ("connect", "disconnect")
# Decided when a container or network is created, not changed by a later step.
_CREATION_FACTS = ("created", "refused", "left_behind")


def build_steps(top: Mapping[str, Any], containers: dict[str, ContainerSpec], networks: dict[str, NetworkSpec],
                names: Names, scenario: str, path: str) -> tuple[tuple[StepSpec, ...], tuple[Check, ...]]:
    """The ``steps`` list as StepSpecs, and the checks of each (their ``step`` set to its name).

    Raises:
        SpecError: the first step that does not fit the scenario as the steps before it left it,
            or whose expectations do not load (keys prefixed with ``steps[<n>].``).
    """
    entries = top.get("steps") or []
    attached = {key: list(spec.networks) for key, spec in containers.items()}
    steps: list[StepSpec] = []
    checks: list[Check] = []
    for index, body in enumerate(entries):
        keypath = f"steps[{index}]"
        step = _step(body, keypath, line_of(entries, index), containers, networks, attached, path)
        if any(step.name == earlier.name for earlier in steps):
            raise where(path, body, "name", f"{keypath}.name").error(f"step {step.name!r} is declared twice",
                                                                      "a name of its own")
        now = {key: replace(spec, networks=tuple(attached[key])) for key, spec in containers.items()}
        try:
            own = expect_checks(body, now, names, scenario, path) + reach_checks(body, now, names, scenario, path)
        except SpecError as err:
            raise SpecErrors.of([SpecError(problem.path, problem.line, f"{keypath}.{problem.key}", problem.problem,
                                           problem.allowed) for problem in err.problems]) from None
        for check in own:
            if check.of_network or check.prop in _CREATION_FACTS:
                raise SpecError(path, check.line, f"{keypath}.expect.{check.subject}.{check.prop}",
                                "decided when the scenario is built, not changed by a step",
                                "declare it in the top-level expect")
        steps.append(step)
        checks.extend(replace(check, step=step.name) for check in own)
    return tuple(steps), tuple(checks)


def _step(body: Mapping[str, Any], keypath: str, line: int | None, containers: dict[str, ContainerSpec],
          networks: dict[str, NetworkSpec], attached: dict[str, list[str]], path: str) -> StepSpec:
    """One step, checked against the attachments the steps before it left (which it updates)."""
    actions = [action for action in ACTIONS if action in body]
    if len(actions) != 1:
        problem = "give one of connect or disconnect" + (", not both" if actions else "")
        raise SpecError(path, line, keypath, problem, "connect: {container, network} or disconnect: {...}")
    action = actions[0]
    spec = body[action]
    at = f"{keypath}.{action}"
    key, network = spec["container"], spec["network"]
    if key not in containers:
        raise where(path, spec, "container", f"{at}.container").error(f"container {key!r} is not defined",
                                                                      ", ".join(containers))
    if containers[key].mode not in ("network", "bridge"):
        raise where(path, spec, "container", f"{at}.container").error(
            f"{key} is in network mode {containers[key].network_mode!r}, which has no networks to change",
            "a container on bridge or a user-defined network")
    if network not in networks and network != "bridge":
        raise where(path, spec, "network", f"{at}.network").error(f"unknown network {network!r}",
                                                                  "bridge or one of: " + ", ".join(networks))
    if network != "bridge" and networks[network].refusal_expected:
        raise where(path, spec, "network", f"{at}.network").error(f"{network!r} is expected to be refused")
    on = attached[key]
    if action == "disconnect":
        if network not in on:
            raise where(path, spec, "network", f"{at}.network").error(
                f"{key} is not attached to {network!r} at this step", ", ".join(on) or "(no networks)")
        on.remove(network)
        return StepSpec(str(body["name"]), action, key, network, line=line)
    if network in on:
        raise where(path, spec, "network", f"{at}.network").error(f"{key} is already attached to {network!r}",
                                                                  "a network it is not on")
    aliases = (spec["aliases"],) if isinstance(spec.get("aliases"), str) else tuple(spec.get("aliases") or ())
    if aliases and network == "bridge":
        raise where(path, spec, "aliases", f"{at}.aliases").error("the default bridge has no aliases",
                                                                  "a user-defined network")
    ip = str(ipaddress.IPv4Address(spec["ip"])) if "ip" in spec else None
    subnet = networks[network].subnet if network in networks else None
    if ip is not None and (subnet is None or ipaddress.IPv4Address(ip) not in ipaddress.IPv4Network(subnet)):
        raise where(path, spec, "ip", f"{at}.ip").error(
            f"{ip} is not inside {network}'s declared subnet" + (f" {subnet}" if subnet else ""),
            f"an address in {subnet}" if subnet else "a network that declares its subnet")
    on.append(network)
    return StepSpec(str(body["name"]), action, key, network, aliases, ip, line)
