"""The lifecycle of a dedicated Docker daemon: a dockerd of our own in its own network namespace.

It never disturbs the host's daemon: its netns, data-root, exec-root and cgroup parent are its own
(:mod:`netconform.hermetic.daemon_paths`), and it reads an empty config file, so
/etc/docker/daemon.json never applies. Which programs it runs is
:mod:`netconform.hermetic.daemon_binaries`; stopping it and removing its leftovers is
:mod:`netconform.hermetic.daemon_teardown`; the command line is ``netconform daemon``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

import docker
import requests
from pyroute2 import IPRoute

from netconform.errors import (
    DaemonUnavailable,
    EnvironmentProblem,
    NetconformError,
    PermissionProblem,
    ToolMissing,
)
from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.daemon_paths import DaemonPaths
from netconform.hermetic.daemon_teardown import remove_leftovers, stop_dockerd
from netconform.hermetic.named_netns import create_named_netns, run_in_netns
from netconform.hermetic.runs import RunIdentity, register

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,15}$")
# A unix socket path holds at most 107 bytes, and containerd's sockets live below the exec-root.
_SOCKET_MAX = 107
_LONGEST_SOCKET = "/containerd/containerd-debug.sock"
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
        bridges: Linux bridges to create in its netns before dockerd starts, name -> address as
            CIDR, as an operator does for ``--bridge`` (dockerd takes only a bridge that exists and
            gives containers its subnet); they go with the netns.
        listen: more addresses it serves its API on besides its socket, e.g. ``tcp://0.0.0.0:2376``
            in its netns (with ``--tlsverify`` and the certificate flags in ``flags``).
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
        bridges: Mapping[str, str] | None = None,
        listen: Sequence[str] = (),
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
        self.bridges = dict(bridges or {})
        self.listen = tuple(listen)
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
        create_named_netns(name)
        run_in_netns(str(self.netns_path), _set_up_here, dict(self.bridges),
                     what=f"bringing up lo and the bridges {sorted(self.bridges)} in netns {name}")

    def _launch(self, nsenter: str, binaries: DaemonBinaries, mode: str = "wb") -> None:
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
            *(f"--host={address}" for address in self.listen),
            f"--config-file={p.config_file}",
            f"--cgroup-parent=/{p.cgroup_parent}",
            *self.flags,
        ]
        with p.log.open(mode) as log:
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
            "bridges": self.bridges,
            "detached": self.detached,
        }

    def restart(self) -> DedicatedDaemon:
        """Restart dockerd as a service manager would: SIGTERM (it stops its containers; SIGKILL
        after ``stop_timeout``), then start it again in the same netns with the same state, socket
        and flags, and wait until it answers. Its containers and networks persist, stopped.

        Raises:
            NetconformError: the daemon is not running, or was started detached.
            DaemonUnavailable: the new dockerd did not answer; everything is cleaned up.
        """
        if self._pid is None or self.detached:
            raise NetconformError(f"dedicated daemon {self.paths.key!r} is not running here; cannot restart it")
        binaries = self.binaries or DaemonBinaries.system()
        nsenter = shutil.which("nsenter")
        if nsenter is None:
            raise ToolMissing("nsenter is missing; it is provided by: apt-get install util-linux")
        if self._client is not None:
            self._client.close()
            self._client = None
        began = time.monotonic()
        try:
            stop_dockerd(self.paths, self._pid, self._proc, self.stop_timeout, kill_containers=False)
            self._proc = self._pid = self._version = None
            self._launch(nsenter, binaries, mode="ab")
            self._wait_ready(began, binaries)
            self.paths.state_file.write_text(json.dumps(self._state(binaries)))
        except BaseException:
            self.stop()
            raise
        return self

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
            stop_dockerd(self.paths, self._pid, self._proc, self.stop_timeout)
        finally:
            self._proc = None
            self._pid = None
            self._version = None
            remove_leftovers(self.paths, keep=self.keep)
        self._created = False  # only once nothing is left: a failed cleanup can be retried


def _set_up_here(bridges: Mapping[str, str]) -> None:
    """In a child in the daemon's new netns: lo up, and each Linux bridge ``name`` holding its
    ``address`` (CIDR), up (for ``--bridge``, which takes a bridge the operator made)."""
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        for name, address in bridges.items():
            interface = ipaddress.ip_interface(address)
            ipr.link("add", ifname=name, kind="bridge")
            index = ipr.link_lookup(ifname=name)[0]
            ipr.addr("add", index=index, address=str(interface.ip), prefixlen=interface.network.prefixlen)
            ipr.link("set", index=index, state="up")


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
