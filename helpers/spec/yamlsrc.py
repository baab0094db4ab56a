"""YAML loading that remembers where every key and item came from.

Schema errors must name ``file:line``; PyYAML drops positions once it builds Python objects, so
mappings and lists are built as subclasses that carry the line of each key and item. Duplicate
keys, which PyYAML silently overwrites, are reported instead, and so is what no spec is
(:mod:`netconform.spec.yaml_limits`): oversized, too deep, alias bombs, tags of other than plain data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from netconform.errors import SpecError
from netconform.spec import yaml_limits
from netconform.spec.values import Where


class LocatedMap(dict[str, Any]):
    """A mapping whose keys remember their 1-based source line."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    """A list whose items remember their 1-based source line."""

    line: int
    item_lines: list[int]


def line_of(node: Any, key: str | int) -> int | None:
    """The line of ``node[key]``: its key's line in a mapping, its item's in a list; else the line
    where ``node`` starts (None for a node not read from a file)."""
    if isinstance(node, LocatedMap) and str(key) in node.key_lines:
        return node.key_lines[str(key)]
    if isinstance(node, LocatedList) and isinstance(key, int) and key < len(node.item_lines):
        return node.item_lines[key]
    return getattr(node, "line", None)


def where(path: str, node: Any, key: str | int, keypath: str) -> Where:
    """Where ``node[key]`` sits, for an error about it named ``keypath``."""
    return Where(path, line_of(node, key), keypath)


def _make_loader(path: str) -> type[yaml.SafeLoader]:
    class Loader(yaml.SafeLoader):
        depth = 0

        def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
            # PyYAML composes (and later constructs) recursively: the depth is checked on the way down.
            event = self.peek_event()  # type: ignore[no-untyped-call]
            yaml_limits.check_tag(event, path)
            self.depth += 1
            try:
                yaml_limits.check_depth(self.depth, event, path)
                return super().compose_node(parent, index)
            finally:
                self.depth -= 1

        def get_single_node(self) -> yaml.Node | None:
            node = super().get_single_node()
            if node is not None:
                yaml_limits.check_expansion(node, path)
            return node

        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            try:
                return super().construct_object(node, deep)
            except (ValueError, OverflowError) as err:  # e.g. !!int abc, or the date 2024-13-45
                raise SpecError(path, node.start_mark.line + 1, "(yaml)",
                                f"cannot read {node.value!r} as {node.tag.rsplit(':', 1)[-1]}: {err}") from err

    def construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> LocatedMap:
        loader.flatten_mapping(node)
        result = LocatedMap()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str | int | float | bool):
                raise SpecError(path, line, str(key), "a mapping key must be a plain scalar")
            key = str(key)
            if key in result:
                raise SpecError(path, line, key, f"duplicate key (first at line {result.key_lines[key]})")
            result[key] = loader.construct_object(value_node, deep=True)
            result.key_lines[key] = line
        return result

    def construct_sequence(loader: yaml.SafeLoader, node: yaml.SequenceNode) -> LocatedList:
        result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result

    def construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
        try:
            value = loader.construct_yaml_int(node)
        except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
            value = 10**yaml_limits.MAX_INT_DIGITS
        yaml_limits.check_int(value, node, path)
        return value

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, construct_mapping)
    Loader.add_constructor("tag:yaml.org,2002:int", construct_int)
    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, construct_sequence)
    return Loader


def load_located(path: Path, display: str | None = None) -> Any:
    """Parse ``path`` into LocatedMap/LocatedList/scalars.

    Raises:
        SpecError: the file is unreadable, not YAML, or repeats a key.
    """
    shown = display or str(path)
    try:
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(shown, None, "(file)", f"cannot read: {err.strerror}") from err
    yaml_limits.check_size(data, shown)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecError(shown, line, "(file)", f"not UTF-8: byte 0x{data[err.start]:02x} at offset {err.start}",
                        "UTF-8 text") from err
    try:
        return yaml.load(text, Loader=_make_loader(shown))
    except yaml.reader.ReaderError as err:  # a character YAML refuses (NUL, other controls)
        line = text[: err.position].count("\n") + 1
        raise SpecError(shown, line, "(yaml)", f"not valid YAML: character {err.character:#06x} is not allowed "
                        f"(column {err.position - text.rfind(chr(10), 0, err.position)})", "printable text") from err
    except yaml.YAMLError as err:
        if not isinstance(err, yaml.MarkedYAMLError):
            raise SpecError(shown, None, "(yaml)", f"not valid YAML: {err}") from err
        mark = err.problem_mark or err.context_mark
        raise SpecError(shown, mark.line + 1 if mark else None, "(yaml)",
                        f"not valid YAML: {err.problem or err}") from err
