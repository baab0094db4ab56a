"""What a spec file may be as YAML: plain data of bounded size, depth and expansion.

Specs and profiles are written by hand and read before anything is created, so a file that no
person writes (megabytes, thousands of nested levels, aliases that expand a billion times, Python
object tags, integers of thousands of digits) is refused with one message naming its line, before
the loader, the schema check or the model recurse into it or spend minutes on it.
"""

from __future__ import annotations

from typing import Any

import yaml

from netconform.errors import SpecError

MAX_BYTES = 1 << 20
MAX_DEPTH = 32  # nested mappings and lists; a shipped scenario needs fewer than 10
MAX_VALUES = 50_000  # keys, values and items, an alias's content counted each time it is used
MAX_INT_DIGITS = 20  # 2**64 has 20 digits; no port, MTU or sysctl needs more
# The tags of plain data; any other (!!python/object, !!binary, !!set, !custom) is refused.
PLAIN_TAGS = frozenset(f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "map", "seq"))


def check_size(data: bytes, path: str) -> None:
    """Refuse a file larger than a hand-written spec, at the line where it crosses the limit."""
    if len(data) > MAX_BYTES:
        line = data[:MAX_BYTES].count(b"\n") + 1
        raise SpecError(path, line, "(file)", f"{len(data)} bytes, more than a spec may have",
                        f"up to {MAX_BYTES} bytes")


def check_tag(event: yaml.Event, path: str) -> None:
    """Refuse an explicit tag other than those of plain data (``!!python/object``, ``!foo``)."""
    tag = getattr(event, "tag", None)
    if tag not in (None, "!") and tag not in PLAIN_TAGS:
        shown = tag.replace("tag:yaml.org,2002:", "!!")
        raise SpecError(path, _line(event), "(yaml)", f"the YAML tag {shown} is not allowed",
                        "plain values: mappings, lists, strings, numbers, booleans")


def check_depth(depth: int, event: yaml.Event, path: str) -> None:
    """Refuse a node nested deeper than :data:`MAX_DEPTH` (before composing it recurses further)."""
    if depth > MAX_DEPTH:
        raise SpecError(path, _line(event), "(yaml)", f"nested more than {MAX_DEPTH} levels deep",
                        f"up to {MAX_DEPTH} levels of mappings and lists")


def check_int(value: int, node: yaml.ScalarNode, path: str) -> None:
    """Refuse an integer no setting or port can have (and whose digits Python refuses to print)."""
    if abs(value) >= 10**MAX_INT_DIGITS:
        shown = node.value if len(node.value) <= 24 else node.value[:20] + f"... ({len(node.value)} characters)"
        raise SpecError(path, node.start_mark.line + 1, "(yaml)", f"integer {shown} is too large",
                        f"integers of up to {MAX_INT_DIGITS} digits")


def check_expansion(root: yaml.Node, path: str) -> None:
    """Refuse a document whose aliases make it deeper than :data:`MAX_DEPTH`, larger than
    :data:`MAX_VALUES` once expanded (a "billion laughs"), or contain themselves.

    Walks the composed graph once (each shared node measured once), without recursion.
    """
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values once expanded, depth)
    open_nodes: set[int] = set()
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            sizes = [measured[id(child)] for child in _children(node)]
            size, depth = 1 + sum(size for size, _ in sizes), 1 + max((depth for _, depth in sizes), default=0)
            open_nodes.discard(key)
            measured[key] = (size, depth)
            line = node.start_mark.line + 1
            if depth > MAX_DEPTH:
                raise SpecError(path, line, "(yaml)", f"nested more than {MAX_DEPTH} levels deep once aliases "
                                "are expanded", f"up to {MAX_DEPTH} levels of mappings and lists")
            if size > MAX_VALUES:
                raise SpecError(path, line, "(yaml)", f"more than {MAX_VALUES} values once aliases are expanded",
                                f"up to {MAX_VALUES} keys, values and items")
        elif key in open_nodes:
            raise SpecError(path, node.start_mark.line + 1, "(yaml)", "an alias refers to a node that contains it",
                            "aliases of complete values")
        elif key not in measured:
            open_nodes.add(key)
            stack.append((node, True))
            stack.extend((child, False) for child in _children(node))


def _line(event: yaml.Event) -> int | None:
    return event.start_mark.line + 1 if event.start_mark else None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []
