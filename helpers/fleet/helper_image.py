"""The helper image: this host's Python with its stdlib and shared libraries, netconform with its
dependencies, and the few host tools the suite reads with, as a rootfs imported through the API.

No registry and no Dockerfile: the rootfs is assembled from the files the running interpreter uses,
so the helper runs exactly the netconform installed here. Every path keeps its place (the
interpreter finds its stdlib where it was built to), the packages go to :data:`SITE` on
``PYTHONPATH``. The tag is content-addressed: a host that has it already is not sent it again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import io
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
from packaging.requirements import Requirement

from netconform.engine.image import BUSYBOX
from netconform.errors import NetconformError, ToolMissing
from netconform.spec.shipped import profiles_dir, suites_dir

HELPER_REPOSITORY = "netconform-fleet"
LABEL_HELPER = "io.netconform.fleet-helper"
SITE = "/opt/netconform/site"
# Parts of the stdlib the suite never imports (and the static libpython in config-*).
_STDLIB_SKIP = re.compile(r"^(site-packages|dist-packages|test|idlelib|tkinter|turtledemo|ensurepip|lib2to3|"
                          r"pydoc_data|config-.*)$")
# Host tools the suite reads settings, firewall layouts and packets with; each is optional there.
_TOOLS = ("iptables", "ip6tables", "iptables-save", "ip6tables-save", "nft", "tcpdump")
# The commands testinfra runs here; chroot runs the host's own (its package manager, os-release)
# in pid 1's root (netconform.observe.hostinfo).
_APPLETS = ("uname", "cat", "ls", "readlink", "stat", "sysctl", "head", "grep", "id", "env", "test", "chroot")
_LDD_TIMEOUT = 20.0
# ldd prints "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)" and "/lib64/ld-linux-x86-64.so.2 (0x...)".
_LDD_PATH = re.compile(r"(?:=>\s*)?(/\S+)\s+\(0x")


@dataclass(frozen=True)
class HelperImage:
    """The rootfs tar, its tag and where the interpreter is inside it."""

    tag: str
    tar: bytes
    python: str


def build_helper_image() -> HelperImage:
    """Assemble the rootfs of the running netconform (a few seconds; some tens of MB).

    Raises:
        ToolMissing: ``ldd`` or the static busybox is missing.
    """
    python = Path(sys.executable).resolve()
    files: dict[str, Path] = {str(python): python}
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files.update(_stdlib(stdlib))
    files.update(_site_packages())
    own = metadata.distribution("netconform")
    # Its metadata written anew (an editable install's, or a checkout's egg-info, lives elsewhere):
    # the pytest11 entry point is how `pytest -p netconform` finds the plugin.
    info = f"{SITE}/netconform-{own.version}.dist-info"
    generated = {f"{info}/METADATA": f"Metadata-Version: 2.1\nName: netconform\nVersion: {own.version}\n".encode(),
                 f"{info}/entry_points.txt": (own.read_text("entry_points.txt") or "").encode()}
    if not BUSYBOX.is_file():
        raise ToolMissing(f"{BUSYBOX} is missing: install busybox-static (the suite's pause program)")
    files["/bin/busybox"] = BUSYBOX
    # A plain sh for the commands testinfra runs: busybox's would offer its applets (rpm...) as
    # commands, and testinfra would take the host for an RPM system.
    shell = Path("/bin/sh").resolve()
    files[str(shell)] = shell
    links = {"/bin/sh": str(shell), **{f"/bin/{applet}": "busybox" for applet in _APPLETS}}
    for tool in _TOOLS:
        found = shutil.which(tool)
        if found:
            real = Path(found).resolve()
            files[str(real)] = real
            if str(real) != found:
                links[found] = str(real)
    for modules in Path("/usr/lib").glob("*/xtables"):  # iptables' match and target modules
        files.update({str(module): module for module in modules.glob("*.so")})
    files.update(_shared_libraries([path for path in files.values() if _is_elf(path)]))
    tar = _tar(files, links, generated)
    return HelperImage(f"{HELPER_REPOSITORY}:{hashlib.sha256(tar).hexdigest()[:16]}", tar, str(python))


def ensure_helper_image(client: docker.DockerClient, image: HelperImage, labels: dict[str, str]) -> bool:
    """Import ``image`` into the daemon of ``client`` unless it has it; whether it was imported now."""
    try:
        client.images.get(image.tag)
        return False
    except docker.errors.ImageNotFound:
        pass
    repository, _, version = image.tag.partition(":")
    changes = [f"ENV PYTHONPATH={SITE}", "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin", f"LABEL {LABEL_HELPER}=1",
               *(f"LABEL {key}={value}" for key, value in labels.items())]
    client.api.import_image_from_data(image.tar, repository=repository, tag=version, changes=changes)
    client.images.get(image.tag)
    return True


def _stdlib(stdlib: Path) -> Iterator[tuple[str, Path]]:
    for path in sorted(stdlib.rglob("*")):
        relative = path.relative_to(stdlib)
        if (_STDLIB_SKIP.match(relative.parts[0]) or not path.is_file() or ".opt-" in path.name
                or path.name.startswith("_tkinter")):
            continue
        yield str(path), path


def _site_packages() -> dict[str, Path]:
    """netconform (its package folder, shipped scenarios and profiles) and every distribution it
    requires, at :data:`SITE`."""
    import netconform

    package = Path(netconform.__file__).parent
    files = {f"{SITE}/netconform/{path.relative_to(package)}": path for path in _tree(package)}
    for folder, name in ((suites_dir(), "suites"), (profiles_dir(), "profiles")):
        files.update({f"{SITE}/netconform/{name}/{path.name}": path for path in folder.glob("*.yaml")})
    for dist in _requirements(metadata.distribution("netconform")):
        files.update(_dist_files(dist))
    return files


def _requirements(root: metadata.Distribution) -> list[metadata.Distribution]:
    """The distributions ``root`` requires, transitively (extras not asked for are left out)."""
    found: dict[str, metadata.Distribution] = {}
    pending = [root]
    while pending:
        for text in pending.pop().requires or []:
            requirement = Requirement(text)
            if requirement.marker and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = requirement.name.lower().replace("_", "-")
            if name in found:
                continue
            try:
                found[name] = metadata.distribution(requirement.name)
            except metadata.PackageNotFoundError as err:
                raise NetconformError(f"netconform requires {requirement.name}, which is not installed "
                                      f"here: the helper image cannot be assembled") from err
            pending.append(found[name])
    return list(found.values())


def _dist_files(dist: metadata.Distribution) -> Iterator[tuple[str, Path]]:
    for entry in dist.files or []:
        if entry.parts[0] == ".." or "__pycache__" in entry.parts:  # scripts in bin/, caches
            continue
        path = Path(str(dist.locate_file(entry)))
        if path.is_file():
            yield f"{SITE}/{entry.as_posix()}", path


def _tree(folder: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path


def _is_elf(path: Path) -> bool:
    if path.suffix in (".py", ".pyc", ".pyi", ".txt", ".yaml", ".json", ".html", ".typed"):
        return False
    with path.open("rb") as handle:
        return handle.read(4) == b"\x7fELF"


def _shared_libraries(binaries: list[Path]) -> dict[str, Path]:
    """Every shared library the binaries load, at the path the loader looks for it."""
    ldd = shutil.which("ldd")
    if ldd is None:
        raise ToolMissing("ldd is missing (it comes with libc-bin): needed to assemble the helper image")
    found: dict[str, Path] = {}
    for binary in binaries:
        # ldd's text is the only interface to the loader's resolution; a static binary has none.
        done = subprocess.run([ldd, str(binary)], capture_output=True, text=True, timeout=_LDD_TIMEOUT, check=False)
        for match in _LDD_PATH.finditer(done.stdout):
            found[match.group(1)] = Path(match.group(1)).resolve()
    return found


def _tar(files: dict[str, Path], links: dict[str, str], generated: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for directory, mode in (("tmp", 0o1777), ("proc", 0o555), ("sys", 0o555), ("dev", 0o755),
                                ("run", 0o755), ("run/netns", 0o755), ("etc", 0o755), ("out", 0o755)):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, mode
            tar.addfile(info)
        run = tarfile.TarInfo("var/run")
        run.type, run.linkname = tarfile.SYMTYPE, "/run"
        tar.addfile(run)
        for name in sorted(files):
            source = files[name]
            # A symlink (a library's soname) is stored as its target's content under its own name.
            info = tar.gettarinfo(str(source.resolve()), arcname=name.lstrip("/"))
            if not info.isfile():
                continue
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            with source.open("rb") as handle:
                tar.addfile(info, handle)
        for name, data in sorted(generated.items()):
            info = tarfile.TarInfo(name.lstrip("/"))
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
        for name, target in sorted(links.items()):
            link = tarfile.TarInfo(name.lstrip("/"))
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
    return buffer.getvalue()


def describe(image: HelperImage) -> str:
    """``tag (N MB)`` for progress lines."""
    return f"{image.tag} ({len(image.tar) / 1e6:.0f} MB)"

