"""
Helpers shared by the tests: the public test kit's readers of fired
Deferreds, a filter for log noise, and a monitor that does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import deferLater
from zope.interface import implementer

from twisted_event_dispatcher import HandlerOutcome, IDispatchMonitor
from twisted_event_dispatcher.testing import failure_of, result_of

__all__ = ["SilentMonitor", "count_succeed", "failure_of", "result_of", "unhandled_errors"]


@implementer(IDispatchMonitor)
class SilentMonitor:
    """
    A monitor that does nothing: adding it makes the engine dispatch.
    """

    def phase_started(self, event: object, phase: str) -> None:
        pass

    def phase_finished(self, event: object, phase: str, seconds: float) -> None:
        pass

    def handler_started(self, event: object, handler_id: Any) -> None:
        pass

    def handler_finished(
        self, event: object, handler_id: Any, outcome: HandlerOutcome, seconds: float
    ) -> None:
        pass


def unhandled_errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    The log events that report an "Unhandled error in Deferred".
    """
    return [event for event in events if "Unhandled error" in str(event.get("log_format", ""))]


def count_succeed(monkeypatch: pytest.MonkeyPatch, module: ModuleType, direct: bool) -> list[object]:
    """
    Turn the direct path of ``module`` (``_runner`` or ``_fired``: its
    ``DIRECT``) on or off, and count its calls of ``succeed()``: the list
    returned holds the results it is called with.
    """
    through_succeed: list[object] = []

    def counting_succeed(result: object) -> Deferred[object]:
        through_succeed.append(result)
        return succeed(result)

    monkeypatch.setattr(module, "DIRECT", direct)
    monkeypatch.setattr(module, "succeed", counting_succeed)
    return through_succeed


async def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "the condition") -> None:
    """
    Wait, in the running reactor, until ``condition()`` is true.

    :raises AssertionError: after ``timeout`` seconds, naming ``what``.
    """
    from twisted.internet import reactor  # the one pytest-twisted installed, once a test runs

    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await deferLater(reactor, 0.02, lambda: None)
