"""The diff is quiet about what means nothing: addresses as addresses, sets as entries, one line per
change however many places show it, and the host's context apart from the daemon's behaviour."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netconform.report.accepted import AcceptFileError, Change, load_accepted
from netconform.report.diff import compare, render
from netconform.report.diff_text import compact
from netconform.report.fact_values import Delta, canonical, deltas
from netconform.report.normalize import BEHAVIOUR, HOST_CONTEXT, flatten_report

DATA = Path(__file__).parents[1] / "data"
PASS = json.loads((DATA / "report-pass.json").read_text())


def changed_hosts(edit: Callable[[list[str]], list[str]]) -> dict[str, Any]:
    """PASS with every container's /etc/hosts entries rewritten by ``edit``."""
    after = copy.deepcopy(PASS)
    for scenario in after["scenarios"]:
        for container in (scenario["observed"] or {}).get("containers", {}).values():
            if container.get("hosts_entries"):
                container["hosts_entries"] = edit(container["hosts_entries"])
    return after


@pytest.mark.parametrize(("text", "expected"), [
    ("fe00::0 ip6-localnet", "fe00:: ip6-localnet"),
    ("2001:DB8:0:0::1/64 via fe80::0001", "2001:db8::1/64 via fe80::1"),
    ("127.0.0.1 localhost", "127.0.0.1 localhost"),
    ("02:42:ac:11:00:02", "02:42:ac:11:00:02"),  # a MAC is not an address
    ("<ip:web@appnet> 12:30:01 20.10.24 1.41", "<ip:web@appnet> 12:30:01 20.10.24 1.41"),
])
def test_addresses_are_written_one_way(text: str, expected: str) -> None:
    assert canonical(text) == expected


def test_sets_change_by_entries_and_ordered_lists_also_by_order() -> None:
    assert deltas(frozenset({"a", "b"}), frozenset({"b", "c"})) == [Delta("removed", was="a"), Delta("added", now="c")]
    assert deltas(("10.0.0.1", "10.0.0.2"), ("10.0.0.2", "10.0.0.1")) == [
        Delta("reordered", "[10.0.0.1, 10.0.0.2]", "[10.0.0.2, 10.0.0.1]")]
    assert deltas(None, frozenset({"x"})) == [Delta("added", now="x")]  # absent: no entries
    assert deltas("1500", None) == [Delta("changed", "1500", "(absent)")]
    assert deltas(frozenset({"a"}), frozenset({"a"})) == []


def test_the_sample_report_flattens_with_canonical_addresses_and_is_no_change_to_itself() -> None:
    flat = flatten_report(PASS)
    hosts = flat["container base /etc/hosts"]
    assert isinstance(hosts, frozenset) and "fe00:: ip6-localnet" in hosts
    assert not any("fe00::0" in str(value) for value in flat.values())
    assert compare(PASS, copy.deepcopy(PASS)).changes == []


def test_a_textual_change_of_the_same_address_or_of_the_line_layout_is_no_change() -> None:
    def as_28_writes_it(lines: list[str]) -> list[str]:
        lines = [line.replace("fe00::0", "fe00::").replace("ff00::0", "ff00::") for line in lines]
        if "::1 localhost ip6-localhost ip6-loopback" not in lines:
            return lines
        rest = [line for line in lines if not line.startswith("::1 ")]
        return ["::1 localhost", "::1 ip6-localhost ip6-loopback", *rest]  # names over two lines

    assert compare(PASS, changed_hosts(as_28_writes_it)).changes == []


def test_the_same_entry_added_everywhere_is_one_line_naming_the_places_compactly() -> None:
    diff = compare(PASS, changed_hosts(lambda lines: [*lines, "::1 ip6-extra"]))
    places = {change.place for change in diff.changes}
    assert {change.shown() for change in diff.changes} == {"+ ::1 ip6-extra"} and len(places) > 5
    lines = [line for line in render(diff) if "/etc/hosts" in line]
    assert len(lines) == 1
    assert lines[0].startswith(f"    /etc/hosts: + ::1 ip6-extra  ({len(places)} places: ")
    assert "container/*" in lines[0]  # every container of the scenario: its name and *


def test_places_are_listed_by_scenario() -> None:
    subjects = {"bridge": {"alpha", "beta"}, "dns": {"a", "b", "c"}}
    assert compact(["bridge/alpha", "bridge/beta", "dns/a", "dns/c", "none/isolated"], subjects) == \
        "bridge/*, dns/{a,c}, none/isolated"


def test_what_a_host_mode_container_sees_of_the_daemons_namespace_is_host_context() -> None:
    after = copy.deepcopy(PASS)
    host = next(scenario for scenario in after["scenarios"] if scenario["name"] == "host")
    for container in host["observed"]["containers"].values():
        if container.get("net"):  # as if the daemon ran in another namespace: no eth0 there
            container["net"]["interfaces"] = [i for i in container["net"]["interfaces"] if i["name"] != "eth0"]
    diff = compare(PASS, after)
    assert diff.changes and {change.section for change in diff.changes} == {HOST_CONTEXT}
    assert {(change.fact, change.shown()) for change in diff.changes} >= {("interfaces", "- eth0")}
    text = "\n".join(render(diff))
    assert "  host context (the machine and the daemon's network namespace" in text
    assert "daemon behaviour" not in text


def test_a_container_of_its_own_namespace_changing_is_daemon_behaviour() -> None:
    after = changed_hosts(lambda lines: [*lines, "10.9.9.9 extra"])
    assert {change.section for change in compare(PASS, after).changes} == {BEHAVIOUR}


ADDED_ENTRY = """
- fact: /etc/hosts
  added: ["::1 ip6-extra", "::1 ip6-never"]
  reason: test
"""


def test_an_entry_accepts_entries_added_and_names_those_never_seen_as_stale(tmp_path: Path) -> None:
    path = tmp_path / "accept.yaml"
    path.write_text(ADDED_ENTRY)
    diff = compare(PASS, changed_hosts(lambda lines: [*lines, "::1 ip6-extra"]), load_accepted(path))
    assert diff.acceptance is not None and not diff.acceptance.unaccepted
    [stale] = diff.acceptance.stale
    assert (stale.added, stale.describe()) == (("::1 ip6-never",), "/etc/hosts: + ::1 ip6-never")
    path.write_text(ADDED_ENTRY.replace("added:", "removed:"))
    acceptance = compare(PASS, changed_hosts(lambda lines: [*lines, "::1 ip6-extra"]), load_accepted(path)).acceptance
    assert acceptance is not None and acceptance.unaccepted  # removed: does not accept an entry added


def test_from_to_accepts_a_value_not_an_entry(tmp_path: Path) -> None:
    path = tmp_path / "accept.yaml"
    path.write_text('- fact: /etc/hosts\n  from: "[a]"\n  added: b\n  reason: x\n')
    with pytest.raises(AcceptFileError, match="3: added: from/to name a value, added/removed entries of a set"):
        load_accepted(path)
    change = Change("s/web", "/etc/hosts", "", "::1 ip6-extra", "added")
    path.write_text('- fact: /etc/hosts\n  from: "[a]"\n  reason: x\n')
    assert not load_accepted(path)[0].matches(change)
    path.write_text("- fact: /etc/hosts\n  reason: any change of the fact\n")
    assert load_accepted(path)[0].matches(change)


def test_an_old_from_to_entry_on_a_set_like_fact_is_stale_with_a_hint(tmp_path: Path) -> None:
    path = tmp_path / "accept.yaml"
    path.write_text('- fact: /etc/hosts\n  from: "[a]"\n  to: "[a, ::1 ip6-extra]"\n  reason: as sets printed before\n')
    diff = compare(PASS, changed_hosts(lambda lines: [*lines, "::1 ip6-extra"]), load_accepted(path))
    assert f"  {path}:1: /etc/hosts: [a] -> [a, ::1 ip6-extra]  (this fact changes by entries: name them with " \
        "added:/removed:)" in render(diff)


def test_an_interface_on_one_side_only_is_one_line_not_each_of_its_facts() -> None:
    after = copy.deepcopy(PASS)
    base = next(s for s in after["scenarios"] if s["name"] == "container")["observed"]["containers"]["base"]
    base["net"]["interfaces"] = [i for i in base["net"]["interfaces"] if i["name"] != "eth0"]
    base["net"]["routes"] = []
    shown = {(change.place, change.fact, change.shown()) for change in compare(PASS, after).changes}
    assert ("container/base", "interfaces", "- eth0") in shown
    assert not any(fact.startswith("interface eth0 ") for place, fact, _ in shown if place == "container/base")


def _two_network_container(first: str, second: str) -> dict[str, Any]:
    """A scenario whose container is on front and back, with eth0/eth1 given as ``first``/``second``."""
    def iface(name: str, mac: str, address: str) -> dict[str, Any]:
        return {"name": name, "kind": "veth", "mtu": 1500, "up": True, "mac": mac, "addresses": [address]}
    macs = {"front": "02:42:0a:01:00:02", "back": "02:42:0a:02:00:02"}
    names = {"front": first, "back": second}
    return {"name": "multi", "declared": {"networks": {"front": {}, "back": {}}, "containers": {}},
            "observed": {"host": {"namespaces": {"net": {"inode": 1}}}, "networks": {}, "containers": {"both": {
                "created": True, "namespaces": {"net": {"inode": 2}},
                "endpoints": {net: {"ip": f"10.{i}.0.2", "mac": macs[net]} for i, net in ((1, "front"), (2, "back"))},
                "net": {"interfaces": [iface("lo", "00:00:00:00:00:00", "127.0.0.1/8"),
                                       iface(names["front"], macs["front"], "10.1.0.2/24"),
                                       iface(names["back"], macs["back"], "10.2.0.2/24")],
                        "routes": [{"dst": "default", "gateway": "10.1.0.1", "dev": names["front"]}]}}}}}


def test_a_multi_network_containers_interfaces_compare_by_network_not_by_join_order() -> None:
    from netconform.report.normalize import flatten_scenario

    front_first = flatten_scenario(_two_network_container("eth0", "eth1"), "run1")
    back_first = flatten_scenario(_two_network_container("eth1", "eth0"), "run2")
    assert front_first == back_first
    assert "multi both interface <if:front> mac" in front_first
    assert "default via 10.1.0.1 dev <if:front>" in front_first["multi both routes"]
