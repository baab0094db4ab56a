"""The Docker engine versions a dedicated daemon can run: one catalogue, short or full names.

``"20"`` is the installed docker.io (bookworm's 20.10.24); the others are Debian's docker.io
unpacked, never installed, by ``ci/fetch-docker FULL`` (its suite table must carry each of them).
A version is named by its short form (``"26"``) or its full one (``"26.1.5"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from netconform.hermetic.daemon_binaries import DaemonBinaries


@dataclass(frozen=True)
class DockerVersion:
    """One engine of the catalogue.

    Attributes:
        short: the major version, how the commands name it (``"26"``).
        full: the docker.io upstream version (``"26.1.5"``).
        origin: where its programs come from, for ``--help``.
        installed: the host's installed packages (rather than a tree ``ci/fetch-docker`` unpacks).
    """

    short: str
    full: str
    origin: str
    installed: bool = False

    @property
    def fetch_command(self) -> str | None:
        """The command that provides this engine's programs, or None for the installed one."""
        return None if self.installed else f"ci/fetch-docker {self.full}"

    def binaries(self) -> DaemonBinaries:
        """The programs of this engine.

        Raises:
            ToolMissing: they are not there; the message names the command that provides them
                (``ci/fetch-docker FULL`` or the package to install).
        """
        return DaemonBinaries.system() if self.installed else DaemonBinaries.unpacked(self.full)


VERSIONS = (
    DockerVersion("20", "20.10.24", "the installed docker.io (Debian bookworm)", installed=True),
    DockerVersion("26", "26.1.5", "Debian trixie's docker.io, unpacked by ci/fetch-docker 26.1.5"),
    DockerVersion("28", "28.5.2", "Debian sid's or forky's docker.io, unpacked by ci/fetch-docker 28.5.2"),
)


def find_version(name: str) -> DockerVersion:
    """The catalogue's engine called ``name``, in its short or full form.

    Raises:
        ValueError: no such engine; the message lists the known ones.
    """
    for version in VERSIONS:
        if name in (version.short, version.full):
            return version
    raise ValueError(f"unknown Docker version {name!r} (known: {known_versions()})")


def known_versions() -> str:
    """``"20 (20.10.24), 26 (26.1.5), ..."``: the catalogue on one line."""
    return ", ".join(f"{version.short} ({version.full})" for version in VERSIONS)


def describe_versions() -> list[str]:
    """One line per engine for ``--help``: both names and where its programs come from."""
    return [f"{version.short} or {version.full}: {version.origin}" for version in VERSIONS]
