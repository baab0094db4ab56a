"""Hostile input, generated: every spec, profile or report pair gives a model (or a diff) or one clear
error (``file:line: key: problem`` per problem; the diff's exit 2 line), never another exception.

Fast by default; ``--hypothesis-profile=long`` generates a hundred times as many inputs
(``--hypothesis-show-statistics`` counts them).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hostile import (
    JSON_VALUES,
    KEYS,
    ODD_SCALARS,
    PROFILES,
    REPORTS,
    SCENARIOS,
    assert_diff_clear,
    load_or_clear_error,
    mutated,
    run_diff,
    yaml_text,
)
from hypothesis import given
from hypothesis import strategies as st

from netconform.spec import load_scenario
from netconform.spec.profile import load_profile
from netconform.spec.yaml_limits import MAX_DEPTH

LOADERS: dict[str, Callable[[Path, str], Any]] = {"scenario": load_scenario, "profile": load_profile}
SHIPPED = {"scenario": SCENARIOS, "profile": PROFILES}
BOMS = [b"", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff"]
# Characters YAML gives meaning to, so random text is mostly almost-YAML.
YAML_ALPHABET = st.sampled_from([*":{}[]-&*!|>#'\",?%@`<=~.\\ \t\n\r", "a", "b", "1", "0", "\x00", "\x85", "\ufeff",
                                 "\u2028", "é", "\ud7ff"])


def _load(kind: str, content: bytes | str) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"hostile.{'yaml' if kind == 'scenario' else 'yml'}"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        return load_or_clear_error(LOADERS[kind], path)


@pytest.mark.parametrize("kind", LOADERS)
@given(bom=st.sampled_from(BOMS), body=st.binary(max_size=400))
def test_random_bytes(kind: str, bom: bytes, body: bytes) -> None:
    _load(kind, bom + body)


@pytest.mark.parametrize("kind", LOADERS)
@given(text=st.text(alphabet=YAML_ALPHABET, max_size=300))
def test_random_almost_yaml_text(kind: str, text: str) -> None:
    _load(kind, text)


@pytest.mark.parametrize("kind", LOADERS)
@given(tree=st.dictionaries(KEYS, JSON_VALUES, max_size=6))
def test_random_trees_of_odd_values(kind: str, tree: dict[str, Any]) -> None:
    _load(kind, yaml_text(tree))


@pytest.mark.parametrize("kind", LOADERS)
@given(data=st.data())
def test_a_shipped_file_with_one_key_or_value_wrong(kind: str, data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(SHIPPED[kind]))
    tree = data.draw(mutated(yaml.safe_load(path.read_text())))
    _load(kind, yaml_text(tree))


@pytest.mark.parametrize("kind", LOADERS)
@given(data=st.data())
def test_a_shipped_file_with_one_line_inserted_or_cut(kind: str, data: st.DataObject) -> None:
    lines = data.draw(st.sampled_from(SHIPPED[kind])).read_text().split("\n")
    at = data.draw(st.integers(0, len(lines)))
    extra = data.draw(st.one_of(st.text(alphabet=YAML_ALPHABET, max_size=30),
                                st.builds(lambda key, value: f"{' ' * (at % 6)}{key}: {json.dumps(value)}", KEYS,
                                          ODD_SCALARS)))
    if data.draw(st.booleans()):
        lines.insert(at, extra)
    else:
        del lines[at:at + data.draw(st.integers(1, 5))]
    _load(kind, "\n".join(lines))


@pytest.mark.parametrize("kind", LOADERS)
@given(depth=st.integers(1, 5000), style=st.sampled_from(["flow-list", "flow-map", "block-map", "block-list"]))
def test_deep_nesting(kind: str, depth: int, style: str) -> None:
    text = {"flow-list": "containers: " + "[" * depth + "]" * depth,
            "flow-map": "containers: " + "{a: " * depth + "1" + "}" * depth,
            "block-map": "containers:\n" + "".join(f"{' ' * (level + 1)}k:\n" for level in range(depth)),
            "block-list": "settings:\n" + "".join(f"{' ' * (2 * level + 1)}- \n" for level in range(depth))}[style]
    model = _load(kind, text)
    assert model is None or depth < MAX_DEPTH


@pytest.mark.parametrize("kind", LOADERS)
@given(width=st.integers(1, 12), levels=st.integers(1, 12), where=st.sampled_from(["top", "containers", "settings"]))
def test_alias_expansion(kind: str, width: int, levels: int, where: str) -> None:
    """Billion laughs and chains of aliases: refused when they expand past the limits, never slow."""
    lines = ["a0: &a0 [x]"] + [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * width)}]" for n in range(1, levels + 1)]
    bomb = f"*a{levels}"
    body = {"top": f"containers: {bomb}", "containers": f"containers:\n  c: {{aliases: {bomb}}}",
            "settings": f"settings:\n  dns: {bomb}"}[where]
    _load(kind, "\n".join([*lines, body]))


YAML_FEATURES = [
    "containers: !!python/object/apply:os.system [echo]\n", "containers: !!python/name:os.system\n",
    "containers: !custom {a: {}}\n", "containers: !!set {a, b}\n", "containers: !!omap [{a: {}}]\n",
    "containers: !!binary aGk=\n", "containers: !!int abc\n", "containers: !!float abc\n",
    "containers: !!str 5\n", "description: 2024-13-45\ncontainers: {a: {}}\n",
    "x: &b {hostname: h}\ncontainers:\n  a: {<<: *b}\n", "containers:\n  a: {<<: [1, 2]}\n",
    "containers: &r {a: *r}\n", "containers: *nope\n", "containers: {a: {}}\ncontainers: {b: {}}\n",
    "containers: {a: {}}\n---\ncontainers: {b: {}}\n", "---\n...\n", "%YAML 1.1\n---\ncontainers: {a: {}}\n",
    "%TAG ! tag:yaml.org,2002:python/\n---\ncontainers: !object:os.system {}\n",
    "containers:\n\ta: {}\n", "containers:\n  ? [a]\n  : {}\n", "containers: {a: {}}\n\x00",
    "settings: {mtu: 0b" + "1" * 300 + "}\n", "settings: {mtu: 0x" + "f" * 300 + "}\n",
    "settings: {mtu: 1:2:3:4:5:6:7:8:9:10:11:12:13:14:15:16:17:18:19:20}\n",
    "settings: {mtu: " + "9" * 5000 + "}\n", "settings: {mtu: .nan}\n", "settings: {mtu: -.inf}\n",
]


@pytest.mark.parametrize("kind", LOADERS)
@pytest.mark.parametrize("text", YAML_FEATURES)
def test_yaml_features(kind: str, text: str) -> None:
    _load(kind, text)


# --- report pairs for `netconform diff` ---------------------------------------------------------------


def _diff(before: bytes | str, after: bytes | str, *extra: str) -> tuple[int, str, str]:
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for name, content in (("before.json", before), ("after.json", after)):
            path = Path(folder) / name
            path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
            paths.append(path)
        code, out, err = run_diff(*paths, *extra)
        assert_diff_clear(code, err, *paths)
        return code, out, err


REPORT_TREES = {path.name: json.loads(path.read_text()) for path in REPORTS}


@given(data=st.data(), options=st.sampled_from([(), ("--json",), ("--fail-on-change",)]))
def test_a_report_with_one_field_wrong(data: st.DataObject, options: tuple[str, ...]) -> None:
    name = data.draw(st.sampled_from(sorted(REPORT_TREES)))
    broken = data.draw(mutated(REPORT_TREES[name]))
    text = json.dumps(broken, allow_nan=True)
    _diff(json.dumps(REPORT_TREES[name]), text, *options)
    _diff(text, json.dumps(REPORT_TREES[name]), *options)


@given(data=st.data())
def test_a_truncated_report(data: st.DataObject) -> None:
    text = REPORTS[0].read_text()
    cut = data.draw(st.integers(0, len(text.rstrip()) - 1))  # without its last brace
    code, _, _ = _diff(text, text[:cut])
    assert code == 2


@given(version=JSON_VALUES, schema=st.one_of(st.just("netconform-report"), JSON_VALUES))
def test_other_schemas_and_versions(version: Any, schema: Any) -> None:
    document = dict(REPORT_TREES[REPORTS[0].name], schema=schema, schema_version=version)
    code, _, _ = _diff(REPORTS[0].read_text(), json.dumps(document))
    assert code == 2 or (schema == "netconform-report" and version == 1)


@given(body=st.one_of(st.binary(max_size=300), st.builds(json.dumps, JSON_VALUES)))
def test_random_bytes_and_json_as_a_report(body: bytes | str) -> None:
    assert _diff(REPORTS[0].read_text(), body)[0] == 2


@pytest.mark.parametrize("depth", [100, 900, 5000, 200_000])
def test_deeply_nested_reports(depth: int) -> None:
    document = dict(REPORT_TREES[REPORTS[0].name])
    document["daemon"] = dict(document["daemon"], info={"deep": json.loads("[" * min(depth, 500) + "]" * min(
        depth, 500))})
    nested = json.dumps(document) if depth <= 500 else '{"schema": "netconform-report", "x": ' + "[" * depth
    assert _diff(REPORTS[0].read_text(), nested)[0] == 2


def test_a_huge_report_is_read_or_refused_in_one_line() -> None:
    """Tens of megabytes (a report of a long run, or garbage): compared, never a traceback."""
    document = dict(REPORT_TREES[REPORTS[0].name])
    document["daemon"] = dict(document["daemon"], info={f"key{n}": "x" * 100 for n in range(200_000)})
    code, out, _ = _diff(REPORTS[0].read_text(), json.dumps(document))
    assert code == 0 and sum(line.lstrip().startswith("daemon info key") for line in out.splitlines()) == 200_000
