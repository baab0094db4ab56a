"""The hermetic proof: a full run of the shipped suites sends nothing out of the machine.

The network rule says test traffic never goes to an address outside this machine. Here it is
checked from the outside in: every frame on the machine's uplinks (the interfaces that carry the
default routes of this netns, found through netlink) is captured with AF_PACKET for the whole of a
full run (``python -m pytest -p netconform suites -n 2 --audit-existing``), then classified against
the run's own ``report.json`` (:mod:`netconform.hermetic.uplink_leaks`): a frame sourced from a
container, a network the daemon allocated, a docker bridge's subnet or the sentinel range, from a
container's or veth's MAC, sent to the sentinel range, or carrying a probe's mark or a DNS query for
the test zone (what a masqueraded leak would still show) is a leak. None is expected.

The classifier is shown to catch leaks first: a container on a bridge network sends one UDP
datagram through the uplink, to an address of the uplink's own subnet that a permanent neighbour
entry maps to a MAC nobody has (so no host answers or receives it), with a TTL that no router would
forward (so even a misdelivered copy dies at the first hop). The proof itself sends two such
datagrams of the host's own (canaries, not leaks), before and after the run: both must be
captured, or a quiet uplink could not be told from a capture that saw nothing.

What the capture cannot see, so what this proof does not cover:
- interfaces without a default route here (a second NIC, a VPN or tunnel, a link to a LAN reached
  by a specific route only), and another network namespace's own uplink (what other namespaces
  route through this one, as the sentinel and the containers do, is seen);
- frames the kernel dropped for the capture socket (counted and required to be zero);
- a leak that is none of the above: masqueraded traffic without a probe's mark (an embedded DNS
  forward of a name outside the test zone, say) has the host's own address and MAC and looks like
  the machine's own traffic, which shares the uplink (other engineers' downloads, this session);
- a probe whose TCP port is one the machine's own traffic also uses would be flagged falsely, not
  missed.

Needs root (packet sockets, the neighbour entry), the system Docker daemon and the host lock:
``flock /tmp/netconform-host.lock pytest tests/integration/test_hermetic_uplink.py``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.message
import docker
import pytest
from pyroute2 import IPRoute

from netconform.engine.image import ensure_probe_image
from netconform.hermetic.echo import request_line
from netconform.hermetic.nsexec import call_in_namespaces, namespace_files
from netconform.hermetic.runs import RunIdentity
from netconform.hermetic.uplink_leaks import Leak, RunTraces, classify
from netconform.hermetic.uplink_watch import Capture, Uplink, UplinkCapture, uplinks, write_pcap

pytestmark = [
    pytest.mark.xdist_group("uplink"),
    pytest.mark.skipif(os.geteuid() != 0, reason="captures on the uplink and adds a neighbour entry: run as root"),
]

ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 1800
# A locally administered MAC no interface has: a frame to it reaches no host.
NOBODY_MAC = "02:6e:63:00:00:01"
NUD_PERMANENT = 0x80
# Leaves this host with TTL 1 after forwarding: no router passes it on.
FAULT_TTL = 2
SETTLE = 1.0


@pytest.fixture(scope="module")
def uplink_list() -> list[Uplink]:
    return uplinks()


@pytest.fixture
def client() -> Iterator[docker.DockerClient]:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except docker.errors.DockerException as err:
        pytest.skip(f"no Docker daemon: {err}")
    try:
        yield client
    finally:
        client.close()


def _story(capture: Capture, leaks: list[Leak], pcap: Path | None) -> str:
    counts = ", ".join(f"{name}: {count}" for name, count in capture.counts().items()) or "no frames"
    lines = [f"{len(leaks)} leak(s) among the frames captured on the uplinks ({counts}; "
             f"{capture.dropped} dropped) in {capture.seconds:.1f}s"]
    lines += [f"  {leak}" for leak in leaks[:30]]
    if len(leaks) > 30:
        lines.append(f"  ... and {len(leaks) - 30} more")
    if pcap is not None:
        lines.append(f"the leaking frames: {pcap}")
    return "\n".join(lines)


def _keep(leaks: list[Leak], tmp_path: Path) -> Path | None:
    return write_pcap(tmp_path / "leaks.pcap", [leak.frame for leak in leaks]) if leaks else None


# --- the detector catches a leak ---------------------------------------------------------------


def _send_one(address: str, port: int, payload: bytes, ttl: int) -> None:
    """Run inside the container's netns: one UDP datagram, with a TTL no router forwards."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl)
        sock.sendto(payload, (address, port))


def _nobodys_address(uplink: Uplink) -> str:
    """An address at the top of the uplink's own IPv4 subnet that no neighbour has."""
    own = [ipaddress.IPv4Interface(text) for text in uplink.addresses if ":" not in text]
    if not own:
        pytest.skip(f"uplink {uplink.name} has no IPv4 address")
    subnet = own[0].network
    taken = {str(item.ip) for item in own} | set(uplink.gateways)
    with IPRoute() as ipr:
        taken |= {str(entry.get_attr("NDA_DST")) for entry in ipr.get_neighbours(ifindex=uplink.index)
                  if entry.get_attr("NDA_LLADDR")}
    for step in range(1, min(16, subnet.num_addresses - 2)):
        address = str(subnet.broadcast_address - step)
        if address not in taken:
            return address
    pytest.skip(f"no free address at the top of {subnet} on {uplink.name}")


@pytest.fixture
def nobodys_address(uplink_list: list[Uplink]) -> Iterator[str]:
    """An address on the first uplink's subnet, mapped for the test's duration to a MAC nobody has
    (without the entry the host would only send ARP requests, never the datagram itself)."""
    uplink = uplink_list[0]
    address = _nobodys_address(uplink)
    with IPRoute() as ipr:
        ipr.neigh("replace", dst=address, lladdr=NOBODY_MAC, ifindex=uplink.index, state=NUD_PERMANENT)
        try:
            yield address
        finally:
            ipr.neigh("del", dst=address, ifindex=uplink.index)


def _fault_payload(kind: str, nonce: str) -> tuple[int, bytes]:
    if kind == "echo":
        return 7, request_line(nonce)
    if kind == "dns":
        return 53, dns.message.make_query(f"leak-{nonce}.netconform.test.", "A").to_wire()
    return 9, b"\x00no mark at all\x00" + nonce.encode()


@pytest.mark.parametrize(("masquerade", "kind", "expected"), [
    (False, "plain", "source {ip} is container uplink-leak's"),
    (True, "echo", "a payload that is an echo request line ('{nonce}': a probe mark)"),
    (True, "dns", "a DNS query for leak-{nonce}.netconform.test., in the run's test zone"),
], ids=["unmasqueraded", "masqueraded-probe-mark", "masqueraded-dns-query"])
def test_a_datagram_a_container_sends_out_of_the_uplink_is_a_leak(
    client: docker.DockerClient, registered_run: RunIdentity, uplink_list: list[Uplink], nobodys_address: str,
    tmp_path: Path, masquerade: bool, kind: str, expected: str,
) -> None:
    run, nonce = registered_run, secrets.token_hex(8)
    options = {"com.docker.network.bridge.enable_ip_masquerade": str(masquerade).lower()}
    network = client.networks.create(run.name("uplink-leak", kind), driver="bridge", labels=run.labels,
                                     options=options)
    container = None
    try:
        container = client.containers.run(ensure_probe_image(client), name=run.name("uplink-leak", kind),
                                          labels=run.labels, network=network.name, detach=True)
        container.reload()
        network.reload()
        endpoint = container.attrs["NetworkSettings"]["Networks"][network.name]
        traces = RunTraces(
            addresses={ipaddress.ip_address(endpoint["IPAddress"]): "container uplink-leak"},
            networks={ipaddress.ip_network(network.attrs["IPAM"]["Config"][0]["Subnet"]): "network uplink-leak"},
            macs={endpoint["MacAddress"].lower(): "container uplink-leak"},
        )
        port, payload = _fault_payload(kind, nonce)
        with UplinkCapture([uplink.name for uplink in uplink_list]) as capture:
            call_in_namespaces(namespace_files(container.attrs["State"]["Pid"], ["net"]), _send_one,
                               nobodys_address, port, payload, FAULT_TTL, timeout=10, what="the leaking datagram")
            time.sleep(SETTLE)
        leaks = classify(traces, capture.result.frames)
        story = _story(capture.result, leaks, _keep(leaks, tmp_path))
        assert [leak.reasons for leak in leaks] == [(expected.format(ip=endpoint["IPAddress"], nonce=nonce),)], story
        assert f"-> {nobodys_address}:{port}" in leaks[0].summary and leaks[0].direction == "out", story
    finally:
        if container is not None:
            container.remove(force=True)
        network.remove()


# --- the proof ---------------------------------------------------------------------------------


def test_a_full_run_sends_nothing_out_of_the_uplinks(uplink_list: list[Uplink], nobodys_address: str,
                                                    tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                    record_property: Callable[[str, object], None]) -> None:
    report_dir = tmp_path / "report"
    argv = [sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "-q", "suites",
            "-n", "2", "--audit-existing", "--report-dir", str(report_dir)]
    # The host's own datagrams before and after the run, to nobody: they show the capture was live
    # for the whole run (a quiet uplink and a broken capture both see nothing else).
    canary = f"netconform uplink canary {secrets.token_hex(8)}".encode()
    started = time.monotonic()
    with UplinkCapture([uplink.name for uplink in uplink_list]) as capture:
        _send_one(nobodys_address, 9, canary + b" before", 1)
        result = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        time.sleep(SETTLE)  # a frame still on its way out when the run ended
        _send_one(nobodys_address, 9, canary + b" after", 1)
        time.sleep(SETTLE)
    seconds = time.monotonic() - started
    canaries = [frame[frame.index(canary) + len(canary):] for _, _, frame in capture.result.frames if canary in frame]
    output = (result.stdout + result.stderr)[-4000:]
    # 0: all passed; 1: some checks failed, which is another test's business, not this proof's.
    assert result.returncode in (0, 1), f"the suite run did not complete (exit {result.returncode}):\n{output}"
    report = json.loads((report_dir / "report.json").read_text())
    traces = RunTraces.from_report(report)
    leaks = classify(traces, capture.result.frames)
    story = _story(capture.result, leaks, _keep(leaks, tmp_path))
    counts = report["summary"]["counts"]
    others = len(capture.result.frames) - len(canaries)
    summary = (f"hermetic uplink proof: {others} frames besides the 2 canaries ({len(canaries)} seen) captured on "
               f"{', '.join(uplink.name for uplink in uplink_list)} during a {seconds:.1f}s run, "
               f"{capture.result.dropped} dropped; {len(leaks)} leaks. The run: exit {result.returncode}, "
               f"{counts['total']} checks in {len(report['scenarios'])} scenarios; looked for "
               f"{len(traces.addresses)} addresses, {len(traces.networks)} subnets, {len(traces.macs)} MACs, "
               f"{len(traces.tcp_ports)} probe ports")
    for key, value in [("uplink_frames", others), ("uplink_dropped", capture.result.dropped),
                       ("uplink_leaks", len(leaks)), ("run_seconds", round(seconds, 1))]:
        record_property(key, value)
    with capsys.disabled():
        print(f"\n{summary}")
    assert traces.addresses and traces.networks and traces.tcp_ports, f"the report gave no traces\n{summary}"
    assert canaries == [b" before", b" after"], f"the capture missed the host's own canaries: {canaries}\n{story}"
    assert capture.result.dropped == 0, f"the capture lost frames: the proof has a hole\n{story}"
    assert leaks == [], story
