"""Option-conflict checks (``refused``, ``created``) fail, in words a user reads, on a wrong expectation.

There is no host-level fault for these: the daemon refuses ``--hostname`` with ``--network
container:X`` in its API validation (moby runconfig), before any firewall rule, sysctl, route or
daemon flag is consulted, and no setting makes it accept the combination. So the property
cannot be broken for real; instead the same scenario is run twice in one session, once with the
expectations the daemon meets (they pass) and once expecting acceptance (they fail, and the story
quotes the daemon's refusal).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faultrun import assert_fault_seen, run_specs

from netconform.hermetic.dedicated_daemon import DedicatedDaemon

pytestmark = [
    pytest.mark.faults,
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="fault tests need root"),
]

SCENARIO = """\
    containers:
      target: {}
      joined:
        network: "container:target"
        hostname: clash
    expect:
      target:
        created: true
      joined:
"""
SPECS = {
    "options_as_refused": SCENARIO + """\
        refused: {matches: "conflicting options: hostname and the network mode"}
        created: false
        left_behind: false
""",
    "options_expected_accepted": SCENARIO + """\
        refused: none
        created: true
""",
}


def test_a_refused_combination_expected_to_be_accepted(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    result = run_specs(tmp_path / "run", daemon, SPECS)
    assert_fault_seen(result, {
        "options_expected_accepted.yaml::joined::refused": [
            "property:  refused  [options]", "expected:  none",
            "observed:  conflicting options: hostname and the network mode", "daemon error:"],
        "options_expected_accepted.yaml::joined::created": ["expected:  true", "observed:  false"],
    })
    assert {"options_as_refused.yaml::joined::refused", "options_as_refused.yaml::joined::created",
            "options_as_refused.yaml::joined::left_behind"} <= result.ids("passed"), result.summary()
