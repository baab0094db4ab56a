"""Reaching the Docker daemon under test, and what it says about itself."""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass
from typing import Any

import docker
import docker.errors
import requests.exceptions

from netconform.errors import DaemonUnavailable, PermissionProblem
from netconform.facts import DaemonFacts

DEFAULT_HOST = "unix:///var/run/docker.sock"


def resolve_host(docker_host: str | None) -> str:
    return docker_host or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


def socket_path(docker_host: str) -> str:
    """The filesystem path of a ``unix://`` host.

    Raises:
        DaemonUnavailable: the daemon is not reached through a local unix socket.
    """
    if not docker_host.startswith("unix://"):
        raise DaemonUnavailable(
            f"DOCKER_HOST={docker_host} is not a local unix socket; netconform observes containers "
            "from the daemon's own host, so run it on that machine against unix:///..."
        )
    return docker_host[len("unix://") :]


def connect(docker_host: str | None = None, timeout: float = 60.0) -> docker.DockerClient:
    """A client for the daemon, checked with a ping.

    Raises:
        DaemonUnavailable: no socket, nobody listening, or no answer.
        PermissionProblem: the socket exists but this user may not use it.
    """
    url = resolve_host(docker_host)
    path = socket_path(url)
    if not os.path.exists(path):
        raise DaemonUnavailable(
            f"no Docker daemon socket at {path}: start the daemon (./ci/ensure-engine does it on "
            "Debian/Ubuntu) or point DOCKER_HOST at one"
        )
    if not os.access(path, os.R_OK | os.W_OK):
        raise PermissionProblem(
            f"no permission to use {path} as uid {os.getuid()}: netconform enters namespaces and "
            "must run as root"
        )
    client = docker.DockerClient(base_url=url, timeout=int(timeout))
    try:
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        client.close()
        if _is_errno(err, errno.EACCES):
            raise PermissionProblem(f"no permission to use {path}: run as root") from err
        raise DaemonUnavailable(f"the Docker daemon at {path} does not answer: {_root_cause(err)}") from err
    return client


def _root_cause(err: BaseException) -> str:
    while err.__cause__ is not None or err.__context__ is not None:
        err = err.__cause__ or err.__context__  # type: ignore[assignment]
    return str(err) or type(err).__name__


def _is_errno(err: BaseException, code: int) -> bool:
    current: BaseException | None = err
    while current is not None:
        if isinstance(current, OSError) and current.errno == code:
            return True
        current = current.__cause__ or current.__context__
    return False


@dataclass(frozen=True)
class DaemonReadout:
    """What the engine API says about the daemon, asked once per run (``version``, ``info``, and
    the default bridge's inspect data): the facts, the settings and the report all read it."""

    version: dict[str, Any]
    info: dict[str, Any]
    bridge: dict[str, Any]


def read_daemon(client: docker.DockerClient) -> DaemonReadout:
    return DaemonReadout(client.version(), client.info(), client.networks.get("bridge").attrs)


def daemon_facts(readout: DaemonReadout) -> DaemonFacts:
    """Version, API version and the settings that shape networking."""
    version, info, bridge = readout.version, readout.info, readout.bridge
    security = [str(option) for option in info.get("SecurityOptions") or []]
    config = (bridge.get("IPAM") or {}).get("Config") or [{}]
    options = bridge.get("Options") or {}
    return DaemonFacts(
        version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        os=str(info.get("OperatingSystem", "")),
        kernel=str(info.get("KernelVersion", "")),
        storage_driver=str(info.get("Driver", "")),
        cgroup_driver=str(info.get("CgroupDriver", "")),
        cgroup_version=str(info.get("CgroupVersion", "")),
        userns_remap=any("name=userns" in option for option in security),
        security_options=security,
        default_bridge={
            "subnet": str(config[0].get("Subnet", "")),
            "gateway": str(config[0].get("Gateway", "")),
            "bridge": str(options.get("com.docker.network.bridge.name", "docker0")),
            "mtu": str(options.get("com.docker.network.driver.mtu", "")),
            "icc": str(options.get("com.docker.network.bridge.enable_icc", "")),
            "masquerade": str(options.get("com.docker.network.bridge.enable_ip_masquerade", "")),
        },
    )


# The parts of `docker info` that shape networking, kept in the report for comparing two daemons.
_INFO_KEYS = ("ServerVersion", "KernelVersion", "OperatingSystem", "Driver", "CgroupDriver", "CgroupVersion",
              "IPv4Forwarding", "BridgeNfIptables", "BridgeNfIp6tables", "SecurityOptions", "DefaultRuntime",
              "Runtimes", "Name", "DockerRootDir", "Swarm")


def networking_info(info: dict[str, Any]) -> dict[str, Any]:
    excerpt: dict[str, Any] = {key: info[key] for key in _INFO_KEYS if key in info}
    runtimes, swarm = excerpt.get("Runtimes"), excerpt.get("Swarm")
    if isinstance(runtimes, dict):
        excerpt["Runtimes"] = sorted(runtimes)
    if isinstance(swarm, dict):
        excerpt["Swarm"] = swarm.get("LocalNodeState")
    return excerpt


def container_state(client: docker.DockerClient, container_id: str) -> str:
    """What the daemon says of a container now, in words for a story: ``the daemon reports it
    exited with code 137 at <time>``, or that it no longer knows it, or does not answer."""
    try:
        state: dict[str, Any] = client.api.inspect_container(container_id)["State"]
    except docker.errors.NotFound:
        return "the daemon no longer knows it (removed)"
    except (docker.errors.DockerException, requests.exceptions.RequestException) as err:
        # Not _root_cause: asked while handling another error, the chain leads back to that one.
        return f"the daemon does not answer ({type(err).__name__})"
    status = str(state.get("Status", "?"))
    if state.get("Running"):
        return f"the daemon reports it {status}, pid {state.get('Pid')}"
    text = f"the daemon reports it {status} with code {state.get('ExitCode')}"
    if state.get("OOMKilled"):
        text += ", killed for lack of memory"
    finished = str(state.get("FinishedAt") or "")
    # RFC 3339 with nanoseconds: seconds are enough to place it in the run.
    return f"{text} at {finished[:19]}Z" if finished and not finished.startswith("0001-") else text
