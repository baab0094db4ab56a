"""How many subnets of the daemon's default address pools the suite may take: the pools' subnets
that no network outside the suite's live runs overlaps, less room for churn probes' networks.

The suite's own live runs are left out of the count because they are in the pool ledger
(:mod:`netconform.hermetic.pool_ledger`), which shares this room among them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import docker

from netconform.hermetic.runs import LABEL_OWNER, owner_alive

# Churn probes create and remove networks outside the ledger, two at a time at most
# (netconform.engine.churn): room for two runs churning at once.
CHURN_ROOM = 4


def free_pool_subnets(pools: Sequence[Mapping[str, Any]], in_use: Iterable[str]) -> int:
    """The IPv4 subnets ``pools`` (``{"base": cidr, "size": prefix}``) hand out that overlap none
    of the ``in_use`` subnets (the daemon skips those)."""
    used = [network for network in map(_ipv4, in_use) if network is not None]
    free = 0
    for pool in pools:
        base = _ipv4(str(pool.get("base", "")))
        size = int(pool.get("size", 0) or 0)
        if base is None or not base.prefixlen <= size <= 32:
            continue
        step = 1 << (32 - size)
        taken: set[int] = set()
        for network in used:
            if not network.overlaps(base):
                continue
            first = max(int(network.network_address), int(base.network_address)) - int(base.network_address)
            last = min(int(network.broadcast_address), int(base.broadcast_address)) - int(base.network_address)
            taken.update(range(first // step, last // step + 1))
        free += (1 << (size - base.prefixlen)) - len(taken)
    return free


def suite_pool_room(client: docker.DockerClient, pools: Sequence[Mapping[str, Any]]) -> int:
    """What the suite's live runs may hold together of the daemon's pools (at least 1)."""
    in_use = []
    for network in client.networks.list():
        labels = network.attrs.get("Labels") or {}
        if labels.get(LABEL_OWNER) and owner_alive(labels[LABEL_OWNER]):
            continue  # a live run's: in the ledger
        in_use += [str(config.get("Subnet", "")) for config in (network.attrs.get("IPAM") or {}).get("Config") or []]
    return max(1, free_pool_subnets(pools, in_use) - CHURN_ROOM)


def _ipv4(text: str) -> ipaddress.IPv4Network | None:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    return network if isinstance(network, ipaddress.IPv4Network) else None
