"""
Helpers shared by the tests: the public test kit's readers of fired
Deferreds, a filter for log noise, and a monitor that does nothing.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from twisted_event_dispatcher import HandlerOutcome, IDispatchMonitor
from twisted_event_dispatcher.testing import failure_of, result_of

__all__ = ["SilentMonitor", "failure_of", "result_of", "unhandled_errors"]


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
