"""Named network namespaces (``/run/netns/<name>``, as ``ip netns`` makes them), and netlink inside one.

Every step runs in a forked child inside the namespace it changes
(:func:`netconform.hermetic.nsexec.call_in_namespaces`) with a plain ``IPRoute()``. pyroute2's own
``netns=`` and ``netns.create`` fork helper children and stop them with SIGTERM; a child that
inherited a Python SIGTERM handler (the plugin turns SIGTERM into KeyboardInterrupt) raises instead
of exiting and runs on as a copy of the test process. The children here never receive SIGTERM.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pyroute2 import netns

from netconform.errors import EnvironmentProblem, ProbeError
from netconform.hermetic.nsexec import call_in_namespaces

NETNS_DIR = Path("/run/netns")
NETLINK_TIMEOUT = 10.0
_CLONE_NEWNET = 0x40000000

T = TypeVar("T")


def create_named_netns(name: str) -> str:
    """Create the netns ``/run/netns/<name>`` (like ``ip netns add``) and return its path.

    A throwaway child unshares a new netns and bind-mounts it; lo is left down.

    Raises:
        EnvironmentProblem: the name exists already, or the kernel refused.
    """
    _call({}, _create_netns_here, name, what=f"creating netns {name}")
    return str(NETNS_DIR / name)


def remove_named_netns(name: str) -> None:
    """Unmount and delete ``/run/netns/<name>`` if it exists (like ``ip netns delete``)."""
    if (NETNS_DIR / name).exists():
        netns.remove(name)


def run_in_netns(ns_path: str, fn: Callable[..., T], *args: Any, what: str) -> T:
    """Run ``fn(*args)`` in a child inside the netns ``ns_path`` and return its result.

    Args:
        ns_path: the path naming the netns (``/run/netns/<name>``, ``/proc/<pid>/ns/net``).
        fn: a module-level function whose arguments and result pickle.
        what: words naming the step for error messages.

    Raises:
        EnvironmentProblem: the child failed or did not answer within :data:`NETLINK_TIMEOUT`.
    """
    return _call({"net": ns_path}, fn, *args, what=what)


def _call(ns_files: Mapping[str, str], fn: Callable[..., T], *args: Any, what: str) -> T:
    try:
        return call_in_namespaces(ns_files, fn, *args, timeout=NETLINK_TIMEOUT, what=what)
    except ProbeError as err:
        raise EnvironmentProblem(str(err)) from err


def _create_netns_here(name: str) -> None:
    if (NETNS_DIR / name).exists():
        raise FileExistsError(errno.EEXIST, f"netns {name} exists already")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"unshare(CLONE_NEWNET): {os.strerror(code)}")
    netns.attach(name, os.getpid())
