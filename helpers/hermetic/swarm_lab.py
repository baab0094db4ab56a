"""A Swarm lab: three dedicated daemons (one manager, two workers) joined by an underlay segment.

The underlay is a Linux bridge in a lab network namespace of its own (``nc-<run>-underlay``),
holding :data:`UNDERLAY_GATEWAY`; each daemon's netns gets one end of a veth pair whose other end
is a port of that bridge, as ``eth0`` with its node address (:data:`NODE_ADDRESSES`) and a default
route through the gateway. Overlay traffic (VXLAN, UDP 4789) and the swarm's control plane
(TCP 2377, 7946) cross that bridge only; nothing touches the host's namespace. The gateway doubles
as the lab's "outside": an egress probe from a container targets it.

With ``api_tls`` each daemon also serves its API on TCP port :data:`API_PORT` with TLS (a throwaway
CA, :mod:`netconform.hermetic.api_tls`) in its netns, reached from the starter's namespace through a
veth of its own (:data:`API_LINKS`): the lab's nodes then are three "remote" Docker hosts for
``netconform fleet``.

Everything is named after the run (``nc-<run>-...``) and the run is registered, so a crashed lab is
swept: the daemons by :mod:`netconform.hermetic.daemon_sweep`, the lab netns by
:func:`sweep_stale_labs`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import docker
import docker.errors
import requests
from pyroute2 import IPRoute

from netconform.errors import DaemonUnavailable, EnvironmentProblem, NetconformError
from netconform.hermetic.api_tls import API_PORT, LabCertificates, connect_veth, link_addresses, make_certificates
from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.named_netns import NETNS_DIR, create_named_netns, remove_named_netns, run_in_netns
from netconform.hermetic.runs import NAME_PREFIX, RunIdentity, register, run_id_of_name, stale_runs

NODES = ("manager", "worker1", "worker2")
# A private range of our own; it lives only in the lab's namespaces, so it cannot meet the host's.
UNDERLAY = ipaddress.ip_network("10.250.0.0/24")
UNDERLAY_GATEWAY = "10.250.0.1"
NODE_ADDRESSES = {node: f"10.250.0.{11 + index}" for index, node in enumerate(NODES)}
# The /30 links from the starter's namespace to each node's API (with api_tls); apart from the
# underlay, and from the dedicated-daemon fleet test's 100.80.0.0/24.
API_LINKS = ipaddress.IPv4Network("100.81.0.0/24")
LAB_SUFFIX = "underlay"
_BRIDGE = "ul0"
READY_BOUND = 60.0


@dataclass
class SwarmNode:
    """One node of the lab: its name (``manager``, ``worker1``...), address, daemon and swarm id."""

    name: str
    address: str
    daemon: DedicatedDaemon
    node_id: str = ""
    api_address: str = ""  # where the starter reaches its TLS API (with api_tls)

    @property
    def api_url(self) -> str:
        return f"tcp://{self.api_address}:{API_PORT}"

    @property
    def client(self) -> docker.DockerClient:
        return self.daemon.client()


class SwarmLab:
    """Three dedicated daemons of one engine version in a swarm across a lab underlay.

    Use it as a context manager; :meth:`stop` is idempotent and always safe, also after a failed
    start, and removes the daemons (with their swarm state) and the lab netns.

    Args:
        run: the run the lab belongs to; every name carries its id.
        binaries: the engine every node runs (:meth:`DaemonBinaries.system` when None).
        ready_timeout: bound in seconds for every node to be ``ready`` in the swarm.
        api_tls: a folder for the lab's certificates: each daemon then serves its API with TLS on
            a link from here too (:attr:`SwarmNode.api_url`; :attr:`certificates` for clients).
    """

    def __init__(self, run: RunIdentity, binaries: DaemonBinaries | None = None,
                 ready_timeout: float = READY_BOUND, api_tls: Path | None = None) -> None:
        self.run = run
        self.binaries = binaries
        self.ready_timeout = ready_timeout
        self.lab_netns = run.name(LAB_SUFFIX)
        self.api_tls = api_tls
        self.certificates = LabCertificates(api_tls) if api_tls is not None else None
        flags = self.certificates.daemon_flags() if self.certificates else []
        listen = [f"tcp://0.0.0.0:{API_PORT}"] if self.certificates else []
        self.nodes = {node: SwarmNode(node, NODE_ADDRESSES[node],
                                      DedicatedDaemon(run, f"sw{node}", binaries, flags, listen=listen,
                                                      stop_timeout=10.0))
                      for node in NODES}
        self._created = False

    @property
    def manager(self) -> SwarmNode:
        return self.nodes["manager"]

    @property
    def lab_netns_path(self) -> str:
        return str(NETNS_DIR / self.lab_netns)

    def node(self, name: str) -> SwarmNode:
        """The node called ``name``.

        Raises:
            NetconformError: no such node; the message lists the lab's.
        """
        if name not in self.nodes:
            raise NetconformError(f"the swarm lab has no node {name!r} (nodes: {', '.join(NODES)})")
        return self.nodes[name]

    def __enter__(self) -> SwarmLab:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- start ------------------------------------------------------------------------------

    def start(self) -> SwarmLab:
        """Create the underlay, start the daemons, init the swarm on the manager, join the workers.

        Raises:
            DaemonUnavailable: a daemon did not start, or a node was not ready in time.
            EnvironmentProblem: the underlay could not be made.
        """
        register(self.run)
        self._created = True
        try:
            create_named_netns(self.lab_netns)
            run_in_netns(self.lab_netns_path, _make_bridge, what=f"making the underlay bridge in {self.lab_netns}")
            if self.api_tls is not None:
                make_certificates(self.api_tls, [link_addresses(API_LINKS, i)[1] for i in range(len(NODES))])
            for index, node in enumerate(self.nodes.values()):
                node.daemon.start()
                self._plug(node)
                if self.api_tls is not None:
                    self._expose(index, node)
            self._form_swarm()
        except BaseException as err:
            try:
                self.stop()
            except NetconformError as cleanup:
                err.add_note(f"cleanup after the failed start also failed: {cleanup}")
            raise
        return self

    def _plug(self, node: SwarmNode) -> None:
        port = f"ul-{node.name}"[:15]
        run_in_netns(self.lab_netns_path, _add_port, port, str(node.daemon.netns_path),
                     what=f"plugging {node.name} into the underlay")
        run_in_netns(str(node.daemon.netns_path), _configure_eth0, f"{port}p", node.address,
                     what=f"addressing {node.name}'s underlay interface")

    def _expose(self, index: int, node: SwarmNode) -> None:
        """A veth from the starter's namespace to the node's, where its daemon serves the TLS API."""
        here, there = link_addresses(API_LINKS, index)
        connect_veth(str(node.daemon.netns_path), f"{NAME_PREFIX}{self.run.run_id}a{index}",
                     f"{NAME_PREFIX}{self.run.run_id}b{index}", here, there)
        node.api_address = there

    def _form_swarm(self) -> None:
        manager = self.manager
        manager.client.swarm.init(advertise_addr=manager.address, listen_addr=f"{manager.address}:2377")
        token = manager.client.swarm.attrs["JoinTokens"]["Worker"]
        for node in self.nodes.values():
            if node is not manager:
                node.client.swarm.join(remote_addrs=[f"{manager.address}:2377"], join_token=token,
                                       listen_addr=f"{node.address}:2377", advertise_addr=node.address)
        for node in self.nodes.values():
            node.node_id = str(node.client.info()["Swarm"]["NodeID"])
        self.wait_ready()

    def wait_ready(self, nodes: Sequence[str] = NODES) -> None:
        """Wait until the manager sees each of ``nodes`` ready.

        Raises:
            DaemonUnavailable: not all were within :attr:`ready_timeout`; names those that were not.
        """
        deadline = time.monotonic() + self.ready_timeout
        while True:
            states = self.node_states()
            late = [name for name in nodes if states.get(name) != "ready"]
            if not late:
                return
            if time.monotonic() >= deadline:
                seen = ", ".join(f"{name}: {states.get(name, 'absent')}" for name in late)
                raise DaemonUnavailable(f"swarm nodes not ready within {self.ready_timeout:g}s ({seen})")
            time.sleep(0.5)

    def node_states(self) -> dict[str, str]:
        """Each lab node's state as the manager sees it (``ready``, ``down``...); absent if unknown."""
        by_id = {node.node_id: node.name for node in self.nodes.values()}
        states: dict[str, str] = {}
        for entry in self.manager.client.nodes.list():
            name = by_id.get(entry.id)
            if name is not None:
                states[name] = str(entry.attrs["Status"]["State"])
        return states

    # -- a node leaves and rejoins ----------------------------------------------------------

    def leave_and_rejoin(self, name: str) -> None:
        """Worker ``name`` leaves the swarm, is removed from the manager's list, and joins again.

        Its containers on attachable overlays lose those networks; the caller recreates them.
        """
        node = self.node(name)
        if node is self.manager:
            raise NetconformError("the manager cannot leave the lab's swarm; pick a worker")
        node.client.swarm.leave(force=True)
        deadline = time.monotonic() + self.ready_timeout
        while self.node_states().get(name) not in ("down", None) and time.monotonic() < deadline:
            time.sleep(0.5)
        with contextlib.suppress(docker.errors.APIError):
            self.manager.client.api.remove_node(node.node_id, force=True)
        token = self.manager.client.swarm.attrs["JoinTokens"]["Worker"]
        node.client.swarm.join(remote_addrs=[f"{self.manager.address}:2377"], join_token=token,
                               listen_addr=f"{node.address}:2377", advertise_addr=node.address)
        node.node_id = str(node.client.info()["Swarm"]["NodeID"])
        self.wait_ready([name])

    # -- stop -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every daemon and remove the lab netns; idempotent.

        Raises:
            EnvironmentProblem: something could not be removed; the message names each.
        """
        if not self._created:
            return
        problems = []
        for node in self.nodes.values():
            try:
                node.daemon.stop()
            except NetconformError as err:
                problems.append(str(err))
        try:
            remove_named_netns(self.lab_netns)
        except OSError as err:
            problems.append(f"netns {self.lab_netns}: {err}")
        if problems:
            raise EnvironmentProblem("; ".join(problems))
        self._created = False


def describe(lab: SwarmLab) -> list[str]:
    """One line per node: name, underlay address, engine version, socket."""
    return [f"{node.name}: {node.address} docker {node.daemon.version} {node.daemon.docker_host}"
            for node in lab.nodes.values()]


def sweep_stale_labs(*, dry_run: bool = False) -> list[str]:
    """Remove the lab netns (``nc-<run>-underlay``) of runs whose owner is gone; return their names.

    Their daemons are swept with every stale daemon (:func:`sweep_stale_daemons`).
    """
    stale = set(stale_runs())
    names = sorted(entry.name for entry in NETNS_DIR.iterdir()) if NETNS_DIR.is_dir() else []
    found = [name for name in names if name.startswith(f"{NAME_PREFIX}-") and name.endswith(f"-{LAB_SUFFIX}")
             and run_id_of_name(name) in stale]
    if not dry_run:
        for name in found:
            remove_named_netns(name)
    return found


def ask_node(client: docker.DockerClient) -> str:
    """The swarm state a daemon reports of itself (``active``, ``inactive``...), or why it cannot say."""
    try:
        return str(client.info()["Swarm"]["LocalNodeState"])
    except (docker.errors.DockerException, requests.RequestException) as err:
        return f"unknown ({err})"


# --- run inside a child in the lab's or a node's netns -----------------------------------------


def _make_bridge() -> None:
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
        ipr.link("add", ifname=_BRIDGE, kind="bridge")
        index = ipr.link_lookup(ifname=_BRIDGE)[0]
        ipr.addr("add", index=index, address=UNDERLAY_GATEWAY, prefixlen=UNDERLAY.prefixlen)
        ipr.link("set", index=index, state="up")


def _add_port(port: str, node_netns: str) -> None:
    """A veth pair: ``port`` on the bridge, its peer ``<port>p`` moved into the node's netns."""
    with IPRoute() as ipr:
        ipr.link("add", ifname=port, kind="veth", peer=f"{port}p")
        fd = os.open(node_netns, os.O_RDONLY)
        try:
            ipr.link("set", index=ipr.link_lookup(ifname=f"{port}p")[0], net_ns_fd=fd)
        finally:
            os.close(fd)
        index = ipr.link_lookup(ifname=port)[0]
        ipr.link("set", index=index, master=ipr.link_lookup(ifname=_BRIDGE)[0], state="up")


def _configure_eth0(peer: str, address: str) -> None:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=peer)[0]
        ipr.link("set", index=index, ifname="eth0")
        ipr.addr("add", index=index, address=address, prefixlen=UNDERLAY.prefixlen)
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst="default", gateway=UNDERLAY_GATEWAY)

