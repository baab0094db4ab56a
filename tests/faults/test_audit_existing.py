"""``--audit-existing`` finds what existing networks lost, and leaves the host's own objects alone.

On a dedicated 20.10 daemon in its own netns, "the host's" networks and container are created
without any netconform label before the run; then a fault is put in the daemon's netns that
creating a network would repair (the daemon re-applies its rules and kernel switches), so a plain
run, which only probes networks it creates, passes, and the audit fails naming the network and
the promise. The host's networks are removed afterwards (the daemon removes their rules with
them) and the daemon's netns is checked to read as before (:func:`injectors.restored`); the host's
own rulesets by ``host_untouched``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from faultrun import QUICK, SuiteRun, assert_passes, run_specs
from injectors import in_netns, restored, run

from netconform.engine.image import ensure_probe_image
from netconform.hermetic.dedicated_daemon import DedicatedDaemon

pytestmark = [
    pytest.mark.faults,
    pytest.mark.daemon,
    pytest.mark.skipif(os.geteuid() != 0, reason="fault tests need root"),
]

AUDIT = (*QUICK, "--audit-existing")
# A scenario of the run's own: passes whatever the existing networks have lost.
ISOLATION = """\
    networks:
      alpha: {subnet: 10.243.1.0/24}
      beta: {subnet: 10.243.2.0/24}
    containers:
      a1: {network: alpha}
      b1: {network: beta}
    reachability:
      - {from: a1, to: b1, proto: tcp, port: 8080, expect: blocked}
      - {from: b1, to: a1, proto: tcp, port: 8080, expect: blocked}
    """
ICC = """\
    networks:
      noicc: {subnet: 10.243.3.0/24, options: {com.docker.network.bridge.enable_icc: "false"}}
    containers:
      p1: {network: noicc}
      p2: {network: noicc}
    reachability:
      - {from: p1, to: p2, proto: tcp, port: 8080, expect: blocked}
    """


@pytest.fixture(autouse=True)
def clean_netns(daemon: DedicatedDaemon) -> Iterator[None]:
    """Each test leaves the dedicated daemon's netns as it found it (its host networks removed)."""
    with restored(str(daemon.netns_path)):
        yield


@contextmanager
def host_objects(daemon: DedicatedDaemon, networks: dict[str, dict[str, Any]],
                 container_on: str | None = None) -> Iterator[dict[str, Any]]:
    """Unlabelled networks (name -> create kwargs) and a running container, as a host has them."""
    client = daemon.client()
    created: dict[str, Any] = {}
    try:
        for name, kwargs in networks.items():
            created[name] = client.networks.create(name, driver="bridge", **kwargs)
        if container_on is not None:
            image = ensure_probe_image(client)
            created["container"] = client.containers.run(image, ["/bin/busybox", "sleep", "3600"], detach=True,
                                                         name="host-app", network=container_on)
        yield created
    finally:
        if "container" in created:
            created["container"].remove(force=True)
        for name in networks:
            if name in created:
                created[name].remove()


def _audit_failures(result: SuiteRun) -> set[str]:
    return {nodeid for nodeid in result.ids("failed") if nodeid.startswith("existing::")}


def _ipam(subnet: str) -> Any:
    from docker.types import IPAMConfig, IPAMPool

    return IPAMConfig(pool_configs=[IPAMPool(subnet=subnet)])


def test_removed_isolation_rules_fail_the_audit_only(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    netns = str(daemon.netns_path)
    lan = {"ipam": _ipam("10.242.1.0/24"), "options": {"com.docker.network.bridge.name": "ncf-al"}}
    with host_objects(daemon, {"lan": lan}):
        # What a firewall reload that forgot Docker's chains does to one network.
        for chain, rule in (("DOCKER-ISOLATION-STAGE-1", ["-i", "ncf-al", "!", "-o", "ncf-al", "-j",
                                                         "DOCKER-ISOLATION-STAGE-2"]),
                            ("DOCKER-ISOLATION-STAGE-2", ["-o", "ncf-al", "-j", "DROP"])):
            run(in_netns(netns, ["iptables", "-w", "5", "-D", chain, *rule]), f"fault: delete {chain} rule")
        plain = run_specs(tmp_path / "plain", daemon, {"isolation": ISOLATION})
        audited = run_specs(tmp_path / "audit", daemon, {"isolation": ISOLATION}, extra=AUDIT)
    assert_passes(plain)
    broken = {"existing::lan::isolated to bridge", "existing::lan::isolated from bridge",
              "existing::bridge::isolated to lan", "existing::bridge::isolated from lan",
              "existing::lan::isolated to run network", "existing::lan::isolated from run network"}
    assert audited.code == 1 and _audit_failures(audited) == broken, audited.summary()
    assert audited.ids("failed") == broken, audited.summary()  # the run's own scenario still passes
    story = audited.stories["existing::lan::isolated to bridge"]
    assert "lan -> bridge" in story and "expected blocked" in story, story
    assert "lan: 4 promise(s) broken" in audited.output and "bridge: 2 promise(s) broken" in audited.output, \
        audited.output[-3000:]


def test_bridge_netfilter_off_fails_the_icc_promise(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    netns = str(daemon.netns_path)
    quiet = {"ipam": _ipam("10.242.2.0/24"),
             "options": {"com.docker.network.bridge.name": "ncf-aq", "com.docker.network.bridge.enable_icc": "false"}}
    with host_objects(daemon, {"quiet": quiet}):
        # Switched off after the network was created; creating any network switches it on again.
        run(in_netns(netns, ["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0"]), "fault: sysctl")
        plain = run_specs(tmp_path / "plain", daemon, {"icc": ICC})
        run(in_netns(netns, ["sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0"]), "fault: sysctl again")
        audited = run_specs(tmp_path / "audit", daemon, {"icc": ICC}, extra=AUDIT)
    assert_passes(plain)
    assert audited.code == 1 and audited.ids("failed") == {"existing::quiet::icc disabled"}, audited.summary()
    story = audited.stories["existing::quiet::icc disabled"]
    assert "expected blocked" in story and "observed reach" in story, story


def test_host_objects_untouched_and_audit_cost(daemon: DedicatedDaemon, tmp_path: Path) -> None:
    """A healthy host passes the audit; its networks and container read the same afterwards."""
    client = daemon.client()

    def audit(name: str) -> tuple[SuiteRun, float]:
        started = time.monotonic()
        result = run_specs(tmp_path / name, daemon, {"isolation": ISOLATION}, extra=(*AUDIT, "-k", "existing"))
        assert result.code == 0 and set(result.outcomes.values()) == {"passed", "skipped"}, result.summary()
        return result, time.monotonic() - started

    _, alone = audit("bridge-only")
    networks: dict[str, dict[str, Any]] = {f"app{index}": {"ipam": _ipam(f"10.242.{10 + index}.0/24")}
                                           for index in range(3)}
    networks["app1"]["options"] = {"com.docker.network.bridge.enable_ip_masquerade": "false"}
    networks["app2"]["internal"] = True
    with host_objects(daemon, networks, container_on="app0") as objects:
        def state() -> dict[str, Any]:
            listed = {str(n.id): (n.name, sorted(client.networks.get(str(n.id)).attrs.get("Containers") or {}))
                      for n in client.networks.list()}
            container = client.containers.get(objects["container"].id)
            return {"networks": listed, "container": (container.id, container.status,
                                                      container.attrs["State"]["StartedAt"],
                                                      sorted(container.attrs["NetworkSettings"]["Networks"]))}

        before = state()
        result, with_three = audit("with-host-networks")
        assert state() == before
    kept = result.ids("passed")
    assert {"existing::app1::no masquerade", "existing::app2::no egress (tcp)", "existing::app0::isolated to app2",
            "existing::app2::isolated from run network", "existing::bridge::isolated to app0"} <= kept, result.summary()
    print(f"audit cost: default bridge alone {alone:.1f}s, with 3 more networks {with_three:.1f}s: "
          f"{(with_three - alone) / 3:.1f}s per existing network")
