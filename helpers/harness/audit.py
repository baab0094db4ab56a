"""``--audit-existing``: the networks that existed before the run, audited as pytest items.

The controlling process lists the daemon's networks before anything is created
(:func:`netconform.engine.existing.existing_networks`) and hands the list to xdist workers; each
process plans the same audit from it (:func:`netconform.spec.audit_plan.plan_audit`) and collects it as
``existing::<network>::<promise>`` items, placed before every other item. The audit's scenarios
are specs like any other: validated by the same loader, built by the same engine (the existing
networks are looked up, never created, changed or removed; only our labelled probe containers are
attached to them), probed by the same prober and judged and reported like any check.

The ``existing`` scenario is built at the first item and all its probes are made at once, before
``existing-vs-run`` creates its network: creating one makes the daemon re-apply its rules and
kernel switches, which would hide what the host lost. With several xdist workers, other workers'
scenarios may create networks meanwhile; run the audit alone (``-k existing``) to see the host
strictly as found.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netconform.engine.dockerhost import connect, resolve_host
from netconform.engine.existing import existing_networks
from netconform.errors import NetconformError
from netconform.facts import ScenarioFacts
from netconform.harness.context import RunOptions
from netconform.harness.items import CheckItem, finished_scenarios_key, run_context
from netconform.harness.sources import CallSite, load_source
from netconform.report.records import scenario_record
from netconform.spec import Check, Scenario
from netconform.spec.audit_plan import AuditPlan, ExistingNetwork, Promise, plan_audit
from netconform.spec.values import Matcher

existing_key = pytest.StashKey[list[ExistingNetwork]]()
AUDIT = "existing"
SPEC_PATH = "existing networks"  # how stories and the report show where the audit's specs come from


def audit_items(session: pytest.Session, networks: list[ExistingNetwork]) -> list[pytest.Item]:
    """The audit's items, collected through pytest (hooks, keywords and markers as for any item)."""
    audit = ExistingAudit.from_parent(session, name=AUDIT, nodeid=AUDIT, plan=plan_audit(networks))
    return list(session.genitems(audit))


class ExistingAudit(pytest.Collector):
    """The audit: its scenarios, built on first use and removed when pytest tears it down."""

    def __init__(self, *, plan: AuditPlan, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.plan = plan
        self.scenarios: dict[str, Scenario] = {}
        self.built: dict[str, Any] = {}
        self.facts: dict[str, ScenarioFacts] = {}
        self.errors: dict[str, str] = {}

    def collect(self) -> Iterator[pytest.Collector]:
        if any(not promise.skip for promise in self.plan.promises):
            site = CallSite(Path(SPEC_PATH), None, self.config.rootpath)
            self.scenarios = {name: load_source(spec, name, site) for name, spec in self.plan.specs.items()}
        for network in dict.fromkeys(promise.network for promise in self.plan.promises):
            yield AuditedNetwork.from_parent(self, name=network)

    def checks(self, promise: Promise) -> tuple[Scenario, Check]:
        """The scenario and the check (reach, or source for masquerade) that judge ``promise``."""
        scenario = self.scenarios[promise.scenario]
        prop = "source" if promise.source else "reach"
        check = next(check for check in scenario.checks
                     if check.reach is not None and check.reach.id == promise.probe and check.prop == prop)
        return scenario, check

    def phase(self, name: str) -> ScenarioFacts:
        """The facts of scenario ``name``, built on first use (a failed build fails every item of it)."""
        if name not in self.facts and name not in self.errors:
            try:
                self.built[name], self.facts[name] = run_context(self.config).build(self.scenarios[name])
            except NetconformError as err:
                self.errors[name] = str(err)
        if name in self.errors:
            pytest.fail(f"scenario {name} could not be built: {self.errors[name]}", pytrace=False)
        return self.facts[name]

    def teardown(self) -> None:
        finished = self.config.stash.setdefault(finished_scenarios_key, [])
        for name, scenario in self.scenarios.items():
            if name in self.facts or name in self.errors:
                finished.append(scenario_record(scenario, self.facts.get(name), self.errors.get(name, "")))
        built, self.built, self.facts = self.built, {}, {}
        problems = []
        for scenario_built in reversed(list(built.values())):
            try:
                run_context(self.config).teardown(scenario_built)
            except NetconformError as err:
                problems.append(str(err))
        if problems:
            raise NetconformError("; ".join(problems))


class AuditedNetwork(pytest.Collector):
    """The promises of one existing network."""

    def collect(self) -> Iterator[pytest.Item]:
        audit = self.parent
        assert isinstance(audit, ExistingAudit)
        for promise in audit.plan.promises:
            if promise.network != self.name:
                continue
            if promise.skip:
                check = Check(AUDIT, AUDIT, "audit", "reachability", Matcher(()), SPEC_PATH, None)
            else:
                check = audit.checks(promise)[1]
            item = AuditItem.from_parent(self, name=promise.name, check=check, promise=promise)
            item.add_marker(pytest.mark.reachability)
            yield item


class AuditItem(CheckItem):
    """One promise of one existing network, judged like any check (or skipped, saying why)."""

    def __init__(self, *, promise: Promise, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.promise = promise

    @property
    def audit(self) -> ExistingAudit:
        node = self.parent.parent if self.parent else None
        assert isinstance(node, ExistingAudit)
        return node

    def runtest(self) -> None:
        if self.promise.skip:
            pytest.skip(f"existing network {self.promise.network}: {self.promise.skip}")
        if self.promise.firewall and not _manages_iptables(self.config):
            pytest.skip(f"existing network {self.promise.network}: {self.promise.name} is not promised: Docker "
                        "manages no firewall (iptables: false in the daemon's effective settings)")
        facts = self.audit.phase(self.promise.scenario)
        self.judge_on(facts, self._siblings())

    def _siblings(self) -> list[Check]:
        """The checks of the same scenario that will be judged: their probes are made together."""
        keep = _manages_iptables(self.config)
        return [self.audit.checks(promise)[1] for promise in self.audit.plan.promises
                if promise.scenario == self.promise.scenario and not promise.skip and (keep or not promise.firewall)]

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, None, f"{AUDIT}::{self.promise.network}::{self.promise.name}"


def _manages_iptables(config: pytest.Config) -> bool:
    """Whether the daemon writes firewall rules (an unreadable setting counts as its default, yes)."""
    settings = run_context(config).settings
    return settings is None or settings.value("iptables") is not False


def audit_summary(reports: list[Any]) -> list[str]:
    """Lines for the terminal: each existing network and its promises, kept, broken or skipped (why)."""
    by_network: dict[str, list[tuple[str, str, str]]] = {}
    for report in reports:
        parts = report.nodeid.split("::")
        if len(parts) != 3 or parts[0] != AUDIT or (report.when != "call" and not report.failed):
            continue
        outcome = {"passed": "kept", "failed": "BROKEN", "skipped": "skipped"}[report.outcome]
        outcome = outcome if report.when == "call" else "ERROR"
        why = ""
        if report.skipped and isinstance(report.longrepr, tuple):
            why = f"  ({str(report.longrepr[2]).split(': ', 2)[-1]})"
        by_network.setdefault(parts[1], []).append((parts[2], outcome, why))
    lines = []
    for network, promises in by_network.items():
        broken = sum(outcome in ("BROKEN", "ERROR") for _, outcome, _ in promises)
        if all(outcome == "skipped" for _, outcome, _ in promises):
            lines.append(f"{network}: not audited")
        else:
            lines.append(f"{network}: {f'{broken} promise(s) broken' if broken else 'all promises kept'}")
        lines += [f"  {outcome:8} {promise}{why}" for promise, outcome, why in promises]
    return lines


def list_existing(options: RunOptions) -> list[ExistingNetwork]:
    """The daemon's networks before the run (in the controlling process, before anything is created).

    Raises:
        NetconformError: no daemon, or it did not list its networks.
    """
    client = connect(resolve_host(options.docker_host))
    try:
        return existing_networks(client)
    finally:
        client.close()
