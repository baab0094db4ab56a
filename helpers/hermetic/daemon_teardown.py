"""Stopping one dedicated dockerd and removing everything it leaves on the host.

Used by :meth:`DedicatedDaemon.stop <netconform.hermetic.dedicated_daemon.DedicatedDaemon.stop>`
and by the sweep of stale daemons; both find the daemon's processes, mounts, netns and cgroups
from its :class:`~netconform.hermetic.daemon_paths.DaemonPaths` alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

import docker
import requests
from pyroute2 import netns

from netconform.errors import EnvironmentProblem
from netconform.hermetic import hostclean
from netconform.hermetic.daemon_binaries import ENGINE_PROGRAMS
from netconform.hermetic.daemon_paths import DaemonPaths

KILL_BOUND = 10.0
# containerd-shim-runc-v2 listens on /run/containerd/s/<sha256 of "<containerd socket>/<ns>/<id>">,
# outside our exec-root; a killed shim leaves it behind.
_SHIM_SOCKETS = Path("/run/containerd/s")


def stop_dockerd(paths: DaemonPaths, pid: int | None, proc: subprocess.Popen[bytes] | None, timeout: float,
                 *, kill_containers: bool = True) -> None:
    """SIGTERM the dockerd at ``paths`` (its pidfile's when ``pid`` is None), SIGKILL after ``timeout``.

    With ``kill_containers`` its running containers are SIGKILLed first (a quick stop); without,
    dockerd stops them itself, as on a service restart.
    """
    if pid is None:
        try:
            pid = int(paths.pidfile.read_text().strip())
        except (OSError, ValueError):
            pid = None
    found = hostclean.read_process(pid) if pid is not None else None
    # A recycled pid is not ours: dockerd names our exec-root on its command line.
    if found is not None and found.program == "dockerd" and found.mentions(paths.exec_root):
        if kill_containers:
            _kill_containers(paths)
        hostclean.kill([found.pid], signal.SIGTERM)
        if hostclean.wait_gone([found.pid], timeout):
            hostclean.kill([found.pid])
            hostclean.wait_gone([found.pid], KILL_BOUND)
    if proc is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=KILL_BOUND)


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


def remove_leftovers(paths: DaemonPaths, *, keep: bool) -> None:
    """Remove what the daemon at ``paths`` left once dockerd itself is gone.

    Its remaining processes (containerd, shims, docker-proxy, containers) are killed, mounts below
    its data-root and exec-root unmounted, and the netns, cgroups, exec-root and (unless ``keep``)
    data-root and log removed.

    Raises:
        EnvironmentProblem: something could not be removed; the message names it. Directories with
            a mount still below them are left alone.
    """
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
    survivors = hostclean.wait_gone(leftover, KILL_BOUND)
    if survivors:
        problems.append(f"processes {survivors} survived SIGKILL for {KILL_BOUND:g}s")
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
