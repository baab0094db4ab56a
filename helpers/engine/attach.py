"""The daemon under test, attached once: its client and the dockerd process behind its socket.

Every command that talks to a daemon and reads its namespaces needs both; finding the process
after connecting (not before) means a missing daemon reports as 'no daemon', not 'no process'.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import docker

from netconform.engine.daemon_process import find_daemon_pid
from netconform.engine.dockerhost import connect, resolve_host, socket_path


@dataclass(frozen=True)
class AttachedDaemon:
    host: str
    client: docker.DockerClient
    pid: int

    @property
    def netns(self) -> str:
        """The daemon's network namespace: 'the host' for everything it builds."""
        return f"/proc/{self.pid}/ns/net"

    @property
    def socket(self) -> str | None:
        return self.host[len("unix://"):] if self.host.startswith("unix://") else None


def attach(docker_host: str | None, daemon_pid: int | None = None) -> AttachedDaemon:
    """Connect and find the daemon's process; the caller closes ``client``.

    Raises:
        DaemonUnavailable: no daemon, or no process holds its socket.
        PermissionProblem: the socket may not be used by this user.
    """
    host = resolve_host(docker_host)
    client = connect(host)
    try:
        return AttachedDaemon(host, client, daemon_pid or find_daemon_pid(socket_path(host)))
    except BaseException:
        client.close()
        raise


@contextmanager
def attached(docker_host: str | None, daemon_pid: int | None = None) -> Iterator[AttachedDaemon]:
    """:func:`attach` for one command's duration."""
    daemon = attach(docker_host, daemon_pid)
    try:
        yield daemon
    finally:
        daemon.client.close()
