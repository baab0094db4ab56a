"""Dedicated Docker daemons, each in its own network namespace, that never disturb the host's daemon.

A dedicated daemon with key ``<run id>-<name>`` gets the netns ``nc-<run id>-<name>``, the
data-root ``/var/lib/netconform/daemons/<key>``, the exec-root ``/run/netconform/daemons/<key>``
(socket, pidfile, config, containerd's state), the cgroup parent ``/nc-<key>`` and an empty config
file, so /etc/docker/daemon.json never applies. dockerd starts and supervises its own containerd,
both found through :attr:`DaemonBinaries.bin_dir` first on PATH: that is how Debian trixie's 26.1.5
and sid's (or forky's) 28.5.2 run their own containerd and docker-proxy with bookworm's runc.

Every leftover is found again from those names and places, so :func:`sweep_stale_daemons` removes
what a crashed run left behind and touches nothing else.

CLI, ``netconform daemon`` (also ``python -m netconform.hermetic.daemons``; one line per error, exit code
from netconform.errors)::

    eval "$(netconform daemon start --name fault --version 26 -- --icc=false)"
    netconform daemon stop --name fault
    netconform daemon sweep
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import docker
import requests
from pyroute2 import IPRoute, netns

from netconform.errors import (
    DaemonUnavailable,
    EnvironmentProblem,
    NetconformError,
    PermissionProblem,
    ProbeError,
    ToolMissing,
)
from netconform.hermetic import hostclean
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.hermetic.runs import NAME_PREFIX, REGISTRY, RunIdentity, register, stale_runs, unregister

RUN_DIR = REGISTRY.parent / "daemons"
DATA_DIR = Path(os.environ.get("NETCONFORM_DATA_DIR", "/var/lib/netconform")) / "daemons"
CACHE_DIR = Path(os.environ.get("NETCONFORM_CACHE", "/var/cache/netconform"))
NETNS_DIR = Path("/run/netns")
DOCKER_26 = "26.1.5"
DOCKER_28 = "28.5.2"
# The CLI's --version -> the engine ci/fetch-docker unpacks; "20" is the installed one.
UNPACKED_VERSIONS = {"26": DOCKER_26, "28": DOCKER_28}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ENGINE_PROGRAMS = ("dockerd", "containerd", "containerd-shim-runc-v2", "docker-proxy", "runc", "docker-init")

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
_KEY = re.compile(r"^[0-9a-f]{8}-[a-z0-9][a-z0-9-]{0,15}$")
# A unix socket path holds at most 107 bytes, and containerd's sockets live below the exec-root.
_SOCKET_MAX = 107
_LONGEST_SOCKET = "/containerd/containerd-debug.sock"
# containerd-shim-runc-v2 listens on /run/containerd/s/<sha256 of "<containerd socket>/<ns>/<id>">,
# outside our exec-root; a killed shim leaves it behind.
_SHIM_SOCKETS = Path("/run/containerd/s")
# Places and names that are ours to choose: a flag setting one would escape the cleanup.
_OWNED_FLAGS = (
    "--data-root",
    "--exec-root",
    "--pidfile",
    "-p",
    "--host",
    "-H",
    "--config-file",
    "--containerd",
    "--cgroup-parent",
)
_KILL_BOUND = 10.0
_NETNS_BOUND = 10.0
_CLONE_NEWNET = 0x40000000


def _require(path: Path, fix: str) -> Path:
    if not os.access(path, os.X_OK):
        raise ToolMissing(f"{path} is missing or not executable; it is provided by: {fix}")
    return path


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
    def unpacked(cls, version: str = DOCKER_26, root: Path | None = None) -> DaemonBinaries:
        """A Debian docker.io and containerd unpacked by ``ci/fetch-docker VERSION``, with bookworm's runc.

        Newer suites' runc needs a newer glibc than bookworm's, so runc is the installed one.

        Args:
            version: the docker.io version, e.g. ``"28.5.2"``.
            root: the unpacked tree; ``/var/cache/netconform/docker-<version>/root`` when None.

        Raises:
            ToolMissing: a program is missing; the message names it and the command providing it.
        """
        root = root or CACHE_DIR / f"docker-{version}" / "root"
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


@dataclass(frozen=True)
class DaemonPaths:
    """Every host-side name and place of one dedicated daemon, derived from its key."""

    key: str  # <run id>-<name>

    @property
    def run_id(self) -> str:
        return self.key[:8]

    @property
    def name(self) -> str:
        return self.key[9:]

    @property
    def netns_name(self) -> str:
        return f"{NAME_PREFIX}-{self.key}"

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns_name

    @property
    def cgroup_parent(self) -> str:
        return self.netns_name

    @property
    def exec_root(self) -> Path:
        return RUN_DIR / self.key

    @property
    def data_root(self) -> Path:
        return DATA_DIR / self.key

    @property
    def log(self) -> Path:
        return DATA_DIR / f"{self.key}.log"

    @property
    def socket(self) -> Path:
        return self.exec_root / "docker.sock"

    @property
    def pidfile(self) -> Path:
        return self.exec_root / "dockerd.pid"

    @property
    def config_file(self) -> Path:
        return self.exec_root / "daemon.json"

    @property
    def state_file(self) -> Path:
        return self.exec_root / "state.json"

    @property
    def containerd_socket(self) -> Path:
        return self.exec_root / "containerd" / "containerd.sock"

    def exists(self) -> list[str]:
        """The places of this daemon that exist now (empty once it is fully cleaned up)."""
        places = (self.exec_root, self.data_root, self.log, self.netns_path)
        return [str(p) for p in places if os.path.lexists(p)]


class DedicatedDaemon:
    """A dockerd of our own in its own network namespace, with its own state, socket and config.

    Use it as a context manager, or call :meth:`start` and :meth:`stop` (idempotent, always safe,
    also after a failed start). The run is registered so a later sweep can remove what a crash
    leaves behind.

    Args:
        run: the run the daemon belongs to; every name carries its id.
        name: short name such as ``"fault"`` or ``"v26"`` ([a-z0-9-], at most 16 characters).
        binaries: the engine to run; :meth:`DaemonBinaries.system` when None.
        flags: extra dockerd flags, e.g. ``["--icc=false", "--mtu=1400"]``.
        start_timeout: bound in seconds for the daemon to answer a ping.
        stop_timeout: bound in seconds between SIGTERM and SIGKILL.
        keep: keep the data-root and the log after :meth:`stop`.
        detached: the daemon outlives this process (CLI): once it answers, its run is registered
            with dockerd itself as owner, so a sweep treats it as alive while it runs.

    Raises:
        NetconformError: bad name, or a flag that would move one of the places we own.
        EnvironmentProblem: the exec-root path is too long for unix sockets.
    """

    def __init__(
        self,
        run: RunIdentity,
        name: str,
        binaries: DaemonBinaries | None = None,
        flags: Sequence[str] = (),
        *,
        start_timeout: float = 30.0,
        stop_timeout: float = 20.0,
        keep: bool = False,
        detached: bool = False,
    ) -> None:
        if not _NAME.match(name):
            raise NetconformError(f"daemon name {name!r} is not allowed (allowed: [a-z0-9-], 1-16 chars)")
        for flag in flags:
            if flag.split("=", 1)[0] in _OWNED_FLAGS:
                owned = ", ".join(_OWNED_FLAGS)
                raise NetconformError(f"dockerd flag {flag!r} is set by DedicatedDaemon (owned: {owned})")
        self.run = run
        self.binaries = binaries
        self.flags = tuple(flags)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.keep = keep
        self.detached = detached
        self.paths = DaemonPaths(f"{run.run_id}-{name}")
        if len(str(self.paths.exec_root)) + len(_LONGEST_SOCKET) > _SOCKET_MAX:
            raise EnvironmentProblem(
                f"exec-root {self.paths.exec_root} is too long for containerd's sockets below it "
                f"(at most {_SOCKET_MAX - len(_LONGEST_SOCKET)} characters): shorten NETCONFORM_STATE_DIR"
            )
        self.startup_seconds: float | None = None
        self._created = False  # whether stop() has anything of ours to remove
        self._proc: subprocess.Popen[bytes] | None = None
        self._pid: int | None = None
        self._client: docker.DockerClient | None = None
        self._version: str | None = None

    @classmethod
    def attach(cls, key: str) -> DedicatedDaemon:
        """The daemon recorded under ``key`` by a start in another process (to stop it)."""
        paths = DaemonPaths(key)
        state = json.loads(paths.state_file.read_text())
        daemon = cls(RunIdentity.parse(paths.run_id, state["owner"]), paths.name)
        daemon._pid = int(state["pid"])
        daemon._created = True
        return daemon

    # -- what callers use -------------------------------------------------------------------

    @property
    def docker_host(self) -> str:
        return f"unix://{self.paths.socket}"

    @property
    def netns_path(self) -> Path:
        return self.paths.netns_path

    @property
    def log_path(self) -> Path:
        return self.paths.log

    @property
    def pid(self) -> int:
        """dockerd's pid (in the host's pid namespace)."""
        if self._pid is None:
            raise NetconformError(f"dedicated daemon {self.paths.key!r} is not running")
        return self._pid

    @property
    def version(self) -> str:
        """The engine version the daemon reported (``Version`` of /version)."""
        if self._version is None:
            raise NetconformError(f"dedicated daemon {self.paths.key!r} is not running")
        return self._version

    def client(self) -> docker.DockerClient:
        """An SDK client bound to this daemon; closed by :meth:`stop`."""
        if self._client is None:
            raise NetconformError(f"dedicated daemon {self.paths.key!r} is not running")
        return self._client

    def __enter__(self) -> DedicatedDaemon:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- start ------------------------------------------------------------------------------

    def start(self) -> DedicatedDaemon:
        """Create the namespace and directories, start dockerd and wait until it answers a ping.

        Raises:
            DaemonUnavailable: dockerd exited or did not answer within ``start_timeout``; the message
                names the socket, the bound and the end of dockerd's log. Everything is cleaned up.
            ToolMissing: a program is missing.
            EnvironmentProblem: a namespace or directory of this name already exists.
        """
        if self._pid is not None:
            raise NetconformError(f"dedicated daemon {self.paths.key!r} is already running")
        if os.geteuid() != 0:
            raise PermissionProblem("a dedicated Docker daemon needs root (namespaces, mounts, iptables)")
        binaries = self.binaries or DaemonBinaries.system()
        nsenter = shutil.which("nsenter")
        if nsenter is None:
            raise ToolMissing("nsenter is missing; it is provided by: apt-get install util-linux")
        taken = self.paths.exists()
        if taken:
            raise EnvironmentProblem(
                f"dedicated daemon {self.paths.key!r} cannot start: {', '.join(taken)} already exist "
                f"(a daemon of that run and name runs, or a crash left it: netconform daemon sweep)"
            )
        binaries.link()
        register(self.run)
        began = time.monotonic()
        self._created = True
        try:
            self._prepare()
            self._launch(nsenter, binaries)
            self._wait_ready(began, binaries)
            if self.detached:
                self.run = RunIdentity.owned_by(self.run.run_id, self.pid)
                register(self.run)
            self.paths.state_file.write_text(json.dumps(self._state(binaries)))
        except BaseException as err:
            try:
                self.stop()
            except NetconformError as cleanup:
                err.add_note(f"cleanup after the failed start also failed: {cleanup}")
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def _prepare(self) -> None:
        self.paths.exec_root.mkdir(mode=0o700, parents=True)
        self.paths.data_root.mkdir(mode=0o710, parents=True)
        self.paths.config_file.write_text("{}\n")
        name = self.paths.netns_name
        try:
            call_in_namespaces({}, _create_netns_here, name, timeout=_NETNS_BOUND, what=f"creating netns {name}")
        except ProbeError as err:
            raise EnvironmentProblem(str(err)) from err

    def _launch(self, nsenter: str, binaries: DaemonBinaries) -> None:
        p = self.paths
        # nsenter joins only the network namespace; `ip netns exec` would also remount /sys, and
        # dockerd then fails with "Devices cgroup isn't mounted".
        argv = [
            nsenter,
            f"--net={p.netns_path}",
            "--",
            str(binaries.bin_dir / "dockerd"),
            f"--data-root={p.data_root}",
            f"--exec-root={p.exec_root}",
            f"--pidfile={p.pidfile}",
            f"--host=unix://{p.socket}",
            f"--config-file={p.config_file}",
            f"--cgroup-parent=/{p.cgroup_parent}",
            *self.flags,
        ]
        with p.log.open("wb") as log:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env={"PATH": binaries.path},
                start_new_session=True,  # a Ctrl-C meant for pytest must not hit dockerd first
            )
        self._pid = self._proc.pid  # nsenter execs dockerd: same pid

    def _wait_ready(self, began: float, binaries: DaemonBinaries) -> None:
        assert self._proc is not None
        deadline = began + self.start_timeout
        last = "the socket never appeared"
        while True:
            code = self._proc.poll()
            if code is not None:
                elapsed = time.monotonic() - began
                raise DaemonUnavailable(
                    self._unavailable(binaries, f"dockerd exited with status {code} after {elapsed:.1f}s")
                )
            if self.paths.socket.exists():
                try:
                    self._client, self._version = _ask(self.docker_host)
                    return
                except (docker.errors.DockerException, requests.RequestException) as err:
                    last = f"last error: {err}"
            if time.monotonic() >= deadline:
                raise DaemonUnavailable(self._unavailable(binaries, f"no answer in time ({last})"))
            time.sleep(0.1)

    def _unavailable(self, binaries: DaemonBinaries, what: str) -> str:
        return (
            f"dedicated dockerd {self.paths.key!r} ({binaries.label}) did not answer a ping on "
            f"{self.paths.socket} within {self.start_timeout:g}s: {what}. "
            f"Its log ends with: {_log_tail(self.paths.log)}"
        )

    def _state(self, binaries: DaemonBinaries) -> dict[str, object]:
        return {
            "owner": self.run.owner,
            "pid": self.pid,
            "docker_host": self.docker_host,
            "binaries": binaries.label,
            "version": self._version,
            "flags": list(self.flags),
            "detached": self.detached,
        }

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop dockerd and remove every leftover of it; idempotent, a no-op before :meth:`start`.

        SIGTERM, then SIGKILL after ``stop_timeout``; then any of its processes still alive
        (containerd, shims, docker-proxy, containers) are killed, mounts below its data-root and
        exec-root are unmounted, and the netns, cgroups, exec-root and (unless ``keep``) data-root
        and log are removed.

        Raises:
            EnvironmentProblem: something could not be removed; the message names it. Directories
                with a mount still below them are left alone.
        """
        if self._client is not None:
            self._client.close()
            self._client = None
        if not self._created:  # never touch a namesake's daemon
            return
        try:
            _stop_dockerd(self.paths, self._pid, self._proc, self.stop_timeout)
        finally:
            self._proc = None
            self._pid = None
            self._version = None
            _teardown(self.paths, keep=self.keep)
        self._created = False  # only once nothing is left: a failed cleanup can be retried


def _create_netns_here(name: str) -> None:
    """In a throwaway child: unshare a new netns, bind it to /run/netns/<name>, bring lo up.

    pyroute2's ``netns.create`` and ``IPRoute(netns=...)`` fork helpers that they stop with
    SIGTERM; a helper that inherited the plugin's SIGTERM handler raises instead of exiting and
    runs on as a copy of the test process. nsexec's children never get SIGTERM.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWNET): {os.strerror(code)}")
    netns.attach(name, os.getpid())
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


def _ask(docker_host: str) -> tuple[docker.DockerClient, str]:
    """A client bound to ``docker_host`` once the daemon answers a ping, and its version."""
    # Building the client already asks the daemon for its API version.
    client = docker.DockerClient(base_url=docker_host, timeout=10)
    try:
        client.ping()
        return client, str(client.version()["Version"])
    except BaseException:
        client.close()
        raise


def _log_tail(log: Path, lines: int = 4) -> str:
    """The last lines of dockerd's log worth reading: info and debug chatter is skipped."""
    try:
        text = log.read_text(errors="replace")
    except OSError as err:
        return f"(no log: {err.strerror})"
    every = [line.strip()[:300] for line in text.splitlines() if line.strip()]
    telling = [line for line in every if "level=info" not in line and "level=debug" not in line]
    return " | ".join((telling or every)[-lines:]) or "(empty log)"


def _stop_dockerd(paths: DaemonPaths, pid: int | None, proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if pid is None:
        try:
            pid = int(paths.pidfile.read_text().strip())
        except (OSError, ValueError):
            pid = None
    found = hostclean.read_process(pid) if pid is not None else None
    # A recycled pid is not ours: dockerd names our exec-root on its command line.
    if found is not None and found.program == "dockerd" and found.mentions(paths.exec_root):
        _kill_containers(paths)
        hostclean.kill([found.pid], signal.SIGTERM)
        if hostclean.wait_gone([found.pid], timeout):
            hostclean.kill([found.pid])
            hostclean.wait_gone([found.pid], _KILL_BOUND)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=_KILL_BOUND)


def _kill_containers(paths: DaemonPaths) -> None:
    """Best effort: SIGKILL the daemon's running containers through its API.

    Otherwise dockerd's shutdown waits out each container's stop timeout (10 s for a PID 1 that
    ignores SIGTERM, like busybox sleep); SIGTERM and SIGKILL of dockerd remain the guarantee.
    """
    try:
        api = docker.APIClient(base_url=f"unix://{paths.socket}", timeout=5)
    except (docker.errors.DockerException, requests.RequestException):
        return
    failures = (docker.errors.DockerException, requests.RequestException)
    try:
        with contextlib.suppress(*failures):
            for container in api.containers(quiet=True):
                with contextlib.suppress(*failures):  # one that stopped meanwhile
                    api.kill(container["Id"])
    finally:
        api.close()


def _teardown(paths: DaemonPaths, *, keep: bool) -> None:
    """Remove what the daemon at ``paths`` left once dockerd itself is gone."""
    ns = hostclean.namespace_id(paths.netns_path)
    leftover = [
        p.pid
        for p in hostclean.processes()
        if (ns is not None and p.netns == ns)
        or (p.program in ENGINE_PROGRAMS and p.mentions(paths.exec_root))
        or p.in_cgroup(paths.cgroup_parent)
    ]
    hostclean.kill(leftover)
    problems = []
    survivors = hostclean.wait_gone(leftover, _KILL_BOUND)
    if survivors:
        problems.append(f"processes {survivors} survived SIGKILL for {_KILL_BOUND:g}s")
    for socket in _shim_sockets(paths):
        socket.unlink(missing_ok=True)
    mounted = hostclean.unmount_under([paths.exec_root, paths.data_root])
    if mounted:
        problems.append(f"still mounted: {', '.join(mounted)}")
    if os.path.lexists(paths.netns_path):
        netns.remove(paths.netns_name)
    cgroups = hostclean.remove_cgroup(paths.cgroup_parent)
    if cgroups:
        problems.append(f"cgroups not removable: {', '.join(map(str, cgroups))}")
    doomed = [paths.exec_root] if keep else [paths.exec_root, paths.data_root]
    for root in doomed:
        if not hostclean.mounts_under([root]):  # never recurse into something mounted
            shutil.rmtree(root, ignore_errors=True)
    if not keep:
        paths.log.unlink(missing_ok=True)
    if problems:
        raise EnvironmentProblem(f"cleanup of dedicated daemon {paths.key!r} left: {'; '.join(problems)}")


def _shim_sockets(paths: DaemonPaths) -> list[Path]:
    tasks = paths.exec_root / "containerd" / "daemon" / "io.containerd.runtime.v2.task"
    if not tasks.is_dir():
        return []
    found = []
    for namespace in tasks.iterdir():
        for task in namespace.iterdir():
            address = f"{paths.containerd_socket}/{namespace.name}/{task.name}"
            found.append(_SHIM_SOCKETS / hashlib.sha256(address.encode()).hexdigest())
    return found


def _keys(run_ids: set[str]) -> list[str]:
    found: set[str] = set()
    for base in (RUN_DIR, DATA_DIR):
        if base.is_dir():
            for entry in base.iterdir():
                key = entry.name.removesuffix(".log")
                if _KEY.match(key) and key[:8] in run_ids:
                    found.add(key)
    return sorted(found)


def sweep_stale_daemons(stop_timeout: float = 20.0, *, dry_run: bool = False) -> list[str]:
    """Stop and remove the dedicated daemons of runs whose owner process is gone.

    A detached daemon's run existed for it alone, so that run is unregistered too. Only places
    named by this module are considered (``/run/netconform/daemons/<run>-<name>``,
    ``/var/lib/netconform/daemons/<run>-<name>``) and, for each, its netns, cgroups and processes.
    With ``dry_run`` nothing is stopped or removed.

    Returns:
        The keys (``<run>-<name>``) that were swept (or would be).

    Raises:
        EnvironmentProblem: some leftovers could not be removed; the message names them.
    """
    keys = _keys(set(stale_runs()))
    if dry_run:
        return keys
    problems = []
    for key in keys:
        paths = DaemonPaths(key)
        detached = _detached(paths)
        try:
            _stop_dockerd(paths, None, None, stop_timeout)
            _teardown(paths, keep=False)
        except EnvironmentProblem as err:
            problems.append(str(err))
        else:
            if detached:  # the run existed for this daemon alone
                unregister(RunIdentity(paths.run_id, 0, "0"))
    if problems:
        raise EnvironmentProblem("; ".join(problems))
    return keys


def stop_detached(name: str) -> str:
    """Stop the daemon a ``start`` in another process (the CLI) left running; return its key.

    Raises:
        NetconformError: no such daemon, or several of that name.
    """
    detached = [k for k in _all_keys() if DaemonPaths(k).name == name and _detached(DaemonPaths(k))]
    if len(detached) != 1:
        found = ", ".join(detached) or "none"
        raise NetconformError(f"expected one detached daemon named {name!r} in {RUN_DIR}, found: {found}")
    daemon = DedicatedDaemon.attach(detached[0])
    try:
        daemon.stop()
    finally:
        unregister(daemon.run)
    return detached[0]


def _all_keys() -> list[str]:
    return [e.name for e in RUN_DIR.iterdir() if _KEY.match(e.name)] if RUN_DIR.is_dir() else []


def _detached(paths: DaemonPaths) -> bool:
    try:
        return bool(json.loads(paths.state_file.read_text()).get("detached"))
    except (OSError, ValueError):
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The command line of ``netconform daemon``: start, stop, sweep."""
    commands = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = commands.add_parser("start", help="start a detached dedicated daemon, print shell assignments")
    start.add_argument("--name", required=True)
    start.add_argument(
        "--version",
        choices=("20", *UNPACKED_VERSIONS),
        default="20",
        help="20: installed; 26: trixie; 28: sid or forky",
    )
    start.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for a ping")
    start.add_argument("flags", nargs="*", help="extra dockerd flags, after --")
    stop = commands.add_parser("stop", help="stop a detached dedicated daemon and remove its leftovers")
    stop.add_argument("--name", required=True)
    commands.add_parser("sweep", help="remove the dedicated daemons of runs whose owner is gone")


def run(args: argparse.Namespace) -> int:
    """Carry out ``netconform daemon ACTION``; errors are one line on stderr and their exit code."""
    try:
        if args.action == "start":
            clash = [k for k in _all_keys() if DaemonPaths(k).name == args.name and _detached(DaemonPaths(k))]
            if clash:
                raise NetconformError(
                    f"a detached daemon named {args.name!r} exists ({clash[0]}): "
                    f"netconform daemon stop --name {args.name}"
                )
            version = UNPACKED_VERSIONS.get(args.version)
            binaries = DaemonBinaries.unpacked(version) if version else DaemonBinaries.system()
            identity = RunIdentity.new()
            daemon = DedicatedDaemon(identity, args.name, binaries, args.flags, start_timeout=args.timeout,
                                     detached=True)
            try:
                daemon.start()
            except BaseException:
                unregister(identity)  # the run existed for this daemon alone
                raise
            print(f"DOCKER_HOST={daemon.docker_host}")
            print(f"NETCONFORM_DAEMON_PID={daemon.pid}")
        elif args.action == "stop":
            print(f"stopped {stop_detached(args.name)}", file=sys.stderr)
        else:
            swept = sweep_stale_daemons()
            print(f"swept {', '.join(swept) or 'nothing'}", file=sys.stderr)
    except NetconformError as err:
        print(f"netconform daemon: {' '.join(str(err).split())}", file=sys.stderr)
        return err.exit_code
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m netconform.hermetic.daemons``: ``netconform daemon`` under its module name."""
    parser = argparse.ArgumentParser(prog="python -m netconform.hermetic.daemons", description=__doc__.split("\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    sys.exit(main())
