"""Load a scenario file: read it with positions, check its structure against the schema, build the
model and check what relates its parts, or raise SpecError.

Every error names ``file:line``, the key, the problem and what is allowed. Nothing is created for
a spec that does not load: the plugin loads every spec at collection time.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from netconform.spec.model import ReachSpec, Scenario
from netconform.spec.networks_containers import build_containers, build_networks
from netconform.spec.property_checks import expect_checks
from netconform.spec.reach_checks import reach_checks
from netconform.spec.scenario_rules import (
    require_declared_refusals,
    require_empty_refused_networks,
    require_hermetic_dns,
)
from netconform.spec.schema import check_structure
from netconform.spec.segment import build_segment, required_features
from netconform.spec.steps import build_steps
from netconform.spec.values import Names, Ref
from netconform.spec.yamlsrc import load_located


def load_scenario(path: Path, display: str | None = None, *, checked_elsewhere: bool = False) -> Scenario:
    """Parse and validate one scenario file.

    Args:
        path: the scenario file; its stem is the scenario's name.
        display: how messages show the file (default: ``path``).
        checked_elsewhere: the scenario may declare no expectations (a Python test checks it).

    Raises:
        SpecError: every structural problem (wrong keys, types, values), or else the first problem
            in how the scenario's parts relate (undefined references, refused combinations).
    """
    shown = display or str(path)
    top = load_located(path, shown)
    check_structure(top, shown)
    segment = build_segment(top, shown)
    names = Names(frozenset(top["containers"]), frozenset(top.get("networks") or {}) | {"bridge"}, segment is not None)
    networks = build_networks(top, shown, names)
    containers = build_containers(top, networks, shown)
    checks = (expect_checks(top, containers, names, path.stem, shown, checked_elsewhere)
              + reach_checks(top, containers, names, path.stem, shown))
    refused = {check.subject for check in checks if check.of_network and check.prop == "refused"}
    require_empty_refused_networks(top, refused, containers, shown)
    networks = {key: dataclasses.replace(network, refusal_expected=key in refused) for key, network in networks.items()}
    steps, step_checks = build_steps(top, containers, networks, names, path.stem, shown)
    checks += step_checks
    require_declared_refusals(top, containers, checks, shown)
    require_hermetic_dns(containers, checks, shown)
    requires = required_features(top, [network.driver for network in networks.values()], segment)
    return Scenario(path.stem, shown, top.get("description", ""), networks, containers, checks,
                    segment is not None or _mentions_sentinel((containers, checks)), requires, segment, steps)


def _mentions_sentinel(value: Any) -> bool:
    """Whether any reference or probe endpoint in the model names the sentinel."""
    if isinstance(value, Ref):
        return value.parts[0] == "sentinel"
    if isinstance(value, ReachSpec) and "sentinel" in (value.frm, value.to):
        return True
    if isinstance(value, dict):
        return any(_mentions_sentinel(item) for item in value.values())
    if isinstance(value, tuple | list):
        return any(_mentions_sentinel(item) for item in value)
    if hasattr(value, "__dataclass_fields__"):
        return any(_mentions_sentinel(getattr(value, name)) for name in value.__dataclass_fields__)
    return False
