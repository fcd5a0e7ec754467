"""
Helpers for the plugin, configuration and service tests.
"""

from __future__ import annotations

from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

T = TypeVar("T")


def _outcome_of(deferred: Deferred[Any]) -> Any:
    box: list[Any] = []
    deferred.addBoth(box.append)
    assert box, f"{deferred!r} has not fired"
    (outcome,) = box
    return outcome


def result_of(deferred: Deferred[T]) -> T:
    """
    The result of a Deferred that has already succeeded; fail the test otherwise.
    """
    outcome = _outcome_of(deferred)
    if isinstance(outcome, Failure):
        outcome.raiseException()
    return outcome


def failure_of(deferred: Deferred[Any]) -> Failure:
    """
    The Failure of a Deferred that has already failed; fail the test otherwise.
    """
    outcome = _outcome_of(deferred)
    assert isinstance(outcome, Failure), f"{deferred!r} succeeded with {outcome!r}"
    return outcome


def messages(log_events: list[dict[str, Any]]) -> list[str]:
    """
    The formatted text of captured log events.
    """
    from twisted.logger import formatEvent

    return [formatEvent(event) for event in log_events]
