"""Docker's own firewall layout in the daemon's network namespace: its chains, policies and jumps.

Read with ``iptables-save``/``ip6tables-save`` (and, for Docker's nftables backend, ``nft -s list
table`` of its ``docker*`` tables) inside the daemon's network namespace, before the run creates
anything: a new network makes the daemon add rules. Counters and comments are left out. Only
Docker's part is kept: its chains (``DOCKER*``) and, in the built-in chains, the rules that jump
to them or name a Docker bridge (``docker0``, ``br-…``); another tool's rules on the same host are
not the daemon's layout.

The result (``report.json`` ``daemon.firewall_layout``, helpers/report/SCHEMA.md)::

    {"tables": [{"tool": "iptables", "family": "ipv4", "table": "filter",
                 "chains": {"FORWARD": {"policy": "DROP", "hook": None, "rules": ["-j DOCKER-USER", ...]}}}],
     "unreadable": {"ip6tables": "why"}}
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

from netconform.hermetic.nsexec import call_in_namespaces

SAVERS = (("iptables", "ipv4", "iptables-save"), ("ip6tables", "ipv6", "ip6tables-save"))
_DOCKERS = re.compile(r"\bDOCKER[\w-]*|\bdocker0\b|\bbr-[0-9a-f]{12}\b")
Chain = dict[str, Any]


def parse_iptables_save(text: str, tool: str, family: str) -> list[dict[str, Any]]:
    """``iptables-save`` output -> one table record per ``*table`` (Docker's chains and rules only)."""
    tables: list[dict[str, Any]] = []
    chains: dict[str, Chain] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("*"):
            chains = {}
            tables.append({"tool": tool, "family": family, "table": line[1:], "chains": chains})
        elif line.startswith(":"):
            name, policy = [*line[1:].split(), "-"][:2]
            chains[name] = {"policy": None if policy == "-" else policy, "hook": None, "rules": []}
        elif line.startswith("-A "):
            _, name, rule = [*line.split(" ", 2), ""][:3]
            chain = chains.setdefault(name, {"policy": None, "hook": None, "rules": []})
            chain["rules"].append(rule.strip())
    for table in tables:
        table["chains"] = _dockers(table["chains"])
    return [table for table in tables if table["chains"]]


def parse_nft_table(text: str, tool: str = "nft") -> dict[str, Any] | None:
    """``nft -s list table FAMILY NAME`` output -> one table record (every chain: the table is Docker's)."""
    header = re.search(r"^table (\S+) (\S+) \{", text, re.M)
    if header is None:
        return None
    chains: dict[str, Chain] = {}
    current: Chain | None = None
    for line in text.splitlines()[1:]:
        line = line.strip()
        if line.startswith("chain ") and line.endswith("{"):
            current = chains.setdefault(line.split()[1], {"policy": None, "hook": None, "rules": []})
        elif line == "}" or not line or current is None:
            current = None if line == "}" else current
        elif line.startswith("type ") and " hook " in line:
            hook, _, policy = line.rstrip(";").partition("; policy ")
            current["hook"], current["policy"] = hook, policy or None
        else:
            current["rules"].append(line)
    return {"tool": tool, "family": header.group(1), "table": header.group(2), "chains": chains}


def _dockers(chains: dict[str, Chain]) -> dict[str, Chain]:
    """Docker's chains whole; built-in chains (those with a policy) with only Docker's rules, and
    only when Docker has rules there or the policy is not ACCEPT (Docker sets FORWARD to DROP)."""
    kept: dict[str, Chain] = {}
    for name, chain in chains.items():
        if name.startswith("DOCKER"):
            kept[name] = chain
        elif chain["policy"] is not None:
            rules = [rule for rule in chain["rules"] if _DOCKERS.search(rule)]
            if rules or chain["policy"] != "ACCEPT":
                kept[name] = {**chain, "rules": rules}
    return kept


def _read_in_namespace(savers: list[tuple[str, str, str | None]], nft: str | None) -> dict[str, Any]:
    """In the daemon's network namespace: every saver's and Docker's nft tables' text (or why not)."""
    texts: dict[str, Any] = {"iptables": {}, "nft": {}, "unreadable": {}}
    for tool, _, command in savers:
        if command is None:
            texts["unreadable"][tool] = f"no {tool}-save command on this host"
            continue
        done = subprocess.run([command], capture_output=True, text=True, timeout=20)
        if done.returncode:
            texts["unreadable"][tool] = done.stderr.strip() or f"{command} exited {done.returncode}"
        texts["iptables"][tool] = done.stdout
    if nft is not None:
        listed = subprocess.run([nft, "list", "tables"], capture_output=True, text=True, timeout=20)
        for line in listed.stdout.splitlines():
            words = line.split()
            if len(words) == 3 and words[2].startswith("docker"):
                table = subprocess.run([nft, "-s", "list", "table", words[1], words[2]], capture_output=True,
                                       text=True, timeout=20)
                texts["nft"][f"{words[1]} {words[2]}"] = table.stdout
    return texts


def read_firewall_layout(daemon_pid: int, timeout: float = 10.0) -> dict[str, Any]:
    """Docker's firewall layout in the network namespace of the daemon ``daemon_pid`` (module doc).

    Raises:
        ProbeTimeout, ProbeError: the namespace child did not answer (as :func:`call_in_namespaces`).
    """
    savers = [(tool, family, shutil.which(command)) for tool, family, command in SAVERS]
    texts = call_in_namespaces({"net": f"/proc/{daemon_pid}/ns/net"}, _read_in_namespace, savers,
                               shutil.which("nft"), timeout=timeout, what="firewall layout of the daemon's namespace")
    tables: list[dict[str, Any]] = []
    for tool, family, _ in savers:
        if tool in texts["iptables"]:
            tables.extend(parse_iptables_save(texts["iptables"][tool], tool, family))
    for text in texts["nft"].values():
        parsed = parse_nft_table(text)
        if parsed is not None:
            tables.append(parsed)
    return {"tables": tables, "unreadable": texts["unreadable"]}


# What a DOCKER-USER rule may do and still never let through what isolation drops.
_NARROWING_TARGETS = ("RETURN", "DROP", "REJECT")


def _docker_user_rules(tool: str) -> list[str] | None:
    done = subprocess.run([tool, "-S", "DOCKER-USER"], capture_output=True, text=True, timeout=20)
    if done.returncode != 0:
        # No such chain (ip6tables off on 20.10): no jump to skip either.
        return [] if "No chain/target/match" in done.stderr else None
    return [line for line in done.stdout.splitlines() if line.startswith("-A ")]


def docker_user_only_narrows(daemon_pid: int, ipv6: bool = False, timeout: float = 10.0) -> bool:
    """Whether every rule in the daemon's DOCKER-USER chain (of the IPv4 or the IPv6 firewall)
    returns, drops or rejects: skipping them for an instant (a network creation before 28.0
    deletes and re-adds the jump) then never drops what they would pass. False when the chain
    cannot be read."""
    rules = call_in_namespaces({"net": f"/proc/{daemon_pid}/ns/net"}, _docker_user_rules,
                               "ip6tables" if ipv6 else "iptables", timeout=timeout, what="DOCKER-USER rules")
    return rules is not None and only_narrowing(rules)


def only_narrowing(rules: list[str]) -> bool:
    """Whether each ``iptables -S`` rule returns, drops or rejects (a jump elsewhere may accept)."""
    return all(rule.split(" -j ")[-1].split()[0] in _NARROWING_TARGETS for rule in rules if " -j " in rule)
