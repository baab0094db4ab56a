"""Gather check and scenario records from test reports (also from xdist workers) into one report."""

from __future__ import annotations

import datetime
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

from netconform.facts import DaemonFacts
from netconform.facts.settings import EffectiveSettings
from netconform.report.records import SCHEMA, SCHEMA_VERSION, as_json
from netconform.spec.properties import ASPECTS

CHECK_ATTR = "netconform_check"
SCENARIOS_ATTR = "netconform_scenarios"


class ReportCollector:
    """Lives in the controlling pytest process; fed by ``pytest_runtest_logreport``."""

    def __init__(self, run_id: str, options: dict[str, Any]) -> None:
        self.run_id = run_id
        self.options = options
        self.started = datetime.datetime.now(datetime.UTC)
        self.checks: dict[str, dict[str, Any]] = {}
        self.scenarios: dict[str, dict[str, Any]] = {}
        self.daemon: DaemonFacts | None = None
        self.docker_info: dict[str, Any] = {}
        self.settings: EffectiveSettings | None = None
        self.firewall_layout: dict[str, Any] | None = None
        self.host: dict[str, Any] = {}

    def add(self, report: Any) -> None:
        record = getattr(report, CHECK_ATTR, None)
        if record is not None:
            self.checks[record["id"]] = record
        for scenario in getattr(report, SCENARIOS_ATTR, None) or []:
            self.scenarios[scenario["name"]] = scenario
        if report.when == "setup" and report.failed and report.nodeid not in self.checks:
            self.checks[report.nodeid] = _setup_failure(report)

    def summary(self) -> dict[str, Any]:
        counts = {"total": 0, "passed": 0, "failed": 0, "error": 0, "skipped": 0}
        table: dict[str, dict[str, dict[str, int]]] = {}
        for record in self.checks.values():
            outcome = record["outcome"]
            counts["total"] += 1
            counts[outcome] = counts.get(outcome, 0) + 1
            cell = table.setdefault(record["scenario"], {}).setdefault(
                record["aspect"], {"passed": 0, "failed": 0, "error": 0, "skipped": 0})
            cell[outcome] = cell.get(outcome, 0) + 1
        return {"counts": counts, "table": table}

    def document(self) -> dict[str, Any]:
        finished = datetime.datetime.now(datetime.UTC)
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "run": {
                "id": self.run_id,
                "started": self.started.isoformat(),
                "finished": finished.isoformat(),
                "duration_s": round((finished - self.started).total_seconds(), 3),
                "argv": sys.argv,
                "machine": platform.node(),
                "python": platform.python_version(),
                "options": self.options,
            },
            "daemon": {**(as_json(self.daemon) if self.daemon else {}), "info": self.docker_info,
                       "settings": as_json(self.settings) if self.settings else None,
                       "firewall_layout": self.firewall_layout},
            "host": self.host,
            "summary": self.summary(),
            "scenarios": [self.scenarios[name] for name in sorted(self.scenarios)],
            "checks": [self.checks[key] for key in sorted(self.checks)],
        }

    def write_json(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(self.document(), indent=1, sort_keys=False) + "\n")
        partial.replace(path)
        return path


def _setup_failure(report: Any) -> dict[str, Any]:
    """A check whose scenario could not be built: an error, with the reason pytest reported."""
    parts = report.nodeid.split("::")
    scenario = Path(parts[0]).stem
    text = str(report.longrepr)
    if hasattr(report.longrepr, "reprcrash") and report.longrepr.reprcrash is not None:
        text = report.longrepr.reprcrash.message
    return {
        "id": report.nodeid, "kind": "check", "scenario": scenario, "subject": parts[1] if len(parts) > 2 else "",
        "property": parts[-1], "name": parts[-1], "aspect": _aspect_of(report), "probe": None,
        "spec": {"path": parts[0], "line": None}, "outcome": "error", "expected": None, "observed": None,
        "note": "", "evidence": {}, "error": text, "artifacts": [], "duration_s": round(report.duration, 4),
    }


def _aspect_of(report: Any) -> str:
    keywords = getattr(report, "keywords", {}) or {}
    return next((aspect for aspect in ASPECTS if aspect in keywords), "unknown")
