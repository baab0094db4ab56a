"""What a Python test of Docker's network modes uses: the fixtures' types and the mode names.

The fixtures themselves come with the pytest plugin (``-p netconform``, or installed netconform):

- ``netconform_scenario(source, scope="function", name=None)`` builds a scenario — a shipped one
  by name (``"custom"``), a YAML file, or a mapping in the same shape — and returns a
  :class:`ScenarioUnderTest`: its observed :class:`ScenarioFacts` and a :class:`Probes`.
- ``netconform_container``, parametrized indirectly with names from :data:`MODES`, and
  ``netconform_bridge``, ``netconform_host``, ``netconform_none``, ``netconform_joiner``,
  ``netconform_custom`` give a :class:`ContainerUnderTest` in that mode.

Example::

    from netconform.testing import MODES, ContainerUnderTest

    @pytest.mark.parametrize("netconform_container", MODES, indirect=True)
    def test_loopback_is_up(netconform_container: ContainerUnderTest) -> None:
        assert netconform_container.interface("lo").up
"""

from netconform.errors import NetconformError, ProbeError, SpecError
from netconform.facts import (
    ContainerFacts,
    HostFacts,
    Interface,
    LookupResult,
    NamespaceId,
    NetnsView,
    NetworkFacts,
    ReachResult,
    ScenarioFacts,
)
from netconform.harness.fixtures import ScenarioFactory
from netconform.harness.modes import MODES
from netconform.harness.under_test import ContainerUnderTest, Probes, ScenarioUnderTest

__all__ = [
    "MODES",
    "ContainerFacts",
    "ContainerUnderTest",
    "HostFacts",
    "Interface",
    "LookupResult",
    "NamespaceId",
    "NetconformError",
    "NetnsView",
    "NetworkFacts",
    "ProbeError",
    "Probes",
    "ReachResult",
    "ScenarioFactory",
    "ScenarioFacts",
    "ScenarioUnderTest",
    "SpecError",
]
