"""
Helpers shared by the tests: the public test kit's readers of fired
Deferreds, and a filter for log noise.
"""

from __future__ import annotations

from typing import Any

from twisted_event_dispatcher.testing import failure_of, result_of

__all__ = ["failure_of", "result_of", "unhandled_errors"]


def unhandled_errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    The log events that report an "Unhandled error in Deferred".
    """
    return [event for event in events if "Unhandled error" in str(event.get("log_format", ""))]
