"""The daemon's effective networking settings: engine API, command line, daemon.json, kernel, firewall.

Where the engine API shows a setting in effect (the default bridge's options, security options)
that reading wins; otherwise the command line, then daemon.json, then dockerd's built-in default
for its version. The kernel switches and the firewall are read inside the daemon's own network
namespace, so a dedicated daemon is described by its namespace, not the host's.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version
from pyroute2 import IPRoute

from netconform.facts.settings import EffectiveSettings, Setting
from netconform.hermetic.nsexec import call_in_namespaces

DEFAULT_CONFIG = "/etc/docker/daemon.json"
BRIDGE_OPTION = "com.docker.network.bridge."
KERNEL_SWITCHES = ("net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")

# dockerd flag (and daemon.json key) -> setting name and how its text becomes a value.
Parse = Callable[[str], Any]


def _bool(text: str) -> bool:
    if text.lower() in {"true", "1", "t"}:
        return True
    if text.lower() in {"false", "0", "f"}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _pool(text: str) -> dict[str, Any]:
    """``base=10.10.0.0/16,size=24`` (command line form) -> ``{"base": ..., "size": 24}``."""
    fields = dict(part.split("=", 1) for part in text.split(","))
    return {"base": fields["base"], "size": int(fields["size"])}


# (flag, daemon.json key, setting, parse, repeatable)
OPTIONS: tuple[tuple[str, str, str, Parse, bool], ...] = (
    ("--icc", "icc", "icc", _bool, False),
    ("--ip-masq", "ip-masq", "ip_masq", _bool, False),
    ("--iptables", "iptables", "iptables", _bool, False),
    ("--ip6tables", "ip6tables", "ip6tables", _bool, False),
    ("--ip-forward", "ip-forward", "ip_forward", _bool, False),
    ("--userland-proxy", "userland-proxy", "userland_proxy", _bool, False),
    ("--ipv6", "ipv6", "ipv6", _bool, False),
    ("--mtu", "mtu", "mtu", int, False),
    ("--bip", "bip", "bip", str, False),
    ("--fixed-cidr", "fixed-cidr", "fixed_cidr", str, False),
    ("--fixed-cidr-v6", "fixed-cidr-v6", "fixed_cidr_v6", str, False),
    ("--ip", "ip", "default_bind_ip", str, False),
    ("--bridge", "bridge", "bridge", str, False),
    ("--userns-remap", "userns-remap", "userns_remap", str, False),
    ("--firewall-backend", "firewall-backend", "firewall_backend", str, False),
    ("--default-address-pool", "default-address-pools", "default_address_pools", _pool, True),
    ("--dns", "dns", "dns", str, True),
    ("--dns-search", "dns-search", "dns_search", str, True),
    ("--dns-opt", "dns-opts", "dns_options", str, True),
)
_BOOL_FLAGS = {flag for flag, _, _, parse, _ in OPTIONS if parse is _bool}
_SHORT = {"-b": "--bridge"}


def builtin_defaults(version: str) -> dict[str, Any]:
    """dockerd's own defaults, where nothing else decides (moby daemon/config, libnetwork ipamutils)."""
    try:
        ip6tables_default = Version(version.split("+")[0].split("-")[0]) >= Version("27.0")
    except InvalidVersion:
        ip6tables_default = False
    pools = [{"base": f"172.{second}.0.0/16", "size": 16} for second in range(17, 32)]
    pools.append({"base": "192.168.0.0/16", "size": 20})
    return {
        "icc": True, "ip_masq": True, "iptables": True, "ip6tables": ip6tables_default, "ip_forward": True,
        "userland_proxy": True, "ipv6": False, "mtu": 1500, "bip": None, "fixed_cidr": None, "fixed_cidr_v6": None,
        "default_bind_ip": "0.0.0.0", "bridge": "docker0", "userns_remap": "", "firewall_backend": "iptables",
        "default_address_pools": pools, "dns": [], "dns_search": [], "dns_options": [],
    }


def parse_command_line(argv: Sequence[str]) -> tuple[dict[str, Any], str | None, list[str]]:
    """dockerd's flags that shape networking -> (setting values, --config-file, problems)."""
    by_flag = {flag: (name, parse, repeat) for flag, _, name, parse, repeat in OPTIONS}
    values: dict[str, Any] = {}
    problems: list[str] = []
    config_file = None
    words = list(argv[1:])
    while words:
        word = words.pop(0)
        flag, has_value, text = word.partition("=")
        flag = _SHORT.get(flag, flag)
        if flag == "--config-file":
            config_file = text if has_value else (words.pop(0) if words else None)
            continue
        if flag not in by_flag:
            continue
        name, parse, repeat = by_flag[flag]
        if not has_value:
            # pflag booleans take their value only as --flag=value; a bare one means true.
            text = "true" if flag in _BOOL_FLAGS else (words.pop(0) if words else "")
        try:
            value = parse(text)
        except (ValueError, KeyError) as err:
            problems.append(f"{flag}={text}: {err}")
            continue
        if repeat:
            values.setdefault(name, []).append(value)
        else:
            values[name] = value
    return values, config_file, problems


def parse_config(text: str) -> dict[str, Any]:
    """daemon.json -> setting values (only the keys that shape networking)."""
    document = json.loads(text)
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    values: dict[str, Any] = {}
    for _, key, name, parse, repeat in OPTIONS:
        if key not in document:
            continue
        raw = document[key]
        if repeat:
            values[name] = [_pool_object(item) if parse is _pool else str(item) for item in raw]
        elif isinstance(raw, bool | int) and parse is not str:
            values[name] = raw
        else:
            values[name] = parse(str(raw))
    return values


def _pool_object(item: Any) -> dict[str, Any]:
    return {"base": str(item["base"]), "size": int(item["size"])}


def from_engine(info: Mapping[str, Any], bridge: Mapping[str, Any]) -> dict[str, Any]:
    """What the engine API shows in effect: the default bridge's options and security options."""
    options = bridge.get("Options") or {}
    values: dict[str, Any] = {}
    for option, name in (("enable_icc", "icc"), ("enable_ip_masquerade", "ip_masq")):
        if BRIDGE_OPTION + option in options:
            values[name] = _bool(options[BRIDGE_OPTION + option])
    if BRIDGE_OPTION + "host_binding_ipv4" in options:
        values["default_bind_ip"] = options[BRIDGE_OPTION + "host_binding_ipv4"]
    if BRIDGE_OPTION + "name" in options:
        values["bridge"] = options[BRIDGE_OPTION + "name"]
    if "com.docker.network.driver.mtu" in options:
        values["mtu"] = int(options["com.docker.network.driver.mtu"])
    configs = (bridge.get("IPAM") or {}).get("Config") or []
    # With --ipv6 the IPv6 pool is listed too, in no fixed order.
    config: dict[str, Any] = next((entry for entry in configs if ":" not in str(entry.get("Subnet", ""))), {})
    config6 = next((entry for entry in configs if ":" in str(entry.get("Subnet", ""))), None)
    if config6 is not None and config6.get("Subnet"):
        values["fixed_cidr_v6"] = config6["Subnet"]
    if config.get("Subnet") and config.get("Gateway"):
        values["bip"] = f"{config['Gateway']}/{config['Subnet'].split('/')[1]}"
    elif config.get("Subnet"):
        values["bip_subnet"] = config["Subnet"]
    if config.get("IPRange"):
        values["fixed_cidr"] = config["IPRange"]
    values["ipv6"] = bool(bridge.get("EnableIPv6"))
    security = [str(option) for option in info.get("SecurityOptions") or []]
    values["userns_remapped"] = any("name=userns" in option for option in security)
    backend = info.get("FirewallBackend")
    if isinstance(backend, Mapping) and backend.get("Driver"):
        values["firewall_backend"] = str(backend["Driver"])
    return values


def merge(version: str, engine: Mapping[str, Any], command_line: Mapping[str, Any],
          config: Mapping[str, Any], host: Mapping[str, Setting]) -> dict[str, Setting]:
    """One Setting per name: engine API, else command line, else daemon.json, else the default."""
    settings: dict[str, Setting] = {}
    for name, default in builtin_defaults(version).items():
        if name in engine:
            settings[name] = Setting(engine[name], "engine API")
        elif name in command_line:
            settings[name] = Setting(command_line[name], "dockerd command line")
        elif name in config:
            settings[name] = Setting(config[name], "daemon.json")
        else:
            settings[name] = Setting(default, f"default of dockerd {version}")
    if "bip_subnet" in engine and settings["bip"].value is None:
        settings["bip"] = Setting(engine["bip_subnet"], "engine API (subnet; no gateway configured)")
    settings["userns_remapped"] = Setting(bool(engine.get("userns_remapped")), "engine API")
    settings.update(host)
    return settings


def _read_namespace_state(switches: Sequence[str], iptables: str | None, bridge: str) -> dict[str, str]:
    """In the daemon's network namespace: kernel switches, the firewall's FORWARD policy and the
    default bridge's IPv4 addresses (space-separated CIDRs)."""
    state: dict[str, str] = {}
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=bridge)
        addresses = ipr.get_addr(family=socket.AF_INET, index=found[0]) if found else []
        state["bridge_addresses"] = " ".join(f"{a.get('address')}/{a['prefixlen']}" for a in addresses)
    for name in switches:
        try:
            state[name] = Path("/proc/sys/" + name.replace(".", "/")).read_text().strip()
        except OSError as err:
            state[name] = f"<unreadable: {err.strerror}>"
    if iptables is None:
        state["forward_policy"] = "<unreadable: no iptables command on this host>"
        return state
    done = subprocess.run([iptables, "-w", "-S", "FORWARD"], capture_output=True, text=True, timeout=20)
    policy = next((line.split()[2] for line in done.stdout.splitlines() if line.startswith("-P FORWARD ")), None)
    state["forward_policy"] = policy or f"<unreadable: {done.stderr.strip() or 'no -P FORWARD line'}>"
    nat = subprocess.run([iptables, "-w", "-t", "nat", "-S"], capture_output=True, text=True, timeout=20)
    state["docker_nat_chain"] = str(nat.returncode == 0 and "-N DOCKER" in nat.stdout.splitlines()).lower()
    return state


def _bridge_gateway(subnet: str, addresses: str) -> str | None:
    """The bridge interface's address inside the default bridge's subnet, as ``bip`` spells it."""
    network = ipaddress.ip_network(subnet, strict=False)
    return next((cidr for cidr in addresses.split() if ipaddress.ip_interface(cidr).ip in network), None)


def _kernel_and_firewall(daemon_pid: int, bridge: str, timeout: float) -> tuple[dict[str, Setting], dict[str, str]]:
    state = call_in_namespaces({"net": f"/proc/{daemon_pid}/ns/net"}, _read_namespace_state, KERNEL_SWITCHES,
                               shutil.which("iptables"), bridge, timeout=timeout,
                               what="kernel switches, firewall and bridge of the daemon's namespace")
    settings: dict[str, Setting] = {}
    for name in KERNEL_SWITCHES:
        text = state[name]
        settings[name] = (Setting(None, "kernel", text[len("<unreadable: "):-1]) if text.startswith("<unreadable")
                          else Setting(int(text), "kernel (daemon's network namespace)"))
    # Built in or loaded as a module, br_netfilter shows as its net.bridge sysctls.
    settings["br_netfilter"] = Setting(not state["net.bridge.bridge-nf-call-iptables"].startswith("<unreadable"),
                                       "kernel (net.bridge sysctls in the daemon's netns)")
    policy = state["forward_policy"]
    settings["forward_policy"] = (Setting(None, "firewall", policy[len("<unreadable: "):-1])
                                  if policy.startswith("<unreadable") else Setting(policy, "iptables (daemon's netns)"))
    settings["docker_nat_chain"] = Setting(state["docker_nat_chain"] == "true", "iptables nat table (daemon's netns)")
    return settings, state


def read_effective_settings(version: str, info: Mapping[str, Any], bridge: Mapping[str, Any], daemon_pid: int,
                            timeout: float = 10.0) -> EffectiveSettings:
    """The daemon's settings in effect now. Unreadable sources are recorded, never guessed."""
    argv = Path(f"/proc/{daemon_pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    command_line, config_path, problems = parse_command_line(argv)
    config: dict[str, Any] = {}
    path = config_path or DEFAULT_CONFIG
    # Through the daemon's root, so a daemon in another mount namespace is read as it sees the file.
    seen = Path(f"/proc/{daemon_pid}/root") / path.lstrip("/")
    unreadable_config = ""
    try:
        config = parse_config(seen.read_text())
    except FileNotFoundError:
        if config_path:
            unreadable_config = f"{path}: no such file"
    except (OSError, ValueError, KeyError, TypeError) as err:
        unreadable_config = f"{path}: {err}"
    engine = from_engine(info, bridge)
    host, state = _kernel_and_firewall(daemon_pid, str(engine.get("bridge", "docker0")), timeout)
    if "bip_subnet" in engine:
        # 20.10 may keep no gateway in the default bridge's IPAM config: the bridge interface's own
        # address in the subnet is the gateway containers use.
        gateway = _bridge_gateway(engine["bip_subnet"], state["bridge_addresses"])
        if gateway:
            engine["bip"] = gateway
            del engine["bip_subnet"]
    settings = merge(version, engine, command_line, config, host)
    if unreadable_config or problems:
        settings["daemon_config"] = Setting(None, "daemon.json / command line",
                                            "; ".join(filter(None, [unreadable_config, *problems])))
    return EffectiveSettings(settings, argv, path if os.path.isabs(path) else None)
