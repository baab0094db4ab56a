"""Expected values in specs: literals, references to facts, matchers and version selection.

- A reference names a fact of the scenario instead of a literal: ``${network.appnet.subnet}``.
  A string may embed several: ``"${container.db.name}.${network.appnet.name}"``.
- A matcher is a literal/reference (equality) or a mapping of operators that must all hold:
  ``{in: "${network.appnet.subnet}", equals: "${container.web.ip}"}``.
- A selection picks the expectation by a fact of the daemon or host:
  ``{by: daemon.version, cases: {"<25": [...], ">=25": [...]}}``, or by a daemon setting as it is
  intended (``{by: setting.icc, cases: {"true": reach, "false": blocked}}``; booleans are
  ``"true"``/``"false"``).
- ``${setting.<name>}`` is a daemon setting's intended value (netconform.facts.settings.SETTINGS),
  and DERIVED_SETTINGS lists the few values derived from them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from netconform.errors import SpecError
from netconform.facts.settings import SETTINGS


@dataclass(frozen=True)
class Where:
    """Where a value sits in a spec file, for error messages."""

    path: str
    line: int | None
    key: str

    def error(self, problem: str, allowed: str = "") -> SpecError:
        return SpecError(self.path, self.line, self.key, problem, allowed)


@dataclass(frozen=True)
class Ref:
    """A reference to a fact, e.g. ``container.web.ip`` (kept as its dotted parts)."""

    parts: tuple[str, ...]

    def __str__(self) -> str:
        return "${" + ".".join(self.parts) + "}"


@dataclass(frozen=True)
class Template:
    """A string with embedded references; rendered by substituting each reference's value."""

    pieces: tuple[str | Ref, ...]

    def __str__(self) -> str:
        return "".join(str(piece) for piece in self.pieces)


Scalar = Union[str, int, float, bool, None]
Value = Union[Scalar, Ref, Template, tuple["Value", ...]]


@dataclass(frozen=True)
class Matcher:
    """Operators that must all hold for the observed value: ``(("equals", v), ("in", cidr))``."""

    ops: tuple[tuple[str, Value], ...]


@dataclass(frozen=True)
class Select:
    """Pick an expectation by a fact: daemon version ranges or literal values of a host fact."""

    by: str
    cases: tuple[tuple[str, Expectation], ...]


Expectation = Union[Matcher, Select]

MATCHER_OPS: dict[str, str] = {
    "equals": "the observed value equals this (lists compare as sets)",
    "not": "the observed value differs from this",
    "in": "the observed address lies inside this CIDR",
    "one_of": "the observed value is one of these",
    "contains": "the observed list holds all of these",
    "excludes": "the observed list holds none of these",
    "matches": "the observed text matches this regular expression",
}

# Facts a selection may branch on; daemon.version takes version specifiers, the others literals.
SELECT_FACTS: dict[str, str] = {
    "daemon.version": 'version specifiers such as "<25" or ">=25,<27"',
    "host.cgroup_version": "1 or 2",
    **{f"setting.{name}": ("true or false" if kind == "bool" else f"the setting's value ({kind})")
       for name, (kind, _) in SETTINGS.items()},
}
# Selections by a name that a setting replaced: refused with a pointer to the setting (one name per fact).
RENAMED_SELECT_FACTS = {"daemon.userns_remap": "setting.userns_remapped", "daemon.icc": "setting.icc"}

# Values derived from the settings that scenarios need, beside ${setting.<name>} of SETTINGS.
DERIVED_SETTINGS: dict[str, str] = {
    "bip_subnet": "the default bridge's subnet: the network of bip (172.17.0.0/16 for 172.17.0.1/16)",
    "bip_address": "the default bridge's gateway: the address of bip without its prefix length",
    "bridge_address_range": "where containers on the default bridge get their addresses: fixed_cidr when set, "
                            "else bip_subnet",
    "pool_bases": "the base CIDRs of default_address_pools: where a new network without a subnet gets one",
    "resolv.nameservers": "the nameservers a container on the default bridge gets without its own --dns: "
                          "dns when set, else the host's without loopback ones (Docker's fallback "
                          "8.8.8.8 8.8.4.4 when none remain)",
    "resolv.host_nameservers": "the nameservers a host-mode container gets without its own --dns: dns when "
                               "set, else the host's as they are",
    "resolv.search": "the search domains a container gets without its own --dns-search: dns_search when "
                     "set, else the host's",
    "resolv.options": "the resolver options a container on the default bridge gets without its own "
                      "--dns-option: dns_options when set, else the host's",
}

# Which facts a reference may name: root -> attribute patterns ('*' is a network of that scenario, '#' a number).
REF_ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "container": (
        "id", "short_id", "name", "hostname", "ip", "mac", "gateway", "interfaces", "ipv6", "gateway6",
        "networks.*.ip", "networks.*.mac", "networks.*.gateway", "networks.*.ipv6", "networks.*.gateway6",
        "networks.*.interface", "resolv.nameservers", "resolv.search", "resolv.options", "hosts_entries",
        "published.tcp.#", "published.udp.#",
    ),
    "network": ("id", "name", "subnet", "gateway", "bridge", "subnet6", "gateway6"),
    "host": ("interfaces", "hostname", "cgroup_version", "resolv.nameservers", "resolv.search",
             "resolv.options", "resolv.external_nameservers", "hosts_entries", "bridge_gateway"),
    "daemon": ("version", "api_version"),
    "sentinel": ("address", "gateway_address", "zone", "address6", "gateway_address6"),
    # The layer-2 segment a scenario declares (segment:), as the run made it.
    "segment": ("parent", "parent_mac", "sentinel", "host", "subnet"),
    "setting": (*SETTINGS, *DERIVED_SETTINGS),
}

_REF = re.compile(r"\$\{([^}]*)\}")
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


@dataclass(frozen=True)
class Names:
    """The container and network keys a reference may name, and whether a segment is declared."""

    containers: frozenset[str]
    networks: frozenset[str]
    segment: bool = False


def _parse_ref(text: str, where: Where, names: Names) -> Ref:
    parts = tuple(text.strip().split("."))
    root = parts[0]
    if root not in REF_ATTRIBUTES:
        raise where.error(f"unknown reference ${{{text}}}", ", ".join(f"${{{r}.…}}" for r in REF_ATTRIBUTES))
    rest = parts[1:]
    if root == "segment" and not names.segment:
        raise where.error(f"${{{text}}} names the segment, but the scenario declares none",
                          "declare segment: {subnet: <CIDR>, sentinel: <address>}")
    if root == "setting":
        # Setting names hold dots (net.bridge.bridge-nf-call-iptables): the rest is one name.
        if ".".join(rest) in REF_ATTRIBUTES[root]:
            return Ref(("setting", ".".join(rest)))
        raise where.error(f"${{{text}}}: no such daemon setting", ", ".join(REF_ATTRIBUTES[root]))
    if root in ("container", "network"):
        defined = names.containers if root == "container" else names.networks
        if not rest or rest[0] not in defined:
            name = rest[0] if rest else ""
            raise where.error(
                f"${{{text}}} names {root} {name!r}, which this scenario does not define",
                ", ".join(sorted(defined)) or f"(no {root}s defined)",
            )
        rest = rest[1:]
    attribute = ".".join(rest)
    for pattern in REF_ATTRIBUTES[root]:
        pattern_parts = pattern.split(".")
        if len(pattern_parts) == len(rest) and all(
            (p == "*" and r in names.networks) or (p == "#" and r.isdigit()) or p == r
            for p, r in zip(pattern_parts, rest, strict=True)
        ):
            return Ref(parts)
    allowed = ", ".join(REF_ATTRIBUTES[root])
    raise where.error(f"${{{text}}}: {root} has no fact {attribute!r}", allowed)


def parse_value(raw: Any, where: Where, names: Names) -> Value:
    """A literal, reference, template, or list of those."""
    if isinstance(raw, list):
        return tuple(parse_value(item, where, names) for item in raw)
    if isinstance(raw, Mapping):
        raise where.error("expected a value, found a mapping", "a scalar, a ${reference} or a list")
    if isinstance(raw, str) and "${" in raw:
        pieces: list[str | Ref] = []
        cursor = 0
        for match in _REF.finditer(raw):
            if match.start() > cursor:
                pieces.append(raw[cursor : match.start()])
            pieces.append(_parse_ref(match.group(1), where, names))
            cursor = match.end()
        if cursor < len(raw):
            pieces.append(raw[cursor:])
        if "${" in "".join(p for p in pieces if isinstance(p, str)):
            raise where.error(f"unterminated reference in {raw!r}", "${root.name.fact}")
        if len(pieces) == 1 and isinstance(pieces[0], Ref):
            return pieces[0]
        return Template(tuple(pieces))
    if raw is None or isinstance(raw, str | int | float | bool):
        return raw
    raise where.error(f"unsupported value {raw!r}", "a scalar, a ${reference} or a list")


def parse_expectation(raw: Any, where: Where, names: Names) -> Expectation:
    """An expectation: a matcher, or a ``by``/``cases`` selection of expectations."""
    if isinstance(raw, Mapping) and "by" in raw:
        return _parse_select(raw, where, names)
    if isinstance(raw, Mapping):
        unknown = [key for key in raw if key not in MATCHER_OPS]
        if unknown:
            raise where.error(f"unknown matcher {unknown[0]!r}", ", ".join(MATCHER_OPS) + ", by/cases")
        if not raw:
            raise where.error("an empty matcher asserts nothing", ", ".join(MATCHER_OPS))
        ops = tuple((op, parse_value(value, where, names)) for op, value in raw.items())
        for op, value in ops:
            if op == "matches" and isinstance(value, str):
                try:
                    re.compile(value)
                except re.error as err:
                    raise where.error(f"invalid regular expression {value!r}: {err}") from err
        return Matcher(ops)
    return Matcher((("equals", parse_value(raw, where, names)),))


def _parse_select(raw: Mapping[str, Any], where: Where, names: Names) -> Select:
    extra = set(raw) - {"by", "cases"}
    if extra:
        raise where.error(f"unknown key {sorted(extra)[0]!r} in a selection", "by, cases")
    by = raw["by"]
    if isinstance(by, str) and by in RENAMED_SELECT_FACTS:
        raise where.error(f"{by!r} is now the daemon setting {RENAMED_SELECT_FACTS[by]!r}",
                          f"by: {RENAMED_SELECT_FACTS[by]}")
    if not isinstance(by, str) or by not in SELECT_FACTS:  # a list or mapping is no fact (nor hashable)
        named = [fact for fact in SELECT_FACTS if not fact.startswith("setting.")]
        raise where.error(f"cannot select by {by!r}",
                          ", ".join(named) + ", setting.<name> (netconform list --settings)")
    cases = raw.get("cases")
    if not isinstance(cases, Mapping) or not cases:
        raise where.error("a selection needs a non-empty 'cases' mapping", SELECT_FACTS[by])
    parsed: list[tuple[str, Expectation]] = []
    for key, value in cases.items():
        line = getattr(cases, "key_lines", {}).get(key, where.line)
        case_where = Where(where.path, line, f"{where.key}.cases.{key}")
        if SELECT_FACTS[by] == "true or false" and str(key).lower() not in ("true", "false", "else"):
            raise case_where.error(f"{by} is true or false, never {key!r}", "true, false, else")
        if by == "daemon.version" and key != "else":
            try:
                SpecifierSet(str(key))
            except InvalidSpecifier as err:
                raise case_where.error(f"{key!r} is not a version range", SELECT_FACTS[by]) from err
        parsed.append((str(key), parse_expectation(value, case_where, names)))
    return Select(by, tuple(parsed))


def literals(expectation: Expectation) -> list[Value]:
    """The values an expectation names, in every case of a selection (to check their vocabulary)."""
    if isinstance(expectation, Select):
        return [value for _, case in expectation.cases for value in literals(case)]
    found: list[Value] = []
    for _, value in expectation.ops:
        found.extend(value if isinstance(value, tuple) else (value,))
    return found


def is_matcher_mapping(raw: Any) -> bool:
    """Whether a mapping in an ``expect`` block is an expectation rather than a group of properties."""
    return isinstance(raw, Mapping) and bool(raw) and (
        "by" in raw or all(key in MATCHER_OPS for key in raw)
    )


def choose(select: Select, facts: Mapping[str, str]) -> Expectation | None:
    """The case of ``select`` that applies to ``facts`` (``daemon.version`` etc.), or None."""
    value = facts.get(select.by)
    if value is None:
        return None
    for key, expectation in select.cases:
        if key == "else":
            continue
        if select.by == "daemon.version":
            if SpecifierSet(key).contains(_release(value), prereleases=True):
                return expectation
        elif str(key).lower() == str(value).lower():
            return expectation
    for key, expectation in select.cases:
        if key == "else":
            return expectation
    return None


def _release(version: str) -> str:
    """``20.10.24+dfsg1`` -> ``20.10.24``: Debian suffixes are not PEP 440 local versions."""
    match = re.match(r"\d+(\.\d+)*", version)
    return match.group(0) if match else version
