"""The sentinel host, exercised for real: namespaces, veths, sockets and a container. No mocks.

Needs root and the system Docker daemon (for the container test only).
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.reversename
import pytest
from pyroute2 import IPRoute, netns

from netconform.hermetic.authdns import DnsQuery
from netconform.hermetic.echo import EchoResult, echo_tcp, echo_udp
from netconform.hermetic.named_netns import create_named_netns, remove_named_netns
from netconform.hermetic.nsexec import call_in_namespaces, namespace_files
from netconform.hermetic.runs import LABEL_OWNER, LABEL_RUN, RunIdentity, register, unregister
from netconform.hermetic.sentinel import STATE_DIR, Sentinel, SentinelFacts
from netconform.hermetic.sentinel_sweep import sentinel_run_id, sweep_stale_sentinels
from netconform.hermetic.sentinel_veth import veth_name

pytestmark = [
    pytest.mark.sentinel,
    pytest.mark.xdist_group("sentinel"),
    pytest.mark.skipif(os.geteuid() != 0, reason="sentinel tests create namespaces: run as root"),
]

BUSYBOX = Path("/bin/busybox")
DOCKER_PIDFILE = Path("/var/run/docker.pid")
PROBE_TIMEOUT = 3.0


# --- fixtures ----------------------------------------------------------------------------------


def _netns_id(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


@pytest.fixture(scope="module")
def host_netns() -> str:
    """A path naming the netns this test process runs in, which is also the daemon's.

    ``/proc/1/ns/net`` is preferred; where pid 1 cannot be inspected (a sandboxed init), the
    system dockerd's netns is used, which is what the suite attaches to anyway.
    """
    own = _netns_id("/proc/self/ns/net")
    candidates = ["/proc/1/ns/net"]
    if DOCKER_PIDFILE.exists():
        candidates.append(f"/proc/{DOCKER_PIDFILE.read_text().strip()}/ns/net")
    for path in candidates:
        if own is not None and _netns_id(path) == own:
            return path
    pytest.skip(f"none of {candidates} is readable and the same netns as this test process")


@pytest.fixture(scope="module")
def run(registered_run: RunIdentity) -> RunIdentity:
    return registered_run


@pytest.fixture(scope="module")
def sentinel(run: RunIdentity, host_netns: str) -> Iterator[Sentinel]:
    with Sentinel(run, host_netns, records={"egress": "@sentinel", "elsewhere": "198.18.0.250"}) as s:
        yield s


# --- assertion helpers -------------------------------------------------------------------------


def _expect_echo(result: EchoResult, facts: SentinelFacts, seen_ip: str, why: str) -> None:
    __tracebackhide__ = True
    if not result.ok or result.seen_ip != seen_ip:
        pytest.fail(
            f"{result.transport} echo to {result.host}:{result.port}: expected the sentinel to see "
            f"source {seen_ip} ({why}); observed {result}\nsentinel: {facts}",
            pytrace=False,
        )


def _query(server: str, name: str, rdtype: str, transport: str) -> dns.message.Message:
    query = dns.message.make_query(name, rdtype)
    if transport == "tcp":
        return dns.query.tcp(query, server, timeout=PROBE_TIMEOUT)
    return dns.query.udp(query, server, timeout=PROBE_TIMEOUT)


def _story(response: dns.message.Message, queries: list[DnsQuery]) -> str:
    return f"response:\n{response.to_text()}\nqueries the sentinel saw: {queries}"


# --- echo from the host netns ------------------------------------------------------------------


def test_tcp_echo_from_host_sees_the_host_side_address(sentinel: Sentinel) -> None:
    result = echo_tcp(sentinel.address, sentinel.echo_port, PROBE_TIMEOUT)
    _expect_echo(result, sentinel.facts(), sentinel.gateway_address, "the host's end of the veth")
    assert result.translated is False, result


def test_udp_echo_from_host_sees_the_host_side_address(sentinel: Sentinel) -> None:
    result = echo_udp(sentinel.address, sentinel.echo_port, PROBE_TIMEOUT)
    _expect_echo(result, sentinel.facts(), sentinel.gateway_address, "the host's end of the veth")
    assert result.translated is False, result


@pytest.mark.parametrize("probe", [echo_tcp, echo_udp], ids=["tcp", "udp"])
def test_echo_to_a_closed_port_is_refused_fast(sentinel: Sentinel, probe: Callable[..., EchoResult]) -> None:
    result = probe(sentinel.address, sentinel.echo_port + 1, PROBE_TIMEOUT)
    assert (result.ok, result.failure) == (False, "refused"), result
    assert result.elapsed < 1.0, result


# --- DNS from the host netns -------------------------------------------------------------------


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_dns_answers_a_records_with_authority(sentinel: Sentinel, transport: str) -> None:
    for name, expected in [
        (f"egress.{sentinel.zone}", sentinel.address),
        (f"sentinel.{sentinel.zone}", sentinel.address),
        (f"gateway.{sentinel.zone}", sentinel.gateway_address),
        (f"elsewhere.{sentinel.zone}", "198.18.0.250"),
        (f"EGRESS.{sentinel.zone.upper()}", sentinel.address),
    ]:
        response = _query(sentinel.address, name, "A", transport)
        answers = [rdata.to_text() for rrset in response.answer for rdata in rrset]
        assert response.rcode() == dns.rcode.NOERROR, _story(response, sentinel.dns_queries_seen())
        assert response.flags & dns.flags.AA, _story(response, sentinel.dns_queries_seen())
        assert answers == [expected], _story(response, sentinel.dns_queries_seen())


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_dns_answers_ptr_for_the_table_addresses(sentinel: Sentinel, transport: str) -> None:
    reverse = dns.reversename.from_address(sentinel.address).to_text()
    response = _query(sentinel.address, reverse, "PTR", transport)
    names = sorted(rdata.to_text() for rrset in response.answer for rdata in rrset)
    assert response.flags & dns.flags.AA, _story(response, sentinel.dns_queries_seen())
    assert names == [f"egress.{sentinel.zone}", f"sentinel.{sentinel.zone}"], _story(response, [])


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize(
    "name",
    ["unknown-{nonce}.{zone}", "www.example.com.", "{nonce}.invalid.", "9.9.18.198.in-addr.arpa."],
)
def test_dns_answers_nxdomain_for_every_unknown_name(sentinel: Sentinel, transport: str, name: str) -> None:
    qname = name.format(nonce=secrets.token_hex(4), zone=sentinel.zone)
    response = _query(sentinel.address, qname, "A", transport)
    assert response.rcode() == dns.rcode.NXDOMAIN, _story(response, sentinel.dns_queries_seen())
    assert response.flags & dns.flags.AA, _story(response, sentinel.dns_queries_seen())
    assert not response.answer, _story(response, [])


def test_dns_queries_are_recorded_with_their_source(sentinel: Sentinel) -> None:
    sentinel.clear_dns_queries()
    qname = f"recorded-{secrets.token_hex(4)}.{sentinel.zone}"
    response = _query(sentinel.address, qname, "AAAA", "udp")
    _query(sentinel.address, f"egress.{sentinel.zone}", "A", "tcp")
    seen = sentinel.dns_queries_seen(qname)
    assert [(q.qname, q.qtype, q.source_ip, q.transport, q.rcode) for q in seen] == [
        (qname, "AAAA", sentinel.gateway_address, "udp", "NXDOMAIN")
    ], _story(response, sentinel.dns_queries_seen())
    everything = sentinel.dns_queries_seen()
    assert [q.qname for q in everything] == [qname, f"egress.{sentinel.zone}"], everything
    assert everything[1].answers == (sentinel.address,), everything


# --- IPv6 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("probe", [echo_tcp, echo_udp], ids=["tcp", "udp"])
def test_echo_over_ipv6_sees_the_host_sides_ipv6_address(sentinel: Sentinel,
                                                          probe: Callable[..., EchoResult]) -> None:
    assert sentinel.address6 is not None and sentinel.gateway_address6 is not None, sentinel.facts()
    result = probe(sentinel.address6, sentinel.echo_port, PROBE_TIMEOUT)
    _expect_echo(result, sentinel.facts(), sentinel.gateway_address6, "the host's IPv6 end of the veth")
    assert result.translated is False, result


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_dns_over_ipv6_answers_aaaa_and_ip6_arpa_ptr(sentinel: Sentinel, transport: str) -> None:
    assert sentinel.address6 is not None, sentinel.facts()
    sentinel.clear_dns_queries()
    aaaa = _query(sentinel.address6, f"sentinel.{sentinel.zone}", "AAAA", transport)
    ptr = _query(sentinel.address6, dns.reversename.from_address(sentinel.address6).to_text(), "PTR", transport)
    seen = sentinel.dns_queries_seen()
    assert [r.to_text() for rrset in aaaa.answer for r in rrset] == [sentinel.address6], _story(aaaa, seen)
    assert [r.to_text() for rrset in ptr.answer for r in rrset] == [f"sentinel.{sentinel.zone}"], _story(ptr, seen)
    assert {q.source_ip for q in seen} == {sentinel.gateway_address6}, seen


def test_a_sentinel_without_ipv6_has_no_ipv6_address(run: RunIdentity, host_netns: str) -> None:
    with Sentinel(run, host_netns, cidr6=None) as plain:
        assert (plain.address6, plain.facts().records6) == (None, {}), plain.facts()
        result = echo_tcp(plain.address, plain.echo_port, PROBE_TIMEOUT)
        _expect_echo(result, plain.facts(), plain.gateway_address, "IPv4 unchanged without IPv6")


# --- more than one sentinel --------------------------------------------------------------------


def test_two_sentinels_side_by_side_get_different_slices(sentinel: Sentinel, run: RunIdentity, host_netns: str) -> None:
    with Sentinel(run, host_netns) as other:
        assert other.netns_name != sentinel.netns_name
        assert other.veth_name != sentinel.veth_name
        assert other.subnet != sentinel.subnet, (sentinel.facts(), other.facts())
        for each in (sentinel, other):
            result = echo_tcp(each.address, each.echo_port, PROBE_TIMEOUT)
            _expect_echo(result, each.facts(), each.gateway_address, "the host's end of its veth")
    assert other.netns_name not in netns.listnetns()


# --- from a container on the running system daemon ---------------------------------------------


def _busybox_image_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        directory = tarfile.TarInfo("bin")
        directory.type = tarfile.DIRTYPE
        directory.mode = 0o755
        tar.addfile(directory)
        tar.add(str(BUSYBOX), arcname="bin/busybox")
    return buffer.getvalue()


def _resolve_a(server: str, name: str, timeout: float) -> tuple[str, bool, list[str]]:
    """Run inside a container's netns: one A lookup, as (rcode, AA set, addresses)."""
    response = dns.query.udp(dns.message.make_query(name, "A"), server, timeout=timeout)
    addresses = [rdata.to_text() for rrset in response.answer for rdata in rrset]
    return dns.rcode.to_text(response.rcode()), bool(response.flags & dns.flags.AA), addresses


def test_container_traffic_reaches_the_sentinel_masqueraded(sentinel: Sentinel, run: RunIdentity) -> None:
    docker = pytest.importorskip("docker")
    if not BUSYBOX.exists():
        pytest.skip(f"{BUSYBOX} missing: apt-get install -y busybox-static")
    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except docker.errors.DockerException as err:
        pytest.skip(f"no Docker daemon: {err}")
    labels = [f"LABEL {key}={value}" for key, value in run.labels.items()]
    repository = run.name("sentinel-probe", str(os.getpid()))
    image_id = None
    container = None
    try:
        client.api.import_image_from_data(_busybox_image_tar(), repository=repository, tag="latest", changes=labels)
        image = client.images.get(f"{repository}:latest")
        image_id = image.id
        assert image.labels.get(LABEL_RUN) == run.run_id, image.labels
        container = client.containers.run(
            image_id,
            entrypoint=["/bin/busybox", "sleep", "1000"],
            name=repository,
            labels=run.labels,
            detach=True,
        )
        container.reload()
        assert container.labels.get(LABEL_OWNER) == run.owner, container.labels
        pid = container.attrs["State"]["Pid"]
        container_ip = container.attrs["NetworkSettings"]["IPAddress"]
        ns = namespace_files(pid, ["net"])
        for probe in (echo_tcp, echo_udp):
            result = call_in_namespaces(ns, probe, sentinel.address, sentinel.echo_port, PROBE_TIMEOUT, timeout=10)
            _expect_echo(result, sentinel.facts(), sentinel.gateway_address, "the bridge masquerades")
            assert result.local_ip == container_ip and result.translated, result
        sentinel.clear_dns_queries()
        answer = call_in_namespaces(
            ns, _resolve_a, sentinel.address, f"egress.{sentinel.zone}", PROBE_TIMEOUT, timeout=10
        )
        assert answer == ("NOERROR", True, [sentinel.address]), answer
        seen = sentinel.dns_queries_seen("egress")
        assert [q.source_ip for q in seen] == [sentinel.gateway_address], seen
    finally:
        if container is not None:
            container.remove(force=True)
        if image_id is not None:
            client.images.remove(image_id, force=True)
        client.close()


# --- teardown and sweep ------------------------------------------------------------------------


def _link_names_here() -> set[str]:
    with IPRoute() as ipr:
        return {link.get("IFLA_IFNAME") for link in ipr.link("dump")}


def _links(ns_path: str) -> set[str]:
    # In a child, not with IPRoute(netns=...): see the note on forking in helpers/hermetic/sentinel.py.
    return call_in_namespaces({"net": ns_path}, _link_names_here, timeout=10)


def test_stop_leaves_nothing_and_is_idempotent(run: RunIdentity, host_netns: str) -> None:
    other = Sentinel(run, host_netns).start()
    try:
        facts = other.facts()
        pids = list(other.service_pids.values())
        assert len(pids) == 2, other.service_pids
        assert other.alive()
        assert facts.veth_name in _links(host_netns)
    finally:
        other.stop()
    other.stop()
    assert facts.netns_name not in netns.listnetns()
    assert not Path(facts.netns_path).exists()
    assert facts.veth_name not in _links(host_netns)
    assert not (STATE_DIR / facts.netns_name).exists()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    # No probe of the stopped sentinel's address: without its /30 route that traffic would follow
    # the host's default route off the machine.


def _start_and_abandon(attach: str) -> dict[str, str]:
    """Run in a forked child that then exits without stop(): a run that crashed."""
    crashed = RunIdentity.new()
    register(crashed)
    try:
        started = Sentinel(crashed, attach).start()
    except BaseException:
        unregister(crashed)  # the parent never learns this run id when start fails
        raise
    return {
        "run_id": crashed.run_id,
        "netns": started.netns_name,
        "veth": started.veth_name,
        "state": str(STATE_DIR / started.netns_name),
    }


def test_sweep_removes_a_crashed_runs_sentinel_and_nothing_else(sentinel: Sentinel, host_netns: str) -> None:
    foreign = f"foreign-test-{secrets.token_hex(3)}"
    create_named_netns(foreign)
    left: dict[str, str] = {}
    try:
        left = call_in_namespaces({}, _start_and_abandon, host_netns, timeout=30)
        # The crashed run's owner is gone; its children died with it; its netns, veth and state
        # directory are still there.
        assert left["netns"] in netns.listnetns()
        assert left["veth"] in _links(host_netns)

        removed = sweep_stale_sentinels([host_netns])

        assert f"netns {left['netns']}" in removed, removed
        assert f"veth {left['veth']} in {host_netns}" in removed, removed
        assert left["netns"] not in netns.listnetns()
        assert left["veth"] not in _links(host_netns)
        assert not Path(left["state"]).exists()
        # Foreign and live things stay.
        assert foreign in netns.listnetns()
        assert sentinel.netns_name in netns.listnetns()
        assert sentinel.alive()
        result = echo_tcp(sentinel.address, sentinel.echo_port, PROBE_TIMEOUT)
        _expect_echo(result, sentinel.facts(), sentinel.gateway_address, "a live sentinel")
    finally:
        remove_named_netns(foreign)
        if left:
            unregister(RunIdentity(left["run_id"], 0, "0"))


def test_sweep_removes_any_netns_a_crashed_run_named() -> None:
    """A self-test's scratch netns (``nc-<run>-uplink-machine-…``) of a dead run goes too."""
    crashed = RunIdentity(secrets.token_hex(4), 999_999_999, "1")  # no such pid: stale
    register(crashed)
    scratch = crashed.name("uplink", "machine", "x1")
    create_named_netns(scratch)
    try:
        removed = sweep_stale_sentinels([])
        assert f"netns {scratch}" in removed and scratch not in netns.listnetns()
    finally:
        if scratch in netns.listnetns():
            remove_named_netns(scratch)
        unregister(crashed)


def test_sentinel_names_are_recognised_and_foreign_names_are_not() -> None:
    run = RunIdentity("0123abcd", 1, "1")
    assert sentinel_run_id(run.name("sentinel", "42-1")) == "0123abcd"
    assert sentinel_run_id(veth_name("0123abcd", 0xFFFF)) == "0123abcd"
    assert len(veth_name("0123abcd", 0xFFFF)) <= 15
    for foreign in ["foreign-test", "eth0", "docker0", run.name("daemon", "x"), "nc0123abcd", "ncZZZZZZZZs0"]:
        assert sentinel_run_id(foreign) is None, foreign
