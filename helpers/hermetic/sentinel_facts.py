"""What a started sentinel reports about itself, for failure stories and reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class SentinelFacts:
    """Where a started sentinel lives, for failure stories and reports."""

    netns_name: str
    netns_path: str
    attach_netns: str
    veth_name: str
    subnet: str
    address: str
    gateway_address: str
    echo_port: int
    dns_port: int
    zone: str
    records: Mapping[str, str]
    start_seconds: float
    subnet6: str | None = None
    address6: str | None = None
    gateway_address6: str | None = None
    records6: Mapping[str, str] | None = None
