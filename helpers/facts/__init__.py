"""Observed facts: what probes saw, with no opinion on what was expected.

The same facts feed the judge, the JSON report and the diff between two runs, so they are plain
dataclasses of strings, ints and lists (``dataclasses.asdict`` turns them into JSON).
"""

from netconform.facts.files import ResolvConf
from netconform.facts.netns import Interface, NamespaceId, NetnsView, Route
from netconform.facts.outcomes import BROKEN_ATTEMPTS, NO_ROUTE, OUTCOMES, Attempt, LookupResult, ReachResult, Sighting
from netconform.facts.relocation import Relocation
from netconform.facts.scenario import (
    DEFAULT_BRIDGE,
    ContainerFacts,
    DaemonFacts,
    EndpointFacts,
    HostFacts,
    NetworkFacts,
    NetworkRefusal,
    ScenarioFacts,
    SegmentInfo,
    SentinelInfo,
)

__all__ = [
    "BROKEN_ATTEMPTS",
    "DEFAULT_BRIDGE",
    "NO_ROUTE",
    "OUTCOMES",
    "Attempt",
    "ContainerFacts",
    "DaemonFacts",
    "EndpointFacts",
    "HostFacts",
    "Interface",
    "LookupResult",
    "NamespaceId",
    "NetnsView",
    "NetworkFacts",
    "NetworkRefusal",
    "ReachResult",
    "Relocation",
    "ResolvConf",
    "Route",
    "ScenarioFacts",
    "SegmentInfo",
    "SentinelInfo",
    "Sighting",
]
