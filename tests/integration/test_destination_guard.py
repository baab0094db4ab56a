"""The network rule holds on a real run: a probe to a LAN neighbour of the host is refused before
a packet leaves, and the refusal is an error verdict, never a "blocked" pass.

The neighbour is an address on the subnet of the host's uplink (the interface of its default
route) that no interface of this machine holds. A packet socket on the uplink watches the whole
run for anything sent to it (IPv4 or an ARP question).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyroute2 import IPRoute

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (packet socket, the daemon)")


def _uplink() -> tuple[str, ipaddress.IPv4Interface]:
    with IPRoute() as ipr:
        default = next((route for route in ipr.get_routes(family=socket.AF_INET, table=254)
                        if route["dst_len"] == 0), None)
        if default is None:
            pytest.skip("this machine has no default route, so no uplink to watch")
        index = default.get("oif")
        name = ipr.get_links(index)[0].get("ifname")
        address = next(addr for addr in ipr.get_addr(family=socket.AF_INET, index=index))
        return str(name), ipaddress.IPv4Interface(f"{address.get('address')}/{address['prefixlen']}")


def _neighbour(uplink: ipaddress.IPv4Interface) -> str:
    with IPRoute() as ipr:
        mine = {addr.get("address") for addr in ipr.get_addr(family=socket.AF_INET)}
    hosts = uplink.network.hosts()
    return next(str(host) for host in reversed(list(hosts)) if str(host) not in mine)


@pytest.fixture
def watched_uplink() -> Iterator[tuple[str, list[bytes], threading.Event]]:
    name, interface = _uplink()
    neighbour = _neighbour(interface)
    target = socket.inet_aton(neighbour)
    seen: list[bytes] = []
    stop = threading.Event()
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(0x0003))
    sock.bind((name, 0))
    sock.settimeout(0.2)

    def watch() -> None:
        while not stop.is_set():
            try:
                packet, address = sock.recvfrom(65535)
            except TimeoutError:
                continue
            ipv4_to_it = address[1] == 0x0800 and packet[16:20] == target
            arp_for_it = address[1] == 0x0806 and packet[24:28] == target
            if ipv4_to_it or arp_for_it:
                seen.append(packet)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield neighbour, seen, stop
    finally:
        stop.set()
        thread.join()
        sock.close()


def test_probe_to_a_lan_neighbour_is_refused_before_a_packet_leaves(
        tmp_path: Path, watched_uplink: tuple[str, list[bytes], threading.Event]) -> None:
    neighbour, seen, stop = watched_uplink
    spec = tmp_path / "lan.yaml"
    spec.write_text(
        "containers:\n  a1: {}\n"
        "reachability:\n"
        f"  - {{from: a1, to: host, address: {neighbour}, proto: tcp, port: 9, expect: blocked}}\n"
        f"  - {{from: host, to: a1, address: {neighbour}, proto: icmp, expect: blocked}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(spec), "-p", "no:cacheprovider", "-p", "netconform",
         "--rootdir", str(ROOT), "-c", str(ROOT / "pyproject.toml"), "--report-dir", str(tmp_path / "report")],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    stop.set()
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    checks = json.loads((tmp_path / "report" / "report.json").read_text())["checks"]
    assert [check["outcome"] for check in checks] == ["error", "error"], output[-3000:]
    for check in checks:
        assert f"refusing to send traffic to {neighbour}" in check["error"]
    assert "ERROR, could not be judged" in output
    assert seen == [], f"{len(seen)} packet(s) to {neighbour} left through the uplink"
