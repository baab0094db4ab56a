"""Where each program of one Docker engine comes from: the installed packages or an unpacked tree.

dockerd starts and supervises its own containerd, both found through :attr:`DaemonBinaries.bin_dir`
first on PATH: that is how Debian trixie's 26.1.5 and sid's (or forky's) 28.5.2 run their own
containerd and docker-proxy with bookworm's runc. Which versions exist is
:mod:`netconform.hermetic.daemon_versions`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from netconform.errors import ToolMissing

CACHE_DIR = Path(os.environ.get("NETCONFORM_CACHE", "/var/cache/netconform"))
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENGINE_PROGRAMS = ("dockerd", "containerd", "containerd-shim-runc-v2", "docker-proxy", "runc", "docker-init")


def _require(path: Path, fix: str) -> Path:
    if not os.access(path, os.X_OK):
        raise ToolMissing(f"{path} is missing or not executable; it is provided by: {fix}")
    return path


def unpacked_root(version: str) -> Path:
    """Where ``ci/fetch-docker VERSION`` unpacks docker.io ``version`` (e.g. ``"26.1.5"``)."""
    return CACHE_DIR / f"docker-{version}" / "root"


@dataclass(frozen=True)
class DaemonBinaries:
    """Where each program of one Docker engine comes from.

    dockerd finds containerd, docker-proxy and docker-init on its PATH, and containerd's shim finds
    runc the same way, so the daemon runs with :attr:`bin_dir` (symlinks to the files below) first on
    PATH.
    """

    label: str
    dockerd: Path
    containerd: Path
    containerd_shim_runc_v2: Path
    docker_proxy: Path
    runc: Path
    docker_init: Path
    bin_dir: Path

    @classmethod
    def system(cls) -> DaemonBinaries:
        """The installed Debian packages (bookworm: docker.io 20.10).

        Raises:
            ToolMissing: a program is missing; the message names it and the package to install.
        """
        return cls(
            label="system",
            dockerd=_require(Path("/usr/sbin/dockerd"), "apt-get install docker.io"),
            containerd=_require(Path("/usr/bin/containerd"), "apt-get install containerd"),
            containerd_shim_runc_v2=_require(Path("/usr/bin/containerd-shim-runc-v2"), "apt-get install containerd"),
            docker_proxy=_require(Path("/usr/sbin/docker-proxy"), "apt-get install docker.io"),
            runc=_require(Path("/usr/sbin/runc"), "apt-get install runc"),
            docker_init=_require(Path("/usr/bin/docker-init"), "apt-get install docker.io tini"),
            bin_dir=CACHE_DIR / "bin-system",
        )

    @classmethod
    def unpacked(cls, version: str, root: Path | None = None) -> DaemonBinaries:
        """A Debian docker.io and containerd unpacked by ``ci/fetch-docker VERSION``, with bookworm's runc.

        Newer suites' runc needs a newer glibc than bookworm's, so runc is the installed one.

        Args:
            version: the docker.io version, e.g. ``"28.5.2"``.
            root: the unpacked tree; :func:`unpacked_root` of ``version`` when None.

        Raises:
            ToolMissing: nothing is unpacked there, or a program is missing; the message names the
                ``ci/fetch-docker`` command that provides it.
        """
        root = root or unpacked_root(version)
        if not root.is_dir():
            raise ToolMissing(f"docker.io {version} is not unpacked (no {root}): run ci/fetch-docker {version} "
                              f"(as root) first")
        fetch = f"ci/fetch-docker {version} (unpacks Debian's docker.io {version} into {root})"
        return cls(
            label=version,
            dockerd=_require(root / "usr/sbin/dockerd", fetch),
            containerd=_require(root / "usr/bin/containerd", fetch),
            containerd_shim_runc_v2=_require(root / "usr/bin/containerd-shim-runc-v2", fetch),
            docker_proxy=_require(root / "usr/sbin/docker-proxy", fetch),
            runc=_require(Path("/usr/sbin/runc"), "apt-get install runc"),
            docker_init=_require(root / "usr/bin/docker-init", fetch),
            bin_dir=root.parent / "bin",
        )

    def programs(self) -> dict[str, Path]:
        """Program name on PATH -> the file it runs."""
        return dict(
            zip(
                ENGINE_PROGRAMS,
                (
                    self.dockerd,
                    self.containerd,
                    self.containerd_shim_runc_v2,
                    self.docker_proxy,
                    self.runc,
                    self.docker_init,
                ),
                strict=True,
            )
        )

    @property
    def path(self) -> str:
        """The PATH the daemon runs with: :attr:`bin_dir` first, then the system directories."""
        return f"{self.bin_dir}:{SYSTEM_PATH}"

    def link(self) -> Path:
        """Create or refresh :attr:`bin_dir`'s symlinks (atomically: runs may share the directory)."""
        self.bin_dir.mkdir(parents=True, exist_ok=True)
        for name, target in self.programs().items():
            temporary = self.bin_dir / f".{name}.{os.getpid()}"
            temporary.unlink(missing_ok=True)
            temporary.symlink_to(target)
            temporary.replace(self.bin_dir / name)
        return self.bin_dir
