"""Nothing is created before validation passes: a run given one valid and one invalid spec (or a
valid spec and an invalid profile) ends with exit 10, and the daemon and the host show nothing of it.

Asked of the daemon itself: its event stream over the run's whole lifetime has no create of a
container or network (labelled ``io.netconform.*`` or not, so one removed at once counts too),
its labelled objects are those of before, and no netns appeared in /run/netns (where the sentinel
host lives). Run it under the host lock (``flock /tmp/netconform-host.lock``), as everything that
talks to the daemon: another run's objects would be counted.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from netconform.hermetic.named_netns import NETNS_DIR
from netconform.hermetic.runs import LABEL_RUN

ROOT = Path(__file__).resolve().parents[2]
MALFORMED = ROOT / "tests" / "data" / "malformed"
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (the daemon's socket, /run/netns)")


def _labelled(client: Any) -> set[str]:
    containers = client.containers.list(all=True, filters={"label": LABEL_RUN})
    networks = client.networks.list(filters={"label": LABEL_RUN})
    return {f"container {c.id}" for c in containers} | {f"network {n.id}" for n in networks}


def _netns() -> set[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    on_disk = set(os.listdir(NETNS_DIR)) if NETNS_DIR.is_dir() else set()
    return {line.split()[0] for line in listed.splitlines() if line.strip()} | on_disk


def _creates(client: Any, since: float, until: float) -> list[str]:
    """Containers and networks the daemon created between ``since`` and ``until``."""
    events = client.events(since=int(since), until=int(until) + 1, decode=True,
                           filters={"type": ["container", "network"], "event": ["create"]})
    return [f"{event['Type']} {event.get('Actor', {}).get('Attributes', {}).get('name', '?')}" for event in events]


def _run_untouched(client: Any, folder: Path, *options: str) -> subprocess.CompletedProcess[str]:
    objects, namespaces, start = _labelled(client), _netns(), time.time()
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider",
                             *options, str(folder)], cwd=folder, capture_output=True, text=True, timeout=300)
    end = time.time()
    assert result.returncode == 10, result.stdout + result.stderr
    assert "nothing was created" in result.stderr and "Traceback" not in result.stdout + result.stderr
    assert _creates(client, start, end) == []
    assert _labelled(client) == objects
    assert _netns() == namespaces
    return result


def test_a_valid_and_an_invalid_spec(client: Any, tmp_path: Path) -> None:
    shutil.copy(ROOT / "suites" / "custom.yaml", tmp_path / "custom.yaml")  # networks, containers, a sentinel
    shutil.copy(MALFORMED / "spec" / "misspelt-container-key.txt", tmp_path / "broken.yaml")
    result = _run_untouched(client, tmp_path)
    assert result.stderr.startswith("netconform: 1 invalid scenario spec(s); nothing was created.\n  broken.yaml:2:")


def test_a_valid_spec_and_an_invalid_profile(client: Any, tmp_path: Path) -> None:
    specs = tmp_path / "specs"  # the profile apart, or the run would read it as a scenario too
    specs.mkdir()
    shutil.copy(ROOT / "suites" / "reach-egress.yaml", specs / "egress.yaml")
    shutil.copy(MALFORMED / "profile" / "wrong-kind.txt", tmp_path / "profile.yml")
    result = _run_untouched(client, specs, "--profile", str(tmp_path / "profile.yml"))
    assert result.stderr.startswith("netconform: an invalid profile; nothing was created.\n  ")
    assert "profile.yml:2: settings.icc: 'yes' is not a value of this setting" in result.stderr


def test_the_check_sees_a_run_that_does_create(client: Any, tmp_path: Path) -> None:
    """The same observation, on a valid run, sees its creates (so an empty list above means something)."""
    shutil.copy(ROOT / "suites" / "none.yaml", tmp_path / "none.yaml")
    start = time.time()
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "netconform", "-p", "no:cacheprovider", "-q",
                             str(tmp_path)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    assert any(create.startswith("container ") for create in _creates(client, start, time.time()))
