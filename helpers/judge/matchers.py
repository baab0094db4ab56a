"""Evaluate matcher operators on an observed value; describe the expectation in words."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from netconform.spec.values import MATCHER_OPS


def _normal(value: Any) -> Any:
    """Compare addresses as addresses, MACs case-insensitively, numbers as text."""
    if isinstance(value, bool):
        return str(value).lower()
    text = str(value).strip()
    try:
        if "/" in text:
            return ipaddress.ip_interface(text)
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if re.fullmatch(r"([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", text):
        return text.lower()
    return text


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else [value]


def _equals(observed: Any, expected: Any) -> bool:
    if isinstance(observed, list | tuple) or isinstance(expected, list | tuple):
        observed_set = {_normal(item) for item in _as_list(observed)}
        expected_set = {_normal(item) for item in _as_list(expected)}
        return observed_set == expected_set and len(_as_list(observed)) == len(observed_set)
    return bool(_normal(observed) == _normal(expected))


def _inside(observed: Any, expected: Any) -> bool:
    networks = [ipaddress.ip_network(str(item), strict=False) for item in _as_list(expected)]
    items = _as_list(observed)
    if not items:
        return False
    for item in items:
        try:
            address = ipaddress.ip_interface(str(item)).ip
        except ValueError:
            return False
        if not any(address in network for network in networks):
            return False
    return True


def holds(op: str, observed: Any, expected: Any) -> bool:
    """Whether one operator holds. Unknown operators never hold (the loader rejects them)."""
    if op == "equals":
        return _equals(observed, expected)
    if op == "not":
        return not _equals(observed, expected)
    if op == "in":
        return _inside(observed, expected)
    if op == "one_of":
        return any(_equals(observed, item) for item in _as_list(expected))
    if op == "contains":
        have = {_normal(item) for item in _as_list(observed)}
        return all(_normal(item) in have for item in _as_list(expected))
    if op == "excludes":
        have = {_normal(item) for item in _as_list(observed)}
        return not any(_normal(item) in have for item in _as_list(expected))
    if op == "matches":
        items = _as_list(observed)
        return bool(items) and all(re.search(str(expected), str(item)) for item in items)
    return False


_WORDS = {
    "equals": "",
    "not": "not ",
    "in": "inside ",
    "one_of": "one of ",
    "contains": "contains ",
    "excludes": "excludes ",
    "matches": "matches /",
}
assert set(_WORDS) == set(MATCHER_OPS)


def show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show(item) for item in value) + "]"
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if value == "":
        return '""'  # else "expected not , observed " reads as nothing at all
    return str(value)


def describe(op: str, expected: Any, source: str) -> str:
    text = _WORDS[op] + show(expected) + ("/" if op == "matches" else "")
    return f"{text} (from {source})" if source else text
