"""Shipped scenarios do not compete for the host's ports or subnets: a serial run builds several
ahead at once, and a clash would move a network or a port (MOVED) instead of testing it as declared."""

from collections import defaultdict
from ipaddress import ip_network

from netconform.spec import load_scenario
from netconform.spec.shipped import shipped_scenarios


def test_no_two_shipped_scenarios_publish_the_same_host_port() -> None:
    owners: dict[tuple[int, str], set[str]] = defaultdict(set)
    for path in shipped_scenarios():
        scenario = load_scenario(path)
        for container in scenario.containers.values():
            for port in container.publish:
                if port.host_port is not None:
                    owners[(port.host_port, port.protocol)].add(scenario.name)
    shared = {port: names for port, names in owners.items() if len(names) > 1}
    assert shared == {}


def test_no_two_shipped_scenarios_declare_overlapping_subnets() -> None:
    declared = [(load_scenario(path).name, key, ip_network(network.subnet))
                for path in shipped_scenarios() for key, network in load_scenario(path).networks.items()
                if network.subnet and not network.subnet.startswith("$")]
    clashes = [(a[:2], b[:2]) for i, a in enumerate(declared) for b in declared[i + 1:]
               if a[0] != b[0] and a[2].version == b[2].version and a[2].overlaps(b[2])]
    assert clashes == []
