"""Moving a scenario's declared subnets and host ports: the pure parts (the daemon-facing ones are
in tests/integration/test_concurrent_runs.py)."""

from __future__ import annotations

import ipaddress

from netconform.engine import placement
from netconform.facts import Relocation
from netconform.spec.model import PortSpec


def test_addresses_inside_a_moved_subnet_move_with_it_keeping_their_offset() -> None:
    relocation = Relocation()
    relocation.move_subnet("10.231.0.0/24", "10.231.7.0/24", "network x holds it")
    assert relocation.address("10.231.0.77") == "10.231.7.77"
    assert relocation.address("default via 10.231.0.1 dev eth0") == "default via 10.231.7.1 dev eth0"
    assert relocation.address("10.231.0.0/24 dev eth0") == "10.231.7.0/24 dev eth0"
    assert relocation.notes == ["subnet 10.231.0.0/24 moved to 10.231.7.0/24: network x holds it"]


def test_other_addresses_and_dotted_numbers_are_left_alone() -> None:
    relocation = Relocation()
    relocation.move_subnet("10.231.0.0/24", "10.231.7.0/24", "")
    assert relocation.address("10.232.0.5") == "10.232.0.5"
    assert relocation.address("version 10.231.0.5.1") == "version 10.231.0.5.1"
    assert relocation.address("web.example") == "web.example"
    assert Relocation().address("10.231.0.5") == "10.231.0.5"


def test_only_moved_ports_of_the_same_protocol_change() -> None:
    relocation = Relocation()
    relocation.move_port("tcp", 18080, 49153, "port is already allocated")
    assert relocation.port("tcp", 18080) == 49153
    assert relocation.port("udp", 18080) == 18080
    assert relocation.port("tcp", 18083) == 18083
    assert relocation.port("tcp", None) is None
    assert bool(relocation) and not Relocation()


def test_subnet_candidates_start_with_the_declared_one_and_skip_the_scenarios_others() -> None:
    candidates = placement.subnet_candidates("10.231.0.0/24", ["10.231.1.0/24"])
    first = [str(next(candidates)) for _ in range(3)]
    assert first == ["10.231.0.0/24", "10.231.2.0/24", "10.231.3.0/24"]


def test_subnet_candidates_wrap_round_the_neighbourhood() -> None:
    candidates = list(placement.subnet_candidates("10.231.255.0/24", []))
    assert [str(c) for c in candidates[:2]] == ["10.231.255.0/24", "10.231.0.0/24"]
    assert len(candidates) == 256


def test_gateway_and_range_keep_their_offset_in_the_new_subnet() -> None:
    new = ipaddress.IPv4Network("10.231.9.0/24")
    assert placement.moved_within("10.231.0.1", "10.231.0.0/24", new) == "10.231.9.1"
    assert placement.moved_within("10.231.0.128/25", "10.231.0.0/24", new) == "10.231.9.128/25"
    assert placement.moved_within(None, "10.231.0.0/24", new) is None


def test_a_holder_is_any_network_overlapping_the_candidate() -> None:
    taken = {ipaddress.IPv4Network("10.231.0.0/16"): "users-net"}
    assert placement.first_holder(ipaddress.IPv4Network("10.231.4.0/24"), taken) == "users-net"
    assert placement.first_holder(ipaddress.IPv4Network("10.232.4.0/24"), taken) is None


def test_a_port_clash_with_the_scenarios_own_container_is_not_moved() -> None:
    earlier = [PortSpec(8080, "tcp", 18080)]
    assert placement.clashes_with_own(PortSpec(80, "tcp", 18080), earlier)
    assert not placement.clashes_with_own(PortSpec(80, "udp", 18080), earlier)
    assert not placement.clashes_with_own(PortSpec(80, "tcp", 18081), earlier)
    assert placement.clashes_with_own(PortSpec(80, "tcp", 18080, "127.0.0.1"), earlier)


def test_the_bound_host_port_is_read_from_the_inspect_data() -> None:
    attrs = {"NetworkSettings": {"Ports": {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": "49153"},
                                                         {"HostIp": "::", "HostPort": "49153"}]}}}
    assert placement.published_host_port(attrs, PortSpec(8080, "tcp", 18080)) == 49153
    assert placement.published_host_port(attrs, PortSpec(8081, "udp", 18081)) is None


def test_a_mac_derived_from_a_moved_address_moves_with_it() -> None:
    relocation = Relocation()
    relocation.move_subnet("10.234.0.0/24", "10.234.3.0/24", "")
    assert relocation.address("02:42:0a:ea:00:05") == "02:42:0a:ea:03:05"
    assert relocation.address("02:42:ac:11:00:99") == "02:42:ac:11:00:99"  # 172.17.0.153: not moved
    assert relocation.address("^[0-9a-f][26ae]:") == "^[0-9a-f][26ae]:"


def test_a_moved_port_is_probed_over_ipv6_on_the_ipv6_binding() -> None:
    from netconform.harness.on_demand import ipv6_binding
    from tests.unit.test_judge import make_facts

    facts = make_facts()
    facts.containers["web"].published = {"8090/tcp": ["0.0.0.0:32808", ":::32802"]}
    assert ipv6_binding(facts, "tcp", 32808) == 32802
    assert ipv6_binding(facts, "udp", 32808) == 32808  # no such binding: the port as moved
