"""
Helpers shared by the tests: reading already-fired Deferreds, and catching
log noise.
"""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

T = TypeVar("T")


def result_of(deferred: Deferred[T]) -> T:
    """
    The result of a Deferred that has already succeeded; fail the test otherwise.
    """
    box: list[Any] = []
    deferred.addBoth(box.append)
    assert box, f"{deferred!r} has not fired"
    (outcome,) = box
    if isinstance(outcome, Failure):
        raise AssertionError(f"{deferred!r} failed: {outcome.getTraceback()}")
    return outcome  # type: ignore[no-any-return]


def failure_of(deferred: Deferred[Any]) -> Failure:
    """
    The Failure of a Deferred that has already failed; fail the test otherwise.
    """
    box: list[Any] = []
    deferred.addBoth(box.append)
    assert box, f"{deferred!r} has not fired"
    (outcome,) = box
    assert isinstance(outcome, Failure), f"{deferred!r} succeeded with {outcome!r}"
    return outcome


def has_not_fired(deferred: Deferred[Any]) -> bool:
    """
    True while C{deferred} has no result.
    """
    return not deferred.called


def unhandled_errors(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """
    The log events that report an "Unhandled error in Deferred".
    """
    return [event for event in events if "Unhandled error" in str(event.get("log_format", ""))]
