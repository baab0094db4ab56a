"""What vanished during a run: the daemon under test, a scenario's container, the sentinel.

A probe or lookup with an end that is gone would be judged on what it then sees ("blocked",
"timeout"): a claim about Docker that the run cannot back. The prober asks here before each one
and again after it, and an end that is gone makes it an error that names the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from netconform.engine.daemon_process import DaemonProcess
from netconform.facts import ContainerFacts, ScenarioFacts
from netconform.hermetic.hostclean import namespace_id
from netconform.hermetic.sentinel import Sentinel


def container_gone(container: ContainerFacts) -> str:
    """Empty while the container's process still holds the network namespace observed when the
    scenario was built (the same inode: a reused pid is not the container); else why not."""
    path = f"/proc/{container.pid}/ns/net"
    seen = container.namespaces.get("net")
    now = namespace_id(path)
    if now is not None and (seen is None or now == (seen.dev, seen.inode)):
        return ""
    return f"container {container.key} is no longer running (its process {container.pid} and its netns are gone)"


@dataclass
class Vanished:
    """Asks whether the ends of a probe are still there.

    Attributes:
        daemon: the dockerd the run observes (None: not checked).
        describe: container id -> what the daemon says of it now (evidence for a gone container).
    """

    daemon: DaemonProcess | None = None
    describe: Callable[[str], str] | None = None

    def why(self, facts: ScenarioFacts, ends: Iterable[str], sentinel: Sentinel | None) -> str:
        """Why one of ``ends`` (container keys, ``host``, ``sentinel``) is gone; empty when none is."""
        daemon = self.daemon.change() if self.daemon is not None else ""
        problems = []
        for end in dict.fromkeys(ends):
            if end == "host":
                problems.append(daemon)
            elif end == "sentinel":
                problems.append(sentinel.damage() if sentinel is not None else "")
            elif (container := facts.containers.get(end)) is not None and container.created:
                gone = container_gone(container)
                if gone and self.describe is not None:
                    gone += f": {self.describe(container.id)}"
                problems.append(gone)
        found = [problem for problem in problems if problem]
        if found and daemon and daemon not in found:
            found.append(daemon)  # the likely cause of a container's end
        return "; ".join(found)
