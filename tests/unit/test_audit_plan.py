"""The audit of existing networks: specs that name networks with ``existing:``, and the plan's promises."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.harness.sources import CallSite, load_source
from netconform.spec import load_scenario
from netconform.spec.audit_plan import AGAINST_RUN, AS_FOUND, ExistingNetwork, plan_audit
from netconform.spec.values import Matcher, Ref

BRIDGE = ExistingNetwork("bridge", "bridge", options=(("com.docker.network.bridge.enable_icc", "true"),))
QUIET = ExistingNetwork("quiet", "bridge", options=(("com.docker.network.bridge.enable_icc", "false"),
                                                    ("com.docker.network.bridge.enable_ip_masquerade", "false")))
SEALED = ExistingNetwork("sealed.net", "bridge", internal=True)
HOST = ExistingNetwork("host", "host")


def test_existing_network_is_looked_up_by_name(tmp_path: Path) -> None:
    path = tmp_path / "scn.yaml"
    path.write_text("networks:\n  lan: {existing: my-lan}\ncontainers:\n  a: {network: lan}\n"
                    "reachability:\n  - {from: a, to: sentinel, proto: tcp, expect: reach}\n")
    scenario = load_scenario(path)
    assert scenario.networks["lan"].existing == "my-lan" and scenario.containers["a"].networks == ("lan",)


@pytest.mark.parametrize(("body", "fragment"), [
    ("lan: {existing: my-lan, internal: true}", "networks.lan.internal: an existing network is only named"),
    ("lan: {existing: bridge}", "'bridge' is not a user-defined network (allowed: the name of a user-defined "
                                "network (network: bridge for bridge))"),
    ("lan: {existing: 'my lan'}", "networks.lan.existing: invalid network name 'my lan'"),
    ("lan: {existing: my-lan}\n  wan: {existing: my-lan}", "network 'my-lan' is already declared as 'lan'"),
])
def test_invalid_existing_networks(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "scn.yaml"
    path.write_text(textwrap.dedent(f"networks:\n  {body}\ncontainers:\n  a: {{network: lan}}\n"))
    with pytest.raises(SpecError) as caught:
        load_scenario(path)
    assert fragment in str(caught.value)


def test_plan_promises_follow_each_networks_options() -> None:
    plan = plan_audit([BRIDGE, QUIET, SEALED, HOST])
    promises = {(p.network, p.name): p for p in plan.promises}
    assert set(promises) == {
        ("bridge", "icc"), ("bridge", "egress"), ("bridge", "masquerade"),
        ("quiet", "icc disabled"), ("quiet", "egress"), ("quiet", "no masquerade"),
        ("sealed.net", "icc"), ("sealed.net", "no egress (tcp)"), ("sealed.net", "no egress (icmp)"),
        ("host", "audit"),
        *((net, f"isolated {way} {other}") for net in ("bridge", "quiet", "sealed.net")
          for other in ("bridge", "quiet", "sealed.net", "run network") if other != net for way in ("to", "from")),
    }
    assert "only bridge networks" in promises[("host", "audit")].skip
    assert not promises[("bridge", "icc")].firewall and promises[("quiet", "icc disabled")].firewall
    assert promises[("bridge", "isolated to run network")].scenario == AGAINST_RUN
    # One probe per direction, judged by both ends' promises.
    assert promises[("quiet", "isolated from bridge")].probe == promises[("bridge", "isolated to quiet")].probe


def test_plan_specs_load_and_name_only_existing_networks(tmp_path: Path) -> None:
    plan = plan_audit([BRIDGE, QUIET, SEALED, HOST])
    site = CallSite(Path("existing networks"), None, tmp_path)
    found = load_source(plan.specs[AS_FOUND], AS_FOUND, site)
    assert {n.existing for n in found.networks.values()} == {"quiet", "sealed.net"}
    assert {c.key: c.networks for c in found.containers.values()}["dflta"] == ("bridge",)
    checks = {check.reach.id: check for check in found.checks if check.reach is not None and check.prop == "source"}
    assert checks["quiet egress"].expectation == Matcher((("equals", Ref(("container", "n1a", "ip"))),))
    against = load_source(plan.specs[AGAINST_RUN], AGAINST_RUN, site)
    assert against.networks["run"].existing is None and against.uses_sentinel is False
