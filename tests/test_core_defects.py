"""
Regression tests for the defects found at the seams of the old core: per-fire
options that leaked, cancellations that missed follow-ups, shutdown reports
in the wrong order, queued calls of removed handlers, fires the recording
dispatcher missed, and monitors told of calls that never started.
"""

from __future__ import annotations

from typing import Any

from support import failure_of, result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from zope.interface import implementer

from twisted_event_dispatcher import (
    EventContext,
    EventDispatcher,
    FireCancelled,
    FireResult,
    FollowUps,
    HandlerId,
    HandlerOutcome,
    IFireMonitor,
    OverloadedError,
    StopPropagation,
)
from twisted_event_dispatcher.testing import RecordingDispatcher

# 1. Per-fire options travel as arguments -----------------------------------


def test_queue_policy_holds_for_fires_made_by_a_released_nested_fire() -> None:
    """
    On a "queue" dispatcher, the fire an outer handler makes is dispatched
    once that handler has finished; the fire ITS handler makes waits in turn
    for it to finish, instead of running inside it.
    """
    dispatcher = EventDispatcher(("name",), nested="queue")
    dispatcher.start()
    order: list[str] = []

    def outer(event: object) -> None:
        order.append("outer-start")
        dispatcher.fire_event("mid", name="mid")
        order.append("outer-end")

    def mid(event: object) -> None:
        order.append("mid-start")
        dispatcher.fire_event("leaf", name="leaf")
        order.append("mid-end")

    def leaf(event: object) -> None:
        order.append("leaf-start")
        order.append("leaf-end")

    for handler, name in [(outer, "outer"), (mid, "mid"), (leaf, "leaf")]:
        dispatcher.register(handler, "during", match={"name": name}, use_weakref=False)
    result_of(dispatcher.fire_event("outer", name="outer"))
    assert order == ["outer-start", "outer-end", "mid-start", "mid-end", "leaf-start", "leaf-end"]


def test_a_fires_own_nested_option_does_not_reach_the_fires_its_handlers_make() -> None:
    """
    fire(..., nested="queue") on an "immediate" dispatcher queues that fire
    only; the fires its handlers make are immediate, as the dispatcher says.
    """
    dispatcher = EventDispatcher(("name",))
    dispatcher.start()
    order: list[str] = []

    def outer(event: object) -> None:
        order.append("outer-start")
        dispatcher.fire("mid", {"name": "mid"}, nested="queue")
        order.append("outer-end")

    def mid(event: object) -> None:
        order.append("mid-start")
        dispatcher.fire_event("leaf", name="leaf")
        order.append("mid-end")

    for handler, name in [(outer, "outer"), (mid, "mid"), (lambda e: order.append("leaf"), "leaf")]:
        dispatcher.register(handler, "during", match={"name": name}, use_weakref=False)
    result_of(dispatcher.fire_event("outer", name="outer"))
    assert order == ["outer-start", "outer-end", "mid-start", "leaf", "mid-end"]


# 2. Cancelling a fire cancels its follow-ups ---------------------------------


def follow_up_dispatcher(clock: Clock) -> tuple[EventDispatcher, list[Deferred[None]]]:
    """
    A dispatcher whose "main" event queues a follow-up "fu", whose handler
    waits for a Deferred the test holds.
    """
    dispatcher = EventDispatcher(("kind",), clock=clock)
    dispatcher.start()
    waiting: list[Deferred[None]] = []

    def queue_follow_up(event: object, context: EventContext) -> None:
        context.follow_up("fu", kind="fu")

    def slow(event: object) -> Deferred[None]:
        waiting.append(Deferred())
        return waiting[-1]

    dispatcher.register(
        queue_follow_up, "during", match={"kind": "main"}, pass_context=True, use_weakref=False
    )
    dispatcher.register(slow, "after", match={"kind": "fu"}, use_weakref=False)
    return dispatcher, waiting


def test_cancelling_a_fire_cancels_the_follow_up_it_is_running() -> None:
    clock = Clock()
    dispatcher, waiting = follow_up_dispatcher(clock)
    fired = dispatcher.fire_event("main", kind="main")
    assert [event.event for event in dispatcher.in_flight()] == ["main", "fu"]
    fired.cancel()
    error = failure_of(fired, FireCancelled).value
    assert isinstance(error, FireCancelled)
    assert error.result.event == "main"
    [follow_up] = error.result.follow_ups
    assert follow_up.event == "fu" and follow_up.cancelled
    assert waiting[0].called  # the follow-up's handler was cancelled
    assert dispatcher.in_flight() == []
    assert dispatcher.stop().called


def test_a_timeout_on_a_fire_cancels_its_follow_up_too() -> None:
    clock = Clock()
    dispatcher, waiting = follow_up_dispatcher(clock)
    fired = dispatcher.fire_event("main", kind="main").addTimeout(5, clock)
    clock.advance(5)
    failure_of(fired)
    assert waiting[0].called
    assert dispatcher.in_flight() == []


# 3. Shutdown reports are deterministic ----------------------------------------


def test_a_stop_deadline_fails_each_fire_with_its_own_report() -> None:
    """
    The deadline cancels the fires in the order they began: a fire whose
    follow-up is still running fails with its own FireCancelled, every time.
    """
    for _ in range(25):  # objects land at new addresses each time
        clock = Clock()
        dispatcher, _ = follow_up_dispatcher(clock)
        first = dispatcher.fire_event("main", kind="main")
        second = dispatcher.fire_event("fu", kind="fu")
        stopped = dispatcher.stop(timeout=10)
        clock.advance(10)
        assert result_of(stopped) is None
        assert failure_of(first, FireCancelled).value.result.event == "main"  # type: ignore[attr-defined]
        assert failure_of(second, FireCancelled).value.result.event == "fu"  # type: ignore[attr-defined]


# 4. A removed handler's queued call never starts ------------------------------


def test_a_call_queued_behind_max_concurrent_does_not_start_once_its_handler_is_removed() -> None:
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    calls: list[Deferred[None]] = []

    def limited(event: object) -> Deferred[None]:
        calls.append(Deferred())
        return calls[-1]

    handler_id = dispatcher.register(limited, "during", max_concurrent=1, use_weakref=False)
    first = dispatcher.fire_event("one")
    second = dispatcher.fire_event("two")
    assert len(calls) == 1
    dispatcher.unregister(handler_id)
    calls[0].callback(None)
    assert len(calls) == 1
    assert [outcome.handler_id for outcome in result_of(first)] == [handler_id]
    assert result_of(second).outcomes == ()


# 5. The recording dispatcher sees every fire ---------------------------------


def test_the_recording_dispatcher_records_fires_made_with_fire() -> None:
    recorder = RecordingDispatcher(("user",))
    recorder.start()
    recorder.fire("through fire", {"user": "bob"})
    recorder.fire_event("through fire_event", user="amy")
    assert [(fired.event, fired.details) for fired in recorder.fired] == [
        ("through fire", {"user": "bob"}),
        ("through fire_event", {"user": "amy"}),
    ]


def test_the_recording_dispatcher_records_follow_ups_as_they_are_dispatched() -> None:
    """
    A follow-up is a fire of its own: asked for through the context or
    returned as FollowUps, at any depth, it is recorded when dispatched, in
    the order fires happen; one dropped by a stop is never fired, nor recorded.
    """
    recorder = RecordingDispatcher(("k",))
    recorder.start()

    def order(event: object, context: EventContext) -> FollowUps:
        context.follow_up("invoice", k="invoice")
        return FollowUps(("shipment", {"k": "shipment"}))

    def invoice(event: object) -> FollowUps:
        recorder.fire_event("nested", k="nested")
        return FollowUps(("receipt", {"k": "receipt"}))

    def shipment(event: object, context: EventContext) -> None:
        context.follow_up("never", k="never")
        raise StopPropagation("held")

    recorder.register(order, "during", match={"k": "order"}, pass_context=True)
    recorder.register(invoice, "during", match={"k": "invoice"})
    recorder.register(shipment, "during", match={"k": "shipment"}, pass_context=True)
    result = result_of(recorder.fire_event("order", k="order"))
    assert result.value == "held"
    assert [(fired.event, fired.details) for fired in recorder.fired] == [
        ("order", {"k": "order"}),
        ("invoice", {"k": "invoice"}),
        ("nested", {"k": "nested"}),
        ("receipt", {"k": "receipt"}),
        ("shipment", {"k": "shipment"}),
    ]
    recorder.assert_fired_once_with("receipt", k="receipt")
    recorder.assert_not_fired("never")


# 6. Monitors hear of calls that start, and only those -------------------------


@implementer(IFireMonitor)
class StartsSeen:
    def __init__(self) -> None:
        self.started: list[object] = []

    def fire_started(self, fire: FireResult) -> None:
        pass

    def phase_started(self, fire: FireResult, phase: str) -> None:
        pass

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        self.started.append(fire.event)

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        pass

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        pass

    def fire_finished(self, fire: FireResult, failure: Any, seconds: float) -> None:
        pass


def test_handler_started_is_told_when_a_queued_call_starts_not_when_it_is_queued() -> None:
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    monitor = StartsSeen()
    dispatcher.add_monitor(monitor)
    calls: list[Deferred[None]] = []
    dispatcher.register(
        lambda e: calls.append(Deferred()) or calls[-1], "during", max_concurrent=1, use_weakref=False
    )
    dispatcher.fire_event("one")
    dispatcher.fire_event("two")
    assert monitor.started == ["one"]
    calls[0].callback(None)
    assert monitor.started == ["one", "two"]


def test_handler_started_is_not_told_of_a_refused_call() -> None:
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    monitor = StartsSeen()
    dispatcher.add_monitor(monitor)
    dispatcher.register(
        lambda e: Deferred(), "during", max_concurrent=1, when_full="error", use_weakref=False
    )
    dispatcher.fire_event("one")
    refused = result_of(dispatcher.fire_event("two"))
    [outcome] = refused.outcomes
    assert outcome.failure is not None and outcome.failure.check(OverloadedError)
    assert monitor.started == ["one"]
