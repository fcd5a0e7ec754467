"""
Coroutine handlers under Twisted's asyncio reactor run as asyncio tasks: they
await asyncio libraries and Deferreds alike, and timeouts, cancellation and
a stop's deadline cancel the task.

pytest-twisted owns the reactor of this process, so each scenario of
tests/asyncio_scenarios.py runs in a process of its own, with the asyncio
reactor installed; the tests compare what it printed with what they expect.
A scenario must print nothing on stderr: no "Unhandled error", no traceback.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("asyncio_scenarios.py")


def run_scenario(name: str, script: Path = SCRIPT) -> str:
    """
    Run the scenario ``name`` of ``script`` in a process of its own, and
    what it printed; it must exit with 0 and print nothing on stderr.
    """
    completed = subprocess.run(
        [sys.executable, str(script), name], capture_output=True, text=True, timeout=60, check=False
    )
    assert (completed.returncode, completed.stderr) == (0, ""), (
        f"scenario {name!r} exited with {completed.returncode}\n"
        f"--- stdout\n{completed.stdout}--- stderr\n{completed.stderr}"
    )
    return completed.stdout.strip()


@pytest.mark.parametrize(
    ("scenario", "printed"),
    [
        ("asyncio_queue", "('got item from the queue', None)"),
        ("asyncio_connection", "('HELLO',)"),
        ("awaits_a_deferred", "('deferred, nested deferred',)"),
        ("awaited_deferred_fails", "('caught',) ['ZeroDivisionError']"),
        ("timeout_cancels_the_task", "['asyncio.CancelledError'] timed_out HandlerTimedOut"),
        ("cancelling_the_fire_cancels_the_task", "['asyncio.CancelledError'] True ['cancelled']"),
        ("stop_with_a_deadline", "['asyncio.CancelledError'] []"),
        ("awaited_deferred_whose_canceller_raises", "['asyncio.CancelledError'] timed_out 1 True"),
    ],
)
def test_asyncio_scenario(scenario: str, printed: str) -> None:
    assert run_scenario(scenario) == printed
