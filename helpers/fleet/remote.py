"""One host of a fleet run: the suite runs *on* that host, in a helper container started through its API.

The suite observes from inside namespaces, so it cannot test a daemon from outside its machine. The
helper container brings it there: the helper image (:mod:`netconform.fleet.helper_image`), run
with the host's pid and network namespaces and the daemon's socket mounted where it is
on the host, so the suite finds dockerd's process and enters containers' namespaces as it does
locally. The scenario files and the profile are copied in before it starts; its report directory is
copied out after it ends. The helper container, and the images only this run sent, are removed in a
``finally``.

Everything created carries :data:`LABEL_FLEET_RUN`, not the suite's run label: the suite inside
sweeps containers whose run label names a process not alive *on that host*, and this process does
not run there.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tarfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.tls
import requests

from netconform.engine.image import PAUSE_DIR, ensure_probe_image, probe_image_tag
from netconform.errors import Interrupted, NetconformError
from netconform.fleet.helper_image import HelperImage, ensure_helper_image
from netconform.fleet.hosts import FleetHost
from netconform.hermetic.runs import RunIdentity, owner_alive
from netconform.report.diff import BadReport, load_report

LABEL_FLEET_RUN = "io.netconform.fleet.run"
# Which machine and process started a helper: a later fleet run from the same machine removes
# helpers whose starter is gone (killed before its finally ran); another machine's are never touched.
LABEL_FLEET_ORIGIN = "io.netconform.fleet.origin"
LABEL_FLEET_OWNER = "io.netconform.fleet.owner"
API_TIMEOUT = 120.0  # one API call; importing the helper image is the longest
API_VERSION = "1.41"  # Docker 20.10, the oldest engine netconform runs on; newer ones speak it too
UNWIND_BOUND = 120  # seconds the suite may take to tear its scenarios down when stopped
CANCEL_GRACE = 20  # the same on Ctrl-C of the fleet run, where the user waits
LOG_LINES = 12  # of the helper's output in an error row
INPUT_DIR = "/in"
OUTPUT_DIR = "/out"
# What the suite does on the host: enter namespaces and mount (SYS_ADMIN), read other processes'
# namespaces and roots (SYS_PTRACE, DAC_*), make veths and netns, raw sockets. Named instead of
# --privileged: runc fails to apply "all" capabilities where the daemon's own bounding set lacks one
# (as on a host whose dockerd runs without CAP_SYS_RESOURCE).
CAPABILITIES = ("SYS_ADMIN", "NET_ADMIN", "NET_RAW", "SYS_PTRACE", "DAC_OVERRIDE", "DAC_READ_SEARCH", "SYS_CHROOT",
                "KILL", "FOWNER", "CHOWN", "SETUID", "SETGID", "MKNOD", "IPC_LOCK")
# Without them /proc/sys is read-only and seccomp refuses setns/unshare/mount.
# (--security-opt systempaths=unconfined of the CLI is MaskedPaths and ReadonlyPaths emptied.)
SECURITY = ("seccomp=unconfined", "apparmor=unconfined")


@dataclass(frozen=True)
class SuiteSelection:
    """What every helper runs: scenario files (None: the shipped ones) and pytest's selection."""

    scenarios: Sequence[Path] = ()
    keyword: str | None = None
    markers: str | None = None
    workers: str | None = None
    profile: str | None = None  # for hosts that name none
    timeout: float = 900.0  # for one host's suite


@dataclass
class HostRun:
    """What came back from one host: its report, or why there is none."""

    host: FleetHost
    report: dict[str, Any] | None = None
    exit_code: int | None = None  # the suite's, in the helper
    error: str = ""
    seconds: float = 0.0
    daemon_version: str = ""
    notes: list[str] = field(default_factory=list)
    stage: str = "connecting"  # what was under way, for the error


def connect(host: FleetHost) -> docker.DockerClient:
    """A client for ``host``'s API (TLS-verified when it names TLS material)."""
    if host.tls is None:
        return docker.DockerClient(base_url=host.docker_host, timeout=int(API_TIMEOUT))
    tls = docker.tls.TLSConfig(client_cert=(str(host.tls.cert), str(host.tls.key)), ca_cert=str(host.tls.ca),
                               verify=True)
    # requests lets $REQUESTS_CA_BUNDLE override the CA a session verifies with (psf/requests#3829):
    # the client must not read the environment. The API version is then named, as asking the daemon
    # for it would already read it.
    client = docker.DockerClient(base_url=host.docker_host, tls=tls, timeout=int(API_TIMEOUT), version=API_VERSION)
    client.api.trust_env = False
    return client


def run_on_host(host: FleetHost, image: HelperImage, selection: SuiteSelection, into: Path, run_id: str,
                cancelled: threading.Event | None = None) -> HostRun:
    """Run the suite on ``host`` and bring its report to ``into``; never raises for the host's sake.

    An unreachable host, a refused image or container, a suite that ends without a report: each is
    the ``error`` of the returned row, so one host cannot stop the fleet. Once ``cancelled`` is set
    no helper is started; one already running is stopped by :func:`stop_helpers`, and this still
    brings back what it wrote and removes what it sent.
    """
    result = HostRun(host)
    began = time.monotonic()
    try:
        _run(host, image, selection, into, run_id, result, cancelled or threading.Event())
    except (docker.errors.DockerException, requests.RequestException, NetconformError, OSError) as err:
        result.error = result.error or _one_line(f"{result.stage}: {err}")
    finally:
        result.seconds = time.monotonic() - began
    if cancelled is not None and cancelled.is_set() and result.report is None:
        result.error = _one_line(f"interrupted while {result.stage}: {result.error}")
    return result


def _run(host: FleetHost, image: HelperImage, selection: SuiteSelection, into: Path, run_id: str,
         result: HostRun, cancelled: threading.Event) -> None:
    labels = {LABEL_FLEET_RUN: run_id, LABEL_FLEET_ORIGIN: socket.gethostname(),
              LABEL_FLEET_OWNER: RunIdentity.owned_by(run_id, os.getpid()).owner}
    if cancelled.is_set():  # queued behind --parallel when Ctrl-C came
        raise Interrupted("the fleet run was interrupted before this host's turn")
    result.stage = f"cannot reach the daemon at {host.docker_host}"
    client = connect(host)
    sent: list[str] = []  # images this run imported: removed again
    container = None
    try:
        result.daemon_version = str(client.version().get("Version", ""))
        result.notes += [f"removed {name}, left by a fleet run that died" for name in sweep_dead_helpers(client)]
        result.stage = "sending the images"
        if ensure_helper_image(client, image, labels):
            sent.append(image.tag)
        if not client.images.list(name=probe_image_tag()):
            sent.append(ensure_probe_image(client))
        result.stage = "starting the helper container"
        container = _create(client, host, image, selection, labels, f"netconform-fleet-{run_id}-{host.name}")
        # After the create: a cancel that came before it is seen here, one after it finds the container.
        if cancelled.is_set():
            raise Interrupted("the fleet run was interrupted before the suite started")
        container.put_archive("/", _inputs(host, selection))
        container.start()
        result.stage = "waiting for the suite"
        _wait(container, selection.timeout, result)
        result.stage = "copying the report out"
        into.mkdir(parents=True, exist_ok=True)
        (into / "helper.log").write_bytes(container.logs(stdout=True, stderr=True))
        _copy_out(container, into)
        _read_report(into, result)
    finally:
        if container is not None:
            _quietly(result, "helper container", container.remove, force=True)
        for tag in sent:
            _quietly(result, f"image {tag}", client.images.remove, tag, force=True)
        client.close()


def stop_helpers(host: FleetHost, run_id: str, *, remove: bool, grace: float = CANCEL_GRACE) -> list[str]:
    """Stop the helper containers of fleet run ``run_id`` on ``host`` (and remove them if ``remove``);
    their names.

    Stopped with SIGTERM first, so the suite inside tears its scenarios down within ``grace``; left
    in place otherwise, so the thread running that host copies out what the suite wrote.
    """
    client = connect(host)
    try:
        found = client.containers.list(all=True, filters={"label": f"{LABEL_FLEET_RUN}={run_id}"})
        for container in found:
            container.stop(timeout=int(grace))
            if remove:
                container.remove(force=True)
        return [container.name for container in found]
    finally:
        client.close()


def sweep_dead_helpers(client: docker.DockerClient) -> list[str]:
    """Remove helper containers this machine started for fleet runs whose process is gone."""
    origin = socket.gethostname()
    swept = []
    for container in client.containers.list(all=True, filters={"label": [LABEL_FLEET_RUN,
                                                                          f"{LABEL_FLEET_ORIGIN}={origin}"]}):
        owner = container.labels.get(LABEL_FLEET_OWNER, "")
        if owner and not owner_alive(owner):
            container.remove(force=True)
            swept.append(container.name)
    return swept


def _create(client: docker.DockerClient, host: FleetHost, image: HelperImage, selection: SuiteSelection,
            labels: dict[str, str], name: str) -> Any:
    """The helper container, created (not started)."""
    # The socket where it is on the host, so the suite finds dockerd by it; the pause program's
    # folder, because the daemon bind-mounts it into scenario containers from the host's files.
    binds = [f"{host.socket}:{host.socket}", f"{PAUSE_DIR}:{PAUSE_DIR}"]
    config = client.api.create_host_config(binds=binds, pid_mode="host", network_mode="host",
                                           cap_add=list(CAPABILITIES), security_opt=list(SECURITY))
    config.update(MaskedPaths=[], ReadonlyPaths=[])  # not offered by the SDK
    created = client.api.create_container(image.tag, _command(host, image, selection), name=name, labels=labels,
                                          working_dir=INPUT_DIR, host_config=config,
                                          environment={"HOME": "/tmp", "PYTHONDONTWRITEBYTECODE": "1"})
    return client.containers.get(created["Id"])


def _command(host: FleetHost, image: HelperImage, selection: SuiteSelection) -> list[str]:
    argv = [image.python, "-m", "netconform", "run", "--docker-host", f"unix://{host.socket}",
            "--report-dir", OUTPUT_DIR, "-q"]
    profile = host.profile or selection.profile
    if profile:
        argv += ["--profile", f"{INPUT_DIR}/profile.yaml" if Path(profile).is_file() else profile]
    for flag, value in (("-k", selection.keyword), ("-m", selection.markers), ("-n", selection.workers)):
        if value:
            argv += [flag, value]
    return argv + [_inside(path) for path in selection.scenarios]


def _inside(path: Path) -> str:
    """Where a scenario path goes under the helper's working directory: as given when it is relative
    (report ids then match a local run's), else under ``scenarios/``."""
    if not path.is_absolute() and ".." not in path.parts:
        return path.as_posix()
    return f"scenarios/{path.name}"


def _inputs(host: FleetHost, selection: SuiteSelection) -> bytes:
    """A tar of the scenario files and the profile file, rooted at /."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in selection.scenarios:
            files = sorted(path.rglob("*.yaml")) if path.is_dir() else [path]
            for file in files:
                relative = Path(_inside(path)) / file.relative_to(path) if path.is_dir() else Path(_inside(path))
                tar.add(str(file), arcname=f"{INPUT_DIR.lstrip('/')}/{relative.as_posix()}")
        profile = host.profile or selection.profile
        if profile and Path(profile).is_file():
            tar.add(profile, arcname=f"{INPUT_DIR.lstrip('/')}/profile.yaml")
    return buffer.getvalue()


def _wait(container: Any, timeout: float, result: HostRun) -> None:
    try:
        outcome = container.wait(timeout=timeout)
    except requests.RequestException:
        # Stopped like Ctrl-C: the suite tears its scenarios down within the bound.
        container.stop(timeout=UNWIND_BOUND)
        result.error = f"the suite did not finish within {timeout:g}s; stopped"
        raise
    result.exit_code = int(outcome.get("StatusCode", -1))


def _copy_out(container: Any, into: Path) -> None:
    """The helper's report directory, extracted into ``into`` (report.json, report.html, evidence/)."""
    stream, _ = container.get_archive(OUTPUT_DIR)
    data = io.BytesIO(b"".join(stream))
    prefix = Path(OUTPUT_DIR).name + "/"
    with tarfile.open(fileobj=data) as tar:
        members = []
        for member in tar.getmembers():
            if member.name.startswith(prefix):
                member.name = member.name[len(prefix):]
                members.append(member)
        shutil.rmtree(into / "evidence", ignore_errors=True)
        tar.extractall(into, members=members, filter="data")


def _read_report(into: Path, result: HostRun) -> None:
    if result.exit_code not in (0, 1):
        tail = (into / "helper.log").read_text(errors="replace").strip().splitlines()[-LOG_LINES:]
        result.error = f"the suite ended with exit code {result.exit_code}: " + " | ".join(tail)
        return
    try:
        result.report = load_report(into / "report.json")
    except BadReport as err:
        result.error = str(err)


def _quietly(result: HostRun, what: str, action: Any, *args: Any, **kwargs: Any) -> None:
    """Removal in a finally: a failure is noted on the row, and the other removals still run."""
    try:
        action(*args, **kwargs)
    except docker.errors.NotFound:
        pass  # removed already (by stop_helpers on Ctrl-C)
    except (docker.errors.DockerException, requests.RequestException) as err:
        result.notes.append(_one_line(f"could not remove the {what}: {err}"))


def _one_line(text: str) -> str:
    return " ".join(text.split())
