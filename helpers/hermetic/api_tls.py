"""A dedicated daemon's API over TCP with TLS, reached from this namespace: a throwaway CA, and a veth.

For labs that need a daemon reached as a remote host is (``netconform fleet`` over TCP with TLS):
:func:`make_certificates` makes a CA with ``openssl`` that signs one server certificate for the
daemons' addresses and one client certificate, as dockerd's "Protect the daemon socket" guide does;
:func:`daemon_flags` are the dockerd flags that serve the API with it; :func:`connect_veth` links
this namespace to a daemon's netns with a /30, as a route to a remote host would.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pyroute2 import IPRoute

from netconform.errors import ToolMissing
from netconform.hermetic.named_netns import run_in_netns

API_PORT = 2376  # dockerd's conventional TLS port
_OPENSSL_TIMEOUT = 60.0


@dataclass(frozen=True)
class LabCertificates:
    """The PEM files a lab's daemons and its client use; all in one folder."""

    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def client_cert(self) -> Path:
        return self.folder / "client.pem"

    @property
    def client_key(self) -> Path:
        return self.folder / "client-key.pem"

    def daemon_flags(self) -> list[str]:
        """dockerd flags: serve the API only to clients whose certificate this CA signed."""
        return ["--tlsverify", f"--tlscacert={self.ca}", f"--tlscert={self.folder / 'server.pem'}",
                f"--tlskey={self.folder / 'server-key.pem'}"]


def make_certificates(into: Path, addresses: list[str]) -> LabCertificates:
    """A CA (valid one day), a server certificate for ``addresses`` and a client certificate, in ``into``.

    Raises:
        ToolMissing: ``openssl`` is not installed.
    """
    if shutil.which("openssl") is None:
        raise ToolMissing("openssl is missing: it makes the lab's TLS certificates (apt-get install openssl)")
    into.mkdir(parents=True, exist_ok=True)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=netconform lab CA",
             "-keyout", "ca-key.pem", "-out", "ca.pem", cwd=into)
    (into / "server.ext").write_text("subjectAltName = " + ",".join(f"IP:{a}" for a in addresses)
                                     + "\nextendedKeyUsage = serverAuth\n")
    (into / "client.ext").write_text("extendedKeyUsage = clientAuth\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", f"{name}-key.pem",
                 "-out", f"{name}.csr", cwd=into)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca-key.pem", "-CAcreateserial",
                 "-days", "1", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=into)
    return LabCertificates(into)


def _openssl(*argv: str, cwd: Path) -> None:
    subprocess.run(["openssl", *argv], cwd=cwd, check=True, capture_output=True, timeout=_OPENSSL_TIMEOUT)


def link_addresses(links: ipaddress.IPv4Network, index: int) -> tuple[str, str]:
    """The ``index``-th /30 of ``links``: (this end, the daemon's end) as addresses."""
    subnet = list(links.subnets(new_prefix=30))[index]
    return str(subnet[1]), str(subnet[2])


def connect_veth(netns_path: str, outer: str, inner: str, here: str, there: str) -> None:
    """A veth from this namespace (``outer``, holding ``here``/30) into ``netns_path`` (``inner``,
    holding ``there``/30). It goes with that netns: no sweep is needed for it."""
    netns = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=outer, kind="veth", peer={"ifname": inner, "net_ns_fd": netns})
    finally:
        os.close(netns)
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=outer)[0]
        ipr.addr("add", index=index, address=here, prefixlen=30)
        ipr.link("set", index=index, state="up")
    run_in_netns(netns_path, _address_peer, inner, there, what=f"addressing {inner}")


def _address_peer(name: str, address: str) -> None:
    with IPRoute() as ipr:
        index = ipr.link_lookup(ifname=name)[0]
        ipr.addr("add", index=index, address=address, prefixlen=30)
        ipr.link("set", index=index, state="up")
