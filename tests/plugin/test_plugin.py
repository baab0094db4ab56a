"""The pytest plugin seen from the outside: run pytest on specs and read what a user would read."""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import docker
import pytest

from netconform.errors import DaemonUnavailable, ImageMissing, PermissionProblem, SpecError
from netconform.hermetic.runs import LABEL_RUN

pytest_plugins = ["pytester"]

GOOD = """\
    networks:
      appnet:
        options: {com.docker.network.driver.mtu: 1400}
    containers:
      web: {network: appnet}
    expect:
      web:
        interfaces: [lo, eth0]
        interface:
          eth0: {mtu: 1400}
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "netconform", "-p", "no:cacheprovider", *args, timeout=300)


def labelled(kind: str = "containers", run_id: str | None = None) -> list[str]:
    """Labelled objects on the daemon (of one run: other tests may run scenarios meanwhile)."""
    label = f"{LABEL_RUN}={run_id}" if run_id else LABEL_RUN
    client = docker.from_env()
    try:
        collection = client.containers.list(all=True, filters={"label": label}) if kind == "containers" \
            else client.networks.list(filters={"label": label})
        return [str(item.name) for item in collection]
    finally:
        client.close()


def run_id_of(result: pytest.RunResult) -> str:
    match = re.search(r"netconform: run ([0-9a-f]{8}),", result.stdout.str())
    assert match is not None, result.stdout.str()[:2000]
    return match.group(1)


def test_bad_spec_exits_with_the_spec_error_code_and_one_message(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", bad=textwrap.dedent("""\
        containers:
          web:
            netwrk: bridge
        expect: {web: {interfaces: [lo]}}
    """))
    result = run(pytester, "bad.yaml")
    assert result.ret == SpecError.exit_code
    assert result.stderr.lines == [
        "netconform: 1 invalid scenario spec(s); nothing was created.",
        "  bad.yaml:3: containers.web.netwrk: unknown key, did you mean 'network'? (allowed: network, networks, "
        "aliases, ip, networks_at_create, gw_priority, "
        "hostname, userns, mac_address, dns, dns_search, dns_options, add_hosts, publish, expose, "
        "publish_all, sysctls)",
    ]
    assert "Traceback" not in result.stdout.str() + result.stderr.str()


def test_every_bad_spec_is_listed_and_none_is_built(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", one="containers: {web: {network: 'container:db'}}\nexpect: {web: {hostname: x}}\n",
                      two="networks: {n: {subnet: 10.0.0.0/99}}\ncontainers: {a: {network: n}}\n"
                          "expect: {a: {hostname: x}}\n",
                      good=textwrap.dedent(GOOD))
    result = run(pytester)
    assert result.ret == SpecError.exit_code
    result.stderr.fnmatch_lines([
        "netconform: 2 invalid scenario spec(s); nothing was created.",
        "  one.yaml:1: containers.web.network: container 'db' is not defined*",
        "  two.yaml:1: networks.n.subnet: invalid CIDR '10.0.0.0/99'*",
    ])
    # The run stopped before its session started: no run id, so nothing could carry its label.
    assert "netconform: run " not in result.stdout.str()


def test_wrong_expectation_reads_as_a_story_without_traceback(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", wrong=textwrap.dedent(GOOD).replace("eth0: {mtu: 1400}", "eth0: {mtu: 1500}"))
    result = run(pytester, "wrong.yaml")
    assert result.ret == 1
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*wrong::web::interface.eth0.mtu*",
        "netconform: web interface.eth0.mtu: expected 1500, observed 1400",
        "  scenario:  wrong  (wrong.yaml:10)",
        "  container: web  (nc-*-main-wrong-web, *)",
        "  property:  interface.eth0.mtu  [addressing]",
        "  expected:  1500",
        "  observed:  1400",
        "  evidence:",
        "    interfaces:",
        "      1: lo (loopback) UP mtu 65536*",
        "      *: eth0 (veth) UP mtu 1400 *",
        "    inspect:",
        "      NetworkMode: nc-*-main-wrong-appnet",
    ])
    output = result.stdout.str()
    assert "Traceback" not in output and "def runtest" not in output and "AssertionError" not in output
    assert labelled(run_id=run_id_of(result)) == []


def test_markers_and_keywords_select_checks(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", sel=textwrap.dedent("""\
        containers:
          a: {network: host}
          b: {network: none}
        expect:
          a: {namespaces: {net: host}, hostname: x}
          b: {interfaces: [lo]}
    """))
    by_aspect = run(pytester, "--collect-only", "-q", "-m", "namespaces")
    by_mode = run(pytester, "--collect-only", "-q", "-m", "none")
    by_keyword = run(pytester, "--collect-only", "-q", "-k", "sel and hostname")
    assert [line for line in by_aspect.stdout.lines if "::" in line] == ["sel.yaml::a::namespaces.net"]
    assert [line for line in by_mode.stdout.lines if "::" in line] == ["sel.yaml::b::interfaces"]
    assert [line for line in by_keyword.stdout.lines if "::" in line] == ["sel.yaml::a::hostname"]


def test_collect_only_needs_no_daemon(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", good=textwrap.dedent(GOOD))
    result = run(pytester, "--collect-only", "-q", "--docker-host", "unix:///nonexistent/docker.sock")
    assert result.ret == 0


def test_no_daemon_is_one_message_and_its_own_exit_code(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", good=textwrap.dedent(GOOD))
    result = run(pytester, "--docker-host", "unix:///nonexistent/docker.sock")
    assert result.ret == DaemonUnavailable.exit_code
    assert result.stderr.lines == [
        "netconform: no Docker daemon socket at /nonexistent/docker.sock: start the daemon "
        "(./ci/ensure-engine does it on Debian/Ubuntu) or point DOCKER_HOST at one"
    ]


def test_missing_image_is_one_message_and_its_own_exit_code(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", good=textwrap.dedent(GOOD))
    result = run(pytester, "--image", "netconform-absent:none")
    assert result.ret == ImageMissing.exit_code
    assert len(result.stderr.lines) == 1
    assert "image 'netconform-absent:none' is not present on the daemon and netconform never pulls" in \
        result.stderr.str()


def test_no_permission_is_one_message_and_its_own_exit_code(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A non-root user gets EACCES on the daemon socket: run the plugin as 'nobody' in a forked child."""
    workdir = Path(tempfile.mkdtemp(prefix="nc-perm-", dir="/tmp"))
    try:
        (workdir / "good.yaml").write_text(textwrap.dedent(GOOD))
        workdir.chmod(0o777)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            os.chdir(workdir)
            sys.stderr = os.fdopen(write_fd, "w", buffering=1)
            os.setgid(65534)
            os.setuid(65534)
            code = pytest.main(["-p", "netconform", "-p", "no:cacheprovider", "-q", "good.yaml"])
            os._exit(int(code))
        os.close(write_fd)
        with os.fdopen(read_fd) as stderr:
            message = stderr.read()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == PermissionProblem.exit_code, message
        assert message.strip().splitlines() == [
            "netconform: no permission to use /var/run/docker.sock as uid 65534: netconform enters namespaces "
            "and must run as root"
        ]
    finally:
        shutil.rmtree(workdir)


def test_a_passing_run_leaves_nothing_labelled(pytester: pytest.Pytester) -> None:
    pytester.makefile(".yaml", good=textwrap.dedent(GOOD))
    result = run(pytester, "good.yaml")
    result.assert_outcomes(passed=2)
    assert labelled("containers", run_id_of(result)) == []
    assert labelled("networks", run_id_of(result)) == []


def test_shipped_suites_collect_with_readable_ids(pytester: pytest.Pytester) -> None:
    suites = Path(__file__).resolve().parents[2] / "suites"
    result = run(pytester, str(suites), "--collect-only", "-q")
    ids = [line for line in result.stdout.lines if "::" in line]
    assert any(line.endswith("custom.yaml::web::interface.eth0.mtu") for line in ids)
    assert any(line.endswith("host.yaml::named::hostname") for line in ids)
