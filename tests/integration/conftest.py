"""Fixtures shared by the integration tests that talk to the host's daemon themselves."""

from __future__ import annotations

from typing import Any

import docker
import pytest


@pytest.fixture(scope="module")
def client() -> Any:
    """The host daemon's client; the module is skipped when no daemon answers."""
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as err:
        pytest.skip(f"no Docker daemon: {err}")
    return client
