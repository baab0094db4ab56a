"""Packet captures inside network namespaces, for the evidence of a failing probe.

tcpdump runs on the host, joined to the namespace with nsenter (nothing from the image), writes a
pcap per namespace, and is stopped after the probe is replayed. The files open in tcpdump -r or
Wireshark. Every wait is bounded.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from netconform.errors import ToolMissing

PCAP_HEADER = 24
START_TIMEOUT = 5.0
STOP_TIMEOUT = 5.0


def _tcpdump() -> str:
    path = shutil.which("tcpdump")
    if path is None:
        raise ToolMissing("tcpdump is missing, so no packet capture can be kept: apt-get install tcpdump")
    return path


@contextmanager
def capturing(namespaces: Mapping[str, str], directory: Path, stem: str,
              only: str | None = None) -> Iterator[list[Path]]:
    """Capture on every interface of each named netns while the block runs; yield the pcap paths.
    ``only``: a pcap-filter expression the packets must match (everything when None)."""
    tcpdump = _tcpdump()
    directory.mkdir(parents=True, exist_ok=True)
    processes: list[tuple[subprocess.Popen[bytes], Path]] = []
    try:
        for label, netns in namespaces.items():
            path = directory / f"{stem}.{label}.pcap"
            path.unlink(missing_ok=True)
            # --immediate-mode: without it packets wait in the ring buffer and are lost when stopped.
            command = ["nsenter", f"--net={netns}", tcpdump, "-i", "any", "--immediate-mode", "-U", "-n",
                       "-s", "262144", "-Z", "root", "-w", str(path), *([only] if only else [])]
            processes.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE),
                              path))
        deadline = time.monotonic() + START_TIMEOUT
        # tcpdump writes the pcap header once it has opened the capture: then it is listening.
        while not all(path.exists() and path.stat().st_size >= PCAP_HEADER for _, path in processes):
            if time.monotonic() > deadline or any(process.poll() is not None for process, _ in processes):
                break
            time.sleep(0.02)
        time.sleep(0.1)
        yield [path for _, path in processes]
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process, _ in processes:
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stderr is not None:
                process.stderr.close()
