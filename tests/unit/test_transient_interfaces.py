"""Which of the daemon namespace's interfaces count as transient for a host-mode container.

An interface only a container read saw (another run's veth, there for milliseconds) is read again
away; one the container keeps seeing and no host read does is not hidden, so "the same interfaces
as the host" can still fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from netconform.facts import ContainerFacts, HostFacts, Interface, NamespaceId, NetnsView
from netconform.observe import scenario


def _view(*names: str) -> NetnsView:
    return NetnsView([Interface(n, name, "veth", "", 1500, True) for n, name in enumerate(names)], [])


class _Reader:
    def __init__(self, host_again: NetnsView) -> None:
        self.sysctls: tuple[str, ...] = ()
        self.timeout = 1.0
        self.host_again = host_again

    def names(self, pid: int, what: str) -> set[str]:
        return {iface.name for iface in self.host_again.interfaces}


def _facts(container_sees: NetnsView) -> tuple[HostFacts, ContainerFacts]:
    net = {"net": NamespaceId("net", 4, 1)}
    host = HostFacts(daemon_pid=100, namespaces=net, net=_view("lo", "eth0", "gone"), hostname="vm", cgroup_version=2)
    container = ContainerFacts("h", "h", True, pid=200, namespaces=dict(net), net=container_sees)
    return host, container


@pytest.fixture
def rereads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[NetnsView]]:
    """Container views the rereads return in turn, each between two host reads of lo, eth0, new."""
    views: list[NetnsView] = []

    def between(*_: Any) -> tuple[set[str], NetnsView, set[str]]:
        return {"lo", "eth0", "new"}, views.pop(0), {"lo", "eth0", "new"}

    monkeypatch.setattr(scenario, "view_between_host_reads", between)
    yield views


def test_an_interface_only_one_container_read_caught_is_read_again_away(rereads: list[NetnsView]) -> None:
    host, container = _facts(_view("lo", "eth0", "new", "vethbrief"))
    rereads.append(_view("lo", "eth0", "new"))
    transient = scenario._transient_host_interfaces(host, [container], _Reader(_view("lo", "eth0", "new")))
    assert transient == ["gone", "new"]
    assert [iface.name for iface in container.net.interfaces] == ["lo", "eth0", "new"]  # type: ignore[union-attr]


def test_an_interface_the_container_keeps_seeing_and_the_host_never_does_stays(rereads: list[NetnsView]) -> None:
    host, container = _facts(_view("lo", "eth0", "new", "own0"))
    rereads.extend(_view("lo", "eth0", "new", "own0") for _ in range(5))
    transient = scenario._transient_host_interfaces(host, [container], _Reader(_view("lo", "eth0", "new")))
    assert "own0" not in transient
    assert "own0" in [iface.name for iface in container.net.interfaces]  # type: ignore[union-attr]
