"""The room the suite has in the daemon's default address pools: pool subnets no network overlaps."""

from __future__ import annotations

from netconform.engine.pool_room import free_pool_subnets
from netconform.observe.daemon_settings import builtin_defaults

STOCK = builtin_defaults("20.10.24")["default_address_pools"]


def test_a_stock_daemon_hands_out_31_subnets_docker0_takes_one() -> None:
    assert free_pool_subnets(STOCK, []) == 31
    assert free_pool_subnets(STOCK, ["172.17.0.0/16"]) == 30


def test_a_network_inside_or_across_pool_subnets_takes_each_it_overlaps() -> None:
    assert free_pool_subnets(STOCK, ["172.18.5.0/24"]) == 30  # inside one /16
    assert free_pool_subnets(STOCK, ["192.168.0.0/19"]) == 29  # two /20s
    assert free_pool_subnets(STOCK, ["192.168.0.0/16", "192.168.16.0/20"]) == 15  # counted once each


def test_networks_outside_the_pools_and_ipv6_ones_take_nothing() -> None:
    assert free_pool_subnets(STOCK, ["10.9.0.0/24", "fd00::/64", "", "not-a-subnet"]) == 31


def test_custom_pools() -> None:
    pools = [{"base": "10.10.0.0/16", "size": 24}, {"base": "fd00::/48", "size": 64}, {"base": "bad", "size": 24}]
    assert free_pool_subnets(pools, ["10.10.3.0/24"]) == 255
