"""Whether the kernel accepts an IPsec ESP state: one XFRM_MSG_NEWSA over a raw netlink socket.

pyroute2 has no xfrm state messages, so the request is packed here (linux/xfrm.h, x86-64 and
aarch64 layout). ESP needs the xfrm framework, the esp4 type and the algorithms; the kernel
checks all three when it builds the state, so one accepted state proves them. Only ever sent from
a child inside a throwaway network namespace (:mod:`netconform.hermetic.kernel_features`): the
state goes with that namespace.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct

NETLINK_XFRM = 6
XFRM_MSG_NEWSA = 0x10
XFRMA_ALG_AUTH = 1
XFRMA_ALG_CRYPT = 2
_SOL_NETLINK = 270
_NETLINK_EXT_ACK = 11
_NLMSG_ERROR = 2
_NLM_F_REQUEST, _NLM_F_ACK, _NLM_F_CREATE, _NLM_F_EXCL = 0x1, 0x4, 0x400, 0x200
_NLMSGERR_ATTR_MSG = 1
_IPPROTO_ESP = 50
_XFRM_MODE_TRANSPORT = 0
_USERSA_INFO_SIZE = 224  # sizeof(struct xfrm_usersa_info)
_ALG_NAME_SIZE = 64
_BOUND = 5.0


def _algo(name: str, key: bytes) -> bytes:
    """struct xfrm_algo: the name (64 bytes), the key length in bits, the key."""
    return struct.pack(f"={_ALG_NAME_SIZE}sI", name.encode(), len(key) * 8) + key


def _attr(kind: int, payload: bytes) -> bytes:
    length = 4 + len(payload)
    return struct.pack("=HH", length, kind) + payload + b"\0" * (-length % 4)


def newsa_request(sequence: int = 1) -> bytes:
    """An XFRM_MSG_NEWSA for 192.0.2.1 -> 192.0.2.2, ESP transport mode, cbc(aes) + hmac(sha256)."""
    info = bytearray(_USERSA_INFO_SIZE)
    # xfrm_selector (0..56): family at 40.
    struct.pack_into("=H", info, 40, socket.AF_INET)
    # xfrm_id (56..80): daddr, spi (network order), proto.
    info[56:60] = socket.inet_aton("192.0.2.2")
    struct.pack_into("!I", info, 72, 0x4E43)
    info[76] = _IPPROTO_ESP
    info[80:84] = socket.inet_aton("192.0.2.1")  # saddr
    # xfrm_lifetime_cfg (96..160): byte and packet limits "infinite".
    struct.pack_into("=QQQQ", info, 96, *([2**64 - 1] * 4))
    # family (212), mode (214).
    struct.pack_into("=HB", info, 212, socket.AF_INET, _XFRM_MODE_TRANSPORT)
    body = bytes(info) + _attr(XFRMA_ALG_CRYPT, _algo("cbc(aes)", b"\x11" * 16)) + _attr(
        XFRMA_ALG_AUTH, _algo("hmac(sha256)", b"\x22" * 32))
    flags = _NLM_F_REQUEST | _NLM_F_ACK | _NLM_F_CREATE | _NLM_F_EXCL
    return struct.pack("=IHHII", 16 + len(body), XFRM_MSG_NEWSA, flags, sequence, 0) + body


def parse_ack(reply: bytes) -> str:
    """'' for a positive acknowledgement, else the error (and the kernel's message, if it sent one)."""
    length, kind, flags, _, _ = struct.unpack_from("=IHHII", reply)
    if kind != _NLMSG_ERROR:
        return f"unexpected netlink answer type {kind}"
    (code,) = struct.unpack_from("=i", reply, 16)
    if code == 0:
        return ""
    words = f"{os.strerror(-code)}"
    # With extended acks the original header (capped) follows, then attributes.
    (orig_len,) = struct.unpack_from("=I", reply, 20)
    offset = 20 + (16 if flags & 0x100 else orig_len)  # NLM_F_CAPPED
    while offset + 4 <= min(length, len(reply)):
        attr_len, attr_kind = struct.unpack_from("=HH", reply, offset)
        if attr_len < 4:
            break
        if attr_kind == _NLMSGERR_ATTR_MSG:
            message = reply[offset + 4: offset + attr_len].rstrip(b"\0").decode(errors="replace")
            words = f"{message} ({words})"
        offset += attr_len + (-attr_len % 4)
    return f"xfrm state with proto esp: {words}"


def try_esp_state() -> str:
    """Ask the kernel (of the calling namespace) for an ESP state; '' when it accepted."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_XFRM)
    except OSError as err:
        return f"netlink xfrm socket: {err.strerror}"
    with sock:
        sock.settimeout(_BOUND)
        with contextlib.suppress(OSError):  # an old kernel: the errno alone
            sock.setsockopt(_SOL_NETLINK, _NETLINK_EXT_ACK, 1)
        sock.bind((0, 0))
        sock.send(newsa_request())
        return parse_ack(sock.recv(65536))
