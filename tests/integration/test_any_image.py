"""The suite needs nothing from the image: an image holding no program at all works."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def empty_image() -> Iterator[str]:
    """An image whose rootfs is one text file: no shell, no libc, no binaries."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        note = b"nothing to run here\n"
        info = tarfile.TarInfo("README")
        info.size = len(note)
        tar.addfile(info, io.BytesIO(note))
    client = docker.from_env()
    reference = "netconform-test-empty:1"
    client.api.import_image_from_data(buffer.getvalue(), repository="netconform-test-empty", tag="1")
    try:
        yield reference
    finally:
        client.images.remove(reference, force=True)
        client.close()


def test_scenarios_pass_with_an_image_without_any_program(empty_image: str) -> None:
    specs = ["suites/bridge.yaml", "suites/container.yaml", "suites/dns-custom.yaml", "suites/reach-loopback.yaml"]
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--image", empty_image, *specs],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout.splitlines()[-1] and "failed" not in result.stdout.splitlines()[-1]
