"""The per-process run context: the daemon, the run identity, the engine; built on first use.

Workers of one pytest-xdist run share the controller's run id and owner, so everything they
create is swept together if the controller dies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from netconform.engine.attach import attach, attached
from netconform.engine.builder import BuiltScenario, ScenarioEngine, sweep
from netconform.engine.daemon_process import DaemonProcess
from netconform.engine.dockerhost import (
    container_state,
    daemon_facts,
    networking_info,
    read_daemon,
)
from netconform.engine.image import ensure_probe_image, pause_binary, require_image
from netconform.engine.pool_room import suite_pool_room
from netconform.engine.steps import perform_step
from netconform.errors import DaemonUnavailable, EngineError, NetconformError
from netconform.facts import DaemonFacts, ScenarioFacts, SegmentInfo, SentinelInfo
from netconform.facts.kernel import KernelFeature
from netconform.facts.settings import SETTINGS, EffectiveSettings
from netconform.harness.on_demand import Prober
from netconform.harness.removals import Removals
from netconform.harness.replay import keep_evidence
from netconform.harness.replay_batch import ReplayBatch
from netconform.harness.windows import prepare
from netconform.hermetic.isolation_lock import IsolationLock
from netconform.hermetic.kernel_features import FeatureProbe
from netconform.hermetic.pool_ledger import PoolLedger
from netconform.hermetic.runs import RunIdentity
from netconform.hermetic.segment import Segment
from netconform.hermetic.sentinel import DEFAULT_CIDR, DEFAULT_CIDR6, Sentinel
from netconform.judge import Verdict, judge
from netconform.observe.daemon_settings import builtin_defaults, read_effective_settings
from netconform.observe.firewall_layout import read_firewall_layout
from netconform.observe.scenario import observe_scenario
from netconform.spec.model import Check, Scenario, StepSpec
from netconform.spec.refs import Unresolvable
from netconform.spec.values import Ref, Value


@dataclass(frozen=True)
class RunOptions:
    docker_host: str | None = None
    daemon_pid: int | None = None
    image: str | None = None
    probe_timeout: float = 10.0
    report_dir: str | None = None
    attempt_timeout: float = 1.0
    attempts: int = 3
    sentinel_cidr: str = DEFAULT_CIDR
    # "" for a sentinel without IPv6.
    sentinel_cidr6: str = DEFAULT_CIDR6


def worker_id(config_workerinput: dict[str, Any] | None = None) -> str:
    """The xdist worker this process is ('gw0', ...), or 'main'. Taken from the worker's input, not
    the environment: a pytest started from inside a worker inherits PYTEST_XDIST_WORKER."""
    return str(config_workerinput["workerid"]) if config_workerinput else "main"


def _firewall_layout(daemon_pid: int, timeout: float) -> dict[str, Any]:
    """Docker's firewall layout; when it cannot be read the report says why, and the run goes on."""
    try:
        return read_firewall_layout(daemon_pid, timeout)
    except NetconformError as err:
        return {"tables": [], "unreadable": {"namespace": str(err)}}


def check_environment(options: RunOptions) -> None:
    """What :meth:`RunContext.open` needs, checked without creating anything but the probe image.

    Raises:
        EnvironmentProblem: no daemon, no permission, no image, no busybox.
    """
    with attached(options.docker_host, options.daemon_pid) as daemon:
        if options.image:
            require_image(daemon.client, options.image)
        else:
            ensure_probe_image(daemon.client)
        pause_binary()


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
    sentinel: Sentinel | None = None
    prober: Prober | None = None
    docker_info: dict[str, Any] = field(default_factory=dict)
    lock: IsolationLock | None = None
    # The subnets of the daemon's address pools the suite's processes hold (None: unbounded).
    pools: PoolLedger | None = None
    settings: EffectiveSettings | None = None
    firewall_layout: dict[str, Any] | None = None
    # Values a host profile pins (setting name -> value); they win over the effective ones.
    profile_overrides: dict[str, Any] = field(default_factory=dict)
    # What the kernel offers, probed once per process when a scenario first requires something.
    features: FeatureProbe = field(default_factory=FeatureProbe)
    # The segment of each built scenario that declares one (by id of its BuiltScenario).
    segments: dict[int, Segment] = field(default_factory=dict)
    # ${segment.…} of the scenario being built, for its network options.
    _building: dict[str, str] = field(default_factory=dict)
    # The dockerd everything above was read from, to notice when it restarts mid-run.
    process: DaemonProcess | None = None
    # Failed probes of the scenario being judged, replayed together for their evidence.
    replays: ReplayBatch = field(default_factory=ReplayBatch)
    # Scenarios being removed in the background of a serial run (teardown_later).
    removals: Removals = field(default_factory=Removals)

    @classmethod
    def open(cls, options: RunOptions, run: RunIdentity, worker: str = "main") -> RunContext:
        """Connect, find the daemon process, make sure the image exists.

        Raises:
            EnvironmentProblem: no daemon, no permission, no image, no busybox.
        """
        attached_daemon = attach(options.docker_host, options.daemon_pid)
        client, pid = attached_daemon.client, attached_daemon.pid
        try:
            image = require_image(client, options.image) if options.image else ensure_probe_image(client)
            lock = IsolationLock(f"/proc/{pid}/ns/net")
            engine = ScenarioEngine(client, run, worker, image, pause_binary(), lock=lock)
            readout = read_daemon(client)
            daemon = daemon_facts(readout)
            # Before the run creates anything: a new network makes the daemon re-apply its rules.
            settings = read_effective_settings(daemon.version, readout.info, readout.bridge, pid,
                                               timeout=options.probe_timeout)
            # Only the controlling process's is reported; a worker may open after others built.
            layout = _firewall_layout(pid, options.probe_timeout) if worker == "main" else None
            pools = getattr(settings.settings.get("default_address_pools"), "value", None)
            room = suite_pool_room(client, pools or builtin_defaults(daemon.version)["default_address_pools"])
            return cls(options, run, client, pid, daemon, engine, image, docker_info=networking_info(readout.info),
                       lock=lock, pools=PoolLedger(f"/proc/{pid}/ns/net", room), settings=settings,
                       firewall_layout=layout, process=DaemonProcess.of(pid, attached_daemon.socket))
        except BaseException:
            client.close()
            raise

    def start_sentinel(self) -> Sentinel:
        """The run's stand-in for the outside world, attached to the daemon's netns (once)."""
        if self.sentinel is None:
            sentinel = Sentinel(self.run, f"/proc/{self.daemon_pid}/ns/net", cidr=self.options.sentinel_cidr,
                                cidr6=self.options.sentinel_cidr6 or None)
            sentinel.start()
            self.sentinel = sentinel
            self.engine.resolve = self.resolve_at_build
        return self.sentinel

    def intended_settings(self) -> dict[str, Any]:
        """Setting name -> the value the host is meant to have: the profile's where it pins one, else
        the effective one. Unreadable settings are absent, so a reference to one is unresolvable."""
        intended = {name: setting.value for name, setting in (self.settings.settings if self.settings else {}).items()
                    if name in SETTINGS and not setting.unreadable}
        intended.update(self.profile_overrides)
        return intended

    @property
    def context(self) -> dict[str, Any]:
        """Facts outside any scenario that references and selections may name (``${sentinel.address}``,
        ``${setting.mtu}``...)."""
        facts: dict[str, Any] = {f"setting.{name}": value for name, value in self.intended_settings().items()}
        if self.sentinel is not None:
            facts.update({"sentinel.address": self.sentinel.address,
                          "sentinel.gateway_address": self.sentinel.gateway_address,
                          "sentinel.zone": self.sentinel.zone})
            if self.sentinel.address6 is not None:
                facts.update({"sentinel.address6": self.sentinel.address6,
                              "sentinel.gateway_address6": self.sentinel.gateway_address6})
        return facts

    def missing_features(self, scenario: Scenario) -> list[KernelFeature]:
        """The kernel features ``scenario`` requires that this kernel lacks (probed on first need)."""
        return self.features.missing(scenario.requires) if scenario.requires else []

    def resolve_at_build(self, value: Value) -> str:
        if isinstance(value, Ref) and ".".join(value.parts) in self._building:
            return self._building[".".join(value.parts)]
        if isinstance(value, Ref) and ".".join(value.parts) in self.context:
            return str(self.context[".".join(value.parts)])
        if isinstance(value, str | int | float):
            return str(value)
        raise EngineError(f"{value} cannot be resolved when the scenario is built")

    def reserve_ahead(self, scenario: Scenario) -> bool:
        """Reserve ``scenario``'s subnets of the daemon's pools if they are free now, to build it
        ahead (:meth:`build` with ``reserved``); False: build it at its own turn."""
        return self.pools is None or self.pools.try_reserve(scenario.pooled_networks)

    def build(self, scenario: Scenario, reserved: bool = False) -> tuple[BuiltScenario, ScenarioFacts]:
        """Create the scenario and observe it once; its checks all judge these facts. Its subnets
        of the daemon's pools are reserved first, waiting for other processes of the suite to give
        some back if need be, unless ``reserved`` (:meth:`reserve_ahead`); :meth:`teardown` gives
        them back.

        Raises:
            DaemonUnavailable: the daemon under test stopped or restarted since the run began.
            EngineError: the subnets were not free in time.
        """
        if self.pools is not None and not reserved:
            self.pools.reserve(scenario.pooled_networks, f"scenario {scenario.name}")
        try:
            built, segment = self._create(scenario)
        except BaseException:
            self._give_back(scenario)  # nothing of it is left (the engine removed what it made)
            raise
        self.built.append(built)
        if segment is not None:
            self.segments[id(built)] = segment
        try:
            facts = self._observe(built, self._address_segment(scenario, segment, built))
        except BaseException:
            self.teardown(built)
            raise
        return built, facts

    def _create(self, scenario: Scenario) -> tuple[BuiltScenario, Segment | None]:
        changed = self.process.change() if self.process is not None else ""
        if changed:
            raise DaemonUnavailable(f"{changed}; what the run read of the daemon (version, settings, firewall "
                                    "layout, namespaces) was the old process's, so nothing more is built")
        if scenario.uses_sentinel:
            self.start_sentinel()
        segment = self.make_segment(scenario)
        try:
            return self.engine.build(scenario), segment
        except BaseException:
            if segment is not None:
                segment.remove()
            raise
        finally:
            self._building = {}

    def _observe(self, built: BuiltScenario, on_segment: SegmentInfo | None) -> ScenarioFacts:
        """The scenario as it is now (a fresh ScenarioFacts: no lookup or probe made yet)."""
        scenario = built.scenario
        sysctls = [check.prop.removeprefix("sysctl.") for check in scenario.checks if check.prop.startswith("sysctl.")]
        facts = observe_scenario(scenario.name, built.networks, built.containers, self.client,
                                 self.daemon, self.daemon_pid, sysctls, timeout=self.options.probe_timeout)
        facts.relocation = built.relocation
        facts.refused_networks = built.refused_networks
        facts.segment = on_segment
        if scenario.uses_sentinel:
            self.attach_sentinel(facts)
        return facts

    def step(self, built: BuiltScenario, step: StepSpec, before: ScenarioFacts) -> ScenarioFacts:
        """Perform ``step`` on the running scenario and observe it anew: the checks of the step
        are judged on these facts, with lookups and probes of their own.

        Raises:
            EngineError: the daemon refused the step.
        """
        perform_step(self.client, built, step, self.lock)
        facts = self._observe(built, before.segment)
        # Addresses the scenario's containers held before stay its own: a probe may test that an
        # address given up on disconnect no longer answers.
        facts.former_addresses = sorted({*before.former_addresses, *(
            endpoint.ip for container in before.containers.values() for endpoint in container.endpoints.values()
            if endpoint.ip)})
        return facts

    def make_segment(self, scenario: Scenario) -> Segment | None:
        """The scenario's segment, both ends up and unaddressed; its parent's name and MAC are what
        ``${segment.parent}`` and ``${segment.parent_mac}`` stand for in network options."""
        if scenario.segment is None:
            return None
        sentinel = self.start_sentinel()
        segment = Segment(self.run.run_id, f"/proc/{self.daemon_pid}/ns/net", sentinel.netns_path).create()
        self._building = {"segment.parent": segment.parent, "segment.parent_mac": segment.parent_mac}
        return segment

    def _address_segment(self, scenario: Scenario, segment: Segment | None, built: BuiltScenario) -> SegmentInfo | None:
        """Address the segment's ends where the scenario declares, moved with a relocated subnet."""
        if segment is None or scenario.segment is None:
            return None
        moved = built.relocation.address
        declared = scenario.segment
        return segment.address(moved(declared.subnet), moved(declared.sentinel),
                               moved(declared.host) if declared.host else None)

    def attach_sentinel(self, facts: ScenarioFacts) -> None:
        """Start the sentinel if need be and record it in ``facts`` (a probe to it asked later)."""
        sentinel = self.start_sentinel()
        facts.sentinel = SentinelInfo(sentinel.address, sentinel.gateway_address, sentinel.zone, sentinel.netns_name,
                                      sentinel.address6, sentinel.gateway_address6)

    def ready_prober(self) -> Prober:
        """The run's prober (one per process), following the sentinel once it is started."""
        if self.prober is None:
            self.prober = Prober(self.daemon_pid, self.sentinel, self.options.attempt_timeout, self.options.attempts,
                                 lock=self.lock)
            self.prober.churn = self.engine.churn_networks
            self.prober.vanished.daemon = self.process
            self.prober.vanished.describe = lambda container_id: container_state(self.client, container_id)
        self.prober.sentinel = self.sentinel
        return self.prober

    def prepare(self, check: Check, facts: ScenarioFacts, siblings: Sequence[Check] = (),
                ahead: Sequence[tuple[ScenarioFacts, Sequence[Check]]] = (),
                after_window: Callable[[], None] | None = None) -> None:
        """Make the lookups and probes ``check`` needs (once per scenario; with the probes of the
        scenarios built ``ahead``, then ``after_window()``)."""
        prepare(self.ready_prober(), check, facts, self.context, siblings, ahead, after_window)

    def keep_evidence(self, check: Check, facts: ScenarioFacts, verdict: Verdict,
                      siblings: Sequence[Check] = (),
                      ahead: Sequence[tuple[ScenarioFacts, Sequence[Check]]] = ()) -> list[str]:
        """For a failing probe or lookup: replay it, traced through the daemon's firewall (probes)
        and captured (with --report-dir), and add the replay, the trace and the namespaces' state at
        failure time to the verdict's evidence. The failed probes among ``siblings``, and those of
        the scenarios built ``ahead``, are replayed with it (:mod:`netconform.harness.replay_batch`).
        Returns the pcap paths, relative to the report directory."""
        if check.aspect not in ("dns", "reachability"):
            return []
        root = Path(self.options.report_dir).resolve() if self.options.report_dir else None
        if root is None:
            verdict.note = _add_note(verdict.note, "packet captures are kept with --report-dir")
        try:
            evidence = self.replays.evidence(
                check, facts, siblings,
                replay=lambda one, of: keep_evidence(self.ready_prober(), one, of, self.context,
                                                     root / "evidence" if root else None, self.run.run_id),
                failed=self._fails, context=self.context, ahead=ahead)
        except NetconformError as err:
            verdict.note = _add_note(verdict.note, f"no replay: {err}")
            return []
        verdict.evidence.update(evidence.sections)
        for key in list(verdict.evidence):  # the state at failure supersedes the state at build
            end, _, kind = key.rpartition(" ")
            if kind in ("addresses", "routes") and f"{end} at failure" in evidence.sections:
                del verdict.evidence[key]
        # Relative to the report, so the report directory can be moved or archived as a whole.
        return [str(Path(path).relative_to(root)) for path in evidence.paths] if root else []

    def _fails(self, check: Check, facts: ScenarioFacts) -> bool:
        """Whether ``check`` fails on ``facts`` (one that cannot be judged yet is left to its own turn)."""
        try:
            return not judge(check, facts, self.context).passed
        except (NetconformError, Unresolvable):
            return False

    def teardown(self, built: BuiltScenario) -> None:
        held = built in self.built
        if held:
            self.built.remove(built)
        segment = self.segments.pop(id(built), None)
        try:
            self.engine.teardown(built)
        finally:
            if held:
                self._give_back(built.scenario)
            if segment is not None:  # after the networks on it
                segment.remove()

    def _give_back(self, scenario: Scenario) -> None:
        if self.pools is not None:
            self.pools.release(scenario.pooled_networks)

    def teardown_later(self, built: BuiltScenario) -> None:
        """:meth:`teardown` in the background (:mod:`netconform.harness.removals`)."""
        self.removals.submit(built.scenario.name, lambda: self.teardown(built))

    def close(self) -> None:
        """Remove whatever this process still holds, then anything else labelled with the run."""
        try:
            self.removals.close()
            for built in list(self.built):
                self.teardown(built)
        finally:
            try:
                if self.sentinel is not None:
                    self.sentinel.stop()
            finally:
                # The controller (or a lone process) sweeps the whole run once the workers are done.
                controller = self.engine.worker == "main"
                try:
                    sweep(self.client, self.run.run_id, None if controller else self.engine.worker)
                finally:
                    self.client.close()


def _add_note(note: str, more: str) -> str:
    return f"{note}; {more}" if note else more
