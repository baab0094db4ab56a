"""Root conftest of the checkout.

netconform's pytest plugin is not named here: ``pip install -e .`` (ci/ensure-python) registers it
through its ``pytest11`` entry point, which pytest loads for the suites and the project's own
tests alike; naming it here as well would register the module twice (pytest refuses that).
"""
