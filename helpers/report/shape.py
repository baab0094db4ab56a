"""The shape of a report as ``netconform diff`` reads it: each field it indexes, iterates or parses.

A report is data from elsewhere (another host, another version, a hand edit, a truncated copy);
a field of another type must end the diff with one message naming the field, not with a
KeyError or TypeError from deep inside the comparison. The schema (JSON Schema) says only what
the diff relies on; everything else in SCHEMA.md may be anything.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

MAX_DEPTH = 64  # a report nests about 10 levels; deeper values would exhaust Python's stack when printed

_FORMATS = FormatChecker(formats=[])


@_FORMATS.checks("ip-interface", raises=ValueError)
def _ip_interface(instance: object) -> bool:
    if isinstance(instance, str):
        ipaddress.ip_interface(instance)
    return True


def _optional(kind: str, **schema: Any) -> dict[str, Any]:
    """A field that may be absent or null, else of ``kind``."""
    return {"type": [kind, "null"], **schema}


def _map_of(value: dict[str, Any]) -> dict[str, Any]:
    return _optional("object", additionalProperties=value)


def _list_of(item: dict[str, Any]) -> dict[str, Any]:
    return _optional("array", items=item)


_TEXT = {"type": "string"}
_OBJECT = {"type": "object"}
_INTERFACE = {"type": "object", "required": ["name"], "properties": {
    "name": _TEXT, "addresses": _list_of({"type": "string", "format": "ip-interface"})}}
_CONTAINER = {"type": "object", "properties": {
    "id": _optional("string"), "name": _optional("string"), "error": _optional("string"),
    "namespaces": _map_of(_OBJECT), "endpoints": _map_of(_OBJECT), "host_peers": _map_of(_OBJECT),
    "net": _optional("object", properties={
        "interfaces": _list_of(_INTERFACE), "routes": _list_of({"type": "object", "required": ["dst"]}),
        "sysctls": _optional("object")}),
    "resolv": _optional("object", properties={
        name: _list_of(_TEXT) for name in ("nameservers", "search", "options")}),
    "hosts_entries": _list_of({"type": "string", "pattern": r"\S"}),  # an /etc/hosts line: an address first
    "lookups": _map_of({"type": "object", "required": ["qtype", "name", "rcode"], "properties": {
        "name": _TEXT, "answers": _list_of(_TEXT), "upstream_sources": _list_of(_TEXT)}}),
}}
_SCENARIO = {"type": "object", "required": ["name"], "properties": {
    "name": _TEXT, "build_error": _optional("string"),
    "declared": _optional("object", properties={
        "networks": {"type": "object", "additionalProperties": _optional("object")},
        "containers": _map_of({"type": "object", "properties": {"ips": _list_of(
            {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": ["string", "number", "null"]}})}}),
    }),
    "observed": _optional("object", properties={
        "host": _optional("object", properties={"namespaces": _map_of(_OBJECT)}),
        "sentinel": _optional("object"),
        "networks": _map_of({"type": "object", "properties": {"bridge": _TEXT, "options": _optional("object")}}),
        "containers": _map_of(_CONTAINER),
        "reach": _list_of({"type": "object", "required": ["probe"], "properties": {
            "probe": _TEXT, "attempts": _list_of(_OBJECT)}}),
    }),
}}
REPORT_SHAPE: dict[str, Any] = {
    "type": "object",
    "required": ["run", "daemon", "summary"],
    "properties": {
        "run": {"type": "object", "required": ["id"], "properties": {"id": _TEXT}},
        "summary": {"type": "object", "required": ["counts"], "properties": {"counts": {
            "type": "object", "required": ["passed", "total"],
            "properties": {"passed": {"type": "integer"}, "total": {"type": "integer"}}}}},
        "daemon": {"type": "object", "properties": {
            "default_bridge": _optional("object"), "info": _optional("object"),
            "firewall_layout": _optional("object", properties={"unreadable": _optional("object"), "tables": _list_of({
                "type": "object", "required": ["tool", "family", "table"], "properties": {
                    "chains": _map_of({"type": "object", "properties": {"rules": _list_of(_TEXT)}})}})}),
            "settings": _optional("object", properties={"settings": _map_of({
                "type": "object", "anyOf": [{"required": ["value"]}, {"required": ["unreadable"]}]})}),
        }},
        "host": _optional("object", properties={"packages": _optional("object")}),
        "checks": _list_of({"type": "object", "required": ["id", "outcome", "expected", "observed"],
                            "properties": {"id": _TEXT, "outcome": _TEXT}}),
        "scenarios": _list_of(_SCENARIO),
    },
}
_VALIDATOR = Draft202012Validator(REPORT_SHAPE, format_checker=_FORMATS)
_WORDS = {"object": "an object", "array": "a list", "string": "a string", "integer": "an integer"}
_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "a boolean", int: "an integer",
          float: "a number", type(None): "null"}


def shape_problem(document: Any) -> str:
    """What is wrong with ``document`` for the diff, as ``field: problem`` ("" when nothing is)."""
    if _depth(document) > MAX_DEPTH:
        return f"nested more than {MAX_DEPTH} levels deep"
    error = next(iter(sorted(_VALIDATOR.iter_errors(document), key=lambda error: list(map(str, error.path)))), None)
    if error is None:
        return ""
    field = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in error.absolute_path)
    field = field.lstrip(".") or "(document)"
    found = _KINDS.get(type(error.instance), "another value")
    if error.validator == "type":
        wanted = [kind for kind in ([error.validator_value] if isinstance(error.validator_value, str)
                                    else error.validator_value) if kind != "null"]
        return f"{field}: expected {' or '.join(_WORDS.get(kind, kind) for kind in wanted)}, found {found}"
    if error.validator == "required":
        missing = next(name for name in error.validator_value if name not in error.instance)
        return f"{field}: {missing} is missing" if field != "(document)" else f"{missing} is missing"
    if error.validator == "format":
        return f"{field}: not an address with a prefix length such as 10.0.0.2/24"
    if error.validator == "pattern":
        return f"{field}: an empty entry"
    if error.validator == "anyOf":
        return f"{field}: neither value nor unreadable is given"
    return f"{field}: a list of 2 items expected, found {len(error.instance)}"  # ips' minItems, maxItems


def _depth(document: Any) -> int:
    """How deeply lists and objects nest in ``document`` (counted without recursion)."""
    deepest, stack = 0, [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            deepest = max(deepest, depth)
            if depth <= MAX_DEPTH:
                stack.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest
