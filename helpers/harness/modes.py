"""The five network modes as ready scenarios: one container under test (``subject``) each.

Each is an inline mapping in the shape of a scenario file, validated by the same loader. Where a
mode only means something next to another container, that one is the subject's ``other``: the
container whose namespace it joins (``container``) or a peer on the same user-defined network
(``custom``), which the subject resolves through the sentinel-backed embedded DNS (a lookup never
reaches the host's own resolver).
"""

from __future__ import annotations

from typing import Any

MODES = ("bridge", "host", "none", "container", "custom")
SUBJECT = "subject"
OTHER = "other"

MODE_SCENARIOS: dict[str, dict[str, Any]] = {
    "bridge": {
        "description": "A container on the daemon's default bridge.",
        "containers": {SUBJECT: {"network": "bridge"}},
    },
    "host": {
        "description": "A container in the host's network namespace.",
        "containers": {SUBJECT: {"network": "host"}},
    },
    "none": {
        "description": "A container with network none: a namespace of its own with only loopback.",
        "containers": {SUBJECT: {"network": "none"}},
    },
    "container": {
        "description": "A container that joins another container's network namespace.",
        "containers": {OTHER: {}, SUBJECT: {"network": f"container:{OTHER}"}},
    },
    "custom": {
        "description": "A container on a user-defined bridge network, with a peer it resolves by name.",
        "networks": {"net": {}},
        "containers": {
            SUBJECT: {"network": "net", "dns": ["${sentinel.address}"]},
            OTHER: {"network": "net", "aliases": ["peer"]},
        },
    },
}


def mode_scenario(mode: str) -> dict[str, Any]:
    """The scenario mapping of ``mode``.

    Raises:
        ValueError: ``mode`` is not one of :data:`MODES`.
    """
    if mode not in MODE_SCENARIOS:
        raise ValueError(f"unknown network mode {mode!r}; one of: {', '.join(MODES)}")
    return MODE_SCENARIOS[mode]
