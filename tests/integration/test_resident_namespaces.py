"""The resident visitor in real namespaces: it sees the one it joined, then goes back to its own;
and waiting out DAD before a probe (harness/settling.py) on a really tentative address.

Each target is a process of ours in new network and UTS namespaces (``unshare``), killed at the
end: nothing named is created, nothing is left.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator

import pytest

from netconform.harness.settling import settle_netns
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.hermetic.resident import call_resident
from netconform.observe.dad import tentative_addresses
from netconform.observe.netlink import read_netns
from netconform.observe.visit import view_between_host_reads, visit_process

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="joining namespaces needs root")


PORT_START = "net.ipv4.ip_unprivileged_port_start"


def _interfaces_nodename_port_start() -> tuple[list[str], str, str]:
    view = read_netns((PORT_START,))
    return [iface.name for iface in view.interfaces], socket.gethostname(), view.sysctls[PORT_START]


@pytest.fixture
def isolated() -> Iterator[list[int]]:
    """Two processes, each in network and UTS namespaces of its own: named inner-<n>, with
    net.ipv4.ip_unprivileged_port_start 100<n>."""
    script = "hostname inner-{n}; echo 100{n} >/proc/sys/net/ipv4/ip_unprivileged_port_start; echo up; exec sleep 60"
    procs = [subprocess.Popen(["unshare", "--net", "--uts", "sh", "-c", script.format(n=n)],
                              stdout=subprocess.PIPE, text=True) for n in range(2)]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        yield [proc.pid for proc in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def test_each_call_sees_the_namespaces_it_joined_and_the_next_sees_its_own(isolated: list[int]) -> None:
    home = call_resident({}, _interfaces_nodename_port_start, timeout=10, what="home")
    assert home[1] == socket.gethostname() and len(home[0]) > 1 and home[2] not in ("1000", "1001")
    for _ in range(3):  # alternate, so that any namespace left joined would show
        for n, pid in enumerate(isolated):
            inside = {"net": f"/proc/{pid}/ns/net", "uts": f"/proc/{pid}/ns/uts"}
            assert call_resident(inside, _interfaces_nodename_port_start, timeout=10,
                                 what="inner") == (["lo"], f"inner-{n}", f"100{n}")
        assert call_resident({}, _interfaces_nodename_port_start, timeout=10, what="home") == home


def test_a_failure_inside_leaves_the_resident_at_home(isolated: list[int]) -> None:
    home = call_resident({}, _interfaces_nodename_port_start, timeout=10, what="home")
    with pytest.raises(Exception, match="ZeroDivisionError"):
        call_resident({"net": f"/proc/{isolated[0]}/ns/net"}, divmod, 1, 0, timeout=10, what="fails inside")
    assert call_resident({}, _interfaces_nodename_port_start, timeout=10, what="home") == home


def test_a_visit_reads_what_a_child_of_its_own_reads(isolated: list[int]) -> None:
    pid = isolated[1]
    seen = visit_process(pid, (PORT_START,), 10.0, "visit")
    child = call_in_namespaces({"net": f"/proc/{pid}/ns/net", "uts": f"/proc/{pid}/ns/uts"},
                               _interfaces_nodename_port_start, timeout=10)
    assert ([iface.name for iface in seen.net.interfaces], seen.hostname, seen.net.sysctls[PORT_START]) == child
    assert child[2] == "1001"


def test_settling_waits_until_a_fresh_ipv6_address_is_no_longer_tentative() -> None:
    # DAD of a new address on an interface that is up takes about a second (dad_transmits 1,
    # retrans_time 1 s); nodad is not given, so the kernel really runs it.
    script = ("sysctl -qw net.ipv6.conf.all.disable_ipv6=0; ip link add v0 type veth peer name v1; "
              "ip link set v0 up; ip link set v1 up; ip addr add fd00:5e7::1/64 dev v0; echo up; exec sleep 60")
    proc = subprocess.Popen(["unshare", "--net", "sh", "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "up\n"
        path = f"/proc/{proc.pid}/ns/net"
        assert call_resident({"net": path}, tentative_addresses, True, timeout=10, what="fresh") == ["fd00:5e7::1"]
        settle_netns(path, "the fresh namespace", timeout=10)
        assert call_resident({"net": path}, tentative_addresses, True, timeout=10, what="settled") == []
    finally:
        proc.kill()
        proc.wait()


def test_a_view_between_two_host_reads(isolated: list[int]) -> None:
    # This process's own network namespace stands in for the daemon's.
    home = set(_interfaces_nodename_port_start()[0])
    before, view, after = view_between_host_reads(os.getpid(), isolated[0], (PORT_START,), 10.0, "between")
    assert before == after == home
    assert [iface.name for iface in view.interfaces] == ["lo"] and view.sysctls[PORT_START] == "1000"
