"""A traced packet's path through the firewall, told as one line per base chain it entered.

Pure logic: :class:`netconform.observe.nftrace_packets.TracedPacket` tells its story with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from netconform.observe.nftrace_events import TERMINAL_VERDICTS, TraceStep, parse_headers


def hook_lines(steps: tuple[TraceStep, ...]) -> list[str]:
    """One line per base chain (hook) the steps went through, in order; empty for no steps."""
    return [_render_hook(hook) for hook in _split_hooks(steps)]


def _split_hooks(steps: tuple[TraceStep, ...]) -> list[list[TraceStep]]:
    hooks: list[list[TraceStep]] = []
    for step in steps:
        if step.kind == "packet" or not hooks:
            hooks.append([])
        hooks[-1].append(step)
    return hooks


@dataclass
class _Token:
    text: str
    chain: str
    bare: bool = False  # names a chain entered by a plain jump; its first rule is written into it


def _render_hook(steps: list[TraceStep]) -> str:
    """``ip filter FORWARD → DOCKER-USER (return) → X: <rule> jump Y → Y: <rule> drop → verdict DROP``.

    A jump whose rule says nothing else shows only the chain it entered; a chain left without a
    matching rule shows as ``(no rule matched)``.
    """
    entry = steps[0]
    headers = parse_headers(entry.rule) if entry.kind == "packet" else {}
    tokens = [_Token(f"{entry.family} {entry.table} {entry.chain}", entry.chain, bare=True)]

    def put(text: str, chain: str, bare: bool = False) -> None:
        """Write into the bare token of ``chain`` if that is the last one, else add a token."""
        last = tokens[-1]
        if last.bare and last.chain == chain and not bare:
            last.text, last.bare = last.text + text.removeprefix(chain), False
        else:
            tokens.append(_Token(text, chain, bare))

    pending: str | None = None  # the chain a jump entered, until its first event shows up
    for step in steps[1:] if entry.kind == "packet" else steps:
        if pending is not None and step.chain != pending:
            put(f"{pending} (no rule matched)", pending)
        pending = None
        target = step.verdict.split(" ", 1)[1] if step.verdict.startswith(("jump ", "goto ")) else None
        if step.kind == "policy":
            tokens.append(_Token(f"policy {step.verdict.upper()}", step.chain))
        elif step.kind == "verdict" or step.rule == step.verdict == "return":
            put(f"{step.chain} (return)", step.chain)
        elif target is not None and step.rule == step.verdict:
            tokens.append(_Token(target, target, bare=True))
            pending = target
        else:
            put(f"{step.chain}: {step.rule}", step.chain)
            pending = target
            if step.verdict in TERMINAL_VERDICTS:
                tokens.append(_Token(f"verdict {step.verdict.upper()}", step.chain))
    interfaces = " ".join(f'{name} "{headers[name]}"' for name in ("iif", "oif") if name in headers)
    line = " → ".join(token.text for token in tokens)
    return f"{line}  ({interfaces})" if interfaces else line
