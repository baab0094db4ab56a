"""Scenario specs: YAML with positions, schema validation, the model and expected values."""

from netconform.spec.model import Check, ContainerSpec, NetworkSpec, PortSpec, Scenario
from netconform.spec.parse import load_scenario

__all__ = ["Check", "ContainerSpec", "NetworkSpec", "PortSpec", "Scenario", "load_scenario"]
