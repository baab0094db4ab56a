"""Shared configuration for netconform's own tests (the suite's self-tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from netconform.hermetic.runs import RunIdentity, register, unregister


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sentinel: needs root; creates a sentinel netns attached to the host netns")
    config.addinivalue_line("markers", "daemon: needs root; starts dedicated Docker daemons in their own netns")
    config.addinivalue_line(
        "markers",
        "faults: needs root; breaks each checked property for real inside a dedicated daemon's netns and "
        "shows the suite reports it (skip with -m 'not faults')",
    )
    config.addinivalue_line(
        "markers", "browser: renders the HTML report in headless Chromium (ci/ensure-browser installs it)"
    )
    config.addinivalue_line(
        "markers", "install: builds a wheel and installs it with its dependencies into a fresh virtualenv (pip)"
    )


@pytest.fixture(scope="module")
def registered_run() -> Iterator[RunIdentity]:
    """A run of the module's own, registered so that what a crash leaves is swept by the next run."""
    identity = RunIdentity.new()
    register(identity)
    try:
        yield identity
    finally:
        unregister(identity)
