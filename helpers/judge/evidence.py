"""Evidence sections printed under a failing check: the facts an engineer looks at next."""

from __future__ import annotations

from collections.abc import Iterable

from netconform.facts import ContainerFacts, ReachResult, ScenarioFacts
from netconform.spec.model import ReachSpec


def _namespaces(facts: ScenarioFacts, container: ContainerFacts) -> str:
    lines = []
    for kind, mine in container.namespaces.items():
        sharers = [f"container:{other.key}" for other in facts.containers.values()
                   if other.key != container.key and other.namespaces.get(kind) == mine]
        host = facts.host.namespaces[kind]
        shared = ", ".join((["host"] if host == mine else []) + sharers) or "nobody"
        lines.append(f"{kind}: {mine.inode} (host {host.inode}; shared with {shared})")
    return "\n".join(lines)


def _interfaces(container: ContainerFacts) -> str:
    if container.net is None:
        return "(not observed)"
    return "\n".join(iface.describe() for iface in container.net.interfaces)


def _routes(container: ContainerFacts) -> str:
    if container.net is None:
        return "(not observed)"
    routes = [*container.net.routes, *container.net.routes6]
    return "\n".join(route.describe() for route in routes) or "(no routes)"


def _inspect(container: ContainerFacts) -> str:
    lines = [f"NetworkMode: {container.network_mode}"]
    for key, endpoint in container.endpoints.items():
        lines.append(
            f"Networks.{key}: IPAddress={endpoint.ip}/{endpoint.prefix} Gateway={endpoint.gateway} "
            f"MacAddress={endpoint.mac} Aliases={endpoint.aliases}"
        )
    return "\n".join(lines)


def _host_peers(facts: ScenarioFacts, container: ContainerFacts) -> str:
    if not container.host_peers:
        return "(no veth peer in the daemon's network namespace)"
    return "\n".join(f"{name} <-> {peer.describe()}" for name, peer in container.host_peers.items())


def _hostname(container: ContainerFacts) -> str:
    return (f"UTS nodename: {container.uts_hostname}\nConfig.Hostname: {container.config_hostname}\n"
            f"/etc/hostname: {container.files.get('/etc/hostname', '').strip()}")


def _lookups(container: ContainerFacts, param: str | None) -> str:
    """The lookups of the name in question (A, AAAA and PTR), or all of them when none matches."""
    mine = [result for result in container.lookups.values() if result.name == param]
    chosen = mine or list(container.lookups.values())
    return "\n".join(result.describe() for result in chosen) or "(no lookups made)"


def _sentinel_queries(container: ContainerFacts, param: str | None) -> str:
    result = container.lookups.get(f"A {param}")
    if result is None or result.upstream_sources is None:
        return "(no sentinel)"
    seen = ", ".join(result.upstream_sources) or "nobody"
    return f"queries for {param} reaching the sentinel came from: {seen}"


def render_probe_evidence(facts: ScenarioFacts, spec: ReachSpec, result: ReachResult) -> dict[str, str]:
    """The probe and its attempts, and the addressing of both ends."""
    sections = {"probe": result.describe()}
    for end in (spec.frm, spec.to):
        container = facts.containers.get(end)
        if container is not None and container.created:
            sections[f"{end} addresses"] = _interfaces(container)
            sections[f"{end} routes"] = _routes(container)
    if facts.sentinel is not None and "sentinel" in (spec.frm, spec.to):
        sections["sentinel"] = (f"{facts.sentinel.address} (host side {facts.sentinel.gateway_address}) "
                                f"in netns {facts.sentinel.netns}")
    return sections


def render_evidence(facts: ScenarioFacts, container: ContainerFacts | None, names: Iterable[str],
                    param: str | None = None) -> dict[str, str]:
    """The named evidence sections as text; sections that need a running container are skipped."""
    sections: dict[str, str] = {}
    if container is None:
        return sections
    for name in names:
        if name == "daemon error":
            sections[name] = container.error or "none (the daemon created and started the container)"
        elif not container.created:
            continue
        elif name == "namespaces":
            sections[name] = _namespaces(facts, container)
        elif name == "interfaces":
            sections[name] = _interfaces(container)
        elif name == "routes":
            sections[name] = _routes(container)
        elif name == "inspect":
            sections[name] = _inspect(container)
        elif name == "host peer":
            sections[name] = _host_peers(facts, container)
        elif name == "hostname":
            sections[name] = _hostname(container)
        elif name == "resolv.conf":
            sections[name] = container.files.get("/etc/resolv.conf", "").strip()
        elif name == "/etc/hosts":
            sections[name] = container.files.get("/etc/hosts", "").strip()
        elif name == "lookup":
            sections[name] = _lookups(container, param)
        elif name == "sentinel queries":
            sections[name] = _sentinel_queries(container, param)
    return sections
