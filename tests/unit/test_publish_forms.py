"""Publishing forms: ranges, -P with exposed ports, a reference as the host address, a probe to a
port the daemon chose, and probes sent through the host toward 127.0.0.x."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netconform.engine import ports
from netconform.errors import SpecError
from netconform.facts import ContainerFacts, ScenarioFacts
from netconform.spec import load_scenario
from netconform.spec.model import ContainerSpec, PortSpec
from netconform.spec.refs import Unresolvable, resolve_ref
from netconform.spec.values import Ref

FORMS = """\
    containers:
      every: {expose: [8095, "8096/udp"], publish_all: true}
      ranged: {publish: ["18100-18102:8100-8102", "127.0.0.1:18103-18104:8103-8104/udp"]}
      outside: {publish: ["${sentinel.gateway_address}:18091:8091"]}
    reachability:
      - {from: sentinel, to: every, address: "${sentinel.gateway_address}",
         port: "${container.every.published.tcp.8095}", listen_port: 8095, proto: tcp, expect: reach}
      - {from: sentinel, to: ranged, address: 127.0.0.1, via: host, port: 18100, listen_port: 8100, proto: tcp,
         expect: blocked}
"""


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "scn.yaml"
    path.write_text(textwrap.dedent(text))
    return load_scenario(path, "scn.yaml")


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(SpecError) as info:
        load(tmp_path, text)
    return info.value.render()


def test_ranges_spread_into_one_port_each_and_a_reference_names_the_host_address(tmp_path: Path) -> None:
    scenario = load(tmp_path, FORMS)
    every, ranged, outside = scenario.containers.values()  # type: ignore[attr-defined]
    assert (every.publish_all, every.expose) == (True, (PortSpec(8095), PortSpec(8096, "udp")))
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in ranged.publish] == [
        (None, 18100, 8100, "tcp"), (None, 18101, 8101, "tcp"), (None, 18102, 8102, "tcp"),
        ("127.0.0.1", 18103, 8103, "udp"), ("127.0.0.1", 18104, 8104, "udp")]
    assert outside.publish == (PortSpec(8091, "tcp", 18091, Ref(("sentinel", "gateway_address"))),)
    assert scenario.uses_sentinel  # type: ignore[attr-defined]


def test_probe_port_by_reference_and_via_host(tmp_path: Path) -> None:
    scenario = load(tmp_path, FORMS)
    chosen, routed = (check.reach for check in scenario.checks if check.prop == "reach")  # type: ignore[attr-defined]
    assert chosen.port == Ref(("container", "every", "published", "tcp", "8095"))
    assert (chosen.listener_port, chosen.via) == (8095, None)
    assert (routed.port, routed.listener_port, routed.via) == (18100, 8100, "host")


@pytest.mark.parametrize(("change", "words"), [
    (("18100-18102:8100-8102", "18100-18101:8100-8102"), "2 host ports for 3 container ports"),
    (("18100-18102:8100-8102", "18102-18100:8102-8100"), "the range 8102-8100 runs backwards"),
    (("listen_port: 8095, ", ""), "a port given by reference needs the listener's port (allowed: listen_port)"),
    (("published.tcp.8095", "published.sctp.8095"), "container has no fact 'published.sctp.8095'"),
    (("via: host, port: 18100, listen_port: 8100, proto: tcp", "via: host, proto: icmp"),
     "only the sentinel's tcp and udp probes go through the host this way"),
])
def test_bad_forms_are_spec_errors(tmp_path: Path, change: tuple[str, str], words: str) -> None:
    assert change[0] in FORMS
    assert words in error_of(tmp_path, FORMS.replace(*change))


def test_api_ports_bindings_and_exposed() -> None:
    published = (PortSpec(8090, "tcp", 18090, "127.0.0.1"), PortSpec(8090, "tcp", 18090, "198.18.0.1"),
                 PortSpec(8091, "udp", None, None))
    assert ports.bindings(published) == {"8090/tcp": [("127.0.0.1", 18090), ("198.18.0.1", 18090)],
                                         "8091/udp": None}
    spec = ContainerSpec(key="every", mode="bridge", expose=(PortSpec(8095),))
    assert ports.exposed(spec, published) == [(8090, "tcp"), (8091, "udp"), (8095, "tcp")]
    resolved = ports.resolved((PortSpec(8091, "tcp", 18091, Ref(("sentinel", "gateway_address"))),),
                              lambda value: "198.18.0.1", lambda text: text)
    assert resolved == (PortSpec(8091, "tcp", 18091, "198.18.0.1"),)


def test_published_reference_reads_the_daemon_binding_ipv4_first() -> None:
    every = ContainerFacts(key="every", name="n", created=True,
                           published={"8095/tcp": [":::49154", "0.0.0.0:49153"]})
    facts = ScenarioFacts.__new__(ScenarioFacts)
    facts.containers = {"every": every}
    assert resolve_ref(Ref(("container", "every", "published", "tcp", "8095")), facts, {}) == 49153
    with pytest.raises(Unresolvable, match="publishes no 8096/udp"):
        resolve_ref(Ref(("container", "every", "published", "udp", "8096")), facts, {})
