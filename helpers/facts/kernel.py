"""What the kernel offers that some scenarios need: the feature names and what was found.

Kernels differ in what they build in (many CI kernels have macvlan but not ipvlan, or no IPVS). A
scenario names the features it needs (``requires: [ipvlan]``); the harness probes them once per
process (:mod:`netconform.hermetic.kernel_features`) and reports a scenario whose feature is
missing as skipped with the reason, never as passed or as an error.
"""

from __future__ import annotations

from dataclasses import dataclass

# Feature name -> what is probed, in words (spec validation and `requires` help list these).
KERNEL_FEATURES: dict[str, str] = {
    "veth": "veth pairs (a throwaway pair in a scratch network namespace)",
    "dummy": "dummy interfaces",
    "macvlan": "macvlan interfaces on a parent (bridge mode)",
    "ipvlan": "ipvlan interfaces on a parent (L2 mode)",
    "vxlan": "VXLAN interfaces",
    "ipvs": "IP virtual server (the generic netlink family IPVS)",
    "esp": "IPsec ESP transforms (an xfrm state with proto esp, cbc(aes) and hmac(sha256))",
}


@dataclass(frozen=True)
class KernelFeature:
    """One feature as probed: present or not, and the kernel's word on it when not."""

    name: str
    present: bool
    reason: str = ""

    def skip_reason(self) -> str:
        """Why a scenario that needs this feature is skipped."""
        return f"kernel has no {self.name}: {self.reason or 'not present'}"
