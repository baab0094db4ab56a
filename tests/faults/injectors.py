"""Faults injected for real, and the proof that everything they touched was put back.

A fault is a :class:`Plan`: iptables rules, sysctls, links and file contents to change in the
namespaces of a scenario once it is built. Two processes share the plan:

* the pytest run under test (the *child*) applies it from a ``conftest.py`` hook that calls
  :func:`inject_after_build` after its scenario's file node is set up. That is the moment the
  scenario exists and has been observed, and before any lookup or probe is made; Docker is done
  rewriting its rules by then (creating a network re-enables ``bridge-nf-call-iptables`` and
  re-inserts its MASQUERADE rule at the top of POSTROUTING);
* the test process (the *parent*) removes the plan's rules from the daemon's netns and puts its
  sysctls back in a ``finally``, and checks that ``iptables-save``/``ip6tables-save`` and the
  sysctls read the same as before (:func:`restored`).

Faults inside a container's netns die with the container, which the run removes; faults in files
(``/etc/hosts``, ``/etc/resolv.conf``) are written through the container's root, and the facts
read from those files at build time are read again.

Every command is an argument list with a bound; nothing here uses a shell.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
from pyroute2 import IPRoute

from netconform.facts import ScenarioFacts
from netconform.facts.files import parse_hosts, parse_resolv_conf
from netconform.harness.items import ScenarioFile
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.observe.identity import read_generated_files

PLAN_ENV = "NETCONFORM_FAULT_PLAN"
DAEMON = "daemon"  # Rule.where / sysctls: the daemon's netns rather than a container's
COMMAND_BOUND = 15.0
XTABLES_WAIT = "5"  # seconds iptables waits for the xtables lock

# Read before and after every fault run in the daemon's netns (and, for the host, over a module).
# Interface-specific entries only for interfaces that outlive a run.
WATCHED_SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.default.forwarding",
    "net.ipv4.conf.lo.forwarding",
    "net.ipv4.conf.docker0.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)

_applied = pytest.StashKey[bool]()


# --- the plan ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One iptables (or, with ``program`` ip6tables, IPv6) rule, inserted at the top of ``chain`` in
    the netns of ``where``."""

    table: str
    chain: str
    spec: tuple[str, ...]
    where: str = DAEMON
    program: str = "iptables"

    def argv(self, action: str) -> list[str]:
        position = ["1"] if action == "-I" else []
        return [self.program, "-w", XTABLES_WAIT, "-t", self.table, action, self.chain, *position, *self.spec]

    def __str__(self) -> str:
        return f"{self.where}: {self.program} -t {self.table} -I {self.chain} {' '.join(self.spec)}"


@dataclass(frozen=True)
class Plan:
    """What to break once the scenario is built.

    Attributes:
        rules: iptables rules to insert (in the daemon's netns or a container's).
        flush: (container key, table, chain) to flush inside that container's netns.
        sysctls: (name, value) to write in the daemon's netns.
        links_down: (container key, interface) to set down inside that container's netns.
        files: (container key, path, content) to write through the container's root; the facts
            read from the generated files are read again afterwards.
        shims: container keys the daemon's netns is given a way to, the usual workaround for
            macvlan: a macvlan interface of its own on the scenario's segment parent, with a /32
            route to each container through it (it goes with the parent when the run removes it).
    """

    rules: tuple[Rule, ...] = ()
    flush: tuple[tuple[str, str, str], ...] = ()
    sysctls: tuple[tuple[str, str], ...] = ()
    links_down: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str, str], ...] = ()
    shims: tuple[str, ...] = ()

    def dump(self, path: Path) -> Path:
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: Path) -> Plan:
        raw = json.loads(path.read_text())
        return cls(
            rules=tuple(Rule(r["table"], r["chain"], tuple(r["spec"]), r["where"], r.get("program", "iptables"))
                        for r in raw["rules"]),
            flush=tuple((c, t, ch) for c, t, ch in raw["flush"]),
            sysctls=tuple((n, v) for n, v in raw["sysctls"]),
            links_down=tuple((c, i) for c, i in raw["links_down"]),
            files=tuple((c, p, t) for c, p, t in raw["files"]),
            shims=tuple(raw.get("shims", ())),
        )

    @property
    def daemon_rules(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.where == DAEMON]


# --- running commands in a netns ---------------------------------------------------------------


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """``argv`` run in ``netns`` (a path), or in this process's netns when None."""
    return ["nsenter", f"--net={netns}", "--", *argv] if netns else list(argv)


def run(argv: Sequence[str], what: str) -> str:
    """Run ``argv``; its stdout, or an error naming what ran and what came back."""
    __tracebackhide__ = True
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=COMMAND_BOUND, check=False)
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(f"{what}: {argv} did not finish within {COMMAND_BOUND:g}s") from err
    if done.returncode != 0:
        raise RuntimeError(f"{what}: {argv} exited {done.returncode}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def netns_of(pid: int) -> str:
    return f"/proc/{pid}/ns/net"


# --- child side: inject once the scenario is built --------------------------------------------


def inject_after_build(item: pytest.Item) -> None:
    """Apply the plan named by ``$NETCONFORM_FAULT_PLAN`` the first time a scenario's item is set up.

    Call it from a ``pytest_runtest_setup`` wrapper, after the wrapped setup: the scenario is then
    built and observed, and no lookup or probe has been made yet (they are made by the first
    check that runs).
    """
    node = item.parent.parent if item.parent is not None else None
    if not isinstance(node, ScenarioFile) or node.facts is None or node.stash.get(_applied, False):
        return
    node.stash[_applied] = True
    plan_file = os.environ.get(PLAN_ENV)
    if plan_file:
        apply(Plan.load(Path(plan_file)), node.facts)


def apply(plan: Plan, facts: ScenarioFacts) -> None:
    """Break what ``plan`` says in the namespaces of the built scenario ``facts``."""
    daemon_netns = netns_of(facts.host.daemon_pid)

    def netns(where: str) -> str:
        return daemon_netns if where == DAEMON else netns_of(facts.containers[where].pid)

    for name, value in plan.sysctls:
        run(in_netns(daemon_netns, ["sysctl", "-q", "-w", f"{name}={value}"]), f"fault: sysctl {name}={value}")
    for rule in plan.rules:
        run(in_netns(netns(rule.where), rule.argv("-I")), f"fault: {rule}")
    for key, table, chain in plan.flush:
        run(in_netns(netns(key), ["iptables", "-w", XTABLES_WAIT, "-t", table, "-F", chain]),
            f"fault: flush {table} {chain} in {key}")
    for key, ifname in plan.links_down:
        call_in_namespaces({"net": netns(key)}, _link_down, ifname, timeout=COMMAND_BOUND,
                           what=f"fault: {ifname} down in {key}")
    if plan.shims:
        assert facts.segment is not None, "a shim needs the scenario's segment"
        addresses = [str(facts.containers[key].endpoints[facts.containers[key].primary_network or ""].ip)
                     for key in plan.shims]
        assert facts.segment.host is not None, "a shim takes the address below the segment's host address"
        own = str(ipaddress.ip_address(facts.segment.host) - 1)
        call_in_namespaces({"net": daemon_netns}, _shim, facts.segment.parent, own, addresses, timeout=COMMAND_BOUND,
                           what=f"fault: macvlan shim on {facts.segment.parent}")
    for key, path, text in plan.files:
        container = facts.containers[key]
        Path(f"/proc/{container.pid}/root{path}").write_text(text)
        # Docker writes these files once, and the scenario's facts were read at build time.
        container.files = read_generated_files(container.pid)
        container.resolv = parse_resolv_conf(container.files["/etc/resolv.conf"])
        container.hosts_entries = parse_hosts(container.files["/etc/hosts"])


def _shim(parent: str, own: str, addresses: list[str]) -> None:
    """A macvlan (bridge mode) on ``parent`` named after it, holding ``own``/32, up, with /32 routes
    to ``addresses``."""
    with IPRoute() as ipr:
        name = f"{parent[:13]}sh"
        ipr.link("add", ifname=name, kind="macvlan", link=ipr.link_lookup(ifname=parent)[0], macvlan_mode="bridge")
        index = ipr.link_lookup(ifname=name)[0]
        ipr.addr("add", index=index, address=own, prefixlen=32)
        ipr.link("set", index=index, state="up")
        for address in addresses:
            ipr.route("add", dst=f"{address}/32", oif=index)


def _link_down(ifname: str) -> None:
    with IPRoute() as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname=ifname)[0], state="down")


# --- parent side: snapshot, restore, compare ---------------------------------------------------

_COUNTERS = re.compile(r"\[\d+:\d+\]")


def rulesets(netns: str | None) -> dict[str, list[str]]:
    """``iptables-save`` and ``ip6tables-save`` (every table) of ``netns``, without the comment
    lines (they carry a timestamp) and with packet counters zeroed."""
    saved = {}
    for program in ("iptables-save", "ip6tables-save"):
        text = run(in_netns(netns, [program]), f"{program} in {netns or 'the host netns'}")
        lines = [_COUNTERS.sub("[0:0]", line) for line in text.splitlines() if not line.startswith("#")]
        saved[program] = _without_pristine_tables(lines)
    return saved


def _without_pristine_tables(lines: list[str]) -> list[str]:
    """The lines without tables that hold no rule and only built-in chains accepting everything:
    such a table only shows that something once looked at it (28 loads the raw table for its
    per-container rules and keeps it, empty, after the last container goes)."""
    kept: list[str] = []
    table: list[str] = []
    for line in lines:
        if line.startswith("*"):
            table = [line]
        elif table:
            table.append(line)
            if line == "COMMIT":
                body = table[1:-1]
                pristine = all(entry.startswith(":") and " ACCEPT " in entry and not entry.startswith(":DOCKER")
                               for entry in body)
                if not pristine:
                    kept += table
                table = []
        else:
            kept.append(line)
    return kept


def read_sysctls(netns: str | None, names: Sequence[str] = WATCHED_SYSCTLS) -> dict[str, str]:
    """The sysctls of ``netns`` that exist there (``<absent>`` for the others)."""
    values = {}
    for name in names:
        argv = in_netns(netns, ["sysctl", "-n", name])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_BOUND, check=False)
        values[name] = done.stdout.strip() if done.returncode == 0 else "<absent>"
    return values


def remove_rules(netns: str, rules: Sequence[Rule]) -> None:
    """Delete each rule from ``netns`` as often as it is there (never more than a few times)."""
    for rule in rules:
        for _ in range(5):
            check = subprocess.run(in_netns(netns, rule.argv("-C")), capture_output=True, timeout=COMMAND_BOUND,
                                   check=False)
            if check.returncode != 0:
                break
            run(in_netns(netns, rule.argv("-D")), f"restore: delete {rule}")


def write_sysctls(netns: str, wanted: Mapping[str, str]) -> None:
    """Write back every sysctl that differs from ``wanted``; ip_forward first, since writing it
    also sets every interface's ``forwarding``."""
    order = sorted(wanted, key=lambda name: name != "net.ipv4.ip_forward")
    for name in order:
        if wanted[name] == "<absent>":
            continue
        if read_sysctls(netns, [name])[name] != wanted[name]:
            run(in_netns(netns, ["sysctl", "-q", "-w", f"{name}={wanted[name]}"]), f"restore: sysctl {name}")


def diff(before: Mapping[str, object], after: Mapping[str, object]) -> list[str]:
    """What differs between two snapshots, one line per difference."""
    lines = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, list) and isinstance(new, list):
            lines += [f"{key}: lost   {line}" for line in old if line not in new]
            lines += [f"{key}: gained {line}" for line in new if line not in old]
        else:
            lines.append(f"{key}: {old!r} -> {new!r}")
    return lines


@contextmanager
def restored(netns: str, plan: Plan | None = None) -> Iterator[None]:
    """Run the body, then remove ``plan``'s daemon rules, put the watched sysctls back, and check
    that ``netns``'s rulesets and sysctls read as before.

    Raises:
        AssertionError: something differs after restoration (each difference listed).
    """
    __tracebackhide__ = True
    rules_before, sysctls_before = rulesets(netns), read_sysctls(netns)
    try:
        yield
    finally:
        remove_rules(netns, plan.daemon_rules if plan else [])
        write_sysctls(netns, sysctls_before)
        left = diff(rules_before, rulesets(netns)) + diff(sysctls_before, read_sysctls(netns))
        assert left == [], f"the daemon's netns {netns} was not restored:\n" + "\n".join(left)
