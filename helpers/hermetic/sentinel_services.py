"""What serves inside a sentinel's netns: the echo service and the authoritative DNS, and its records.

Both run in children forked into the netns (:func:`netconform.hermetic.nsexec.spawn_in_namespaces`)
that die with the test process. The DNS records may name the sentinel's own addresses before the
slice is claimed: :data:`SENTINEL_ADDRESS` and :data:`GATEWAY_ADDRESS` stand for them until then.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from netconform.hermetic import authdns, echo
from netconform.hermetic.nsexec import NamespaceTask, spawn_in_namespaces

READY_TIMEOUT = 5.0
QUERY_LOG = "dns-queries.jsonl"

# Record values that stand for addresses only known once the slice is claimed.
SENTINEL_ADDRESS = "@sentinel"
GATEWAY_ADDRESS = "@gateway"
DEFAULT_RECORDS: Mapping[str, str] = {"sentinel": SENTINEL_ADDRESS, "gateway": GATEWAY_ADDRESS}
# The same names served as AAAA records when the sentinel has IPv6 (placeholders for its v6 ends).
DEFAULT_RECORDS6: Mapping[str, str] = DEFAULT_RECORDS


def check_records(zone: str, spec: Mapping[str, str]) -> None:
    """Validate records before anything exists, with stand-in addresses for the placeholders.

    Raises:
        ValueError: a name or an address is malformed.
    """
    authdns.ZoneTable(zone, resolve_records(spec, "192.0.2.1", "192.0.2.2"))


def resolve_records(spec: Mapping[str, str], address: str, gateway: str) -> dict[str, str]:
    """The records with the placeholders replaced by the sentinel's and the gateway's address."""
    stand_ins = {SENTINEL_ADDRESS: address, GATEWAY_ADDRESS: gateway}
    return {name: stand_ins.get(value, value) for name, value in spec.items()}


def start_services(
    ns_files: Mapping[str, str],
    netns_name: str,
    echo_port: int,
    zone: str,
    records: Mapping[str, str],
    query_log: str,
    records6: Mapping[str, str] | None = None,
) -> list[NamespaceTask]:
    """Start echo (TCP and UDP on ``echo_port``) and DNS (port 53) in the netns; both serve when it returns.

    Raises:
        ProbeError: a service did not come up; the one started already is stopped again.
    """
    children: list[NamespaceTask] = []
    try:
        children.append(
            spawn_in_namespaces(
                ns_files,
                echo.serve_echo,
                echo_port,
                ready_timeout=READY_TIMEOUT,
                what=f"echo service in {netns_name}",
            )
        )
        children.append(
            spawn_in_namespaces(
                ns_files,
                authdns.serve_dns,
                zone,
                records,
                query_log,
                records6 or {},
                ready_timeout=READY_TIMEOUT,
                what=f"DNS service in {netns_name}",
            )
        )
    except BaseException:
        for child in children:
            with contextlib.suppress(OSError):
                child.stop()
        raise
    return children
