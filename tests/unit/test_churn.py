"""Churn networks: created one after another under the isolation lock, each removed while the next
is created, so no more than two exist at once; a refusal still leaves none behind."""

from __future__ import annotations

import threading
import time
from typing import Any

import docker.errors
import pytest

from netconform.engine.churn import churn_networks
from netconform.errors import EngineError


class FakeNetworks:
    """Stands in for ``client.networks``: remembers which exist, and the most at once."""

    def __init__(self, refuse: str = "") -> None:
        self.alive: set[str] = set()
        self.created: list[str] = []
        self.most = 0
        self.refuse = refuse
        self.guard = threading.Lock()

    def create(self, name: str, **_: Any) -> Any:
        if name == self.refuse:
            raise docker.errors.APIError("no", explanation="could not find an available address pool")
        with self.guard:
            self.alive.add(name)
            self.created.append(name)
            self.most = max(self.most, len(self.alive))
        time.sleep(0.01)

        def remove() -> None:
            time.sleep(0.02)  # slower than a creation: the next one overlaps it
            with self.guard:
                self.alive.discard(name)

        return type("Network", (), {"remove": staticmethod(remove)})()


def client(networks: FakeNetworks) -> Any:
    return type("Client", (), {"networks": networks})()


def test_each_network_goes_while_the_next_is_made_two_at_most() -> None:
    networks = FakeNetworks()
    names = [f"churn{index}" for index in range(6)]
    churn_networks(client(networks), None, names, [{}] * 6, "6 network changes")
    assert networks.created == names
    assert networks.alive == set()
    assert networks.most == 2


def test_a_refused_network_is_reported_and_the_one_before_still_removed() -> None:
    networks = FakeNetworks(refuse="churn2")
    with pytest.raises(EngineError, match="refused churn network churn2: could not find"):
        churn_networks(client(networks), None, [f"churn{index}" for index in range(4)], [{}] * 4, "changes")
    assert networks.created == ["churn0", "churn1"]
    assert networks.alive == set()
