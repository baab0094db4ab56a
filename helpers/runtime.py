"""The per-process run context: the daemon, the run identity, the engine; built on first use.

Workers of one pytest-xdist run share the controller's run id and owner, so everything they
create is swept together if the controller dies.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import docker

from helpers.dockerhost import connect, daemon_facts, resolve_host, socket_path
from helpers.engine import BuiltScenario, ScenarioEngine, sweep
from helpers.facts import DaemonFacts, ScenarioFacts
from helpers.image import ensure_probe_image, pause_binary, require_image
from helpers.observe import observe_scenario
from helpers.probes.daemon_process import find_daemon_pid
from helpers.runs import RunIdentity
from helpers.spec.model import Scenario


@dataclass(frozen=True)
class RunOptions:
    docker_host: str | None = None
    daemon_pid: int | None = None
    image: str | None = None
    probe_timeout: float = 10.0


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def check_environment(options: RunOptions) -> None:
    """What :meth:`RunContext.open` needs, checked without creating anything but the probe image.

    Raises:
        EnvironmentProblem: no daemon, no permission, no image, no busybox.
    """
    host = resolve_host(options.docker_host)
    client = connect(host)
    try:
        if options.daemon_pid is None:
            find_daemon_pid(socket_path(host))
        if options.image:
            require_image(client, options.image)
        else:
            ensure_probe_image(client)
        pause_binary()
    finally:
        client.close()


@dataclass
class RunContext:
    options: RunOptions
    run: RunIdentity
    client: docker.DockerClient
    daemon_pid: int
    daemon: DaemonFacts
    engine: ScenarioEngine
    image: str
    built: list[BuiltScenario] = field(default_factory=list)

    @classmethod
    def open(cls, options: RunOptions, run: RunIdentity) -> RunContext:
        """Connect, find the daemon process, make sure the image exists.

        Raises:
            EnvironmentProblem: no daemon, no permission, no image, no busybox.
        """
        host = resolve_host(options.docker_host)
        client = connect(host)
        try:
            pid = options.daemon_pid or find_daemon_pid(socket_path(host))
            image = require_image(client, options.image) if options.image else ensure_probe_image(client)
            engine = ScenarioEngine(client, run, worker_id(), image, pause_binary())
            return cls(options, run, client, pid, daemon_facts(client), engine, image)
        except BaseException:
            client.close()
            raise

    def build(self, scenario: Scenario) -> tuple[BuiltScenario, ScenarioFacts]:
        """Create the scenario and observe it once; its checks all judge these facts."""
        built = self.engine.build(scenario)
        self.built.append(built)
        sysctls = [check.prop.removeprefix("sysctl.") for check in scenario.checks
                   if check.prop.startswith("sysctl.")]
        facts = observe_scenario(built, self.client, self.daemon, self.daemon_pid, sysctls,
                                 timeout=self.options.probe_timeout)
        return built, facts

    def teardown(self, built: BuiltScenario) -> None:
        if built in self.built:
            self.built.remove(built)
        self.engine.teardown(built)

    def close(self) -> None:
        """Remove whatever this process still holds, then anything else labelled with the run."""
        try:
            for built in list(self.built):
                self.teardown(built)
        finally:
            sweep(self.client, self.run.run_id)
            self.client.close()
