"""Helpers of the hostile-input tests: what a clear error is, and generators of hostile values
(the Hypothesis profiles are in conftest.py)."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

from netconform.errors import SpecError
from netconform.report import diff

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "suites").glob("*.yaml"))
PROFILES = sorted((ROOT / "profiles").glob("*.yaml"))
REPORTS = sorted((ROOT / "tests" / "data").glob("report-*.json"))

def assert_clear(err: SpecError, shown: str) -> None:
    """One line per problem, each ``file:line: key: problem``; nothing else."""
    lines = err.render().split("\n")
    assert len(lines) == len(err.problems), lines
    for line in lines:
        assert re.match(rf"{re.escape(shown)}:\d+: \S", line), line
        assert line.isprintable(), line


def load_or_clear_error(loader: Any, path: Path) -> Any:
    """Load ``path`` with ``loader``: the model, or None after checking the error is clear."""
    try:
        return loader(path, path.name)
    except SpecError as err:
        assert_clear(err, path.name)
        return None


def run_diff(before: Path, after: Path, *extra: str) -> tuple[int, str, str]:
    """``netconform-diff BEFORE AFTER``: exit code, stdout, stderr (any exception fails the test)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = diff.main([str(before), str(after), *extra])
    return code, out.getvalue(), err.getvalue()


def assert_diff_clear(code: int, err: str, *paths: Path) -> None:
    """Exit 0 or 1 with nothing on stderr, or exit 2 with one line naming one of the reports."""
    if code in (diff.EXIT_SAME, diff.EXIT_REGRESSION):
        assert err == ""
        return
    assert code == diff.EXIT_BAD_INPUT
    lines = err.rstrip("\n").split("\n")
    assert len(lines) == 1 and any(lines[0].startswith(f"netconform-diff: {path}: ") for path in paths), lines


# Scalars no spec expects: huge and odd numbers, control characters, long strings, YAML-looking text.
ODD_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x2030), max_size=20),
    st.sampled_from(["", "-", "~", "${", "${container.", "${x.y.z}", "0x1F", "1e309", "-.inf", ".nan", "2024-13-45",
                     "*", "&a", "!!python/object", "a\nb", "\t", "x" * 5000, "10.0.0.0/33", "::1", "300.1.1.1",
                     "bridge", "host", "none", "container:", "container:nope", "reach", "blocked", "tcp", "65536"]),
)
JSON_VALUES = st.recursive(ODD_SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)), max_leaves=12)
KEYS = st.one_of(st.text(max_size=12), st.sampled_from(
    ["containers", "networks", "expect", "reachability", "description", "settings", "profile", "audit_existing",
     "network", "networks", "ip", "aliases", "publish", "dns", "from", "to", "port", "proto", "expect", "by", "cases",
     "equals", "in", "one_of", "not", "interface", "eth0", "mtu", "ipv4", "subnet", "gateway", "options"]))


def paths_of(tree: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a YAML/JSON tree: keys of mappings and positions of lists."""
    found = [at]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found += paths_of(value, (*at, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            found += paths_of(value, (*at, index))
    return found


def replaced(tree: Any, at: tuple[Any, ...], value: Any) -> Any:
    """``tree`` with the value at ``at`` replaced (a copy)."""
    if not at:
        return value
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[at[0]] = replaced(tree[at[0]], at[1:], value)
    return copy


def renamed(tree: Any, at: tuple[Any, ...], name: Any) -> Any:
    """``tree`` with the key at ``at`` renamed (the order of keys kept)."""
    if len(at) == 1:
        return {name if key == at[0] else key: value for key, value in tree.items()}
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[at[0]] = renamed(tree[at[0]], at[1:], name)
    return copy


def dropped(tree: Any, at: tuple[Any, ...]) -> Any:
    """``tree`` without the key or item at ``at``."""
    if len(at) == 1:
        return {k: v for k, v in tree.items() if k != at[0]} if isinstance(tree, dict) else \
            [v for i, v in enumerate(tree) if i != at[0]]
    copy = dict(tree) if isinstance(tree, dict) else list(tree)
    copy[at[0]] = dropped(tree[at[0]], at[1:])
    return copy


@st.composite
def mutated(draw: st.DrawFn, tree: Any) -> Any:
    """``tree`` with one key misspelt or replaced, one value replaced by another type, or one
    key or item dropped."""
    at = draw(st.sampled_from(paths_of(tree)))
    how = draw(st.sampled_from(["value", "rename", "drop"] if at else ["value"]))
    if how == "value":
        return replaced(tree, at, draw(JSON_VALUES))
    parent = tree
    for part in at[:-1]:
        parent = parent[part]
    if how == "rename" and isinstance(parent, dict):
        key = str(at[-1])
        misspelt = st.one_of(KEYS, st.just(key[:-1]), st.just(key + "s"), st.just(key.upper()),
                             st.just(key.replace("_", "-")), st.just(key[::-1]))
        return renamed(tree, at, draw(misspelt))
    return dropped(tree, at)


def yaml_text(tree: Any) -> str:
    """``tree`` as YAML; values YAML cannot represent as plain data are written as JSON (also YAML)."""
    try:
        return yaml.safe_dump(tree, allow_unicode=True, sort_keys=False)
    except yaml.YAMLError:
        return json.dumps(tree)
