"""
Regression tests for flow-control defects found while documenting issue 5
(docs/howto/flow-control.rst): each states the behaviour the issue promises.
"""

from __future__ import annotations

from typing import Any

import pytest
from support import SilentMonitor, failure_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher


def started(clock: Clock, **options: Any) -> EventDispatcher:
    dispatcher = EventDispatcher(("role",), clock=clock, **options)
    dispatcher.start()
    return dispatcher


@pytest.mark.parametrize("engine_because", ["handler option", "monitor"])
def test_queued_nested_fire_runs_when_the_engine_finishes_at_once(clock: Clock, engine_because: str) -> None:
    """
    With nested="queue", a nested fire runs once the event that made it has
    finished, also when that event went through the engine.
    """
    dispatcher = started(clock, nested="queue")
    nested: list[Deferred[Any]] = []

    def outer(event: object) -> None:
        if event == "outer":
            nested.append(dispatcher.fire_event("inner"))

    if engine_because == "monitor":
        dispatcher.add_monitor(SilentMonitor())
        dispatcher.register(outer, "during", use_weakref=False)
    else:
        dispatcher.register(outer, "during", name="outer", use_weakref=False)
    assert dispatcher.fire_event("outer").called
    assert nested[0].called


def test_cancelling_a_queued_nested_fire_withdraws_it(clock: Clock) -> None:
    """
    A nested fire cancelled while it is queued never dispatches its event.
    """
    dispatcher = started(clock, nested="queue")
    seen: list[object] = []

    def outer(event: object) -> None:
        if event == "outer":
            queued = dispatcher.fire_event("inner")
            queued.cancel()
            failure_of(queued)

    dispatcher.register(outer, "during", use_weakref=False)
    dispatcher.register(seen.append, "after", use_weakref=False)
    dispatcher.fire_event("outer")
    assert seen == ["outer"]


def test_handler_waiting_for_its_nested_fire_at_max_in_flight_does_not_deadlock(clock: Clock) -> None:
    """
    A handler that returns the Deferred of a fire it made still finishes when
    the dispatcher is at its max_in_flight: the nested fire either runs or
    is refused with OverloadedError.
    """
    dispatcher = started(clock, max_in_flight=1)
    dispatcher.register(
        lambda e: dispatcher.fire_event("inner") if e == "outer" else None, "during", use_weakref=False
    )
    fired = dispatcher.fire_event("outer")
    clock.advance(3600)
    assert fired.called


def test_cancelled_fire_reports_a_handler_ignoring_cancellation_as_cancelled(clock: Clock) -> None:
    """
    The report of a cancelled fire never says that a handler still running
    succeeded: a handler whose Deferred ignores cancel() is reported cancelled.
    """

    stubborn: Deferred[None] = Deferred()
    stubborn.cancel = lambda: None  # type: ignore[method-assign]  # a dummy that ignores cancel()
    dispatcher = started(clock)
    dispatcher.register(lambda e: stubborn, "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    fired.cancel()
    result = failure_of(fired).value.result
    (outcome,) = result
    stubborn.callback(None)
    assert (outcome.succeeded, outcome.cancelled, result.cancelled) == (False, True, True)
