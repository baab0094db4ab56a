"""The structural check of a scenario: its YAML tree against ``scenario.schema.yaml`` (JSON Schema).

Every violation becomes one SpecError at the line of the key or list item it is about, worded as
the rest of the loader words problems (``key: problem (allowed: ...)``), and all of them are
reported at once, sorted by line. The tree is the one :mod:`netconform.spec.yamlsrc` reads, whose
mappings and lists remember their lines. What a schema cannot say (references between containers
and networks, property names, ${references}) is checked while the model is built.
"""

from __future__ import annotations

import difflib
import ipaddress
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator, FormatChecker
from jsonschema.exceptions import ValidationError

from netconform.errors import SpecError, SpecErrors
from netconform.spec.yamlsrc import line_of

# Package data (pyproject.toml), next to this module in a checkout and in an installed wheel.
SCHEMA_FILE = Path(__file__).with_name("scenario.schema.yaml")

# The JSON types in the words of a YAML author.
_TYPE_WORDS = {"string": "a string", "integer": "an integer", "number": "a number", "boolean": "a boolean",
               "object": "a mapping", "array": "a list", "null": "nothing"}

_FORMATS = FormatChecker(formats=["ipv4", "ipv6"])


@_FORMATS.checks("ipv4-network", raises=ValueError)
def _ipv4_network(instance: object) -> bool:
    """A CIDR whose host bits are zero (``10.1.0.0/24``, not ``10.1.0.5/24``)."""
    if isinstance(instance, str):
        ipaddress.IPv4Network(instance, strict=True)
    return True


@_FORMATS.checks("ipv6-network", raises=ValueError)
def _ipv6_network(instance: object) -> bool:
    """An IPv6 CIDR whose host bits are zero (``fd00:1::/64``)."""
    if isinstance(instance, str):
        ipaddress.IPv6Network(instance, strict=True)
    return True


@cache
def schema(schema_file: Path = SCHEMA_FILE) -> dict[str, Any]:
    """A schema (the scenario's by default), as read from its file."""
    loaded: dict[str, Any] = yaml.safe_load(schema_file.read_text(encoding="utf-8"))
    return loaded


@cache
def _validator(schema_file: Path) -> Draft202012Validator:
    return Draft202012Validator(schema(schema_file), format_checker=_FORMATS)


def check_structure(tree: Any, path: str, schema_file: Path = SCHEMA_FILE) -> None:
    """Check the shape of a scenario file's tree: keys, types, enumerations, ranges, formats.

    Args:
        tree: the file as :func:`netconform.spec.yamlsrc.load_located` read it.
        path: the file as error messages show it.

    Raises:
        SpecError: every problem found, one per key (a SpecErrors if there are several).
    """
    problems: dict[str, SpecError] = {}
    for error in _validator(schema_file).iter_errors(tree):
        for leaf in _specific(error):
            for problem in _worded(leaf, tree, path):
                problems.setdefault(problem.key, problem)  # one problem per key is enough to fix it
    if problems:
        raise SpecErrors.of(sorted(problems.values(), key=lambda problem: (problem.line or 0, problem.key)))


def _specific(error: ValidationError) -> list[ValidationError]:
    """The errors to report for ``error``: for an ``anyOf`` where the value has the type of some
    alternative, what is wrong within that alternative; otherwise the error itself."""
    if error.validator != "anyOf" or not error.context:
        return [error]
    branches: dict[Any, list[ValidationError]] = {}
    for sub in error.context:
        branches.setdefault(sub.relative_schema_path[0], []).append(sub)
    for subs in branches.values():
        if not any(_misses_type(sub) for sub in subs):
            return [leaf for sub in subs for leaf in _specific(sub)]
    return [error]


def _misses_type(error: ValidationError) -> bool:
    """Whether ``error`` only says that the value itself has another type than the schema's."""
    if error.relative_path:
        return False
    if error.validator == "type":
        return True
    return error.validator == "anyOf" and all(_misses_type(sub) for sub in error.context)


def _expected_types(error: ValidationError) -> list[str]:
    """The types a ``type`` error, or an ``anyOf`` of type errors, would have accepted."""
    if error.validator == "type":
        value: Any = error.validator_value
        return [value] if isinstance(value, str) else list(value)
    found = [name for sub in error.context if _misses_type(sub) for name in _expected_types(sub)]
    return list(dict.fromkeys(found))


def _worded(error: ValidationError, tree: Any, path: str) -> Iterator[SpecError]:
    """``error`` as SpecErrors: file:line of the key or item, the dotted key, problem, allowed."""
    at = list(error.absolute_path)
    rule, value, about, rule_value = _parts(error)
    if "propertyNames" in error.absolute_schema_path:
        # About a key of the mapping at ``at`` (``value`` is the key), not about the mapping.
        key_at, line = [*at, value], line_of(_node(tree, at), value)
        text = f"{value!r} is reserved" if rule == "not" else f"invalid {_title(error, [*at, value])} {value!r}"
        yield SpecError(path, line, _keypath(key_at), text, _describe(error))
    elif rule == "additionalProperties":
        known = list(about.get("properties", {}))
        for name in (name for name in value if name not in known):
            close = difflib.get_close_matches(name, known, n=1)
            hint = f", did you mean {close[0]!r}?" if close else ""
            yield SpecError(path, line_of(value, name), _keypath([*at, name]), f"unknown key{hint}", ", ".join(known))
    elif rule == "required":
        for name in (name for name in rule_value if name not in value):
            described = about.get("properties", {}).get(name, {}).get("description", "")
            yield SpecError(path, _line(tree, at), _keypath([*at, name]), "missing", described)
    elif rule == "dependentRequired":
        for name, needed in rule_value.items():
            for other in (other for other in needed if name in value and other not in value):
                yield SpecError(path, line_of(value, name), _keypath([*at, name]), f"{name} needs {other}",
                                f"declare {other} as well")
    else:
        yield SpecError(path, _line(tree, at), _keypath(at), *_problem(error, at))


def _problem(error: ValidationError, at: list[Any]) -> tuple[str, str]:
    """The problem and what is allowed, for a violation about the value at ``at`` itself."""
    rule, value, about, rule_value = _parts(error)
    if rule in ("type", "anyOf"):
        wanted = [_TYPE_WORDS.get(name, name) for name in _expected_types(error) if name != "null"] or ["nothing"]
        shown = wanted[0] if len(wanted) == 1 else ", ".join(wanted[:-1]) + " or " + wanted[-1]
        return f"expected {shown}, found {_kind(value)}", _describe(error)
    if rule == "enum":
        return f"unknown {_title(error, at)} {value!r}", ", ".join(str(item) for item in rule_value)
    if rule == "pattern":
        return f"invalid {_title(error, at)} {value!r}", _describe(error)
    if rule == "format":
        why = f" ({error.cause})" if error.cause else ""
        return f"invalid {_title(error, at)} {value!r}{why}", _describe(error)
    if rule in ("minimum", "maximum"):
        return f"{_title(error, at)} {value} is out of range", f"{about.get('minimum', '')}-{about.get('maximum', '')}"
    if rule == "minProperties":
        return f"no {_title(error, at)} declared", _describe(error)
    if rule == "minItems":
        return "empty list", _describe(error)
    if rule == "uniqueItems":
        repeated = next(item for index, item in enumerate(value) if item in value[:index])
        return f"{repeated!r} is listed twice", _describe(error)
    return error.message, _describe(error)


def _describe(error: ValidationError) -> str:
    """What the schema says is allowed where ``error`` is: the nearest ``description``."""
    return next((str(about["description"]) for about in _schemas_around(error) if "description" in about), "")


def _title(error: ValidationError, at: list[Any]) -> str:
    """How a problem names the value: the schema's ``title``, else its key."""
    for about in _schemas_around(error):
        if "title" in about:
            return str(about["title"])
    return next((str(part) for part in reversed(at) if isinstance(part, str)), "value")


def _parts(error: ValidationError) -> tuple[str, Any, Mapping[str, Any], Any]:
    """The keyword that failed, the value, the schema holding the keyword, and the keyword's value."""
    about = error.schema if isinstance(error.schema, Mapping) else {}
    return str(error.validator), error.instance, about, error.validator_value


def _schemas_around(error: ValidationError) -> Iterator[Mapping[str, Any]]:
    """The schema where ``error`` failed, then those of the ``anyOf`` errors it is part of."""
    current: Any = error
    while current is not None:
        if isinstance(current.schema, Mapping):
            yield current.schema
        current = current.parent


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "a boolean"
    for kind, word in ((str, "a string"), (int, "an integer"), (float, "a number"), (Mapping, "a mapping"),
                       (list, "a list")):
        if isinstance(value, kind):
            return word
    return f"a {type(value).__name__}"  # e.g. a date: YAML reads 2024-01-01 as one


def _line(tree: Any, at: list[Any]) -> int | None:
    """The line of the key or list item at ``at`` (of the file's start for the whole tree)."""
    return line_of(_node(tree, at[:-1]), at[-1]) if at else getattr(tree, "line", 1)


def _node(tree: Any, at: list[Any]) -> Any:
    for part in at:
        tree = tree[part]
    return tree


def _keypath(at: list[Any]) -> str:
    """``containers.web.publish[0]``: keys joined by dots, list positions in brackets."""
    text = ""
    for part in at:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "(file)"
