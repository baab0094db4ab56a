"""Which probes of one waiting window may be made at the same moment, and what tells them apart.

A probe's witness in the target's namespace counts the packets that carry its mark
(:mod:`netconform.observe.witness`): a nonce in ICMP and UDP payloads, for TCP (a SYN carries no
payload) the destination port, and the source port where the prober chose one. A listener is
started on the target's port for the probe's duration; echo listeners share the port.
"""

from __future__ import annotations

import itertools
import secrets

from netconform.spec.model import ReachSpec

# TCP probes to the sentinel each send from their own port: below the kernel's ephemeral range
# (32768-60999), above the ports scenarios publish and listen on.
SOURCE_PORTS = (20000, 30000)


def made_together(spec: ReachSpec) -> tuple[str, int | None]:
    """Probes with the same key are made one after another: TCP probes to one port of a container
    or the host, which the witness there cannot tell apart. ICMP and UDP ones carry a nonce, and
    TCP ones to the sentinel (its own listener, no proxy or DNAT before it) a source port of their
    own (:class:`SourcePorts`): those are made at once."""
    if spec.proto == "tcp" and spec.to != "sentinel":
        return (spec.to, spec.listener_port)
    return (spec.id, None)


def sends_from_own_port(spec: ReachSpec) -> bool:
    """Whether ``spec``'s packets carry a source port :class:`SourcePorts` chose for it."""
    return (spec.proto, spec.to) == ("tcp", "sentinel")


class SourcePorts:
    """The source ports of one prober's TCP probes to the sentinel, each its own (thread-safe:
    ``next`` on an itertools counter is atomic)."""

    def __init__(self) -> None:
        low, high = SOURCE_PORTS
        self._next = itertools.count(low + secrets.randbelow(high - low))

    def for_probe(self, spec: ReachSpec) -> int | None:
        """The port ``spec`` sends from (None: the kernel picks one, as for any other probe)."""
        if not sends_from_own_port(spec):
            return None
        low, high = SOURCE_PORTS
        return low + (next(self._next) - low) % (high - low)
