"""Scenario steps: a step becomes a StepSpec and checks marked with its name; a step that does not
fit the scenario as the steps before it left it names file:line, the key and what is allowed."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.spec import load_scenario
from netconform.spec.model import StepSpec

BASE = """\
    networks:
      home: {subnet: 10.9.1.0/24}
      side: {subnet: 10.9.2.0/24}
    containers:
      roamer: {network: home}
      peer: {network: side}
      joiner: {network: "container:roamer"}
    expect:
      roamer: {interfaces: [eth0, lo]}
    steps:
"""


def load(tmp_path: Path, steps: str) -> object:
    path = tmp_path / "scn.yaml"
    path.write_text(textwrap.dedent(BASE) + textwrap.indent(textwrap.dedent(steps), "  "))
    return load_scenario(path, "scn.yaml")


def test_steps_become_step_specs_and_checks_of_that_step(tmp_path: Path) -> None:
    scenario = load(tmp_path, """\
        - name: connect
          connect: {container: roamer, network: side, aliases: [r2], ip: 10.9.2.50}
          expect:
            roamer: {interfaces: [eth0, eth1, lo]}
          reachability:
            - {from: peer, to: roamer, network: side, proto: icmp, expect: reach}
        - name: disconnect
          disconnect: {container: roamer, network: side}
          expect:
            roamer: {interfaces: [eth0, lo]}
        """)
    assert scenario.steps == (  # type: ignore[attr-defined]
        StepSpec("connect", "connect", "roamer", "side", ("r2",), "10.9.2.50", 11),
        StepSpec("disconnect", "disconnect", "roamer", "side", (), None, 17))
    shown = [(check.step, check.subject, check.name) for check in scenario.checks]  # type: ignore[attr-defined]
    assert shown == [("", "roamer", "interfaces"), ("connect", "roamer", "interfaces"),
                     ("connect", "reachability", "peer->roamer icmp"), ("disconnect", "roamer", "interfaces")]


@pytest.mark.parametrize(("steps", "line", "key", "fragment"), [
    ("- {name: s, expect: {roamer: {interfaces: [lo]}}}", 11, "steps[0]", "give one of connect or disconnect"),
    ("- {name: s, connect: {container: roamer, network: side}, disconnect: {container: roamer, network: home},"
     " expect: {roamer: {interfaces: [lo]}}}", 11, "steps[0]", "not both"),
    ("- {name: s, connect: {container: ghost, network: side}, expect: {roamer: {interfaces: [lo]}}}", 11,
     "steps[0].connect.container", "container 'ghost' is not defined"),
    ("- {name: s, connect: {container: joiner, network: side}, expect: {roamer: {interfaces: [lo]}}}", 11,
     "steps[0].connect.container", "network mode 'container:roamer'"),
    ("- {name: s, connect: {container: roamer, network: nowhere}, expect: {roamer: {interfaces: [lo]}}}", 11,
     "steps[0].connect.network", "unknown network 'nowhere'"),
    ("- {name: s, connect: {container: roamer, network: home}, expect: {roamer: {interfaces: [lo]}}}", 11,
     "steps[0].connect.network", "already attached to 'home'"),
    ("- {name: s, disconnect: {container: roamer, network: side}, expect: {roamer: {interfaces: [lo]}}}", 11,
     "steps[0].disconnect.network", "not attached to 'side' at this step"),
    ("- {name: s, connect: {container: roamer, network: side, ip: 10.9.1.5}, expect: {roamer: {interfaces: [lo]}}}",
     11, "steps[0].connect.ip", "not inside side's declared subnet 10.9.2.0/24"),
    ("- {name: s, connect: {container: roamer, network: bridge, aliases: [x]}, expect: {roamer: {interfaces: [lo]}}}",
     11, "steps[0].connect.aliases", "the default bridge has no aliases"),
    ("- {name: s, connect: {container: roamer, network: side}}", 11, "steps[0].expect", "missing"),
    ("- {name: s, connect: {container: roamer, network: side}, expect: {roamer: {nonsense: 1}}}", 11,
     "steps[0].expect.roamer.nonsense", "unknown property"),
    ("- {name: s, connect: {container: roamer, network: side}, expect: {roamer: {created: true}}}", 11,
     "steps[0].expect.roamer.created", "decided when the scenario is built"),
    ("- {name: s, connect: {container: roamer, network: side}, expect: {roamer: {interfaces: [lo]}}}\n"
     "- {name: s, disconnect: {container: roamer, network: side}, expect: {roamer: {interfaces: [lo]}}}", 12,
     "steps[1].name", "step 's' is declared twice"),
    ("- {name: s, connect: {container: roamer, network: side}, expect: {roamer: {interfaces: [lo]}},"
     " reachability: [{from: peer, to: roamer, network: home, proto: icmp, expect: reach}]}\n"
     "- {name: t, disconnect: {container: roamer, network: side}, reachability:"
     " [{from: peer, to: roamer, network: side, proto: icmp, expect: blocked}]}", 12,
     "steps[1].reachability[0].network", "'roamer' is not attached to 'side'"),
    ("- {name: S!, connect: {container: roamer, network: side}}", 11, "steps[0].name", "invalid"),
    ("- {name: s, connect: {container: roamer, network: side, mac: x}}", 11, "steps[0].connect.mac", "unknown key"),
])
def test_invalid_steps_name_line_key_and_allowed(tmp_path: Path, steps: str, line: int, key: str,
                                                 fragment: str) -> None:
    with pytest.raises(SpecError) as info:
        load(tmp_path, steps)
    error = info.value
    assert (error.line, error.key) == (line, key), str(error)
    assert fragment in str(error)
    assert str(error).startswith(f"scn.yaml:{line}: {key}: ")
