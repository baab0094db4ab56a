"""A scenario's reachability matrix as a grid: rows are where a probe starts, columns where it goes,
each cell lists its probes with what was expected and observed (and the source address the other
end saw, when that is checked). Mismatches are red and marked, so they stand out at a glance.
``templates/grid.html`` draws it.

The probes are taken in the order they are declared; their results from ``observed.reach`` and
their verdicts from the ``reach`` and ``source`` checks that judge them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from netconform.report.declared import probe_id, value_text

# A check's outcome, as a cell's state. A probe without a verdict (no check record) is "unjudged".
STATE = {"passed": "match", "failed": "mismatch", "error": "error", "skipped": "skipped"}
# The worst state first: a cell takes the worst state of its probes.
SEVERITY = ("mismatch", "error", "unjudged", "skipped", "match")
MARK = {"match": "✓", "mismatch": "✗", "error": "!", "skipped": "-", "unjudged": "?"}
# Where a probe may start or end besides the containers, in the order they are shown.
PLACES = ("host", "sentinel")
SOURCE_SUFFIX = " [source]"
ERROR_CHARS = 90  # of an error's text in a cell (the tooltip has all of it)


@dataclass(frozen=True)
class Verdict:
    """What one check said of a probe."""

    expected: str
    observed: str
    state: str


@dataclass(frozen=True)
class Probe:
    """One probe of the matrix, with its reach verdict and, when checked, its source verdict."""

    id: str
    frm: str
    to: str
    what: str
    reach: Verdict
    source: Verdict | None
    why: str
    detail: str

    @property
    def state(self) -> str:
        """The worse of the reach and source verdicts."""
        states = [self.reach.state] + ([self.source.state] if self.source else [])
        return worst(states)


def worst(states: list[str]) -> str:
    """The most severe state of several (``match`` for none)."""
    return min(states, key=SEVERITY.index, default="match")


def probes_of(scenario: dict[str, Any], checks: list[dict[str, Any]]) -> list[Probe]:
    """The probes of a scenario: declared ones in order, then any other that was observed.

    Args:
        scenario: the scenario record.
        checks: the check records (any scenario's; the scenario's own are picked).

    Returns:
        One :class:`Probe` per probe.
    """
    verdicts = dict(_verdict_key(check) for check in checks
                    if check.get("scenario") == scenario["name"] and check.get("subject") == "reachability")
    results = {str(result["probe"]): result for result in (scenario.get("observed") or {}).get("reach") or []}
    declared = {probe_id(spec): spec for spec in scenario["declared"].get("reachability") or []}
    ids = list(declared) + [key for key in results if key not in declared]
    ids += sorted({probe for probe, _ in verdicts if probe not in ids})
    return [_probe(key, declared.get(key), results.get(key), verdicts) for key in ids]


def _verdict_key(check: dict[str, Any]) -> tuple[tuple[str, str], dict[str, Any]]:
    """(probe id, ``reach`` or ``source``) of a reachability check.

    A check whose scenario could not be built is recorded from pytest's report alone, without
    ``probe``; its name is still the probe id, with `` [source]`` for the source check.
    """
    if check.get("probe"):
        return (str(check["probe"]), str(check["property"])), check
    name = str(check.get("name", ""))
    if name.endswith(SOURCE_SUFFIX):
        return (name.removesuffix(SOURCE_SUFFIX), "source"), check
    return (name, "reach"), check


def _probe(key: str, spec: dict[str, Any] | None, result: dict[str, Any] | None,
           verdicts: dict[tuple[str, str], dict[str, Any]]) -> Probe:
    origin: dict[str, Any] = spec or result or {}
    frm, to = str(origin.get("frm", "?")), str(origin.get("to", "?"))
    if not origin and "->" in key:
        # A verdict without a declared or observed probe: its id still says from where to where.
        frm, _, rest = key.partition("->")
        to = rest.split(" ")[0]
    what = str(origin.get("proto", "")) + (f"/{origin['port']}" if origin.get("port") is not None else "")
    if spec and spec.get("address") is not None:
        what += f" to {value_text(spec['address'])}"
    reach = _verdict(verdicts.get((key, "reach")), _observed_reach(result))
    source_check = verdicts.get((key, "source"))
    source = _verdict(source_check, "") if source_check else None
    detail = _detail(key, result) + (f"\n{reach.observed}" if reach.state == "error" else "")
    return Probe(key, frm, to, what or key, reach, source, _why_blocked(result), detail)


def _verdict(check: dict[str, Any] | None, fallback: str) -> Verdict:
    if check is None:
        return Verdict("", fallback, "unjudged")
    observed = check.get("observed")
    if check.get("outcome") == "error":
        observed = check.get("error") or observed
    return Verdict(_text(check.get("expected")), _text(observed) or fallback, STATE.get(str(check["outcome"]), "error"))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _observed_reach(result: dict[str, Any] | None) -> str:
    if not result:
        return "not probed"
    if result.get("error"):
        return f"error: {result['error']}"
    if "outcome" in result:
        return str(result["outcome"])
    # Reports of schema 1 before witnesses: the attempts alone.
    attempts = result.get("attempts") or []
    return "reach" if any(attempt.get("outcome") == "reach" for attempt in attempts) else "blocked"


def _why_blocked(result: dict[str, Any] | None) -> str:
    """How the attempts of a probe that did not reach ended (timeout, refused...)."""
    attempts = (result or {}).get("attempts") or []
    outcomes = sorted({str(attempt.get("outcome")) for attempt in attempts if attempt.get("outcome") != "reach"})
    return ", ".join(outcomes)


def _detail(key: str, result: dict[str, Any] | None) -> str:
    """The tooltip of a probe: where it went and how each attempt ended."""
    if not result:
        return key
    port = f":{result['port']}" if result.get("port") else ""
    lines = [key, f"{result.get('proto')} {result.get('address')}{port}"]
    if result.get("listener"):
        lines.append(f"listener {result['listener']}")
    for attempt in result.get("attempts") or []:
        seen = f" from {attempt['seen']}" if attempt.get("seen") else ""
        detail = f" ({attempt['detail']})" if attempt.get("detail") else ""
        lines.append(f"{attempt.get('outcome')}{seen}{detail} in {float(attempt.get('elapsed') or 0):.2f}s")
    if result.get("error"):
        lines.append(f"error: {result['error']}")
    return "\n".join(lines)


def places(scenario: dict[str, Any], names: set[str]) -> list[str]:
    """``names`` in the order of the scenario: its containers as declared, the host, the sentinel."""
    order = [*scenario["declared"].get("containers", {}), *PLACES]
    return [name for name in order if name in names] + sorted(names - set(order))


@dataclass(frozen=True)
class Entry:
    """A probe as its cell shows it. On a mismatch ``expected`` and ``observed`` are spelled out;
    otherwise ``verdict`` is the short text. ``detail`` is the tooltip."""

    id: str
    what: str
    state: str
    detail: str
    verdict_state: str
    verdict: str
    expected: str
    observed: str
    source: tuple[str, str] | None  # (state, text) of the source check


@dataclass(frozen=True)
class Cell:
    """The probes from one place to another; ``state`` is the worst of theirs (``empty`` for none)."""

    state: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Grid:
    """A scenario's reachability grid: one row per origin, one column per destination."""

    id: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str, tuple[Cell, ...]], ...]
    mismatches: int


def grid_of(scenario: dict[str, Any], checks: list[dict[str, Any]], grid_id: str) -> Grid | None:
    """The reachability grid of a scenario, or ``None`` when it declares no probe.

    Args:
        scenario: the scenario record.
        checks: the check records.
        grid_id: the ``id`` of the table.

    Returns:
        The grid, for ``templates/grid.html``.
    """
    probes = probes_of(scenario, checks)
    if not probes:
        return None
    rows = places(scenario, {probe.frm for probe in probes})
    columns = places(scenario, {probe.to for probe in probes})
    body = tuple((row, tuple(_cell([probe for probe in probes if probe.frm == row and probe.to == column])
                             for column in columns))
                 for row in rows)
    mismatches = sum(probe.state == "mismatch" for probe in probes)
    return Grid(grid_id, _caption(probes), tuple(columns), body, mismatches)


def _caption(probes: list[Probe]) -> str:
    counts = {state: sum(probe.state == state for probe in probes) for state in SEVERITY}
    words = {"mismatch": "not as expected", "error": "could not be judged", "unjudged": "without a verdict",
             "skipped": "skipped"}
    parts = [f"{counts[state]} {word}" for state, word in words.items() if counts[state]]
    head = f"{len(probes)} probe" + ("s" if len(probes) != 1 else "")
    return f"{head}: " + (", ".join(parts) if parts else "all as expected")


def _cell(probes: list[Probe]) -> Cell:
    if not probes:
        return Cell("empty", ())
    return Cell(worst([probe.state for probe in probes]), tuple(_entry(probe) for probe in probes))


def _entry(probe: Probe) -> Entry:
    """A probe in its cell: protocol/port, then the verdict; expected vs observed spelled out on a mismatch."""
    reach = probe.reach
    observed = reach.observed
    if observed == "blocked" and probe.why:
        observed += f" ({probe.why})"
    mismatch = reach.state == "mismatch"
    return Entry(
        id=probe.id, what=probe.what, state=probe.state, detail=probe.detail, verdict_state=reach.state,
        verdict="" if mismatch else _short_verdict(reach.state, observed),
        expected=f"expected {reach.expected or '?'}" if mismatch else "",
        observed=f"observed {observed} {MARK['mismatch']}" if mismatch else "",
        source=(probe.source.state, _source_text(probe.source)) if probe.source else None,
    )


def _short_verdict(state: str, observed: str) -> str:
    """The verdict when there is no mismatch to spell out; the full text of an error is in the tooltip."""
    if state == "error":
        reason = observed if len(observed) <= ERROR_CHARS else observed[: ERROR_CHARS - 1] + "…"
        return f"could not be judged {MARK['error']} {reason}"
    if state == "unjudged":
        return f"{observed}, no verdict {MARK['unjudged']}"
    return f"{observed} {MARK[state]}" if state == "match" else "skipped"


def _source_text(source: Verdict) -> str:
    if source.state == "match":
        return f"source {source.observed} {MARK['match']}"
    return f"source {source.observed or 'none'} {MARK[source.state]} expected {source.expected or '?'}"
