"""A container's ports as the Docker API takes them: exposed ports and host port bindings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from netconform.spec.model import ContainerSpec, PortSpec
from netconform.spec.values import Value


def resolved(ports: tuple[PortSpec, ...], resolve: Callable[[Value], str],
             moved: Callable[[str], str]) -> tuple[PortSpec, ...]:
    """``ports`` with each host address a plain address: references resolved (a sentinel's address
    is known only at build), literal addresses in a subnet the run moved moved with it."""
    return tuple(replace(port, host_ip=moved(resolve(port.host_ip))) if port.host_ip is not None else port
                 for port in ports)


def exposed(spec: ContainerSpec, publish: tuple[PortSpec, ...]) -> list[tuple[int, str]] | None:
    """The container's exposed ports (``Config.ExposedPorts``): the published ones and ``expose``."""
    ports = [(port.container_port, port.protocol) for port in (*publish, *spec.expose)]
    return list(dict.fromkeys(ports)) or None


def bindings(ports: tuple[PortSpec, ...]) -> dict[str, Any]:
    """``HostConfig.PortBindings`` as docker-py builds them, one entry (or list) per container port."""
    found: dict[str, list[Any]] = {}
    for port in ports:
        host: Any = port.host_port
        if port.host_ip:
            host = (port.host_ip, port.host_port) if port.host_port else (port.host_ip,)
        found.setdefault(f"{port.container_port}/{port.protocol}", []).append(host)
    return {key: hosts[0] if len(hosts) == 1 else hosts for key, hosts in found.items()}
