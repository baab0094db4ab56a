"""Host-side facts the daemon's behaviour depends on, read with pytest-testinfra's local backend:
distribution, installed engine packages, the iptables backend, and kernel switches.

These describe the machine (what is installed and configured), not a namespace; namespace-scoped
values (sysctls inside the daemon's netns, interfaces) are read with setns and netlink instead.

The machine is the one the daemon under test sees: where netconform runs in a mount namespace
other than dockerd's (the ``netconform fleet`` helper container shares the host's pid and network
namespaces but has its image's files), the commands run chrooted into ``/proc/<dockerd>/root``, so
os-release, the package database and the iptables link are the host's, as a local run there reads
them. (Not pid 1's root: a host may deny reading its init, as this project's CI machine does.)
"""

from __future__ import annotations

import os
from typing import Any

import testinfra

PACKAGES = ("docker.io", "containerd", "runc", "iptables", "tini", "busybox-static")
SYSCTLS = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "user.max_user_namespaces")


def host_info(daemon_pid: int | None = None) -> dict[str, Any]:
    """A JSON-able summary of the host; unreadable items are reported as such, never raised.

    Args:
        daemon_pid: dockerd's pid: the files are read in its root where its mount namespace is not
            this process's. None: read here.
    """
    root = host_root(daemon_pid)
    # (A chroot:// URL loses its path; the spec with connection= keeps it.)
    host = testinfra.get_host("local://") if root is None else testinfra.get_host(root, connection="chroot")
    info: dict[str, Any] = {}
    try:
        system = host.system_info
        info["distribution"] = f"{system.distribution} {system.release} ({system.codename})"
    except Exception as err:  # testinfra raises plain exceptions for unknown systems
        info["distribution"] = f"<unknown: {err}>"
    packages: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            package = host.package(name)
            packages[name] = package.version if package.is_installed else None
        except Exception as err:  # no package manager testinfra knows (as in netconform fleet's helper)
            packages[name] = None
            info["packages_unreadable"] = " ".join(str(err).split())[:200] or type(err).__name__
    info["packages"] = packages
    try:
        iptables = host.file("/usr/sbin/iptables")
        info["iptables_backend"] = iptables.linked_to if iptables.exists and iptables.is_symlink else None
    except Exception:  # testinfra asserts on commands that fail (no readlink there)
        info["iptables_backend"] = None
    sysctls: dict[str, str | None] = {}
    for name in SYSCTLS:
        try:
            sysctls[name] = str(host.sysctl(name))
        except Exception:  # absent on this kernel (e.g. without br_netfilter)
            sysctls[name] = None
    info["sysctls"] = sysctls
    return info


def host_root(daemon_pid: int | None) -> str | None:
    """``/proc/<daemon_pid>/root`` when dockerd's mount namespace is not this process's; else None
    (the same files, or none we may look at: reading here is then all one can do)."""
    if daemon_pid is None:
        return None
    try:
        if os.stat(f"/proc/{daemon_pid}/ns/mnt").st_ino == os.stat("/proc/self/ns/mnt").st_ino:
            return None
    except OSError:
        return None
    return f"/proc/{daemon_pid}/root"
