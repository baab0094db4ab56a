"""The checks of a scenario's ``expect`` block: one Check per property expected of a container.

Property names come from the catalogue (:mod:`netconform.spec.properties`), not from the schema:
they nest (``interface.eth0.mtu``) and carry parameters (``lookup.<name>``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netconform.errors import SpecError
from netconform.spec.model import Check, ContainerSpec
from netconform.spec.properties import allowed_properties, find_property
from netconform.spec.vacuity import refuse_vacuous
from netconform.spec.values import (
    Expectation,
    Names,
    Value,
    Where,
    is_matcher_mapping,
    literals,
    parse_expectation,
    parse_value,
)
from netconform.spec.yamlsrc import LocatedMap, line_of, where

BOOLEAN_PROPERTIES = ("created", "left_behind")


def expect_checks(top: Mapping[str, Any], containers: dict[str, ContainerSpec], names: Names, scenario: str,
                  path: str, checked_elsewhere: bool = False) -> tuple[Check, ...]:
    """The checks of ``expect``, in the order written.

    Args:
        checked_elsewhere: a Python test checks the scenario, so it may expect nothing here.

    Raises:
        SpecError: the first unknown subject or property, or value a property cannot take; or no
            expectation at all in a scenario without reachability probes (unless checked elsewhere).
    """
    if top.get("expect") is None:
        if top.get("reachability") or checked_elsewhere:
            return ()
        raise SpecError(path, getattr(top, "line", 1), "expect",
                        "missing: a scenario without expectations checks nothing")
    body = top["expect"]
    reader = _ExpectReader(path, scenario, names)
    checks: list[Check] = []
    networks = sorted(names.networks - {"bridge"})
    for subject, tree in body.items():
        # A container's key wins over a network's of the same name.
        kind = "host" if subject == "host" else "container" if subject in containers else "network"
        if kind == "network" and subject not in networks:
            raise where(path, body, subject, f"expect.{subject}").error(
                f"container {subject!r} is not defined", ", ".join([*containers, "host", *networks]))
        checks.extend(reader.flatten(subject, tree, "", kind))
    if not checks and not checked_elsewhere:
        raise SpecError(path, line_of(top, "expect"), "expect", "no expectations declared")
    return tuple(checks)


@dataclass(frozen=True)
class _ExpectReader:
    path: str
    scenario: str
    names: Names

    def flatten(self, subject: str, tree: Mapping[str, Any], prefix: str, kind: str = "container") -> list[Check]:
        """The checks of a (nested) mapping of properties, ``prefix`` being the path to it; ``kind``
        is what the subject is: container, host or network."""
        checks = []
        for key, value in tree.items():
            prop_path = f"{prefix}{key}"
            at = where(self.path, tree, key, f"expect.{subject}.{prop_path}")
            prop = find_property(prop_path, kind)
            if prop is not None and not prop.in_expect:
                prop = None
            # A mapping under a property is its matcher, except under sysctl.<name>, whose names nest.
            as_leaf = not isinstance(value, Mapping) or is_matcher_mapping(value) or not prop_path.startswith("sysctl")
            if prop is not None and as_leaf:
                expectation = parse_expectation(value, at, self.names)
                self._check_value(prop_path, expectation, at)
                match = prop.matches(prop_path)
                assert match is not None
                param: Value = match.group(1) if match.groups() else None
                if prop.templated and isinstance(param, str):
                    param = parse_value(param, at, self.names)
                checks.append(Check(self.scenario, subject, prop_path, prop.aspect, expectation, self.path, at.line,
                                    param, of_network=kind == "network"))
            elif isinstance(value, LocatedMap) and value:
                checks.extend(self.flatten(subject, value, f"{prop_path}.", kind))
            else:
                raise at.error(f"unknown property {prop_path!r}" + ("" if kind == "container" else f" of the {kind}"),
                               allowed_properties(kind))
        return checks

    def _check_value(self, prop_path: str, expectation: Expectation, at: Where) -> None:
        """Property-specific vocabulary, so a typo fails at load rather than as a false verdict; and
        no expectation that cannot fail."""
        containers = self.names.containers
        domain: list[str] | None = None
        if prop_path.startswith("namespaces."):
            domain = ["host", "private", *(f"container:{key}" for key in containers)]
        elif prop_path in BOOLEAN_PROPERTIES:
            domain = ["true", "false"]
        refuse_vacuous(expectation, at, domain)
        if not prop_path.startswith("namespaces."):
            return
        allowed = "host, private, or container:<" + ", ".join(sorted(containers)) + ">"
        for value in literals(expectation):
            if value in ("host", "private") or (
                isinstance(value, str) and value.startswith("container:") and value.split(":", 1)[1] in containers
            ):
                continue
            raise at.error(f"invalid namespace owner {value!r}", allowed)
