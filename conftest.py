"""Root conftest: load netconform's pytest plugin for the suites and the project's own tests."""

pytest_plugins = ["helpers.plugin"]
