"""Where a scenario for a Python test comes from: a shipped scenario's name, a YAML file, or a mapping.

All three go through the same spec loader as collected YAML files, so bad input is the same
``file:line: key: problem (allowed: ...)`` error. An inline mapping is written out as the YAML it
is and loaded from there; its errors point at the line of the test that passed it, since the
YAML rendering is nothing the user has seen.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from netconform.errors import SpecError, SpecErrors
from netconform.spec import Scenario, load_scenario
from netconform.spec.shipped import suites_dir

Source = str | os.PathLike[str] | Mapping[str, Any]
SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class CallSite:
    """Where a test asked for a scenario: spec errors about inline input point here."""

    path: Path
    line: int | None
    root: Path

    def display(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if path.is_relative_to(self.root) else str(path)


def default_name(source: Source) -> str:
    """A shipped scenario's name, a file's stem, or ``inline`` for a mapping."""
    if isinstance(source, Mapping):
        return "inline"
    return Path(source).stem


def load_source(source: Source, name: str, site: CallSite) -> Scenario:
    """The validated scenario ``source`` describes, named ``name``.

    Args:
        source: a shipped scenario's name (``"custom"``), a path to a YAML file (relative paths
            are taken from the directory of the test file), or a mapping in the YAML's shape.
        name: the scenario's name (it becomes part of every created object's name).
        site: the test file and line that asked, and the rootdir for shown paths.

    Raises:
        SpecError: unknown shipped name, unreadable file, or a spec that does not validate.
    """
    if isinstance(source, Mapping):
        return _load_inline(source, name, site)
    path = Path(source)
    if isinstance(source, str) and path.suffix not in SUFFIXES and os.sep not in source:
        path = suites_dir() / f"{source}.yaml"
        if not path.is_file():
            shipped = ", ".join(sorted(p.stem for p in suites_dir().glob("*.yaml")))
            raise SpecError(site.display(site.path), site.line, "scenario", f"no shipped scenario {source!r}",
                            f"{shipped}, a path to a .yaml file, or a mapping")
    elif not path.is_absolute():
        path = site.path.parent / path
    return replace(load_scenario(path, site.display(path), checked_elsewhere=True), name=name)


def _load_inline(mapping: Mapping[str, Any], name: str, site: CallSite) -> Scenario:
    shown = site.display(site.path)
    try:
        text = yaml.safe_dump(_plain(mapping), sort_keys=False)
    except yaml.YAMLError as err:
        raise SpecError(shown, site.line, "(mapping)", f"not plain data: {err}",
                        "str, int, float, bool, None, lists and mappings") from err
    with tempfile.TemporaryDirectory(prefix="netconform-inline-") as folder:
        path = Path(folder) / f"{name}.yaml"
        path.write_text(text)
        try:
            scenario = load_scenario(path, shown, checked_elsewhere=True)
        except SpecError as err:
            raise SpecErrors.of([SpecError(shown, site.line, problem.key, f"{problem.problem} (inline scenario {name})",
                                           problem.allowed) for problem in err.problems]) from err
    return replace(scenario, path=f"{shown}:{site.line}" if site.line else shown)


def _plain(value: Any) -> Any:
    """Tuples as lists, so a mapping written with tuples dumps as plain YAML."""
    if isinstance(value, Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value
