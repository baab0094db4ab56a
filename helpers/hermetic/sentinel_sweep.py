"""Remove what crashed runs' sentinels left: their netns, attachment-side veths and state directories.

Names carry the run id (``RunIdentity.name("sentinel", ...)`` for the netns, ``nc<run id>s<slot>``
for the veth), so only names made for a sentinel of a run :func:`netconform.hermetic.runs.stale_runs`
reports are touched; live runs and foreign names are left alone.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterable

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

from netconform.errors import EnvironmentProblem, NetconformError
from netconform.hermetic.named_netns import remove_named_netns, run_in_netns
from netconform.hermetic.runs import run_id_of_name, stale_runs
from netconform.hermetic.sentinel import NETNS_KIND, STATE_DIR
from netconform.hermetic.sentinel_veth import HEX_RUN_ID, VETH_NAME


def sentinel_run_id(name: str) -> str | None:
    """The run id in a sentinel netns name or a sentinel veth name; None for any other name."""
    match = VETH_NAME.match(name)
    if match:
        return match.group(1)
    run_id = run_id_of_name(name)
    if run_id is None or not HEX_RUN_ID.match(run_id) or name.split("-")[2] != NETNS_KIND:
        return None
    return run_id


def _netns_run_id(name: str) -> str | None:
    """The run id of a netns named by :meth:`RunIdentity.name`; None for foreign names."""
    run_id = run_id_of_name(name)
    return run_id if run_id is not None and HEX_RUN_ID.match(run_id) and not VETH_NAME.match(name) else None


def sweep_stale_sentinels(attach_netns: Iterable[str] | None = None, *, dry_run: bool = False) -> list[str]:
    """Remove sentinel netns, veths and state directories of runs that are stale.

    Args:
        attach_netns: netns paths whose sentinel veths to delete too; the caller's own netns by
            default. (A veth whose peer netns is gone disappears by itself; deleting it here
            also cuts off a stale netns that some process still pins.)
        dry_run: only list what would be removed; nothing is changed.

    Returns:
        What was removed (or would be), one line each (``"veth nc1a2b3c4ds0 in /proc/1/ns/net"``).

    Raises:
        EnvironmentProblem: something stale could not be removed (the rest still is).
    """
    stale = set(stale_runs())
    if not stale:
        return []
    removed: list[str] = []
    problems: list[str] = []
    paths = list(attach_netns) if attach_netns is not None else [f"/proc/{os.getpid()}/ns/net"]
    for path in paths:
        try:
            names = run_in_netns(path, _sweep_veths_here, stale, dry_run, what=f"sweeping veths in {path}")
        except NetconformError as err:
            problems.append(str(err))
        else:
            removed.extend(f"veth {name} in {path}" for name in names)
    for name in sorted(netns.listnetns()):
        # Every named netns a run makes carries its id (RunIdentity.name): the sentinel's, and the
        # scratch namespaces of self-tests (a stand-in uplink, a trace's probe pair).
        if _netns_run_id(name) in stale:
            try:
                if not dry_run:
                    remove_named_netns(name)
                removed.append(f"netns {name}")
            except OSError as err:
                problems.append(f"removing netns {name}: {err}")
    if STATE_DIR.is_dir():
        for entry in sorted(STATE_DIR.iterdir()):
            if sentinel_run_id(entry.name) in stale:
                if not dry_run:
                    shutil.rmtree(entry, ignore_errors=True)
                removed.append(f"state {entry}")
    if problems:
        raise EnvironmentProblem("sweeping stale sentinels failed: " + "; ".join(problems))
    return removed


def _sweep_veths_here(stale: set[str], dry_run: bool) -> list[str]:
    """In a child inside the attachment netns: delete the stale runs' sentinel veths."""
    removed = []
    with IPRoute() as ipr:
        for link in ipr.link("dump"):
            name = link.get("IFLA_IFNAME") or ""
            match = VETH_NAME.match(name)
            if not match or match.group(1) not in stale:
                continue
            if link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") != "veth":
                continue  # our name on something we never create: not ours after all
            if not dry_run:
                try:
                    ipr.link("del", index=link["index"])
                except NetlinkError as err:
                    if err.code != errno.ENODEV:
                        raise
            removed.append(name)
    return removed
