"""The package layout is the pipeline: imports point one way, and no module grows past ~400 lines.

Specs -> engine (build and tear down) -> observation -> judgement -> reports, with the hermetic
infrastructure (namespaces, sentinel, dedicated daemons, run identity, cleanup) below them and the
pytest harness and the CLI the only places that wire everything together. README "How it works".
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "helpers"

# What each part may import besides itself. facts and errors are the shared vocabulary.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "facts": {"errors"},
    "spec": {"errors", "facts"},
    "hermetic": {"errors", "facts"},
    "engine": {"errors", "facts", "spec", "hermetic"},
    "observe": {"errors", "facts", "hermetic"},
    "judge": {"errors", "facts", "spec"},
    "report": {"errors", "facts", "spec", "judge"},
    # Runs across hosts: each host's suite in a helper container (engine's probe image, hermetic's
    # run identity), the reports merged with report's normalisation.
    "fleet": {"errors", "facts", "spec", "hermetic", "engine", "report"},
    "harness": {"errors", "facts", "spec", "hermetic", "engine", "observe", "judge", "report"},
    "cli": {"errors", "facts", "spec", "hermetic", "engine", "observe", "judge", "report", "harness", "fleet"},
    # The public surface for users' own Python tests: types of what the fixtures give, re-exported
    # from where they live; nothing in the package imports it.
    "testing": {"errors", "facts", "harness"},
    "__init__": set(),
    "__main__": {"cli"},
}
MAX_LINES = 420


def _part(path: Path) -> str:
    return path.relative_to(PACKAGE).with_suffix("").parts[0]


def _imported_parts(path: Path) -> set[tuple[str, int]]:
    """First-level parts of netconform a module imports, anywhere in it (also inside functions)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] if node.module != "netconform" else [f"netconform.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "netconform" and len(parts) > 1:
                found.add((parts[1], node.lineno))
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_part_of_the_package_has_an_import_rule() -> None:
    assert {_part(path) for path in MODULES} == set(ALLOWED)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_imports_point_one_way(path: Path) -> None:
    part = _part(path)
    wrong = sorted(f"line {line}: netconform.{other}" for other, line in _imported_parts(path)
                   if other != part and other not in ALLOWED[part])
    assert not wrong, f"{part} may import only {sorted(ALLOWED[part])}; {path.name} imports " + ", ".join(wrong)


@pytest.mark.parametrize("path", MODULES, ids=lambda path: str(path.relative_to(PACKAGE)))
def test_modules_stay_small(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(PACKAGE)} has {lines} lines; split it by job (limit {MAX_LINES})"


def test_the_rules_catch_a_wrong_import(tmp_path: Path) -> None:
    """The check itself can fail: judgement importing an observation module is reported."""
    bad = tmp_path / "verdict.py"
    bad.write_text("def f():\n    from netconform.observe.reach import probe\n")
    assert ("observe", 2) in _imported_parts(bad)
    assert "observe" not in ALLOWED["judge"]
