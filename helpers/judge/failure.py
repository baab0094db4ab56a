"""One failure, one readable story: scenario, container, property, expected, observed, evidence."""

from __future__ import annotations

import textwrap

from netconform.facts import ContainerFacts
from netconform.judge import Verdict
from netconform.spec.model import Check


class ConformanceFailure(Exception):
    """A check's expectation does not hold. Rendered as a story, never as a traceback."""

    def __init__(self, check: Check, container: ContainerFacts | None, verdict: Verdict) -> None:
        self.check = check
        self.container = container
        self.verdict = verdict
        super().__init__(f"{check.subject} {check.prop}: expected {verdict.expected}, observed {verdict.observed}")


def render_story(check: Check, container: ContainerFacts | None, verdict: Verdict) -> str:
    where = f"{check.path}:{check.line}" if check.line else check.path
    if container is not None:
        ident = f"{container.name}, {container.short_id}" if container.id else container.name
        subject = f"  container: {check.subject}  ({ident})"
    elif check.subject == "host":
        subject = "  host:      the daemon's host, as its settings were read before the run"
    else:
        subject = f"  probe:     {check.name}"
    if verdict.unjudged:
        headline = f"netconform: {check.subject} {check.name}: ERROR, could not be judged: {verdict.unjudged}"
    else:
        headline = f"netconform: {check.subject} {check.name}: expected {verdict.expected}, observed {verdict.observed}"
    lines = [
        # The first line is what pytest's short summary and JUnit's failure message show.
        headline if len(headline) <= 160 else headline[:157] + "...",
        f"  scenario:  {check.scenario}  ({where})",
        subject,
        f"  property:  {check.prop}  [{check.aspect}]",
        f"  expected:  {verdict.expected}",
        f"  observed:  {verdict.observed}",
    ]
    if verdict.note:
        lines.append(f"  note:      {verdict.note}")
    if verdict.evidence:
        lines.append("  evidence:")
        for name, text in verdict.evidence.items():
            lines.append(f"    {name}:")
            lines.append(textwrap.indent(text, "      "))
    return "\n".join(lines)
