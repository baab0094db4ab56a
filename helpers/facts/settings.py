"""A daemon's networking settings as they are in effect, each with where it was read.

Read before a run creates anything (creating a network makes the daemon re-apply its rules), so
they describe the host as it was found. Values are JSON-able: bool, int, str, lists, None.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Setting:
    """One setting. ``value`` is None with ``unreadable`` saying why when it could not be read."""

    value: Any
    source: str
    unreadable: str = ""

    def describe(self) -> str:
        if self.unreadable:
            return f"<unreadable: {self.unreadable}>"
        return f"{self.value!r} ({self.source})"


@dataclass
class EffectiveSettings:
    """The daemon's networking settings, the command line and config file they came from."""

    settings: dict[str, Setting] = field(default_factory=dict)
    command_line: list[str] = field(default_factory=list)
    config_file: str | None = None

    def value(self, name: str) -> Any:
        return self.settings[name].value

    def describe(self) -> str:
        return "\n".join(f"{name}: {setting.describe()}" for name, setting in sorted(self.settings.items()))
