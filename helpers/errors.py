"""One exception hierarchy for netconform, and the exit code each kind of failure maps to.

User-facing errors are one short paragraph: the message says what was attempted, what came back
and, where there is one, the fix. No traceback is shown for these.
"""

from __future__ import annotations


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
        text = f"{self.location}: {self.key}: {self.problem}"
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        return text


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
