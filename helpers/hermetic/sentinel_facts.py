"""What a started sentinel reports about itself, for failure stories and reports."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from netconform.hermetic.sentinel_veth import Placement


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

    @classmethod
    def of(cls, placement: Placement, netns_name: str, netns_path: str, attach_netns: str, veth: str, echo_port: int,
           dns_port: int, zone: str, records: tuple[Mapping[str, str], Mapping[str, str]],
           start_seconds: float) -> SentinelFacts:
        """The facts of a sentinel placed at ``placement``; ``records`` are its A and AAAA tables."""
        return cls(
            netns_name=netns_name, netns_path=netns_path, attach_netns=attach_netns, veth_name=veth,
            subnet=str(placement.subnet), address=str(placement.address), gateway_address=str(placement.gateway),
            echo_port=echo_port, dns_port=dns_port, zone=zone, records=dict(records[0]), start_seconds=start_seconds,
            subnet6=_text(placement.subnet6), address6=_text(placement.address6),
            gateway_address6=_text(placement.gateway6), records6=dict(records[1]),
        )


def _text(value: object | None) -> str | None:
    return None if value is None else str(value)
