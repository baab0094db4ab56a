"""The networks a daemon had before the run: everything not labelled by netconform.

Listed once, before the run creates anything, in the process that controls the run; the audit
(:mod:`netconform.spec.audit_plan`) is planned from this list, and nothing listed is ever changed.
"""

from __future__ import annotations

from typing import Any

import docker
import docker.errors

from netconform.errors import EngineError
from netconform.hermetic.runs import LABEL_RUN
from netconform.spec.audit_plan import DEFAULT_BRIDGE, ExistingNetwork


def existing_networks(client: docker.DockerClient) -> list[ExistingNetwork]:
    """The daemon's networks that no netconform run created: the default bridge first, then by name.

    Raises:
        EngineError: the daemon did not list its networks.
    """
    try:
        listed = client.api.networks()
    except docker.errors.APIError as err:
        raise EngineError(f"listing the daemon's networks failed: {err.explanation or err}") from err
    found = [ExistingNetwork(str(attrs["Name"]), str(attrs.get("Driver", "")), bool(attrs.get("Internal")),
                             tuple(sorted((str(k), str(v)) for k, v in (attrs.get("Options") or {}).items())))
             for attrs in listed if LABEL_RUN not in (attrs.get("Labels") or {})]
    return sorted(found, key=lambda network: (network.name != DEFAULT_BRIDGE, network.name))


def as_json(networks: list[ExistingNetwork]) -> list[list[Any]]:
    """The list as plain data (to pass from the controlling process to xdist workers)."""
    return [[n.name, n.driver, n.internal, [list(option) for option in n.options]] for n in networks]


def from_json(data: list[list[Any]]) -> list[ExistingNetwork]:
    return [ExistingNetwork(str(name), str(driver), bool(internal), tuple((str(k), str(v)) for k, v in options))
            for name, driver, internal, options in data]
