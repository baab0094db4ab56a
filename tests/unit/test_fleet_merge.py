"""netconform fleet without Docker: HOSTS.yaml validation, the merge of reports, an unreachable host.

The end-to-end run over the Swarm lab's TLS daemons is tests/integration/test_fleet_lab.py.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from netconform.cli import main
from netconform.fleet.hosts import FleetHost, HostsFileError, hosts_yaml, load_hosts
from netconform.fleet.merge import merge
from netconform.fleet.remote import HostRun, SuiteSelection, run_on_host
from netconform.fleet.render import text
from tests.unit.test_diff import report


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hosts.yaml"
    path.write_text(body)
    return path


def test_a_valid_file_gives_each_host_with_paths_next_to_the_file(tmp_path: Path) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    hosts = load_hosts(_write(tmp_path, """\
hosts:
  - name: a
    docker_host: tcp://10.0.0.1:2376
    tls: {ca: ca.pem, cert: cert.pem, key: key.pem}
    profile: docker-defaults
  - name: b
    docker_host: tcp://10.0.0.2:2376
    profile: mine.yaml
    socket: /run/docker.sock
"""))
    assert [(h.name, h.line, h.profile, h.socket) for h in hosts] == [
        ("a", 2, "docker-defaults", "/var/run/docker.sock"),
        ("b", 6, str(tmp_path / "mine.yaml"), "/run/docker.sock")]
    assert hosts[0].tls is not None and hosts[0].tls.ca == tmp_path / "ca.pem"


def test_hosts_written_for_a_lab_read_back_the_same(tmp_path: Path) -> None:
    hosts = load_hosts(_write(tmp_path, "hosts:\n  - {name: a, docker_host: 'tcp://10.0.0.1:2376'}\n"))
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (tmp_path / name).write_text("x")
    hosts.append(load_hosts(_write(tmp_path, """\
hosts:
  - name: b
    docker_host: tcp://10.0.0.2:2376
    tls: {ca: ca.pem, cert: cert.pem, key: key.pem}
    profile: docker-defaults
    socket: /run/b.sock
"""))[0])
    again = load_hosts(_write(tmp_path, hosts_yaml(hosts)))
    assert [(h.name, h.docker_host, h.tls, h.profile, h.socket) for h in again] == [
        (h.name, h.docker_host, h.tls, h.profile, h.socket) for h in hosts]


@pytest.mark.parametrize(("body", "message"), [
    ("- a\n", "hosts.yaml:1: (file): must be a mapping with one key, hosts"),
    ("hosts: []\n", "hosts.yaml:1: hosts: must be a non-empty list"),
    ("hosts:\n  - name: a\n    docker_host: tcp://x:1\n    colour: red\n", "hosts.yaml:4: colour: unknown key"),
    ("hosts:\n  - name: a\n", "hosts.yaml:2: docker_host: missing"),
    ("hosts:\n  - name: a\n    docker_host: 10.0.0.1:2376\n",
     "hosts.yaml:3: docker_host: '10.0.0.1:2376' names no scheme"),
    ("hosts:\n  - name: a b\n    docker_host: tcp://x:1\n", "hosts.yaml:2: name: 'a b' is not a valid host name"),
    ("hosts:\n  - {name: a, docker_host: 'tcp://x:1'}\n  - {name: a, docker_host: 'tcp://y:1'}\n",
     "hosts.yaml:3: name: 'a' is already the name of the host at line 2"),
    ("hosts:\n  - name: a\n    docker_host: tcp://x:1\n    tls:\n      ca: ca.pem\n",
     "hosts.yaml:5: tls.ca: "),
    ("hosts:\n  - name: a\n    docker_host: [1]\n", "hosts.yaml:3: docker_host: must be a non-empty string"),
    ("hosts:\n  - name: a\n   docker_host: x\n", "hosts.yaml:3: (yaml): not valid YAML"),
])
def test_a_malformed_file_is_one_error_at_its_line(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(HostsFileError) as caught:
        load_hosts(_write(tmp_path, body))
    assert str(caught.value).startswith(str(tmp_path / message)), str(caught.value)


def test_the_command_ends_a_malformed_file_with_one_line_and_its_own_code(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "hosts:\n  - name: a\n    docker_host: tcp://x:1\n    colour: red\n")
    assert main(["fleet", str(path)]) == 17
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}:4: colour: unknown key" in err and "Traceback" not in err


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_host_is_an_error_row_not_an_exception(tmp_path: Path) -> None:
    host = FleetHost("gone", f"tcp://127.0.0.1:{_closed_port()}")
    image = type("Image", (), {"tag": "unused:x", "tar": b"", "python": "/bin/false"})()
    run = run_on_host(host, image, SuiteSelection(), tmp_path, "aaaaaaaa")  # type: ignore[arg-type]
    assert run.report is None and "Connection refused" in run.error, run.error
    fleet = merge([run])
    assert f"  gone  ?        ERROR: cannot reach the daemon at {host.docker_host}: " in "\n".join(text(fleet, "a"))


def _run(name: str, document: dict[str, object]) -> HostRun:
    return HostRun(FleetHost(name, f"tcp://{name}:2376"), report=document, exit_code=0, daemon_version="20.10.24")


def _with_aspects(document: dict[str, object], outcomes: dict[str, str]) -> dict[str, object]:
    document["checks"] = [{"id": f"s.yaml::{aspect}", "aspect": aspect, "outcome": outcome}
                          for aspect, outcome in outcomes.items()]
    return document


def test_the_merged_table_counts_each_aspect_and_the_odd_host_stands_out() -> None:
    usual = ["172.18.0.2", "172.18.0.0/16", ["127.0.0.1/8"]]
    a = _with_aspects(report("aaaaaaaa", "20.10.24", "1" * 64, *usual), {"dns": "passed", "addressing": "passed"})
    b = _with_aspects(report("bbbbbbbb", "20.10.24", "2" * 64, *usual), {"dns": "failed", "addressing": "passed"})
    odd = ["172.19.0.9", "172.19.0.0/16", ["127.0.0.1/8", "::1/128"]]
    c = _with_aspects(report("cccccccc", "20.10.24", "3" * 64, *odd), {"dns": "passed", "addressing": "skipped"})
    fleet = merge([_run("a", a), _run("b", b), _run("c", c)])
    assert fleet.aspects == ["addressing", "dns"]
    assert fleet.table["b"]["dns"] == {"passed": 0, "failed": 1, "error": 0, "skipped": 0}
    assert fleet.table["c"]["addressing"] == {"passed": 0, "failed": 0, "error": 0, "skipped": 1}
    # Other ids, names and addresses are no difference; the extra ::1 on c's loopback is.
    assert [(s.fact, s.odd) for s in fleet.spreads] == [("s web interface lo addresses", ("c",))]
    assert list(fleet.standing_out()) == ["c"]
    shown = "\n".join(text(fleet, "r"))
    assert "  b     20.10.24  1/0/0/0     0/1/0/0  1/1/0/0" in shown
    assert "<- c stands out" in shown and "Hosts that stand out: c (1 fact)" in shown


def test_two_hosts_that_differ_have_no_majority_so_neither_stands_out() -> None:
    a = report("aaaaaaaa", "20.10.24", "1" * 64, "172.18.0.2", "172.18.0.0/16", ["127.0.0.1/8"])
    b = report("bbbbbbbb", "26.1.5", "2" * 64, "172.18.0.2", "172.18.0.0/16", ["127.0.0.1/8"])
    fleet = merge([_run("a", a), _run("b", b)])
    assert [(s.fact, s.values, s.odd) for s in fleet.spreads] == [
        ("daemon version", {"a": "20.10.24", "b": "26.1.5"}, ())]
    assert fleet.standing_out() == {}
    json.dumps(fleet.spreads[0].values)  # as fleet.json holds it
