"""One exception hierarchy for netconform, and the exit code each kind of failure maps to.

User-facing errors are one short paragraph: the message says what was attempted, what came back
and, where there is one, the fix. No traceback is shown for these.
"""

from __future__ import annotations

from collections.abc import Sequence

# pytest's "interrupted", which every netconform command shares: Ctrl-C or SIGTERM stopped the run,
# what it had started was stopped and removed, and what had arrived was written.
EXIT_INTERRUPTED = 2


class NetconformError(Exception):
    """Root of every error netconform raises on purpose."""

    exit_code = 20


class SpecError(NetconformError):
    """A scenario spec is malformed; carries where (file:line), which key and what is allowed."""

    exit_code = 10

    def __init__(self, path: str, line: int | None, key: str, problem: str, allowed: str = "") -> None:
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem
        self.allowed = allowed
        super().__init__(self.render())

    @property
    def location(self) -> str:
        return f"{self.path}:{self.line}" if self.line else self.path

    def render(self) -> str:
        key = self.key if self.key and self.key == self.key.strip() else repr(self.key)  # " 0", "" would hide
        text = f"{self.location}: {key}: {self.problem}"
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return _one_line(text)

    @property
    def problems(self) -> tuple[SpecError, ...]:
        """Every problem this error reports, one per file:line (just itself; see SpecErrors)."""
        return (self,)


def _one_line(text: str) -> str:
    """``text`` on one line: a key or value read from the file may hold a line break or another
    control character, which is shown escaped (``\\n``) so each problem stays one line."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)


class SpecErrors(SpecError):
    """Several problems in one spec, sorted by line, rendered one per line.

    Its own path, line, key, problem and allowed are the first problem's, so code that reads one
    problem reads the first.
    """

    def __init__(self, problems: Sequence[SpecError]) -> None:
        self._problems = tuple(problems)
        first = self._problems[0]
        super().__init__(first.path, first.line, first.key, first.problem, first.allowed)

    @property
    def problems(self) -> tuple[SpecError, ...]:
        return self._problems

    def render(self) -> str:
        return "\n".join(problem.render() for problem in self._problems)

    @classmethod
    def of(cls, problems: Sequence[SpecError]) -> SpecError:
        """One error for ``problems`` (at least one): itself if alone, else all of them together."""
        return problems[0] if len(problems) == 1 else cls(problems)


class EnvironmentProblem(NetconformError):
    """The host cannot run the suite as asked (daemon, permission, image, tools)."""


class DaemonUnavailable(EnvironmentProblem):
    exit_code = 11


class PermissionProblem(EnvironmentProblem):
    exit_code = 12


class ImageMissing(EnvironmentProblem):
    exit_code = 13


class ToolMissing(EnvironmentProblem):
    exit_code = 14


class EngineError(NetconformError):
    """The daemon refused or failed an operation the scenario needs."""

    exit_code = 15


class ProbeError(NetconformError):
    """An observation from inside a namespace failed (not a conformance verdict)."""

    exit_code = 16


class ProbeTimeout(ProbeError):
    pass


class Interrupted(NetconformError):
    """Ctrl-C or SIGTERM arrived while the work was under way; it was stopped."""

    exit_code = EXIT_INTERRUPTED
