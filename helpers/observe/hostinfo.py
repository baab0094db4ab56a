"""Host-side facts the daemon's behaviour depends on, read with pytest-testinfra's local backend:
distribution, installed engine packages, the iptables backend, and kernel switches.

These describe the machine (what is installed and configured), not a namespace; namespace-scoped
values (sysctls inside the daemon's netns, interfaces) are read with setns and netlink instead.
"""

from __future__ import annotations

from typing import Any

import testinfra

PACKAGES = ("docker.io", "containerd", "runc", "iptables", "tini", "busybox-static")
SYSCTLS = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "user.max_user_namespaces")


def host_info() -> dict[str, Any]:
    """A JSON-able summary of the host; unreadable items are reported as such, never raised."""
    host = testinfra.get_host("local://")
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
    iptables = host.file("/usr/sbin/iptables")
    info["iptables_backend"] = iptables.linked_to if iptables.exists and iptables.is_symlink else None
    sysctls: dict[str, str | None] = {}
    for name in SYSCTLS:
        try:
            sysctls[name] = str(host.sysctl(name))
        except Exception:  # absent on this kernel (e.g. without br_netfilter)
            sysctls[name] = None
    info["sysctls"] = sysctls
    return info
