"""Kernel feature requirements: the probe's bookkeeping, the xfrm message, and what specs may say.

The probe's answers are faked here (the logic around them is pure); the real probe, and a scenario
skipped or run by it, are in tests/integration/test_kernel_features.py.
"""

from __future__ import annotations

import struct
import textwrap
from pathlib import Path

import pytest

from netconform.errors import SpecError
from netconform.facts.kernel import KERNEL_FEATURES, KernelFeature
from netconform.hermetic.kernel_features import FeatureProbe
from netconform.hermetic.xfrm_probe import XFRM_MSG_NEWSA, newsa_request, parse_ack
from netconform.spec import load_scenario
from netconform.spec.schema import schema


class FakeKernel:
    """A kernel with only ``present``; records what it was asked, call by call."""

    def __init__(self, *present: str) -> None:
        self.present = set(present)
        self.asked: list[list[str]] = []

    def __call__(self, names: list[str]) -> dict[str, KernelFeature]:
        self.asked.append(list(names))
        return {name: KernelFeature(name, name in self.present, "" if name in self.present else
                                    "Unknown device type (EOPNOTSUPP)") for name in names}


def test_missing_features_come_back_in_the_order_required_with_the_kernels_words() -> None:
    probe = FeatureProbe(FakeKernel("veth", "macvlan"))
    missing = probe.missing(["ipvlan", "veth", "esp", "macvlan"])
    assert [feature.name for feature in missing] == ["ipvlan", "esp"]
    assert missing[0].skip_reason() == "kernel has no ipvlan: Unknown device type (EOPNOTSUPP)"


def test_each_feature_is_probed_once_per_probe_object() -> None:
    kernel = FakeKernel("veth")
    probe = FeatureProbe(kernel)
    probe.missing(["veth", "ipvlan"])
    probe.missing(["ipvlan", "veth"])
    probe.missing(["ipvlan", "dummy"])
    assert kernel.asked == [["veth", "ipvlan"], ["dummy"]]


def test_an_unknown_feature_name_is_refused_before_probing() -> None:
    kernel = FakeKernel()
    with pytest.raises(ValueError, match="unknown kernel feature 'quantum'"):
        FeatureProbe(kernel).features(["veth", "quantum"])
    assert kernel.asked == []


def test_the_schema_lists_exactly_the_known_features() -> None:
    assert schema()["properties"]["requires"]["items"]["enum"] == list(KERNEL_FEATURES)


def test_the_esp_request_has_the_kernels_layout() -> None:
    message = newsa_request(sequence=7)
    length, kind, _, sequence, _ = struct.unpack_from("=IHHII", message)
    assert (length, kind, sequence) == (len(message), XFRM_MSG_NEWSA, 7)
    assert message[16 + 76] == 50  # xfrm_id.proto: ESP
    # Two algorithm attributes follow the 224-byte xfrm_usersa_info: 4 + 64 + 4 + key, padded.
    assert len(message) == 16 + 224 + (4 + 68 + 16) + (4 + 68 + 32)


def _ack(code: int, message: bytes = b"") -> bytes:
    original = struct.pack("=IHHII", 16, XFRM_MSG_NEWSA, 0, 1, 0)
    attrs = struct.pack("=HH", 4 + len(message) + 1, 1) + message + b"\0" if message else b""
    attrs += b"\0" * (-len(attrs) % 4)
    body = struct.pack("=i", code) + original + attrs
    return struct.pack("=IHHII", 16 + len(body), 2, 0x100 if message else 0, 1, 0) + body


def test_an_acknowledged_state_means_present_and_a_refusal_carries_the_kernels_message() -> None:
    assert parse_ack(_ack(0)) == ""
    refused = parse_ack(_ack(-93, b"Requested type not found"))
    assert refused == "xfrm state with proto esp: Requested type not found (Protocol not supported)"


def scenario(tmp_path: Path, text: str) -> SpecError | None:
    path = tmp_path / "scn.yaml"
    path.write_text(textwrap.dedent(text))
    try:
        load_scenario(path, "scn.yaml")
    except SpecError as err:
        return err
    return None


MACVLAN = """\
    requires: [vxlan]
    segment: {subnet: 10.233.0.0/24, sentinel: 10.233.0.254, host: 10.233.0.253}
    networks:
      lan:
        driver: macvlan
        subnet: 10.233.0.0/24
        options: {parent: "${segment.parent}"}
    containers:
      a: {network: lan}
    expect:
      a: {interface: {eth0: {mac: {not: "${segment.parent_mac}"}}}}
"""


def test_drivers_and_a_segment_imply_features_after_the_declared_ones(tmp_path: Path) -> None:
    path = tmp_path / "scn.yaml"
    path.write_text(textwrap.dedent(MACVLAN))
    loaded = load_scenario(path)
    assert loaded.requires == ("vxlan", "veth", "macvlan")
    assert loaded.uses_sentinel and loaded.segment is not None and loaded.segment.host == "10.233.0.253"
    assert dict(loaded.networks["lan"].options)["parent"].parts == ("segment", "parent")  # type: ignore[union-attr]


@pytest.mark.parametrize(("change", "line", "key", "problem"), [
    (("host: 10.233.0.253", "host: 10.9.0.1"), 2, "segment.host", "10.9.0.1 is not inside the segment's subnet"),
    (("host: 10.233.0.253", "host: 10.233.0.254"), 2, "segment.host", "cannot share an address"),
    (("segment: {subnet: 10.233.0.0/24, sentinel: 10.233.0.254, host: 10.233.0.253}\n", ""), 6,
     "networks.lan.options.parent", "names the segment, but the scenario declares none"),
    (("requires: [vxlan]", "requires: [vxlan, vxlan]"), 1, "requires", "listed twice"),
])
def test_a_bad_requirement_or_segment_is_refused_with_its_line(tmp_path: Path, change: tuple[str, str], line: int,
                                                                 key: str, problem: str) -> None:
    err = scenario(tmp_path, textwrap.dedent(MACVLAN).replace(*change))
    assert err is not None
    assert (err.line, err.key) == (line, key) and problem in err.problem, err.render()


def test_a_segment_parent_carries_the_run_id_and_is_swept_like_a_sentinel_veth() -> None:
    from netconform.hermetic.segment import parent_name
    from netconform.hermetic.sentinel_sweep import sentinel_run_id

    name = parent_name("1a2b3c4d", 0xFFFF)
    assert (name, len(name) <= 15, sentinel_run_id(name)) == ("nc1a2b3c4dpffff", True, "1a2b3c4d")
    assert sentinel_run_id("nc1a2b3c4dq0") is None  # not a name netconform makes
