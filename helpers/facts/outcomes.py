"""What a probe or lookup saw: DNS answers, attempts, packet sightings, reachability outcomes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LookupResult:
    """One DNS question asked from inside a network namespace, and what came back."""

    qtype: str
    name: str
    server: str | None
    rcode: str
    answers: list[str] = field(default_factory=list)
    attempts: int = 0
    elapsed: float = 0.0
    detail: str = ""
    upstream_sources: list[str] | None = None

    @property
    def outcome(self) -> str | list[str]:
        """Sorted answers; NODATA for an empty NOERROR; else the rcode (or 'timeout')."""
        if self.rcode == "NOERROR":
            return sorted(self.answers) if self.answers else "NODATA"
        return self.rcode

    def describe(self) -> str:
        # A question never asked (no server, namespace gone) has no attempts worth counting.
        asked = f" ({self.attempts} attempt(s), {self.elapsed:.2f}s)" if self.attempts else ""
        answers = f" {self.answers}" if self.answers else ""
        detail = f" {self.detail}" if self.detail else ""
        return f"{self.qtype} {self.name} @{self.server}: {self.rcode}{answers}{asked}{detail}"



@dataclass
class Attempt:
    outcome: str
    seen: str | None = None
    elapsed: float = 0.0
    detail: str = ""


@dataclass
class Sighting:
    """A probe's marked packets seen at one place (see :mod:`netconform.observe.witness`)."""

    count: int = 0
    first: list[str] = field(default_factory=list)
    dropped: int = 0
    error: str = ""
    # At a target: how many answers to those packets left its namespace.
    answers: int = 0

    def add(self, description: str, keep: int = 5) -> None:
        self.count += 1
        if len(self.first) < keep:
            self.first.append(description)

    def describe(self) -> str:
        if self.error:
            return f"not watched: {self.error}"
        seen = "; ".join(self.first)
        more = f" (+{self.count - len(self.first)} more)" if self.count > len(self.first) else ""
        lost = f"; the packet socket lost {self.dropped} packet(s)" if self.dropped else ""
        answered = f"; {self.answers} answer(s) left" if self.answers else ""
        return f"{self.count} packet(s){': ' + seen if seen else ''}{more}{answered}{lost}"


# Attempt outcomes that mean the prober itself failed, not the network.
BROKEN_ATTEMPTS = ("error", "protocol")
# The kernel of the prober's namespace had no way to the destination (no route, the route's device
# down, no neighbour answering on the link): nothing was sent.
NO_ROUTE = "no route"

OUTCOMES = ("reach", "blocked", "one-way", "inconclusive")


@dataclass
class ReachResult:
    """One probe of the reachability matrix: every attempt, and what the witnesses saw.

    ``sent`` counts the probe's packets seen leaving the prober's namespace, ``arrived`` those seen
    arriving in the target's (None: not watched). The outcome is decided from all three.
    """

    probe: str
    frm: str
    to: str
    proto: str
    address: str
    port: int | None
    listener: str = ""
    resolved_from: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    error: str = ""
    sent: Sighting | None = None
    arrived: Sighting | None = None

    @property
    def reached(self) -> bool:
        return any(attempt.outcome == "reach" for attempt in self.attempts)

    @property
    def outcome(self) -> str:
        """reach, blocked, one-way (the request arrived, no answer came back) or inconclusive."""
        return self.decide()[0]

    @property
    def reason(self) -> str:
        """Why the outcome is what it is, in words for the story."""
        return self.decide()[1]

    def decide(self) -> tuple[str, str]:
        if self.error:
            return "inconclusive", self.error
        if not self.attempts:
            return "inconclusive", "no attempt was made"
        arrived = self.arrived
        if arrived is None or arrived.error:
            why = arrived.error if arrived else "no witness ran"
            return "inconclusive", f"{self.to}'s namespace could not be watched ({why})"
        if arrived.dropped:
            return "inconclusive", f"the witness in {self.to}'s namespace lost {arrived.dropped} packet(s)"
        if self.reached:
            if arrived.count:
                return "reach", f"answered; {arrived.count} packet(s) of the probe arrived in {self.to}'s namespace"
            return "inconclusive", (f"an answer came back, but none of the probe's packets arrived in {self.to}'s "
                                    "namespace: something else answered")
        broken = next((a for a in self.attempts if a.outcome in BROKEN_ATTEMPTS), None)
        if broken is not None:
            return "inconclusive", f"the probe itself failed: {broken.outcome} ({broken.detail})"
        if arrived.count and arrived.answers:
            return "one-way", (f"one-way leak: {arrived.count} packet(s) of the probe arrived in {self.to}'s "
                               f"namespace and {arrived.answers} answer(s) left it, but none came back")
        if arrived.count:
            return "one-way", (f"one-way: {arrived.count} packet(s) of the probe arrived in {self.to}'s namespace, "
                               "which sent no answer (dropped inside it)")
        sent = self.sent
        if all(a.outcome == "unreachable" and a.detail.startswith(NO_ROUTE) for a in self.attempts):
            why = self.attempts[-1].detail.removeprefix(NO_ROUTE).lstrip(": ")
            return "blocked", f"{self.frm}'s namespace has no way to {self.address} ({why}); nothing arrived"
        if sent is None or sent.error or sent.dropped or not sent.count:
            why = sent.describe() if sent else "not watched"
            return "inconclusive", f"no packet of the probe was seen leaving {self.frm}'s namespace ({why})"
        kinds = sorted({a.outcome for a in self.attempts})
        return "blocked", (f"{sent.count} packet(s) left {self.frm}'s namespace, none arrived in {self.to}'s "
                           f"({', '.join(kinds)})")

    @property
    def seen_source(self) -> str | None:
        return next((attempt.seen for attempt in self.attempts if attempt.outcome == "reach"), None)

    def describe(self) -> str:
        target = f"{self.address}:{self.port}" if self.port else self.address
        via = f" (resolved from {self.resolved_from})" if self.resolved_from else ""
        tries = ", ".join(
            f"{a.outcome}{' from ' + a.seen if a.seen else ''}{' (' + a.detail + ')' if a.detail else ''}"
            f" in {a.elapsed:.2f}s" for a in self.attempts
        )
        listener = f"; listener {self.listener}" if self.listener else ""
        outcome, reason = self.decide()
        lines = [f"{self.proto} {self.frm} -> {self.to} {target}{via}: {outcome} [{tries}]{listener}",
                 f"  why: {reason}"]
        if self.sent is not None:
            lines.append(f"  left {self.frm}: {self.sent.describe()}")
        if self.arrived is not None:
            lines.append(f"  arrived in {self.to}: {self.arrived.describe()}")
        return "\n".join(lines)
