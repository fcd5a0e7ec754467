"""
Plugins whose lifecycle methods are asyncio coroutines (LUNA's): under
Twisted's asyncio reactor, ``initialize``, ``start`` and ``close`` run as
asyncio tasks, so they may open asyncio connections and create and cancel
asyncio tasks; a failing ``initialize`` is logged with its plugin and its
exception; stopping the host during an ``async`` start cancels its task.

Each scenario of tests/asyncio_plugin_scenarios.py runs in a process of its
own, with the asyncio reactor installed (pytest-twisted owns this one's).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from test_asyncio import run_scenario

SCRIPT = Path(__file__).with_name("asyncio_plugin_scenarios.py")


def test_initialize_opens_an_asyncio_connection_and_close_cancels_a_background_task() -> None:
    assert run_scenario("client_and_background_plugin", SCRIPT) == (
        "('HELLO', None) "
        "['client connected', 'background got hello', 'background task cancelled', "
        "'closed: task cancelled=True', 'client closed'] "
        "['closed', 'closed']"
    )


def test_a_failing_async_initialize_is_reported_with_its_plugin_and_error() -> None:
    assert run_scenario("async_initialize_fails", SCRIPT).splitlines() == [
        "[('unreachable', 'failed'), ('fine', 'closed')] ('fine',)",
        "plugin 'unreachable' from configuration entry plugins.unreachable: initialize() failed: "
        "its handlers were removed and the other plugins go on without it "
        "[ConnectionRefusedError: [Errno 111] Connect call failed ('127.0.0.1', PORT)]",
    ]


def test_stopping_during_an_async_start_cancels_its_task() -> None:
    printed = run_scenario("stop_cancels_an_async_start", SCRIPT)
    assert printed == "['start saw asyncio.CancelledError', 'closed'] ['failed'] 1 True"


def test_the_luna_asyncio_example_runs() -> None:
    """docs/examples/luna_asyncio.py, shown by the LUNA how-to, prints its story."""
    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "luna_asyncio.py"
    completed = subprocess.run(
        [sys.executable, str(example)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (completed.returncode, completed.stderr) == (0, "")
    assert completed.stdout.splitlines() == [
        "kettle at 25: stored 25",
        "kettle at 50: stored 50",
        "kettle at 75: stored 75",
        "kettle at 100: stored 100",
        "kettle: task cancelled = True",
        "monitoring: connection closed",
        "[('event_monitoring_plugin', 'closed'), ('kettle_plugin', 'closed')]",
    ]
