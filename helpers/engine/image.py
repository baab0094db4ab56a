"""The probe image and the pause program every scenario container runs.

Nothing in the image is ever executed for observation, so any image works (even one built FROM
scratch): the container's only process is a static busybox ``sleep`` bind-mounted from the host.
The default probe image is a minimal rootfs with that busybox, imported through the API under a
content-addressed tag, so it is rebuilt only when its inputs change. No registry is needed.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import docker
import docker.errors

from netconform.errors import ImageMissing, ToolMissing

PROBE_REPOSITORY = "netconform-probe"
BUSYBOX = Path(os.environ.get("NETCONFORM_BUSYBOX", "/bin/busybox"))
PAUSE_DIR = Path(os.environ.get("NETCONFORM_CACHE_DIR", "/var/lib/netconform")) / "pause"
PAUSE_IN_CONTAINER = "/.netconform/busybox"
PAUSE_COMMAND = (PAUSE_IN_CONTAINER, "sleep", "2147483647")
# Bump when the layout below changes, so the tag (and therefore the image) changes with it.
_RECIPE = "probe-rootfs-v1"
_APPLETS = ("sh", "sleep", "ip", "ping", "nc", "cat", "ls", "hostname", "nslookup", "wget")


def _busybox_bytes() -> bytes:
    try:
        return BUSYBOX.read_bytes()
    except OSError as err:
        raise ToolMissing(
            f"{BUSYBOX} is missing ({err.strerror}): install Debian's busybox-static "
            "(apt-get install busybox-static) or set NETCONFORM_BUSYBOX to a static busybox"
        ) from err


def pause_binary() -> Path:
    """A content-addressed host copy of the static busybox, bind-mounted read-only into containers."""
    data = _busybox_bytes()
    target = PAUSE_DIR / f"busybox-{hashlib.sha256(data).hexdigest()[:16]}"
    if not target.exists():
        PAUSE_DIR.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        shutil.copyfile(BUSYBOX, partial)
        partial.chmod(0o755)
        partial.replace(target)
    return target


def probe_image_tag() -> str:
    digest = hashlib.sha256(_RECIPE.encode() + _busybox_bytes()).hexdigest()[:16]
    return f"{PROBE_REPOSITORY}:{digest}"


def _rootfs_tar(busybox: bytes) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory in ("bin", "etc", "tmp", "proc", "sys", "dev"):
            info = tarfile.TarInfo(directory)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if directory == "tmp" else 0o755
            tar.addfile(info)
        binary = tarfile.TarInfo("bin/busybox")
        binary.size = len(busybox)
        binary.mode = 0o755
        tar.addfile(binary, io.BytesIO(busybox))
        for applet in _APPLETS:
            link = tarfile.TarInfo(f"bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            tar.addfile(link)
    return buffer.getvalue()


def ensure_probe_image(client: docker.DockerClient) -> str:
    """Import the probe image unless an image with its content-addressed tag exists; return the tag."""
    tag = probe_image_tag()
    try:
        client.images.get(tag)
        return tag
    except docker.errors.ImageNotFound:
        pass
    repository, _, version = tag.partition(":")
    client.api.import_image_from_data(
        _rootfs_tar(_busybox_bytes()),
        repository=repository,
        tag=version,
        changes=['CMD ["/bin/busybox", "sleep", "2147483647"]', "LABEL io.netconform.probe=1"],
    )
    client.images.get(tag)
    return tag


def require_image(client: docker.DockerClient, reference: str) -> str:
    """Check that a user-chosen image is present locally (nothing can be pulled here).

    Raises:
        ImageMissing: the image is not in the daemon's image store.
    """
    try:
        client.images.get(reference)
    except docker.errors.ImageNotFound as err:
        raise ImageMissing(
            f"image {reference!r} is not present on the daemon and netconform never pulls; "
            f"load it first (docker load / docker import), or omit --image to use the built-in probe image"
        ) from err
    return reference
