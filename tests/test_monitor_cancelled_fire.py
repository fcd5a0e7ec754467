"""
IFireMonitor.fire_finished is told what the fire failed with, a
cancellation included (FireCancelled), as the interface promises.
"""

from __future__ import annotations

from typing import Any

from support import failure_of
from twisted.internet.defer import Deferred
from zope.interface import implementer

from twisted_event_dispatcher import EventDispatcher, FireCancelled, FireResult, HandlerId, IFireMonitor


@implementer(IFireMonitor)
class Endings:
    def __init__(self) -> None:
        self.endings: list[tuple[object, Any]] = []

    def fire_started(self, fire: FireResult) -> None:
        pass

    def phase_started(self, fire: FireResult, phase: str) -> None:
        pass

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        pass

    def handler_finished(self, fire: FireResult, handler_id: HandlerId, outcome: Any, seconds: float) -> None:
        pass

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        pass

    def fire_finished(self, fire: FireResult, failure: Any, seconds: float) -> None:
        self.endings.append((fire.event, failure))


def test_a_cancelled_fire_finishes_with_fire_cancelled() -> None:
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    monitor = Endings()
    dispatcher.add_monitor(monitor)
    dispatcher.register(lambda e: Deferred(), "during", use_weakref=False)
    fired = dispatcher.fire_event("cancelled")
    fired.cancel()
    assert failure_of(fired).check(FireCancelled)
    [(event, failure)] = monitor.endings
    assert event == "cancelled"
    assert failure is not None and failure.check(FireCancelled)
    assert failure.value.result.cancelled


def test_a_fire_that_succeeds_finishes_without_a_failure() -> None:
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    monitor = Endings()
    dispatcher.add_monitor(monitor)
    dispatcher.register(lambda e: None, "during", use_weakref=False)
    dispatcher.fire_event("fine")
    assert monitor.endings == [("fine", None)]
