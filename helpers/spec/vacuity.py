"""Expectations that cannot fail are refused when a spec is loaded.

A check that passes whatever the daemon does is a false claim of conformance: ``one_of`` covering
every outcome, ``not`` of a value the property never takes, ``contains: []``, a regular expression
that matches anything, a CIDR of length 0. Only literal values are judged here; references are
resolved at run time and could be anything.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from netconform.spec.values import Expectation, Matcher, Select, Value, Where

# Strings a regular expression must all match to count as matching anything.
_PROBES = ("", "x", "Z9", "\n", "-", " ", "netconform", "10.0.0.1", "\u00e9")


def _literal(value: Value) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _texts(value: Value) -> list[str] | None:
    """The literal items of ``value`` as lowercase text, or None if any is a reference."""
    items = list(value) if isinstance(value, tuple) else [value]
    if not all(_literal(item) for item in items):
        return None
    return [str(item).lower() for item in items]


def _always(op: str, value: Value, domain: frozenset[str] | None) -> str | None:
    """Why ``op: value`` holds for every possible observation, or None if it can fail."""
    texts = _texts(value)
    if texts is None:
        return None
    if op in ("contains", "excludes") and not texts:
        return f"'{op}' of an empty list holds for any observation"
    if op == "one_of" and domain is not None and domain <= set(texts):
        return f"'one_of' lists every possible value ({', '.join(sorted(domain))})"
    if op == "not" and domain is not None and len(texts) == 1 and texts[0] not in domain:
        return f"the property is never {value!r} (it is one of {', '.join(sorted(domain))}), so 'not' always holds"
    if op == "excludes" and domain is not None and not set(texts) & domain:
        return f"the property never holds {', '.join(texts)}, so 'excludes' always holds"
    if op == "matches" and isinstance(value, str) and all(re.search(value, probe) for probe in _PROBES):
        return f"the regular expression {value!r} matches any text"
    if op == "in":
        for text in texts:
            try:
                if ipaddress.ip_network(text, strict=False).prefixlen == 0:
                    return f"'in: {text}' holds for every address"
            except ValueError:
                continue
    return None


def refuse_vacuous(expectation: Expectation, where: Where, domain: Iterable[str] | None = None) -> None:
    """Raise a :class:`SpecError` at ``where`` if the expectation (any case of a selection) cannot
    fail; ``domain`` is every value the property can take, when that is a known finite set."""
    values = frozenset(item.lower() for item in domain) if domain is not None else None
    if isinstance(expectation, Select):
        for key, case in expectation.cases:
            refuse_vacuous(case, Where(where.path, where.line, f"{where.key}.cases.{key}"), values)
        return
    assert isinstance(expectation, Matcher)
    reasons = [_always(op, value, values) for op, value in expectation.ops]
    if all(reasons):
        raise where.error(f"this expectation cannot fail: {'; '.join(str(r) for r in reasons)}",
                          "an expectation that some observation would contradict")
