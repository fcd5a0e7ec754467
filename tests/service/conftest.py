"""
Fixtures for the plugin, configuration and service tests.  The guard
against "Unhandled error in Deferred" noise comes from tests/conftest.py.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any

import pytest


@pytest.fixture
def log_events(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    Every log event emitted during the test (the root conftest's ``logs``).
    """
    return logs


@pytest.fixture
def demo_distribution(tmp_path, monkeypatch):
    """
    A directory on sys.path holding an installed distribution, ``evproc-demo``,
    whose modules are removed from sys.modules after the test.
    """
    root = tmp_path / "site"
    root.mkdir()
    (root / "evproc_demo.py").write_text(
        textwrap.dedent(
            """
            from twisted_event_dispatcher.plugins import handles

            @handles("during")
            def test_prepare(event):
                return "prepared"

            class Counter:
                def __init__(self, start=0, host=None):
                    self.count = start
                    self.host = host

                @handles("after")
                def count_event(self, event):
                    self.count += 1
            """
        )
    )
    (root / "evproc_broken.py").write_text("raise RuntimeError('broken at import')\n")
    info = root / "evproc_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: evproc-demo\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        textwrap.dedent(
            """
            [app.handlers]
            test_prepare = evproc_demo:test_prepare
            counter = evproc_demo:Counter
            [app.broken]
            broken = evproc_broken
            missing = evproc_demo:nothing_here
            """
        )
    )
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in ("evproc_demo", "evproc_broken"):
        sys.modules.pop(name, None)


@pytest.fixture
def run_service(tmp_path):
    """
    Start the console script with a configuration (see ``running.config``);
    every service started is killed after the test if it still runs.
    """
    from running import RunningService

    started: list[RunningService] = []

    def start(config: str, *arguments: str) -> RunningService:
        directory = tmp_path / f"service-{len(started)}"
        directory.mkdir()
        started.append(RunningService(directory, config, *arguments))
        return started[-1]

    yield start
    for service in started:
        service.close()
