"""Whether a check applies on this daemon: not when a container it is about was refused, as the
scenario expects on this version.

A container the daemon refuses (several networks at create before API 1.44, say) has no
interfaces, routes or names to judge. Where the scenario declares that refusal for this daemon
(its ``refused`` or ``created`` check holds), the refusal is the real check and the container's
other checks, and the probes from or to it, are skipped with that reason: neither passed nor
failed. Where the refusal is not expected, they fail with the daemon's error as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from netconform.facts import ScenarioFacts
from netconform.judge.verdict import judge
from netconform.spec.model import Check

# The checks of a container's creation itself: they always apply.
CREATION = ("created", "refused", "left_behind")


def not_applicable(check: Check, checks: Sequence[Check], facts: ScenarioFacts,
                   context: Mapping[str, Any] | None = None) -> str:
    """Why ``check`` does not apply on this daemon ("" when it does).

    Args:
        checks: the checks of the scenario's state ``check`` belongs to, where refusals are declared.
    """
    if check.of_network or (check.reach is None and check.prop in CREATION):
        return ""
    ends = [check.reach.frm, check.reach.to] if check.reach is not None else [check.subject]
    for key in ends:
        container = facts.containers.get(key)
        if container is None or container.created:
            continue
        for refusal in checks:
            if refusal.subject == key and not refusal.of_network and refusal.prop in ("created", "refused") \
                    and judge(refusal, facts, context).passed:
                return (f"not applicable on dockerd {facts.daemon.version}: the daemon refuses {key} "
                        f"({container.error}), checked by {key} {refusal.prop}")
    return ""
