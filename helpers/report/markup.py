"""A tiny HTML/SVG builder that escapes by default.

Everything in a report document may hold daemon error text or file contents, so text is escaped
unless it is :class:`Markup` (which only :func:`el` and :func:`raw` make). Forgetting to escape is
then impossible; marking something as safe is explicit.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TypeAlias

# A child of an element: markup, text to escape, a number, nothing, or a sequence of those.
Child: TypeAlias = "str | int | float | Iterable[Child] | None"
AttrValue: TypeAlias = "str | int | float | None"

# HTML elements without an end tag; any other childless element is closed (SVG wants `<line/>`).
VOID = frozenset({"meta", "br", "hr", "img", "link", "input", "col", "wbr"})


class Markup(str):
    """Text that already is HTML or SVG; it is joined as is, everything else is escaped."""

    __slots__ = ()


def raw(text: str) -> Markup:
    """Marks trusted, constant text (the stylesheet, a doctype) as markup."""
    return Markup(text)


def text(value: object) -> Markup:
    """Escapes ``value`` for element content and attribute values (quotes included)."""
    return Markup(html.escape(str(value), quote=True))


def join(*children: Child) -> Markup:
    """Concatenates children: markup as is, anything else escaped, ``None`` dropped."""
    parts: list[str] = []
    _flatten(children, parts)
    return Markup("".join(parts))


def el(tag: str, *children: Child, **attrs: AttrValue) -> Markup:
    """One element. Attribute names: a trailing ``_`` is dropped (``class_``), ``_`` becomes ``-``.

    Args:
        tag: the element name (``td``, ``svg``, ``viewBox`` stays as written).
        *children: content; text is escaped.
        **attrs: attributes; ``None`` omits one.

    Returns:
        The element as markup.
    """
    head = tag + "".join(f' {_attr_name(name)}="{text(value)}"' for name, value in attrs.items() if value is not None)
    body = join(*children)
    if not body and tag in VOID:
        return Markup(f"<{head}>")
    if not body and tag not in VOID and _is_svg_leaf(tag):
        return Markup(f"<{head}/>")
    return Markup(f"<{head}>{body}</{tag}>")


def _attr_name(name: str) -> str:
    return name.rstrip("_").replace("_", "-")


def _is_svg_leaf(tag: str) -> bool:
    # HTML elements such as <td></td> must not be self-closed; SVG shapes may and are shorter so.
    return tag in {"line", "rect", "circle", "path", "polyline", "polygon", "ellipse"}


def _flatten(children: Iterable[Child], parts: list[str]) -> None:
    for child in children:
        if child is None:
            continue
        if isinstance(child, Markup):
            parts.append(child)
        elif isinstance(child, str | int | float):
            parts.append(text(child))
        else:
            _flatten(child, parts)
