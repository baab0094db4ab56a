"""Parsing ``nft monitor trace`` output into the path each packet took (pure logic, no root).

The samples in tests/data are real output of nftables 1.0.6 on Debian 12 (kernel 6.18, dockerd
20.10.24 with iptables-nft), captured through :func:`netconform.observe.nftrace.packet_trace`:

- ``nftrace-docker-drop.txt``: run f9976d6b, an ICMP echo from 192.168.16.2 (network a) to
  192.168.32.2 (network b), dropped by DOCKER-ISOLATION-STAGE-2; the trace id changes between
  prerouting and forward.
- ``nftrace-docker-accept.txt``: the same run, an echo to 192.168.16.3 on the same network and its
  reply, both accepted in FORWARD (bridge-nf-call-iptables=1).
- ``nftrace-netns-tcp-accept.txt``: run 6398c20d, the integration test's namespaces: a SYN to
  192.0.2.2:7 accepted by the test's own firewall chain, and the RST the server answered.
- ``nftrace-unknown-handles.txt``: ``nft monitor`` started before the rules existed, so it names
  them by handle only (an echo dropped by a table ``ip mine``, traced by ``nc_deadbeef_trace``).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from netconform.observe.nftrace_events import (
    parse_events,
    parse_headers,
    parse_rule_handles,
    strip_counters,
    unknown_rule_tables,
)
from netconform.observe.nftrace_packets import TraceResult, assemble
from netconform.observe.nftrace_ruleset import ProbeMatch, trace_ruleset, trace_run_id, trace_table_name

DATA = Path(__file__).parent.parent / "data"
DOCKER_TABLE = ("inet", "nc_f9976d6b_trace")
NETNS_TABLE = ("inet", "nc_6398c20d_trace")
A1, A2, B1 = "192.168.16.2", "192.168.16.3", "192.168.32.2"
BR_A, BR_B = "br-a8f0434cc108", "br-3ae6e166dff2"


def sample(name: str) -> str:
    return (DATA / f"nftrace-{name}.txt").read_text()


def result(name: str, table: tuple[str, str], match: ProbeMatch) -> TraceResult:
    packets = assemble(parse_events(sample(name)), table, match)
    return TraceResult(True, "/proc/3053/ns/net", " ".join(table), match, packets, raw=sample(name))


def test_a_drop_in_docker_isolation_stage_2_is_named() -> None:
    traced = result("docker-drop", DOCKER_TABLE, ProbeMatch(B1, "icmp", A1))

    (request,) = traced.packets
    assert request.direction == "request"
    assert request.verdict == "drop"
    assert request.decided_by is not None
    assert (request.decided_by.table, request.decided_by.chain) == ("filter", "DOCKER-ISOLATION-STAGE-2")
    assert request.decided_by.rule == f'oifname "{BR_B}" drop'
    # The kernel gave the routed packet a new trace id in forward; the segments are one packet.
    assert request.trace_ids == ("def5161b", "604b3ba2")
    assert request.describe() == [
        f"request {A1} > {B1} icmp echo-request id 10588 seq 1: DROP by ip filter DOCKER-ISOLATION-STAGE-2: "
        f'oifname "{BR_B}" drop  [trace def5161b, 604b3ba2]',
        f'  ip nat PREROUTING → policy ACCEPT  (iif "{BR_A}")',
        f"  ip filter FORWARD → DOCKER-USER (return) → DOCKER-ISOLATION-STAGE-1: "
        f'iifname "{BR_A}" oifname != "{BR_A}" jump DOCKER-ISOLATION-STAGE-2 → '
        f'DOCKER-ISOLATION-STAGE-2: oifname "{BR_B}" drop → verdict DROP  (iif "{BR_A}" oif "{BR_B}")',
    ]


def test_an_accept_path_is_traced_in_both_directions() -> None:
    traced = result("docker-accept", DOCKER_TABLE, ProbeMatch(A2, "icmp", A1))

    request, reply = traced.packets
    assert (request.direction, request.verdict) == ("request", "accept")
    assert (reply.direction, reply.verdict) == ("reply", "accept")
    assert request.decided_by is not None and reply.decided_by is not None
    assert request.decided_by.rule == f'iifname "{BR_A}" oifname "{BR_A}" accept'
    assert reply.decided_by.rule == f'oifname "{BR_A}" ct state related,established accept'
    assert reply.summary == f"{A2} > {A1} icmp echo-reply id 10896 seq 1"
    assert traced.describe().splitlines() == [
        f"nft trace of {A1} > {A2} icmp in /proc/3053/ns/net: 2 packet(s)",
        f"request {A1} > {A2} icmp echo-request id 10896 seq 1: ACCEPT by ip filter FORWARD: "
        f'iifname "{BR_A}" oifname "{BR_A}" accept  [trace 01f5fda8]',
        f'  ip nat PREROUTING → policy ACCEPT  (iif "{BR_A}")',
        f"  ip filter FORWARD → DOCKER-USER (return) → DOCKER-ISOLATION-STAGE-1 (return) → "
        f'FORWARD: oifname "{BR_A}" jump DOCKER → DOCKER (no rule matched) → '
        f'FORWARD: iifname "{BR_A}" oifname "{BR_A}" accept → verdict ACCEPT  (iif "{BR_A}" oif "{BR_A}")',
        f'  ip nat POSTROUTING → policy ACCEPT  (oif "{BR_A}")',
        f"reply {A2} > {A1} icmp echo-reply id 10896 seq 1: ACCEPT by ip filter FORWARD: "
        f'oifname "{BR_A}" ct state related,established accept  [trace 048b8cfb]',
        f"  ip filter FORWARD → DOCKER-USER (return) → DOCKER-ISOLATION-STAGE-1 (return) → "
        f'FORWARD: oifname "{BR_A}" ct state related,established accept → verdict ACCEPT  '
        f'(iif "{BR_A}" oif "{BR_A}")',
    ]


def test_the_tracers_own_chains_and_stale_counters_are_left_out() -> None:
    for name, table, match in (
        ("docker-drop", DOCKER_TABLE, ProbeMatch(B1, "icmp", A1)),
        ("docker-accept", DOCKER_TABLE, ProbeMatch(A2, "icmp", A1)),
        ("netns-tcp-accept", NETNS_TABLE, ProbeMatch("192.0.2.2", "tcp", "192.0.2.1", 7)),
    ):
        traced = result(name, table, match)
        assert traced.packets, name
        steps = [step for packet in traced.packets for step in packet.steps]
        assert all(step.table != table[1] for step in steps), name
        assert not any("counter packets" in step.rule for step in steps), name
        assert "nftrace set" not in traced.describe(), name


def test_tcp_request_and_its_reset() -> None:
    traced = result("netns-tcp-accept", NETNS_TABLE, ProbeMatch("192.0.2.2", "tcp", "192.0.2.1", 7))

    request, reply = traced.packets
    assert request.summary == "192.0.2.1:39834 > 192.0.2.2:7 tcp flags syn"
    assert request.decided_by is not None and request.decided_by.rule == "tcp dport 7 accept"
    assert request.describe()[1] == (
        "  ip nc_6398c20d_fw input: ip saddr 192.0.2.1 jump from_client → from_client: tcp dport 7 accept → "
        'verdict ACCEPT  (iif "ntbcbes")'
    )
    assert reply.direction == "reply"
    assert reply.summary == "192.0.2.2:7 > 192.0.2.1:39834 tcp flags rst|ack"
    assert [(step.chain, step.kind, step.verdict) for step in reply.steps] == [
        ("output", "packet", ""),
        ("output", "policy", "accept"),
    ]
    assert reply.describe()[1] == '  ip nc_6398c20d_fw output → policy ACCEPT  (oif "ntbcbes")'


def test_packets_another_tracer_marked_are_not_ours() -> None:
    # Two runs tracing in one namespace: each monitor sees every traced packet.
    both = sample("docker-drop") + sample("netns-tcp-accept")
    ours = assemble(parse_events(both), DOCKER_TABLE, ProbeMatch(B1, "icmp", A1))
    theirs = assemble(parse_events(both), NETNS_TABLE, ProbeMatch("192.0.2.2", "tcp", "192.0.2.1", 7))
    assert [packet.summary for packet in ours] == [f"{A1} > {B1} icmp echo-request id 10588 seq 1"]
    assert [packet.direction for packet in theirs] == ["request", "reply"]


def test_rules_known_only_by_handle_are_named_from_a_listing() -> None:
    text = sample("unknown-handles")
    # The format of `nft -a list table ip mine` for the rule the monitor knew by handle only.
    listing = (
        "table ip mine { # handle 6\n\tchain input { # handle 1\n"
        "\t\ttype filter hook input priority filter; policy accept;\n"
        "\t\ticmp type echo-request counter packets 0 bytes 0 drop # handle 2\n\t}\n}\n"
    )
    assert unknown_rule_tables(text) == {("inet", "nc_deadbeef_trace"), ("ip", "mine")}
    handles = parse_rule_handles(listing)
    assert handles == {("ip", "mine", "input", 2): "icmp type echo-request drop"}
    match = ProbeMatch("10.250.0.2", "icmp")
    (packet,) = assemble(parse_events(text, handles), ("inet", "nc_deadbeef_trace"), match)
    assert packet.verdict == "drop"
    assert packet.decided_by is not None and packet.decided_by.rule == "icmp type echo-request drop"
    (unnamed,) = assemble(parse_events(text), ("inet", "nc_deadbeef_trace"), match)
    assert unnamed.decided_by is not None and unnamed.decided_by.rule == "unknown rule handle 2"


def test_a_chain_end_reported_as_a_verdict_reads_as_a_return() -> None:
    text = sample("netns-tcp-accept").replace(
        "trace id 269d5eb2 ip nc_6398c20d_fw from_client rule tcp dport 7 accept (verdict accept)",
        "trace id 269d5eb2 ip nc_6398c20d_fw from_client verdict continue \n"
        "trace id 269d5eb2 ip nc_6398c20d_fw input policy accept ",
    )
    request, _ = assemble(parse_events(text), NETNS_TABLE, ProbeMatch("192.0.2.2", "tcp", "192.0.2.1", 7))
    assert request.describe()[1].startswith(
        "  ip nc_6398c20d_fw input: ip saddr 192.0.2.1 jump from_client → from_client (return) → policy ACCEPT"
    )


def test_headers_and_counters() -> None:
    fields = parse_headers(
        'iif "br-1" ip saddr 10.0.0.1 ip protocol tcp tcp flags == syn | ack tcp window 0 @th,1,2 0x1'
    )
    assert fields == {
        "iif": "br-1",
        "ip saddr": "10.0.0.1",
        "ip protocol": "tcp",
        "tcp flags": "syn | ack",
        "tcp window": "0",
    }
    assert strip_counters('iifname "a" counter packets 12 bytes 3400 jump X') == 'iifname "a" jump X'
    assert strip_counters('counter name "mine" accept') == 'counter name "mine" accept'


def test_the_tracer_ruleset_marks_request_reply_errors_and_natted_replies() -> None:
    script = trace_ruleset("nc_0123abcd_trace", ProbeMatch("10.0.2.2", "tcp", "10.0.1.2", 8080))
    assert script.startswith("table inet nc_0123abcd_trace {\n")
    for rule in (
        "ip saddr 10.0.1.2 ip daddr 10.0.2.2 meta l4proto tcp th dport 8080 meta nftrace set 1",
        "ip saddr 10.0.2.2 ip daddr 10.0.1.2 meta l4proto tcp th sport 8080 meta nftrace set 1",
        "ip daddr 10.0.1.2 meta l4proto icmp icmp type { destination-unreachable, time-exceeded, "
        "parameter-problem } meta nftrace set 1",
        "ct original ip saddr 10.0.1.2 ct original ip daddr 10.0.2.2 meta l4proto tcp "
        "ct original proto-dst 8080 meta nftrace set 1",
    ):
        assert rule in script
    assert script.count("priority -350;") == 2 and script.count("priority -190;") == 2
    six = trace_ruleset("nc_0123abcd_trace", ProbeMatch("fd00::2", "icmp"))
    assert "ip6 daddr fd00::2 meta l4proto ipv6-icmp meta nftrace set 1" in six
    assert "ip6 saddr fd00::2 meta l4proto ipv6-icmp meta nftrace set 1" in six
    assert "icmpv6 type" not in six, "errors to the source are marked only when the source is known"


def test_a_source_port_the_prober_chose_narrows_every_mark() -> None:
    match = ProbeMatch("198.18.0.2", "tcp", dport=7, sport=20123)
    script = trace_ruleset("nc_0123abcd_trace", match)
    for rule in (
        "ip daddr 198.18.0.2 meta l4proto tcp th dport 7 th sport 20123 meta nftrace set 1",
        "ip saddr 198.18.0.2 meta l4proto tcp th sport 7 th dport 20123 meta nftrace set 1",
        "ct original ip daddr 198.18.0.2 meta l4proto tcp ct original proto-dst 7 "
        "ct original proto-src 20123 meta nftrace set 1",
    ):
        assert rule in script
    assert match.describe() == "any:20123 > 198.18.0.2:7 tcp"


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"dst": "10.0.0.1", "protocol": "sctp"}, "protocol"),
        ({"dst": "10.0.0.1", "protocol": "icmp", "dport": 80}, "dport"),
        ({"dst": "10.0.0.1", "protocol": "tcp", "dport": 0}, "dport"),
        ({"dst": "10.0.0.1", "protocol": "icmp", "sport": 20000}, "sport"),
        ({"dst": "10.0.0.1", "protocol": "udp", "sport": 70000}, "sport"),
        ({"dst": "10.0.0.1", "protocol": "tcp", "src": "fd00::1"}, "IP version"),
        ({"dst": "not-an-address", "protocol": "tcp"}, "does not appear to be an IPv4 or IPv6 address"),
    ],
)
def test_a_malformed_probe_is_refused(kwargs: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        ProbeMatch(**kwargs)  # type: ignore[arg-type]


def test_trace_table_names_carry_the_run_id() -> None:
    assert trace_table_name("0123abcd") == "nc_0123abcd_trace"
    assert trace_table_name("0123abcd", 4242, 7) == "nc_0123abcd_trace_4242_7"
    assert trace_run_id("nc_0123abcd_trace") == "0123abcd"
    assert trace_run_id("nc_0123abcd_trace_4242_7") == "0123abcd"
    for foreign in (
        "filter",
        "nat",
        "nc_0123abcd_keep",
        "nc_0123abc_trace",
        "x_nc_0123abcd_trace",
        "nc_0123abcd_trace_x",
        "nc-0123abcd-trace",
    ):
        assert trace_run_id(foreign) is None, foreign
    with pytest.raises(ValueError, match="8 hex digits"):
        trace_table_name("nc; flush ruleset")


def test_results_pickle_and_say_why_tracing_was_unavailable() -> None:
    traced = result("docker-drop", DOCKER_TABLE, ProbeMatch(B1, "icmp", A1))
    assert pickle.loads(pickle.dumps(traced)) == traced
    unavailable = TraceResult(
        False,
        "/proc/1/ns/net",
        "inet nc_0123abcd_trace",
        ProbeMatch(B1, "icmp"),
        reason="the firewall here is iptables-legacy (x_tables: ip filter), whose rules nft trace cannot see",
    )
    assert unavailable.describe() == (
        f"nft trace of any > {B1} icmp in /proc/1/ns/net: unavailable: the firewall here is iptables-legacy "
        "(x_tables: ip filter), whose rules nft trace cannot see"
    )
    empty = TraceResult(True, "/proc/1/ns/net", "inet nc_0123abcd_trace", ProbeMatch(B1, "icmp"), notes=("n",))
    assert empty.describe().splitlines()[1:] == ["note: n"]
    assert "no packet of the probe was traced" in empty.describe()
