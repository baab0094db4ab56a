"""The reporting side of the plugin, in the controlling process: collect, summarise, write."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest

from netconform.errors import NetconformError
from netconform.observe.hostinfo import host_info
from netconform.report.gather import ReportCollector
from netconform.report.terminal import render_summary


class ReportPlugin:
    """Registered by netconform.harness.plugin in the controlling process only (not in xdist workers)."""

    def __init__(self, config: pytest.Config, run_id: str, options: dict[str, Any]) -> None:
        self.config = config
        self.collector = ReportCollector(run_id, options)
        report_dir = options.get("report_dir")
        self.report_dir = Path(report_dir) if report_dir else None
        self.written: list[Path] = []
        if self.report_dir is not None:
            # Evidence of an earlier run into the same directory would be mistaken for this one's.
            for stale in (self.report_dir / "evidence").glob("*"):
                if stale.suffix in (".pcap", ".txt") and stale.is_file():
                    stale.unlink()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.collector.add(report)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        from netconform.harness.items import context_key, run_context

        if context_key not in self.config.stash and any(record.get("kind") == "test"
                                                          for record in self.collector.checks.values()):
            # Fixture tests ran in xdist workers only: open the context here too, for the daemon's
            # facts and so that closing it sweeps the whole run, as after a YAML run.
            with contextlib.suppress(NetconformError):
                run_context(self.config)
        if context_key in self.config.stash:
            context = self.config.stash[context_key]
            self.collector.daemon = context.daemon
            self.collector.docker_info = context.docker_info
            self.collector.settings = context.settings
            self.collector.firewall_layout = context.firewall_layout
            self.collector.host = host_info(context.daemon_pid)
        if self.report_dir is None or not self.collector.checks:
            return
        from netconform.report.html import write_html

        document = self.collector.document()
        self.written.append(self.collector.write_json(self.report_dir / "report.json"))
        self.written.append(write_html(document, self.report_dir / "report.html"))

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.collector.checks:
            return
        document = self.collector.document()
        terminalreporter.section("netconform conformance")
        for line in render_summary(document):
            terminalreporter.write_line(line)
        for path in self.written:
            terminalreporter.write_line(f"report: {path}")
