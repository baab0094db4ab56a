"""Docker's five network modes, checked from inside with plain pytest and netconform's fixtures.

Run it from anywhere, as root, with the Docker daemon to test running:

    python -m pytest -p netconform examples/test_network_modes.py --report-dir out

Each mode's container is built once for this module and removed after it; everything created is
labelled with the run and swept if the run dies. The tests appear in out/report.json and
out/report.html next to any YAML checks of the same run.
"""

from __future__ import annotations

import ipaddress

import pytest

from netconform.testing import MODES, ContainerUnderTest, ScenarioFactory


@pytest.mark.parametrize("netconform_container", MODES, indirect=True)
def test_loopback_is_up_in_every_mode(netconform_container: ContainerUnderTest) -> None:
    lo = netconform_container.interface("lo")
    assert lo is not None and lo.up
    assert "127.0.0.1" in lo.ipv4


@pytest.mark.parametrize("netconform_container", MODES, indirect=True)
def test_only_host_mode_shares_the_hosts_net_namespace(netconform_container: ContainerUnderTest) -> None:
    shares = netconform_container.netns == netconform_container.host.namespaces["net"]
    assert shares == (netconform_container.mode == "host")


@pytest.mark.parametrize("netconform_container", ["none"], indirect=True)
def test_none_has_only_loopback(netconform_container: ContainerUnderTest) -> None:
    assert netconform_container.interfaces == ["lo"]
    assert netconform_container.net.default_route() is None


@pytest.mark.parametrize("netconform_container", ["bridge", "custom"], indirect=True)
def test_eth0_has_an_address_in_its_networks_subnet(netconform_container: ContainerUnderTest) -> None:
    eth0 = netconform_container.interface("eth0")
    network = netconform_container.network
    assert eth0 is not None and network is not None and network.subnet is not None
    subnet = ipaddress.ip_network(network.subnet)
    assert any(ipaddress.ip_address(address) in subnet for address in eth0.ipv4), eth0.describe()
    default = netconform_container.net.default_route()
    assert default is not None and default.gateway == network.gateway


def test_host_mode_sees_the_hosts_interfaces(netconform_host: ContainerUnderTest) -> None:
    host_interfaces = set(netconform_host.host.stable_interfaces)
    assert host_interfaces <= set(netconform_host.interfaces)


def test_container_mode_shares_the_others_interfaces(netconform_joiner: ContainerUnderTest) -> None:
    other = netconform_joiner.other
    assert other is not None
    assert netconform_joiner.netns == other.netns
    assert netconform_joiner.interface("eth0") == other.interface("eth0")
    # Only the network namespace is shared: the UTS namespace stays the joiner's own.
    assert netconform_joiner.facts.namespaces["uts"] != other.facts.namespaces["uts"]


def test_custom_network_resolves_and_reaches_a_peer_by_name(netconform_custom: ContainerUnderTest) -> None:
    peer = netconform_custom.other
    assert peer is not None and peer.network is not None
    peer_ip = peer.facts.endpoints[peer.network.key].ip
    assert netconform_custom.lookup(peer.name).answers == [peer_ip]
    assert netconform_custom.lookup("peer").answers == [peer_ip]  # its alias
    probe = netconform_custom.reach(peer.key, "tcp", 8080, address="peer")
    assert probe.outcome == "reach", probe.describe()


def test_an_inline_scenario(netconform_scenario: ScenarioFactory) -> None:
    """Any scenario in the YAML's shape: here a network with a smaller MTU."""
    lan = netconform_scenario({
        "networks": {"lan": {"options": {"com.docker.network.driver.mtu": 1400}}},
        "containers": {"web": {"network": "lan"}, "db": {"network": "lan"}},
    }, name="small-mtu")
    web = lan.container("web")
    eth0 = web.interface("eth0")
    assert eth0 is not None and eth0.mtu == 1400
    assert lan.probe.reach("web", "db", "icmp").outcome == "reach"
