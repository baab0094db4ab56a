"""nft tracing of a probe, for real: namespaces of our own joined by a veth, a firewall of our own.

Needs root and nft. Every namespace, link and table is named with the module's run id and removed
in a ``finally``; traffic only flows between the two namespaces created here (and, in the Docker
case, between containers of our own labelled networks on the host daemon).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from netconform.hermetic.named_netns import create_named_netns, remove_named_netns
from netconform.hermetic.nsexec import call_in_namespaces, namespace_files
from netconform.hermetic.runs import RunIdentity, register, unregister
from netconform.observe.nftrace import ProbeMatch, TraceResult, packet_trace, sweep_stale_traces, trace_table_name

pytestmark = [
    pytest.mark.xdist_group("nftrace"),
    pytest.mark.skipif(os.geteuid() != 0, reason="tracing enters namespaces and changes their firewall: run as root"),
    pytest.mark.skipif(shutil.which("nft") is None, reason="nft is missing: apt-get install nftables"),
]

CLIENT = "192.0.2.1"  # TEST-NET-1, only ever on the veth between the two namespaces made here
SERVER = "192.0.2.2"
PREFIX = 30
ECHO_PORT = 7  # nothing listens: the server's kernel answers a SYN with a RST
PUBLISHED = 8080  # DNATed to ECHO_PORT, like a published port
CLOSED_UDP = 9  # nothing listens: the server answers with ICMP port unreachable
DOCKER_PIDFILE = Path("/var/run/docker.pid")


@dataclass(frozen=True)
class Pair:
    run: RunIdentity
    client: str  # netns paths
    server: str
    firewall: str  # the server's own nft table (ip family)


def _nft(netns: str, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["nsenter", f"--net={netns}", "nft", *args], input=stdin, capture_output=True, text=True, timeout=10
    )
    assert done.returncode == 0, f"nft {args} in {netns} exited {done.returncode}: {done.stderr}"
    return done.stdout


def _trace_tables(pair: Pair) -> list[str]:
    return [table for table in _tables(pair.server) if f"nc_{pair.run.run_id}_trace" in table]


def _firewall(table: str) -> str:
    """The server's firewall: the client's ICMP echo is dropped in a chain of its own, TCP to the
    echo port is accepted, the published port is DNATed to it."""
    return f"""
table ip {table} {{
    chain from_client {{
        icmp type echo-request counter drop
        tcp dport {ECHO_PORT} accept
    }}
    chain input {{
        type filter hook input priority 0; policy accept;
        ip saddr {CLIENT} jump from_client
    }}
    chain output {{
        type filter hook output priority 0; policy accept;
    }}
    chain publish {{
        type nat hook prerouting priority -100; policy accept;
        tcp dport {PUBLISHED} dnat to {SERVER}:{ECHO_PORT}
    }}
}}
"""


def _tables(netns: str) -> list[str]:
    return [line.removeprefix("table ") for line in _nft(netns, "list", "tables").splitlines()]


def _veth_here(name: str, peer: str, peer_netns: str, address: str) -> None:
    with IPRoute() as ipr:
        fd = os.open(peer_netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            ipr.link("add", ifname=name, kind="veth", peer={"ifname": peer, "net_ns_fd": fd})
        finally:
            os.close(fd)
        _address_here(name, address)


def _address_here(name: str, address: str) -> None:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        ipr.addr("add", index=index, address=address, prefixlen=PREFIX)
        ipr.link("set", index=index, state="up")
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


def _ping(address: str, timeout: float) -> bool:
    """One ICMP echo request (raw socket, in a child inside the client netns); True on its reply."""
    ident = os.getpid() & 0xFFFF
    header = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"netconform-nftrace"
    total = sum(struct.unpack(f"!{len(header) // 2}H", header))
    total = (total >> 16) + (total & 0xFFFF)
    checksum = ~(total + (total >> 16)) & 0xFFFF
    packet = header[:2] + struct.pack("!H", checksum) + header[4:]
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (address, 0))
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            sock.settimeout(remaining)
            try:
                data, peer = sock.recvfrom(2048)
            except TimeoutError:
                return False
            offset = (data[0] & 0x0F) * 4
            kind, ident_seen = data[offset], struct.unpack("!H", data[offset + 4 : offset + 6])[0]
            if peer[0] == address and kind == 0 and ident_seen == ident:
                return True
    return False


def _connect(address: str, port: int, timeout: float) -> str:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return "connected"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"


def _connect_from(source_port: int, address: str, port: int, timeout: float) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("0.0.0.0", source_port))
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            return "connected"
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"


def _send_udp(address: str, port: int, timeout: float) -> str:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((address, port))  # connected: the ICMP error comes back as ECONNREFUSED
        sock.send(b"netconform-nftrace")
        try:
            sock.recv(64)
        except ConnectionRefusedError:
            return "refused"
        except TimeoutError:
            return "timeout"
        return "answered"


@pytest.fixture(scope="module")
def run(registered_run: RunIdentity) -> RunIdentity:
    return registered_run


@pytest.fixture
def pair(run: RunIdentity) -> Iterator[Pair]:
    """client --veth-- server, with :func:`_firewall` in the server."""
    suffix = secrets.token_hex(2)
    names = [run.name("nftrace", side, suffix) for side in ("client", "server")]
    firewall = f"nc_{run.run_id}_fw"
    try:
        client, server = (create_named_netns(name) for name in names)
        call_in_namespaces(
            {"net": client}, _veth_here, f"nt{suffix}c", f"nt{suffix}s", server, f"{CLIENT}/{PREFIX}", timeout=10
        )
        call_in_namespaces({"net": server}, _address_here, f"nt{suffix}s", f"{SERVER}/{PREFIX}", timeout=10)
        _nft(server, "-f", "-", stdin=_firewall(firewall))
        yield Pair(run, client, server, firewall)
    finally:
        for name in names:
            remove_named_netns(name)  # the veth and the tables go with the namespaces


def _packets(result: TraceResult, direction: str) -> list[str]:
    return [packet.summary for packet in result.packets if packet.direction == direction]


def test_the_trace_names_the_drop_rule_of_the_firewall(pair: Pair) -> None:
    match = ProbeMatch(SERVER, "icmp", CLIENT)
    with packet_trace(pair.server, pair.run.run_id, match) as trace:
        answered = call_in_namespaces({"net": pair.client}, _ping, SERVER, 1.0, timeout=10)
    result = trace.result()
    story = result.describe()
    assert not answered, story
    assert result.available, story
    requests = [packet for packet in result.packets if packet.direction == "request"]
    assert len(requests) == 1 and _packets(result, "reply") == [], story
    request = requests[0]
    assert request.verdict == "drop", story
    decider = request.decided_by
    assert decider is not None, story
    assert (decider.family, decider.table, decider.chain) == ("ip", pair.firewall, "from_client"), story
    assert decider.rule == "icmp type echo-request drop" and decider.verdict == "drop", story
    assert (
        f"ip {pair.firewall} input: ip saddr {CLIENT} jump from_client → "
        "from_client: icmp type echo-request drop → verdict DROP" in story
    ), story
    assert f"nc_{pair.run.run_id}_trace" not in story, "the tracer's own chains are left out of the story"
    assert _trace_tables(pair) == [], "the trace table is removed"


def test_the_trace_follows_an_accepted_request_and_its_reply(pair: Pair) -> None:
    match = ProbeMatch(SERVER, "tcp", CLIENT, ECHO_PORT)
    with packet_trace(pair.server, pair.run.run_id, match) as trace:
        outcome = call_in_namespaces({"net": pair.client}, _connect, SERVER, ECHO_PORT, 1.0, timeout=10)
    result = trace.result()
    story = result.describe()
    assert outcome == "refused", story
    directions = [packet.direction for packet in result.packets]
    assert directions == ["request", "reply"], story
    request, reply = result.packets
    assert request.verdict == "accept" and request.decided_by is not None, story
    assert request.decided_by.rule == f"tcp dport {ECHO_PORT} accept", story
    assert "flags syn" in request.summary, story
    assert reply.summary.startswith(f"{SERVER}:{ECHO_PORT} > {CLIENT}:"), story
    assert reply.verdict == "accept", story
    assert [(step.table, step.chain, step.kind) for step in reply.steps] == [
        (pair.firewall, "output", "packet"),
        (pair.firewall, "output", "policy"),
    ], story
    assert f"ip {pair.firewall} output → policy ACCEPT" in story, story
    assert _trace_tables(pair) == []


def test_traces_of_one_port_at_once_keep_to_their_own_source_ports(pair: Pair) -> None:
    """Replays to one port run at once when each sends from a port of its own: each trace shows its
    own request and reset, none of the other's."""
    ports = (21001, 21002)
    with contextlib.ExitStack() as stack:
        traces = [stack.enter_context(packet_trace(pair.server, pair.run.run_id,
                                                   ProbeMatch(SERVER, "tcp", dport=ECHO_PORT, sport=port)))
                  for port in ports]
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(pool.map(lambda port: call_in_namespaces(
                {"net": pair.client}, _connect_from, port, SERVER, ECHO_PORT, 1.0, timeout=10), ports))
    assert outcomes == ["refused", "refused"]
    for port, trace in zip(ports, traces, strict=True):
        result = trace.result()
        story = result.describe()
        assert [packet.direction for packet in result.packets] == ["request", "reply"], story
        request, reply = result.packets
        assert request.summary.startswith(f"{CLIENT}:{port} > {SERVER}:{ECHO_PORT} tcp"), story
        assert reply.summary.startswith(f"{SERVER}:{ECHO_PORT} > {CLIENT}:{port} tcp"), story
        assert f"nc_{pair.run.run_id}_trace" not in story and not result.notes, "no tracer's chains in the path"
    assert _trace_tables(pair) == []


def test_a_reply_whose_port_a_dnat_rewrote_is_traced_too(pair: Pair) -> None:
    match = ProbeMatch(SERVER, "tcp", CLIENT, PUBLISHED)
    with packet_trace(pair.server, pair.run.run_id, match) as trace:
        outcome = call_in_namespaces({"net": pair.client}, _connect, SERVER, PUBLISHED, 1.0, timeout=10)
    result = trace.result()
    story = result.describe()
    assert outcome == "refused", story
    assert [packet.direction for packet in result.packets] == ["request", "reply"], story
    request, reply = result.packets
    assert f"ip {pair.firewall} publish: tcp dport {PUBLISHED} dnat to {SERVER}:{ECHO_PORT}" in story, story
    assert request.decided_by is not None and request.decided_by.rule == f"tcp dport {ECHO_PORT} accept", story
    # Marked after conntrack: at the output hook the reply still leaves from the DNAT target port.
    assert reply.summary.startswith(f"{SERVER}:{ECHO_PORT} > {CLIENT}:") and "rst|ack" in reply.summary, story


def test_an_icmp_error_answering_the_probe_is_traced(pair: Pair) -> None:
    match = ProbeMatch(SERVER, "udp", CLIENT, CLOSED_UDP)
    with packet_trace(pair.server, pair.run.run_id, match) as trace:
        outcome = call_in_namespaces({"net": pair.client}, _send_udp, SERVER, CLOSED_UDP, 1.0, timeout=10)
    result = trace.result()
    story = result.describe()
    assert outcome == "refused", story
    assert [packet.direction for packet in result.packets] == ["request", "error"], story
    request, error = result.packets
    assert request.verdict == "accept", story
    assert (
        f"ip {pair.firewall} input: ip saddr {CLIENT} jump from_client → from_client (no rule matched) → "
        "policy ACCEPT" in story
    ), story
    assert "destination-unreachable" in error.summary, story


def test_the_trace_table_goes_even_when_the_replay_fails(pair: Pair) -> None:
    match = ProbeMatch(SERVER, "udp", CLIENT, 9)
    with pytest.raises(RuntimeError, match="replay broke"), packet_trace(pair.server, pair.run.run_id, match) as trace:
        assert f"inet {trace.table}" in _tables(pair.server)
        raise RuntimeError("replay broke")
    assert trace.result().available and trace.result().packets == ()
    assert _trace_tables(pair) == []


def test_sweep_removes_a_dead_runs_trace_table_and_nothing_else(pair: Pair) -> None:
    dead = RunIdentity(secrets.token_hex(4), 0, "0")  # owner pid 0 never runs: a crashed run
    register(dead)
    left = {
        "dead": f"inet {trace_table_name(dead.run_id, 4242, 1)}",
        "live": f"inet {trace_table_name(pair.run.run_id, os.getpid(), 1)}",
        "foreign name": f"inet nc_{dead.run_id}_keep",
        "foreign family": f"ip {trace_table_name(dead.run_id)}",
    }
    try:
        for table in left.values():
            _nft(pair.server, "add", "table", *table.split())
        removed = sweep_stale_traces(pair.server)
        assert removed == [f"table {left['dead']} in {pair.server}"], removed
        tables = _tables(pair.server)
        assert left["dead"] not in tables
        for what in ("live", "foreign name", "foreign family"):
            assert left[what] in tables, (what, tables)
        assert f"ip {pair.firewall}" in tables
    finally:
        unregister(dead)


def test_an_iptables_legacy_firewall_is_reported_not_raised(pair: Pair) -> None:
    legacy = shutil.which("iptables-legacy")
    if legacy is None:
        pytest.skip("iptables-legacy is missing")
    name = pair.run.name("nftrace", "legacy", secrets.token_hex(2))
    try:
        netns = create_named_netns(name)
        subprocess.run(
            ["nsenter", f"--net={netns}", legacy, "-w", "-A", "INPUT", "-s", CLIENT, "-j", "DROP"],
            check=True,
            capture_output=True,
            timeout=10,
        )
        with packet_trace(netns, pair.run.run_id, ProbeMatch(SERVER, "icmp")) as trace:
            pass
        result = trace.result()
        assert not result.available and "iptables-legacy" in result.reason, result
        assert "ip filter" in result.reason and "unavailable" in result.describe(), result
        assert _tables(netns) == [], "nothing was created"
    finally:
        remove_named_netns(name)
    with packet_trace(f"/run/netns/{name}", pair.run.run_id, ProbeMatch(SERVER, "icmp")) as trace:
        pass
    assert not trace.result().available and "does not exist" in trace.result().reason


# --- the host daemon's own rules -------------------------------------------------------------


def test_docker_isolation_drop_and_same_network_accept(run: RunIdentity) -> None:
    docker = pytest.importorskip("docker")
    from netconform.engine.image import ensure_probe_image

    if not DOCKER_PIDFILE.exists():
        pytest.skip("no system Docker daemon (/var/run/docker.pid)")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException as err:
        pytest.skip(f"no Docker daemon: {err}")
    daemon_netns = f"/proc/{DOCKER_PIDFILE.read_text().strip()}/ns/net"
    suffix = secrets.token_hex(2)
    networks, containers = [], []
    try:
        image = ensure_probe_image(client)
        for key in ("a", "b"):
            networks.append(client.networks.create(run.name("nftrace", suffix, key), labels=run.labels))
        for key, network in (("a1", networks[0]), ("a2", networks[0]), ("b1", networks[1])):
            containers.append(
                client.containers.run(
                    image,
                    entrypoint=["/bin/busybox", "sleep", "600"],
                    name=run.name("nftrace", suffix, key),
                    labels=run.labels,
                    network=network.name,
                    detach=True,
                )
            )
        for container in containers:
            container.reload()
        a1, a2, b1 = containers
        ip = {c.name: next(iter(c.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"] for c in containers}
        a1_netns = namespace_files(a1.attrs["State"]["Pid"], ["net"])

        with packet_trace(daemon_netns, run.run_id, ProbeMatch(ip[b1.name], "icmp", ip[a1.name])) as trace:
            answered = call_in_namespaces(a1_netns, _ping, ip[b1.name], 1.0, timeout=10)
        result = trace.result()
        story = result.describe()
        assert not answered and result.available, story
        (request,) = result.packets
        assert request.verdict == "drop" and request.decided_by is not None, story
        assert request.decided_by.chain == "DOCKER-ISOLATION-STAGE-2", story
        assert "DOCKER-ISOLATION-STAGE-2: oifname" in story and "drop → verdict DROP" in story, story

        bridged = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
        if not bridged.exists() or bridged.read_text().strip() != "1":
            return  # same-bridge traffic never meets the IP hooks: nothing to trace
        with packet_trace(daemon_netns, run.run_id, ProbeMatch(ip[a2.name], "icmp", ip[a1.name])) as trace:
            answered = call_in_namespaces(a1_netns, _ping, ip[a2.name], 1.0, timeout=10)
        result = trace.result()
        story = result.describe()
        assert answered, story
        assert [(p.direction, p.verdict) for p in result.packets] == [("request", "accept"), ("reply", "accept")], story
        assert "FORWARD" in story and "→ verdict ACCEPT" in story, story
    finally:
        for container in containers:
            with contextlib.suppress(docker.errors.APIError):
                container.remove(force=True)
        for network in networks:
            with contextlib.suppress(docker.errors.APIError):
                network.remove()
        client.close()
