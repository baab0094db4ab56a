"""Which namespaces a scenario's first probe waits out DAD in, and that it happens once per scenario.

The wait itself (a real tentative address) is seen in tests/integration/test_resident_namespaces.py.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from netconform.errors import ProbeError
from netconform.facts import ContainerFacts, DaemonFacts, HostFacts, NamespaceId, NetnsView, ScenarioFacts
from netconform.harness import settling
from netconform.harness.settling import Settling, namespaces_of


def _net(inode: int) -> dict[str, NamespaceId]:
    return {"net": NamespaceId("net", 4, inode)}


def _scenario() -> ScenarioFacts:
    daemon = DaemonFacts("20.10.24", "1.41", "linux", "6.1", "overlay2", "systemd", "2", False)
    host = HostFacts(daemon_pid=100, namespaces=_net(1), net=NetnsView([], []), hostname="vm", cgroup_version=2)
    containers = {
        "web": ContainerFacts("web", "w", True, pid=201, namespaces=_net(2)),
        "side": ContainerFacts("side", "s", True, pid=202, namespaces=_net(2)),  # container:web
        "hostmode": ContainerFacts("hostmode", "h", True, pid=203, namespaces=_net(1)),
        "refused": ContainerFacts("refused", "r", False, error="refused"),
        "db": ContainerFacts("db", "d", True, pid=204, namespaces=_net(3)),
    }
    return ScenarioFacts("s", daemon, host, {}, containers)


def test_the_daemons_namespace_and_each_containers_own_once() -> None:
    assert list(namespaces_of(_scenario())) == ["/proc/100/ns/net", "/proc/201/ns/net", "/proc/204/ns/net"]


@pytest.fixture
def settled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []

    def settle_netns(path: str, what: str, timeout: float) -> None:
        time.sleep(0.01)
        calls.append(path)
        if path == "/proc/204/ns/net":
            raise ProbeError("the process is gone")

    monkeypatch.setattr(settling, "settle_netns", settle_netns)
    return calls


def test_a_scenario_is_settled_once_whichever_thread_comes_first(settled: list[str]) -> None:
    facts = _scenario()
    settler = Settling(timeout=1.0)
    threads = [threading.Thread(target=settler.settle, args=(facts,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    settler.settle(facts)
    # A namespace that is gone is passed over (its probe reports it), not retried.
    assert settled == ["/proc/100/ns/net", "/proc/201/ns/net", "/proc/204/ns/net"]


def test_facts_observed_again_are_settled_again(settled: list[str]) -> None:
    settler = Settling(timeout=1.0)
    first: Any = _scenario()
    settler.settle(first)
    del first  # its entry goes; a new observation (after a step, say) is a new scenario to settle
    settler.settle(_scenario())
    assert len(settled) == 6
