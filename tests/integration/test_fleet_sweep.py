"""A fleet run removes the helpers an earlier fleet run from this machine left when it died, and
nothing else: not a live run's, not another machine's, not an unlabelled container."""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

import docker.errors

from netconform.engine.image import ensure_probe_image
from netconform.fleet.remote import LABEL_FLEET_ORIGIN, LABEL_FLEET_OWNER, LABEL_FLEET_RUN, sweep_dead_helpers
from netconform.hermetic.runs import RunIdentity

DEAD_OWNER = "1:0"  # pid 1 never started at time 0: no such process


def test_only_this_machines_dead_helpers_are_swept(client: Any) -> None:
    image = ensure_probe_image(client)
    here, alive = socket.gethostname(), RunIdentity.owned_by("ffffffff", os.getpid()).owner
    made = {
        "dead": {LABEL_FLEET_RUN: "deadbeef", LABEL_FLEET_ORIGIN: here, LABEL_FLEET_OWNER: DEAD_OWNER},
        "alive": {LABEL_FLEET_RUN: "ffffffff", LABEL_FLEET_ORIGIN: here, LABEL_FLEET_OWNER: alive},
        "elsewhere": {LABEL_FLEET_RUN: "deadbeef", LABEL_FLEET_ORIGIN: f"not-{here}", LABEL_FLEET_OWNER: DEAD_OWNER},
        "unlabelled": {},
    }
    containers = {key: client.containers.create(image, name=f"nc-fleet-sweep-test-{key}", labels=labels,
                                                network_mode="none")
                  for key, labels in made.items()}
    try:
        swept = sweep_dead_helpers(client)
        listed = client.containers.list(all=True, filters={"name": "nc-fleet-sweep-test-"})
        left = {container.name for container in listed}
        assert swept == ["nc-fleet-sweep-test-dead"]
        assert left == {f"nc-fleet-sweep-test-{key}" for key in ("alive", "elsewhere", "unlabelled")}
    finally:
        for container in containers.values():
            with contextlib.suppress(docker.errors.NotFound):  # the swept one is gone already
                container.remove(force=True)
