"""Effective daemon settings from their sources: engine API first, then flags, daemon.json, defaults."""

from __future__ import annotations

import pytest

from netconform.facts.settings import Setting
from netconform.observe.daemon_settings import builtin_defaults, from_engine, merge, parse_command_line, parse_config

BRIDGE_20 = {
    "EnableIPv6": False,
    "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]},
    "Options": {
        "com.docker.network.bridge.enable_icc": "false",
        "com.docker.network.bridge.enable_ip_masquerade": "true",
        "com.docker.network.bridge.host_binding_ipv4": "127.0.0.1",
        "com.docker.network.bridge.name": "docker0",
        "com.docker.network.driver.mtu": "1450",
    },
}


def test_flags_in_both_spellings_and_repeated() -> None:
    argv = ["dockerd", "--icc=false", "--mtu", "1400", "--dns", "198.18.0.1", "--dns=198.18.0.2", "--iptables",
            "--default-address-pool", "base=10.10.0.0/16,size=24", "--config-file", "/etc/nc.json", "-b", "br9"]
    values, config_file, problems = parse_command_line(argv)
    assert values == {"icc": False, "mtu": 1400, "dns": ["198.18.0.1", "198.18.0.2"], "iptables": True,
                      "default_address_pools": [{"base": "10.10.0.0/16", "size": 24}], "bridge": "br9"}
    assert config_file == "/etc/nc.json" and problems == []


def test_a_flag_that_does_not_parse_is_a_problem_not_a_value() -> None:
    values, _, problems = parse_command_line(["dockerd", "--mtu=big", "--icc=maybe"])
    assert values == {} and len(problems) == 2 and "--mtu=big" in problems[0]


def test_daemon_json_keys() -> None:
    values = parse_config('{"icc": false, "mtu": 1450, "dns": ["198.18.0.1"], "userns-remap": "default",'
                          ' "default-address-pools": [{"base": "10.99.0.0/16", "size": 24}], "debug": true}')
    assert values == {"icc": False, "mtu": 1450, "dns": ["198.18.0.1"], "userns_remap": "default",
                      "default_address_pools": [{"base": "10.99.0.0/16", "size": 24}]}
    with pytest.raises(ValueError):
        parse_config("[1, 2]")


def test_engine_api_wins_over_flags_and_file_which_win_over_defaults() -> None:
    engine = from_engine({"SecurityOptions": ["name=seccomp,profile=default", "name=userns"]}, BRIDGE_20)
    assert engine["icc"] is False and engine["mtu"] == 1450 and engine["bip"] == "172.17.0.1/16"
    assert engine["default_bind_ip"] == "127.0.0.1" and engine["userns_remapped"] is True
    settings = merge("20.10.24", engine, {"icc": True, "dns": ["198.18.0.1"]}, {"dns": ["10.0.0.1"], "iptables": False},
                     {"forward_policy": Setting("DROP", "iptables")})
    assert settings["icc"] == Setting(False, "engine API")
    assert settings["dns"] == Setting(["198.18.0.1"], "dockerd command line")
    assert settings["iptables"] == Setting(False, "daemon.json")
    assert settings["ip_masq"] == Setting(True, "engine API")
    assert settings["userland_proxy"] == Setting(True, "default of dockerd 20.10.24")
    assert settings["forward_policy"].value == "DROP"


@pytest.mark.parametrize(("version", "ip6tables"), [("20.10.24+dfsg1", False), ("26.1.5+dfsg1", False),
                                                     ("28.5.2+dfsg1", True)])
def test_defaults_that_changed_between_versions(version: str, ip6tables: bool) -> None:
    assert builtin_defaults(version)["ip6tables"] is ip6tables


def test_the_catalogue_names_every_setting_that_is_read() -> None:
    from netconform.facts.settings import SETTINGS

    read = set(merge("20.10.24", {}, {}, {}, {}))
    kernel_and_firewall = {"net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables",
                           "net.bridge.bridge-nf-call-ip6tables", "br_netfilter", "forward_policy", "docker_nat_chain"}
    assert set(SETTINGS) == read | kernel_and_firewall


def test_bip_without_a_gateway_in_ipam_is_the_bridge_address_inside_the_subnet() -> None:
    from netconform.observe.daemon_settings import _bridge_gateway

    assert _bridge_gateway("172.17.0.0/16", "10.0.0.1/8 172.17.0.1/16") == "172.17.0.1/16"
    assert _bridge_gateway("172.17.0.0/16", "10.0.0.1/8") is None


def test_the_default_bridges_ip_range_is_the_fixed_cidr() -> None:
    """--fixed-cidr shows in the engine API as the default bridge's IPAM IPRange."""
    with_range = {**BRIDGE_20, "IPAM": {"Config": [{"Subnet": "172.17.0.0/16", "IPRange": "172.17.0.128/25"}]}}
    assert from_engine({}, with_range)["fixed_cidr"] == "172.17.0.128/25"
    assert "fixed_cidr" not in from_engine({}, BRIDGE_20)


def test_the_default_bridges_ipv6_pool_is_the_fixed_cidr_v6_and_not_its_bip() -> None:
    """With --ipv6 the engine may list the IPv6 pool first: bip still comes from the IPv4 one."""
    dual = {**BRIDGE_20, "EnableIPv6": True, "IPAM": {"Config": [
        {"Subnet": "fd00:d0c:1::/64", "Gateway": "fd00:d0c:1::1"},
        {"Subnet": "172.17.0.0/16", "Gateway": "172.17.0.1"}]}}
    values = from_engine({}, dual)
    assert (values["bip"], values["fixed_cidr_v6"], values["ipv6"]) == ("172.17.0.1/16", "fd00:d0c:1::/64", True)
    assert "fixed_cidr_v6" not in from_engine({}, BRIDGE_20)
