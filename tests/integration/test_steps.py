"""Steps on the real daemon: a step's checks judge the state after it (a wrong expectation of it
fails under a name that says the step), a step the daemon refuses makes its checks and every
later step's errors with the daemon's words, and the scenario is removed either way."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import docker

from netconform.hermetic.runs import LABEL_RUN

ROOT = Path(__file__).resolve().parents[2]

SPEC = """\
    networks:
      home: {subnet: 10.242.1.0/24}
      side: {subnet: 10.242.2.0/24}
    containers:
      roamer: {network: home}
      peer: {network: side, ip: 10.242.2.9}
    expect:
      roamer: {interfaces: [eth0, lo]}
    steps:
      - name: connect
        connect: {container: roamer, network: side, ip: 10.242.2.50}
        expect:
          roamer:
            interfaces: [eth0, eth1, lo]
            interface.eth1.ipv4: [10.242.2.51]   # wrong on purpose: the daemon gives .50
        reachability:
          - {from: peer, to: roamer, network: side, proto: icmp, expect: reach}
      - name: disconnect
        disconnect: {container: roamer, network: side}
        expect:
          roamer: {interfaces: [eth0, lo]}
        reachability:
          - {from: peer, to: roamer, address: 10.242.2.50, proto: icmp, expect: blocked}
      - name: taken
        connect: {container: roamer, network: side, ip: 10.242.2.9}   # peer's address: refused
        expect:
          roamer: {interfaces: [eth0, eth1, lo]}
      - name: after-taken
        disconnect: {container: roamer, network: side}
        expect:
          roamer: {interfaces: [eth0, lo]}
"""


def test_step_checks_judge_the_state_after_their_step_and_a_refused_step_is_an_error(tmp_path: Path) -> None:
    spec = tmp_path / "stepping.yaml"
    spec.write_text(textwrap.dedent(SPEC))
    junit = tmp_path / "junit.xml"
    result = subprocess.run([sys.executable, "-m", "pytest", str(spec), "-p", "no:cacheprovider", f"--junitxml={junit}",
                             f"--rootdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    outcomes = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        failed = case.find("failure") is not None
        errored = case.find("error") is not None
        outcomes[f"{case.get('classname', '').rsplit('.', 1)[-1]}::{case.get('name')}"] = \
            "failed" if failed else "error" if errored else "passed"
    assert outcomes == {
        "roamer::interfaces": "passed",
        "roamer@connect::interfaces": "passed",
        "roamer@connect::interface.eth1.ipv4": "failed",
        "reachability@connect::peer->roamer icmp": "passed",
        "roamer@disconnect::interfaces": "passed",
        "reachability@disconnect::peer->roamer 10.242.2.50 icmp": "passed",
        "roamer@taken::interfaces": "failed",
        "roamer@after-taken::interfaces": "failed",
    }, output[-3000:]
    assert "roamer interface.eth1.ipv4: expected [10.242.2.51]" in output and "observed [10.242.2.50]" in output
    refused = re.findall(r"step taken failed, so the state after step (taken|after-taken) cannot be judged: "
                         r"scenario stepping: step taken: the daemon refused to connect roamer to side: ([^\n]*)",
                         output)
    assert {step for step, _ in refused} == {"after-taken", "taken"}, output[-3000:]
    assert "Traceback" not in output and "stepping.py" not in output
    run_id = re.search(r"netconform: run ([0-9a-f]{8}),", output)
    assert run_id is not None, output[-2000:]
    client = docker.from_env()
    try:
        label = f"{LABEL_RUN}={run_id.group(1)}"
        left = [*client.containers.list(all=True, filters={"label": label}),
                *client.networks.list(filters={"label": label})]
        assert left == []
    finally:
        client.close()
