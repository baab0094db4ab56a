"""Scenario specs: YAML with positions, schema validation, the model and expected values."""

from netconform.spec.load import load_scenario
from netconform.spec.model import Check, ContainerSpec, NetworkSpec, PortSpec, Scenario

__all__ = ["Check", "ContainerSpec", "NetworkSpec", "PortSpec", "Scenario", "load_scenario"]
