"""What a scenario needs from the machine: kernel features (``requires``) and a layer-2 segment.

Drivers imply features (a macvlan network needs macvlan), a segment implies veth pairs; the
declared ones are added to those. The segment's addresses must lie in its subnet, and a network on
it declares that subnet, so a relocated subnet moves the segment's addresses with the network's.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from netconform.facts.kernel import KERNEL_FEATURES
from netconform.spec.model import SegmentSpec
from netconform.spec.yamlsrc import line_of, where

# Drivers that exist only where the kernel has the link type of the same name.
_DRIVER_FEATURES = {"macvlan": "macvlan", "ipvlan": "ipvlan"}


def build_segment(top: Mapping[str, Any], path: str) -> SegmentSpec | None:
    """The ``segment`` block, or None.

    Raises:
        SpecError: an address outside the subnet, or sentinel and host the same address.
    """
    body = top.get("segment")
    if body is None:
        return None
    subnet = ipaddress.IPv4Network(body["subnet"])
    for key in ("sentinel", "host"):
        if key in body and ipaddress.IPv4Address(body[key]) not in subnet:
            raise where(path, body, key, f"segment.{key}").error(
                f"{body[key]} is not inside the segment's subnet {subnet}", f"an address in {subnet}")
    if body.get("host") is not None and body["host"] == body["sentinel"]:
        raise where(path, body, "host", "segment.host").error(
            "the parent and the sentinel cannot share an address", "another address in the subnet")
    return SegmentSpec(str(subnet), str(ipaddress.IPv4Address(body["sentinel"])),
                       str(ipaddress.IPv4Address(body["host"])) if "host" in body else None, line_of(top, "segment"))


def required_features(top: Mapping[str, Any], drivers: list[str], segment: SegmentSpec | None) -> tuple[str, ...]:
    """The declared features, then those the drivers and the segment imply, each once, in
    :data:`KERNEL_FEATURES` order for the implied ones."""
    implied = {_DRIVER_FEATURES[driver] for driver in drivers if driver in _DRIVER_FEATURES}
    if segment is not None:
        implied.add("veth")
    declared = list(top.get("requires") or [])
    return tuple(dict.fromkeys([*declared, *(name for name in KERNEL_FEATURES if name in implied)]))
