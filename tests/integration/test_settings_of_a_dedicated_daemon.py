"""Effective settings read from a real dedicated daemon started with non-default networking flags."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.runs import RunIdentity
from netconform.observe.daemon_settings import read_effective_settings

pytestmark = [pytest.mark.daemon, pytest.mark.skipif(os.geteuid() != 0, reason="dedicated daemons need root")]

FLAGS = ("--icc=false", "--mtu=1450", "--dns=198.18.0.53", "--ip-masq=false", "--bip=10.124.0.1/24",
         "--default-address-pool=base=10.123.0.0/16,size=24")


@pytest.fixture(scope="module")
def daemon(registered_run: RunIdentity) -> Iterator[DedicatedDaemon]:
    started = DedicatedDaemon(registered_run, "settings", DaemonBinaries.system(), FLAGS)
    try:
        yield started.start()
    finally:
        started.stop()


def test_flags_of_a_dedicated_daemon_are_its_effective_settings(daemon: DedicatedDaemon) -> None:
    client = daemon.client()
    settings = read_effective_settings(daemon.version, client.info(), client.networks.get("bridge").attrs, daemon.pid)
    values = {name: setting.value for name, setting in settings.settings.items()}
    assert values["icc"] is False and settings.settings["icc"].source == "engine API"
    assert values["ip_masq"] is False and values["mtu"] == 1450 and values["bip"] == "10.124.0.1/24"
    assert values["dns"] == ["198.18.0.53"] and settings.settings["dns"].source == "dockerd command line"
    assert values["default_address_pools"] == [{"base": "10.123.0.0/16", "size": 24}]
    assert values["userland_proxy"] is True and settings.settings["userland_proxy"].source.startswith("default")
    # Read in the daemon's own netns, where it manages the firewall.
    assert values["docker_nat_chain"] is True and values["net.ipv4.ip_forward"] == 1
    assert "daemon_config" not in settings.settings, settings.settings.get("daemon_config")
