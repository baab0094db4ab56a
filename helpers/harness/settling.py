"""IPv6 duplicate address detection, waited out before a scenario's first probe or lookup.

A fresh global IPv6 address (a container's, a bridge's gateway in the daemon's namespace) is
tentative for about a second (:mod:`netconform.observe.dad`): meanwhile a peer's SYN goes
unanswered and source selection passes it over (on 26, docker-proxy then dialled from the
sentinel veth's address). Observation does not wait for it — an address reads the same, tentative
or not — so a batch of scenarios is built and observed without a second's pause per scenario; the
wait is here, as the first packet of a scenario is about to leave, and by then, in the window after
a batch was built, it has mostly passed.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from typing import Any

from netconform.errors import ProbeError
from netconform.facts import ScenarioFacts
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.hermetic.resident import call_resident
from netconform.observe.dad import DAD_BOUND, await_dad, tentative_addresses


def namespaces_of(facts: ScenarioFacts) -> dict[str, str]:
    """The network namespaces a scenario's packets use: the daemon's (its bridges' gateways) and
    each created container's, once each: path -> what it is."""
    paths = {f"/proc/{facts.host.daemon_pid}/ns/net": "the daemon's network namespace"}
    seen = {facts.host.namespaces.get("net")}
    for container in facts.containers.values():
        identity = container.namespaces.get("net")
        if container.created and container.pid and identity not in seen:
            seen.add(identity)
            paths[f"/proc/{container.pid}/ns/net"] = f"the network namespace of {container.key}"
    return paths


def settle_netns(path: str, what: str, timeout: float) -> None:
    """Return once no global IPv6 address in the namespace at ``path`` is tentative (at most
    :data:`DAD_BOUND` seconds): asked of the resident visitor, waited in a child of its own."""
    if call_resident({"net": path}, tentative_addresses, True, timeout=timeout, what=f"DAD state of {what}"):
        call_in_namespaces({"net": path}, await_dad, DAD_BOUND, True, timeout=DAD_BOUND + timeout,
                           what=f"waiting out DAD in {what}")


class Settling:
    """Settles each scenario's namespaces once, whichever of its probes or lookups comes first."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._guard = threading.Lock()
        self._scenarios: dict[int, tuple[weakref.ref[ScenarioFacts], threading.Lock, list[bool]]] = {}

    def settle(self, facts: ScenarioFacts) -> None:
        """Wait out DAD in ``facts``' namespaces unless done before. A namespace that is gone is
        passed over: the probe or lookup reports it."""
        with self._guard:
            entry = self._scenarios.get(id(facts))
            if entry is None or entry[0]() is not facts:
                self._forget_collected()
                entry = self._scenarios[id(facts)] = (weakref.ref(facts), threading.Lock(), [False])
        _, lock, done = entry
        with lock:
            if done[0]:
                return
            for path, what in namespaces_of(facts).items():
                with contextlib.suppress(ProbeError):
                    settle_netns(path, what, self.timeout)
            done[0] = True

    def _forget_collected(self) -> None:
        gone: list[Any] = [key for key, (ref, _, _) in self._scenarios.items() if ref() is None]
        for key in gone:
            del self._scenarios[key]
