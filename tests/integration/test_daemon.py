"""Dedicated Docker daemons, exercised for real: 20.10, trixie's 26.1.5 and sid's 28.5.2, each in its own netns.

Needs root, /bin/busybox (busybox-static) and, for 26.1.5 and 28.5.2, ``ci/fetch-docker VERSION``
having run. The host's daemon is only listed, never changed. The leftover checks read /proc
themselves rather than trusting the cleanup code they check.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import docker
import docker.errors
import pytest
import requests
from pyroute2 import IPRoute

from netconform.errors import DaemonUnavailable, EnvironmentProblem, NetconformError, ToolMissing
from netconform.hermetic.daemon_binaries import DaemonBinaries
from netconform.hermetic.daemon_paths import DaemonPaths
from netconform.hermetic.daemon_sweep import sweep_stale_daemons
from netconform.hermetic.daemon_versions import find_version
from netconform.hermetic.dedicated_daemon import DedicatedDaemon
from netconform.hermetic.nsexec import call_in_namespaces
from netconform.hermetic.runs import LABEL_RUN, REGISTRY, RunIdentity, owner_alive

pytestmark = [
    pytest.mark.daemon,
    pytest.mark.xdist_group("daemon"),
    pytest.mark.skipif(os.geteuid() != 0, reason="dedicated daemons need root"),
]

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = Path("/bin/busybox")
HOST_DOCKER = "unix:///var/run/docker.sock"
IMAGE = "netconform-test-busybox:1"


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(registered_run: RunIdentity) -> RunIdentity:
    return registered_run


@pytest.fixture(scope="module")
def host_docker() -> Iterator[docker.DockerClient]:
    """The host's own daemon, only ever listed: it must not notice the dedicated ones."""
    try:
        client = docker.DockerClient(base_url=HOST_DOCKER, timeout=10)
    except (docker.errors.DockerException, requests.RequestException) as err:
        pytest.skip(f"the host daemon at {HOST_DOCKER} does not answer ({err}); it is the reference")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture(scope="module")
def rootfs() -> bytes:
    """A tar holding only /bin/busybox (static), built in memory."""
    if not BUSYBOX.is_file():
        pytest.skip(f"{BUSYBOX} is missing: apt-get install busybox-static")
    blob = BUSYBOX.read_bytes()
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        folder = tarfile.TarInfo("bin")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        binary = tarfile.TarInfo("bin/busybox")
        binary.mode, binary.size = 0o755, len(blob)
        tar.addfile(binary, io.BytesIO(blob))
    return data.getvalue()


def _binaries(version: str) -> DaemonBinaries:
    engine = find_version(version)
    try:
        return engine.binaries()
    except ToolMissing as err:
        if engine.installed:
            raise
        pytest.skip(f"docker.io {engine.full} is not there ({err})")


# --- observation helpers -----------------------------------------------------------------------


def _ns(path: str | Path) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_dev, st.st_ino


def _run_sleeper(client: docker.DockerClient, rootfs: bytes, run: RunIdentity) -> tuple[str, int]:
    client.api.import_image_from_data(rootfs, repository=IMAGE.split(":")[0], tag=IMAGE.split(":")[1])
    container = client.containers.run(
        IMAGE, entrypoint=["/bin/busybox", "sleep", "1000"], detach=True, labels=run.labels
    )
    container.reload()
    assert container.status == "running", container.attrs["State"]
    return container.id, int(container.attrs["State"]["Pid"])


def _mtus() -> dict[str, int]:
    """Runs inside a namespace child: interface name -> MTU."""
    with IPRoute() as ipr:
        return {link.get("IFLA_IFNAME"): link.get("IFLA_MTU") for link in ipr.get_links()}


def _seen_by_host(host: docker.DockerClient, run: RunIdentity, container_id: str | None) -> list[str]:
    """What of ours the host daemon knows (other tests may use it meanwhile, so no list diff)."""
    ours = host.containers.list(all=True, filters={"label": f"{LABEL_RUN}={run.run_id}"})
    seen = [f"container {c.id} (by label)" for c in ours]
    if container_id is not None and container_id in {c.id for c in host.containers.list(all=True)}:
        seen.append(f"container {container_id} (by id)")
    seen += [f"image {image.tags}" for image in host.images.list(name=IMAGE.split(":")[0])]
    return seen


def _leftovers(paths: DaemonPaths, netns: tuple[int, int] | None, pids: list[int], containers: list[str]) -> list[str]:
    """Everything of the daemon at ``paths`` still on the host, read from /proc and the filesystem."""
    roots = (str(paths.exec_root), str(paths.data_root))
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            in_netns = netns is not None and _ns(entry / "ns" / "net") == netns
        except OSError:
            continue
        if state == "Z":
            continue
        engine = any(word in argv for word in ("dockerd", "containerd", "docker-proxy", "runc"))
        if in_netns or int(entry.name) in pids or (engine and any(root in argv for root in roots)):
            found.append(f"process {entry.name}: {argv.strip()[:160]}")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if any(point == root or point.startswith(f"{root}/") for root in roots):
            found.append(f"mount {point}")
    found += [f"path {p}" for p in paths.exists()]
    for container in containers:  # containerd's shim socket lives outside the exec-root
        address = f"{paths.exec_root}/containerd/containerd.sock/moby/{container}"
        socket = Path("/run/containerd/s") / hashlib.sha256(address.encode()).hexdigest()
        found += [f"shim socket {socket}"] if socket.exists() else []
    found += [f"cgroup {p}" for p in Path("/sys/fs/cgroup").glob(f"*/{paths.cgroup_parent}")]
    return found


def _expect_clean(
    paths: DaemonPaths, netns: tuple[int, int] | None, pids: list[int], containers: Sequence[str] = ()
) -> None:
    __tracebackhide__ = True
    left = _leftovers(paths, netns, pids, list(containers))
    if left:
        pytest.fail(f"dedicated daemon {paths.key} left behind:\n  " + "\n  ".join(left), pytrace=False)


# --- a daemon per engine -----------------------------------------------------------------------

ENGINES = {
    # version prefix, containerd version prefix, runc commit marker (runc is always bookworm's).
    # Sid's containerd 2.x reports no commit, so its version (from the engine's components) is read.
    "20": ("20.10.24", "1.6.20", "deb12"),
    "26": ("26.1.5", "1.7.24", "deb12"),
    "28": ("28.5.2", "2.1.9", "deb12"),
}


@pytest.mark.parametrize("version", sorted(ENGINES))
def test_dedicated_daemon_lives_in_its_own_netns_and_leaves_nothing(
    version: str,
    run: RunIdentity,
    host_docker: docker.DockerClient,
    rootfs: bytes,
    record_property: Callable[[str, object], None],
) -> None:
    prefix, containerd_version, runc_marker = ENGINES[version]
    host_ns = _ns("/proc/self/ns/net")
    daemon = DedicatedDaemon(run, f"e{version}", _binaries(version), ["--mtu=1400"])
    daemon_ns = None
    pids: list[int] = []
    container_id = None
    try:
        daemon.start()
        record_property("startup_seconds", round(daemon.startup_seconds or 0.0, 2))
        client = daemon.client()
        info = client.info()
        assert daemon.version.startswith(prefix), info
        components = {c["Name"]: c["Version"] for c in client.version()["Components"]}
        assert components.get("containerd", "").startswith(containerd_version), components
        assert runc_marker in info["RuncCommit"]["ID"], info["RuncCommit"]
        assert info["DockerRootDir"] == str(daemon.paths.data_root), info["DockerRootDir"]

        daemon_ns = _ns(daemon.netns_path)
        assert _ns(f"/proc/{daemon.pid}/ns/net") == daemon_ns, "dockerd is not in its dedicated netns"
        assert daemon_ns != host_ns, "the dedicated netns is the host's"

        container_id, container_pid = _run_sleeper(client, rootfs, run)
        pids = [daemon.pid, container_pid]
        container_ns = _ns(f"/proc/{container_pid}/ns/net")
        assert container_ns not in (host_ns, daemon_ns), "a bridge container shares a netns with a daemon"
        mtu = call_in_namespaces({"net": f"/proc/{container_pid}/ns/net"}, _mtus, timeout=5)
        assert mtu.get("eth0") == 1400, f"--mtu=1400 did not reach the container: {mtu}"

        assert _seen_by_host(host_docker, run, container_id) == [], "the host daemon sees our objects"
    finally:
        # The container keeps running: stop() has to take it, its shim and its mounts along.
        daemon.stop()
    _expect_clean(daemon.paths, daemon_ns, pids, [container_id] if container_id else [])
    assert _seen_by_host(host_docker, run, container_id) == [], "the host daemon sees our objects"
    daemon.stop()  # idempotent


@pytest.mark.parametrize(
    ("flag", "in_log"),
    [
        ("--no-such-flag", "unknown flag: --no-such-flag"),
        # Fails after dockerd has started its containerd, which must be stopped too.
        ("--storage-driver=btrfs", "error initializing graphdriver"),
    ],
    ids=["unknown-flag", "bad-storage-driver"],
)
def test_a_daemon_that_cannot_start_raises_and_leaves_nothing(flag: str, in_log: str, run: RunIdentity) -> None:
    daemon = DedicatedDaemon(run, "broken", DaemonBinaries.system(), [flag], start_timeout=20)
    with pytest.raises(DaemonUnavailable) as caught:
        daemon.start()
    message = str(caught.value)
    assert str(daemon.paths.socket) in message, message
    assert "within 20s" in message, message
    assert in_log in message, message
    assert "\n" not in message, message
    _expect_clean(daemon.paths, None, [])


# --- the CLI, and the sweep after a crash ------------------------------------------------------


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "netconform", "daemon", *args],  # the netconform command
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


def _cli_start(name: str, *flags: str) -> dict[str, str]:
    __tracebackhide__ = True
    done = _cli("start", "--name", name, "--", *flags)
    if done.returncode != 0:
        pytest.fail(f"CLI start exited {done.returncode}: {done.stderr}", pytrace=False)
    assignments = dict(line.split("=", 1) for line in done.stdout.splitlines())
    assert sorted(assignments) == ["DOCKER_HOST", "NETCONFORM_DAEMON_PID"], done.stdout
    return assignments


def _paths_of(docker_host: str) -> DaemonPaths:
    return DaemonPaths(Path(docker_host.removeprefix("unix://")).parent.name)


def test_cli_starts_a_detached_daemon_owned_by_dockerd_and_stops_it() -> None:
    env = _cli_start("clitest", "--icc=false")
    paths = _paths_of(env["DOCKER_HOST"])
    pid = int(env["NETCONFORM_DAEMON_PID"])
    daemon_ns = _ns(paths.netns_path)
    try:
        client = docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=10)
        assert client.ping()
        client.close()
        owner = json.loads((REGISTRY / paths.run_id).read_text())["owner"]
        assert owner.split(":")[0] == str(pid) and owner_alive(owner), owner
        assert paths.key not in sweep_stale_daemons(), "a sweep took a daemon whose owner is alive"

        clash = _cli("start", "--name", "clitest")
        assert clash.returncode == 20 and clash.stderr.count("\n") == 1, clash.stderr
    finally:
        done = _cli("stop", "--name", "clitest")
    assert done.returncode == 0, done.stderr
    _expect_clean(paths, daemon_ns, [pid])
    assert not (REGISTRY / paths.run_id).exists(), "the CLI run stayed registered"

    again = _cli("stop", "--name", "clitest")
    assert again.returncode == 20, again
    assert again.stderr.startswith("netconform daemon: ") and again.stderr.count("\n") == 1, again.stderr


def test_cli_start_failure_is_one_line_with_the_exit_code_and_leaves_nothing() -> None:
    done = _cli("start", "--name", "clibad", "--timeout", "10", "--", "--no-such-flag")
    assert done.returncode == DaemonUnavailable.exit_code, done
    assert done.stdout == "" and done.stderr.count("\n") == 1, done.stderr
    assert "unknown flag: --no-such-flag" in done.stderr and "within 10s" in done.stderr, done.stderr
    key = re.search(r"'([0-9a-f]{8}-clibad)'", done.stderr)
    assert key is not None, done.stderr
    assert not (REGISTRY / key.group(1)[:8]).exists(), "the failed CLI run stayed registered"
    _expect_clean(DaemonPaths(key.group(1)), None, [])


def _wait_until_gone(pid: int, bound: float = 10.0) -> None:
    """SIGKILL is delivered asynchronously: the run is stale only once its owner has ended."""
    deadline = time.monotonic() + bound
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return
        if state == "Z":
            return
        time.sleep(0.02)


def test_sweep_removes_a_crashed_daemon_and_spares_a_live_one(run: RunIdentity, rootfs: bytes) -> None:
    env = _cli_start("crashed")
    paths = _paths_of(env["DOCKER_HOST"])
    pid = int(env["NETCONFORM_DAEMON_PID"])
    daemon_ns = _ns(paths.netns_path)
    with DedicatedDaemon(run, "alive", DaemonBinaries.system()) as alive:
        try:
            client = docker.DockerClient(base_url=env["DOCKER_HOST"], timeout=10)
            container_id, container_pid = _run_sleeper(client, rootfs, run)
            client.close()
            os.kill(pid, signal.SIGKILL)  # the owner of the CLI run: the run is now stale
            _wait_until_gone(pid)
            swept = sweep_stale_daemons()
            # Read before the cleanup below, which would remove the daemon whatever the sweep did.
            left_after_sweep = paths.exists()
        finally:
            _cli("stop", "--name", "crashed")  # only acts if the sweep did not
        # Any netconform run sweeps stale daemons when it starts; under xdist another test's run may
        # have got there first. Either way the crashed daemon is gone and the live one stays.
        assert paths.key in swept or left_after_sweep == [], (swept, left_after_sweep)
        assert alive.paths.key not in swept, swept
        assert alive.client().ping(), "the sweep disturbed a daemon whose owner is alive"

        namesake = DedicatedDaemon(run, "alive", DaemonBinaries.system())
        with pytest.raises(EnvironmentProblem, match="already exist"):
            namesake.start()
        namesake.stop()
        assert alive.client().ping(), "a namesake's start or stop disturbed the running daemon"
    assert not (REGISTRY / paths.run_id).exists(), "the swept CLI run stayed registered"
    _expect_clean(paths, daemon_ns, [pid, container_pid], [container_id])
    _expect_clean(alive.paths, None, [])


def test_owned_flags_are_refused_before_anything_is_created(run: RunIdentity) -> None:
    with pytest.raises(NetconformError, match="--data-root"):
        DedicatedDaemon(run, "refused", None, ["--data-root=/tmp/elsewhere"])
    assert DaemonPaths(f"{run.run_id}-refused").exists() == []
