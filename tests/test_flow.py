"""
Tests for flow control and observability: timeouts, cancellation, when(),
backpressure, the nested-fire policy, stop with a deadline, introspection and
monitors.
"""

from __future__ import annotations

from typing import Any

import pytest
from support import failure_of, result_of
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock, deferLater
from twisted.logger import LogLevel, formatEvent
from zope.interface import implementer

from twisted_event_dispatcher import (
    DispatcherNotRunning,
    EventDispatcher,
    FireCancelled,
    HandlerOutcome,
    HandlerTimedOut,
    IDispatchMonitor,
    OverloadedError,
    UnknownKeywordError,
)
from twisted_event_dispatcher.monitoring import LoggingMonitor


def started(clock: Clock, **options: Any) -> EventDispatcher:
    dispatcher = EventDispatcher(("role",), clock=clock, **options)
    dispatcher.start()
    return dispatcher


def failures_logged(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [event for event in logs if event.get("log_failure") is not None]


# Timeouts


def test_handler_past_its_timeout_is_cancelled_and_the_phase_goes_on(
    clock: Clock, logs: list[dict[str, Any]]
) -> None:
    dispatcher = started(clock)
    hung: Deferred[None] = Deferred()
    calls: list[str] = []
    hung_id = dispatcher.register(lambda e: hung, "during", timeout=3, use_weakref=False)
    dispatcher.register(lambda e: deferLater(clock, 1, calls.append, "quick"), "during", use_weakref=False)
    dispatcher.register(lambda e: calls.append("after"), "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(2)
    assert calls == ["quick"]
    clock.advance(1)
    assert calls == ["quick", "after"]
    assert hung.called  # cancelled; the dispatcher consumed its CancelledError
    result = result_of(fired)
    (late,) = result.failures
    assert late.handler_id == hung_id
    assert late.timed_out
    assert "did not finish within 3 seconds" in str(late.failure.value if late.failure else "")
    (logged,) = failures_logged(logs)
    assert logged["log_failure"].check(HandlerTimedOut)


def test_dispatcher_default_timeout_and_per_handler_override(clock: Clock) -> None:
    dispatcher = started(clock, handler_timeout=5)
    dispatcher.register(lambda e: Deferred(), "during", use_weakref=False)
    dispatcher.register(lambda e: Deferred(), "during", timeout=10, use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(5)
    assert not fired.called
    clock.advance(5)
    assert [outcome.timed_out for outcome in result_of(fired)] == [True, True]


def test_handler_that_finishes_in_time_leaves_no_timer(clock: Clock) -> None:
    dispatcher = started(clock, handler_timeout=5)
    dispatcher.register(lambda e: deferLater(clock, 1, lambda: "done"), "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(1)
    assert result_of(fired).values == ("done",)
    assert clock.getDelayedCalls() == []


def test_handler_that_ignores_cancellation_is_still_left_behind(clock: Clock) -> None:
    class Stubborn(Deferred[None]):
        """
        A dummy Deferred that ignores cancel().
        """

        def cancel(self) -> None:
            pass

    stubborn = Stubborn()
    dispatcher = started(clock)
    dispatcher.register(lambda e: stubborn, "during", timeout=1, use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(1)
    assert result_of(fired).failures[0].timed_out
    stubborn.callback(None)  # arrives late: ignored, no error


def _exploding_canceller(deferred: Deferred[Any]) -> None:
    raise RuntimeError("canceller exploded")


def _canceller_logs(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        event
        for event in logs
        if event.get("log_failure") is not None and event["log_failure"].check(RuntimeError)
    ]


@pytest.mark.parametrize("limited", [False, True])
def test_handler_whose_canceller_raises_still_times_out(
    clock: Clock, logs: list[dict[str, Any]], limited: bool
) -> None:
    """
    A canceller that raises is logged once, naming the handler, and the
    handler is reported as timed out as if it ignored the cancellation;
    the phase goes on.  (With ``max_concurrent`` the dispatcher waits on a
    Deferred of its own, chained to the handler's.)
    """
    dispatcher = started(clock)
    hung: Deferred[None] = Deferred(_exploding_canceller)
    options: dict[str, Any] = {"max_concurrent": 1} if limited else {}
    hung_id = dispatcher.register(lambda e: hung, "during", timeout=3, use_weakref=False, **options)
    dispatcher.register(lambda e: "after", "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(3)  # nothing raised into the caller
    result = result_of(fired)
    assert [outcome.timed_out for outcome in result] == [True, False]
    assert result.values == ("after",)
    (logged,) = _canceller_logs(logs)
    assert logged["handler_id"] == hung_id
    assert "canceller" in formatEvent(logged) and repr(hung_id) in formatEvent(logged)
    assert dispatcher.in_flight() == []
    hung.callback(None)  # arrives late: ignored, no error


def test_cancelling_a_fire_survives_a_canceller_that_raises(clock: Clock, logs: list[dict[str, Any]]) -> None:
    dispatcher = started(clock)
    exploding: Deferred[None] = Deferred(_exploding_canceller)
    plain: Deferred[None] = Deferred()
    exploding_id = dispatcher.register(lambda e: exploding, "during", use_weakref=False)
    plain_id = dispatcher.register(lambda e: plain, "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    fired.cancel()  # nothing raised into the caller
    error = failure_of(fired, FireCancelled).value
    assert [(o.handler_id, o.cancelled) for o in error.result] == [(exploding_id, True), (plain_id, True)]
    assert plain.called  # the other handler was cancelled all the same
    (logged,) = _canceller_logs(logs)
    assert logged["handler_id"] == exploding_id
    assert dispatcher.in_flight() == []


def test_stop_deadline_survives_a_canceller_that_raises(clock: Clock, logs: list[dict[str, Any]]) -> None:
    dispatcher = started(clock)
    dispatcher.register(lambda e: Deferred(_exploding_canceller), "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    stopped = dispatcher.stop(timeout=1)
    clock.advance(1)  # nothing raised into the caller
    assert result_of(stopped) is None
    assert failure_of(fired, FireCancelled).value.result.cancelled
    assert len(_canceller_logs(logs)) == 1
    assert dispatcher.in_flight() == []


@pytest.mark.parametrize("timeout", [0, -1, "5", True])
def test_bad_timeouts_are_refused(timeout: Any) -> None:
    with pytest.raises(ValueError, match="timeout must be a number of seconds above 0"):
        EventDispatcher(("role",), handler_timeout=timeout)
    with pytest.raises(ValueError, match="timeout must be a number of seconds above 0"):
        EventDispatcher(("role",)).register(print, "during", timeout=timeout)
    with pytest.raises(ValueError, match="timeout must be a number of seconds above 0"):
        EventDispatcher(("role",)).stop(timeout=timeout)


# Cancellation


def test_cancelling_a_fire_reports_what_ran_was_cancelled_and_never_started(
    clock: Clock, logs: list[dict[str, Any]]
) -> None:
    dispatcher = started(clock)
    pending: Deferred[None] = Deferred()
    ran = dispatcher.register(lambda e: "ran", "during", use_weakref=False)
    cancelled = dispatcher.register(lambda e: pending, "during", name="pending", use_weakref=False)
    waiting = dispatcher.register(lambda e: "never", "during", requires="pending", use_weakref=False)
    later = dispatcher.register(lambda e: "never", "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    fired.cancel()
    error = failure_of(fired).value
    assert isinstance(error, FireCancelled)
    assert isinstance(error, CancelledError)
    result = error.result
    assert [(o.handler_id, o.cancelled) for o in result] == [(ran, False), (cancelled, True)]
    assert set(result.never_started) == {waiting, later}
    assert result.cancelled
    assert pending.called
    assert not failures_logged(logs)
    assert result_of(dispatcher.stop()) is None


def test_a_cancelled_call_is_a_call_that_did_not_succeed_but_is_not_handled_as_a_failure(
    clock: Clock, logs: list[dict[str, Any]]
) -> None:
    """
    What flow-control.rst says of a cancelled fire's report: the cancelled
    call is among ``failures``, with a CancelledError and the status
    "cancelled" (as a timed out call is, with its status); but it is neither
    logged nor fatal under handler_errors="fail", nor counted as failed in
    the report's repr.
    """
    dispatcher = started(clock, handler_errors="fail")
    pending_id = dispatcher.register(lambda e: Deferred(), "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    fired.cancel()
    report = failure_of(fired, FireCancelled).value.result
    [outcome] = report.failures
    assert (outcome.handler_id, outcome.status, outcome.cancelled) == (pending_id, "cancelled", True)
    assert outcome.failure is not None and outcome.failure.check(CancelledError)
    assert not outcome.succeeded and not report.succeeded
    assert repr(report).endswith("; 0 failed; 1 cancelled>")
    with pytest.raises(CancelledError):
        report.raise_first_failure()
    assert not failures_logged(logs)


# Awaiting an event


def test_when_fires_with_the_next_matching_event(clock: Clock) -> None:
    dispatcher = started(clock)
    arrived = dispatcher.when(role="admin")
    dispatcher.fire_event("user event", role="user")
    assert not arrived.called
    dispatcher.fire_event("admin event", role="admin")
    dispatcher.fire_event("second admin event", role="admin")
    assert result_of(arrived) == "admin event"
    assert dispatcher.handler_ids() == []


def test_cancelling_when_leaves_no_registration(clock: Clock) -> None:
    dispatcher = started(clock)
    arrived = dispatcher.when()
    assert len(dispatcher.handler_ids()) == 1
    arrived.cancel()
    assert failure_of(arrived).check(CancelledError)
    assert dispatcher.handler_ids() == []
    dispatcher.fire_event("later")


def test_when_checks_its_match_spec(clock: Clock) -> None:
    with pytest.raises(UnknownKeywordError):
        started(clock).when(colour="red")


# Backpressure


def test_events_beyond_max_in_flight_wait_their_turn(clock: Clock) -> None:
    dispatcher = started(clock, max_in_flight=1, max_queued_events=1)
    order: list[object] = []
    dispatcher.register(lambda e: deferLater(clock, 1, order.append, e), "during", use_weakref=False)
    first = dispatcher.fire_event(1)
    second = dispatcher.fire_event(2)
    third = dispatcher.fire_event(3)
    error = failure_of(third).value
    assert isinstance(error, OverloadedError)
    assert "1 running, 1 queued" in str(error)
    assert not second.called
    clock.advance(1)
    assert order == [1]
    assert result_of(first).event == 1
    clock.advance(1)
    assert order == [1, 2]
    assert result_of(second).event == 2


def test_when_full_error_refuses_at_once(clock: Clock) -> None:
    dispatcher = started(clock, max_in_flight=1, when_full="error")
    dispatcher.register(lambda e: Deferred(), "during", use_weakref=False)
    dispatcher.fire_event(1)
    assert failure_of(dispatcher.fire_event(2)).check(OverloadedError)


def test_held_fires_are_refused_when_the_dispatcher_stops(clock: Clock) -> None:
    dispatcher = started(clock, max_in_flight=1)
    gate: Deferred[None] = Deferred()
    dispatcher.register(lambda e: gate, "during", use_weakref=False)
    dispatcher.fire_event(1)
    held = dispatcher.fire_event(2)
    withdrawn = dispatcher.fire_event(3)
    withdrawn.cancel()
    failure_of(withdrawn)
    stopped = dispatcher.stop()
    assert failure_of(held).check(DispatcherNotRunning)
    gate.callback(None)
    assert result_of(stopped) is None


def test_handler_concurrency_limit_queues_then_refuses(clock: Clock, logs: list[dict[str, Any]]) -> None:
    dispatcher = started(clock)
    running: list[object] = []

    def slow(event: object) -> Deferred[None]:
        running.append(event)
        return deferLater(clock, 1, lambda: None)

    dispatcher.register(slow, "during", max_concurrent=1, max_queued=1, use_weakref=False)
    fires = [dispatcher.fire_event(n) for n in range(3)]
    assert running == [0]
    overloaded = result_of(fires[2]).failures[0]
    assert overloaded.failure is not None
    assert overloaded.failure.check(OverloadedError)
    clock.advance(1)
    assert running == [0, 1]
    clock.advance(1)
    assert [result_of(fired).succeeded for fired in fires[:2]] == [True, True]


def test_handler_concurrency_limit_with_error_policy(clock: Clock, logs: list[dict[str, Any]]) -> None:
    dispatcher = started(clock)
    dispatcher.register(
        lambda e: Deferred(), "during", max_concurrent=1, when_full="error", use_weakref=False
    )
    dispatcher.fire_event(1)
    (refused,) = result_of(dispatcher.fire_event(2)).failures
    assert refused.failure is not None
    assert refused.failure.check(OverloadedError)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_in_flight": 0}, "concurrency limit must be a whole number of at least 1"),
        ({"max_queued_events": -1}, "queue bound must be a whole number >= 0"),
        ({"when_full": "drop"}, "when_full must be 'wait' or 'error'"),
        ({"nested": "later"}, "nested must be 'immediate' or 'queue'"),
    ],
)
def test_bad_flow_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        EventDispatcher(("role",), **options)


# Nested fires


def test_nested_fire_runs_at_once_by_default(clock: Clock) -> None:
    dispatcher = started(clock)
    order: list[str] = []

    def outer(event: object) -> None:
        if event == "outer":
            order.append("outer starts inner")
            dispatcher.fire_event("inner")
            order.append("outer goes on")

    dispatcher.register(outer, "during", use_weakref=False)
    dispatcher.register(lambda e: order.append(f"after {e}"), "after", use_weakref=False)
    dispatcher.fire_event("outer")
    assert order == ["outer starts inner", "after inner", "outer goes on", "after outer"]


def test_queued_nested_fire_runs_after_the_current_event(clock: Clock) -> None:
    dispatcher = started(clock, nested="queue")
    order: list[str] = []
    nested: list[Deferred[Any]] = []

    def outer(event: object) -> None:
        if event == "outer":
            nested.append(dispatcher.fire_event("inner"))
            order.append("outer goes on")

    dispatcher.register(outer, "during", use_weakref=False)
    dispatcher.register(lambda e: order.append(f"after {e}"), "after", use_weakref=False)
    dispatcher.fire_event("outer")
    assert order == ["outer goes on", "after outer", "after inner"]
    assert result_of(nested[0]).event == "inner"


def test_handler_waiting_for_its_queued_fire_does_not_deadlock(clock: Clock) -> None:
    """
    A queued nested fire goes as soon as its event waits for a handler, so a
    handler that waits for the fire it made still finishes.
    """
    dispatcher = started(clock, nested="queue")
    dispatcher.register(
        lambda e: dispatcher.fire_event("inner") if e == "outer" else None, "during", use_weakref=False
    )
    fired = dispatcher.fire_event("outer")
    (inner,) = result_of(fired).values
    assert inner.event == "inner"  # type: ignore[attr-defined]


@pytest.mark.parametrize("when_full", ["wait", "error"])
def test_handler_waiting_for_its_queued_fire_does_not_deadlock_under_max_in_flight(
    clock: Clock, when_full: str
) -> None:
    """
    The queued nested fire belongs to the event that holds the only place of
    ``max_in_flight``: released, it neither waits for that place nor is
    refused for want of it.
    """
    dispatcher = started(clock, nested="queue", max_in_flight=1, when_full=when_full)
    dispatcher.register(
        lambda e: dispatcher.fire_event("invoice", role="invoice"),
        "during",
        match={"role": "order"},
        use_weakref=False,
    )
    dispatcher.register(lambda e: "archived", "during", match={"role": "invoice"}, use_weakref=False)
    fired = dispatcher.fire_event("order", role="order")
    (invoice,) = result_of(fired).values
    assert invoice.event == "invoice"  # type: ignore[attr-defined]
    assert invoice.values == ("archived",)  # type: ignore[attr-defined]
    assert dispatcher.in_flight() == []
    assert clock.getDelayedCalls() == []


def test_queued_nested_fire_released_as_its_event_ends_is_not_refused_by_max_in_flight(
    clock: Clock,
) -> None:
    dispatcher = started(clock, nested="queue", max_in_flight=1, when_full="error")
    nested: list[Deferred[Any]] = []

    def order(event: object) -> None:
        nested.append(dispatcher.fire_event("invoice", role="invoice"))

    dispatcher.register(order, "during", match={"role": "order"}, use_weakref=False)
    dispatcher.register(lambda e: "archived", "during", match={"role": "invoice"}, use_weakref=False)
    assert result_of(dispatcher.fire_event("order", role="order")).values == (None,)
    assert result_of(nested[0]).values == ("archived",)
    # The place went back: the next event is admitted.
    assert result_of(dispatcher.fire_event("order", role="order")).values == (None,)


def test_nested_policy_per_call(clock: Clock) -> None:
    immediate = started(clock)
    order: list[str] = []

    def outer(event: object) -> None:
        if event == "outer":
            immediate.fire("inner", {"role": "x"}, nested="queue")
            order.append("outer goes on")

    immediate.register(outer, "during", use_weakref=False)
    immediate.register(lambda e: order.append(f"after {e}"), "after", use_weakref=False)
    immediate.fire("outer")
    assert order == ["outer goes on", "after outer", "after inner"]
    with pytest.raises(ValueError, match="nested must be"):
        immediate.fire("e", nested="sometime")  # type: ignore[arg-type]


# Stopping with a deadline


def test_stop_with_a_deadline_cancels_what_is_left(clock: Clock, logs: list[dict[str, Any]]) -> None:
    dispatcher = started(clock)
    dispatcher.register(lambda e: Deferred(), "during", name="hangs", use_weakref=False)
    dispatcher.register(lambda e: deferLater(clock, 1, lambda: None), "during", use_weakref=False)
    fired = dispatcher.fire_event("stuck")
    stopped = dispatcher.stop(timeout=5)
    clock.advance(4)
    assert not stopped.called
    clock.advance(1)
    assert result_of(stopped) is None
    error = failure_of(fired).value
    assert isinstance(error, FireCancelled)
    assert [o.cancelled for o in error.result] == [True, False]
    (warning,) = [event for event in logs if event.get("log_level") == LogLevel.warn]
    assert warning["event"] == "stuck"
    assert "hangs" in warning["pending"]
    assert dispatcher.in_flight() == []


def test_stop_deadline_spares_events_fired_after_a_restart(clock: Clock) -> None:
    dispatcher = started(clock)
    dispatcher.register(lambda e: Deferred(), "during", use_weakref=False)
    old = dispatcher.fire_event("old")
    stopped = dispatcher.stop(timeout=5)
    dispatcher.start()
    new = dispatcher.fire_event("new")
    clock.advance(5)
    assert result_of(stopped) is None
    assert failure_of(old).check(FireCancelled)
    assert not new.called
    new.cancel()
    failure_of(new)


def test_stop_that_drains_in_time_cancels_its_deadline(clock: Clock) -> None:
    dispatcher = started(clock)
    dispatcher.register(lambda e: deferLater(clock, 1, lambda: None), "during", use_weakref=False)
    dispatcher.fire_event("e")
    stopped = dispatcher.stop(timeout=5)
    clock.advance(1)
    assert result_of(stopped) is None
    assert clock.getDelayedCalls() == []


# Introspection


def test_in_flight_inside_handlers_lists_the_events_being_dispatched(clock: Clock) -> None:
    """
    A handler sees its own event in flight, and the event whose handler
    fired it: waiting ones first, then those being dispatched now,
    outermost first.
    """
    dispatcher = started(clock)
    seen: list[list[object]] = []
    dispatcher.register(lambda e: Deferred(), "during", match={"role": "slow"}, use_weakref=False)
    dispatcher.register(
        lambda e: dispatcher.fire_event("inner", role="inner"),
        "during",
        match={"role": "outer"},
        use_weakref=False,
    )
    dispatcher.register(
        lambda e: seen.append([event.event for event in dispatcher.in_flight()]),
        "during",
        match={"role": "inner"},
        use_weakref=False,
    )
    dispatcher.fire_event("waiting", role="slow")
    dispatcher.fire_event("outer", role="outer")
    assert seen == [["waiting", "outer", "inner"]]
    assert [event.event for event in dispatcher.in_flight()] == ["waiting"]


def test_stop_inside_a_nested_fire_waits_for_both_events(clock: Clock) -> None:
    """
    A stop made by the handler of a fire that another handler made waits
    for both fires.
    """
    dispatcher = started(clock)
    order: list[str] = []

    def fire_inner(event: object) -> None:
        inner = dispatcher.fire_event("inner", role="inner")
        inner.addCallback(lambda _: order.append("inner finished"))

    def stop(event: object) -> None:
        stopped = dispatcher.stop()
        stopped.addCallback(lambda _: order.append(f"stopped, in flight: {dispatcher.in_flight()}"))

    dispatcher.register(fire_inner, "during", match={"role": "outer"}, use_weakref=False)
    dispatcher.register(stop, "during", match={"role": "inner"}, use_weakref=False)
    outer = dispatcher.fire_event("outer", role="outer")
    outer.addCallback(lambda _: order.append("outer finished"))
    # Both fires finish synchronously, so the stop fires before outer's
    # Deferred is returned; but not before both have finished.
    assert order == ["inner finished", "stopped, in flight: []", "outer finished"]


def test_in_flight_tells_phase_pending_handlers_and_ages(clock: Clock) -> None:
    dispatcher = started(clock)
    dispatcher.register(
        lambda e: deferLater(clock, 10, lambda: None), "during", name="slow", use_weakref=False
    )
    dispatcher.fire_event("first", role="admin")
    clock.advance(4)
    dispatcher.fire_event("second")
    clock.advance(1)
    first, second = dispatcher.in_flight()
    assert (first.event, first.details, first.phase, first.seconds) == (
        "first",
        {"role": "admin"},
        "during",
        5,
    )
    (pending,) = first.pending
    assert pending.handler_id.name == "slow"
    assert pending.seconds == 5
    assert second.seconds == 1


# Monitors


@implementer(IDispatchMonitor)
class RecordingMonitor:
    """
    A dummy monitor that records every hook call.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def phase_started(self, event: object, phase: str) -> None:
        self.calls.append(("phase_started", event, phase))

    def phase_finished(self, event: object, phase: str, seconds: float) -> None:
        self.calls.append(("phase_finished", event, phase, seconds))

    def handler_started(self, event: object, handler_id: Any) -> None:
        self.calls.append(("handler_started", event, handler_id.label))

    def handler_finished(
        self, event: object, handler_id: Any, outcome: HandlerOutcome, seconds: float
    ) -> None:
        self.calls.append(("handler_finished", event, handler_id.label, outcome.succeeded, seconds))


def test_monitor_sees_every_phase_and_handler_with_durations(clock: Clock) -> None:
    dispatcher = started(clock)
    monitor = RecordingMonitor()
    dispatcher.add_monitor(monitor)

    def slow(event: object) -> Deferred[None]:
        return deferLater(clock, 2, lambda: None)

    def broken(event: object) -> None:
        raise ValueError("broken")

    dispatcher.register(slow, "during", use_weakref=False)
    dispatcher.register(broken, "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(2)
    result_of(fired)
    assert monitor.calls == [
        ("phase_started", "e", "during"),
        ("handler_started", "e", "slow"),
        ("handler_finished", "e", "slow", True, 2),
        ("phase_finished", "e", "during", 2),
        ("phase_started", "e", "after"),
        ("handler_started", "e", "broken"),
        ("handler_finished", "e", "broken", False, 0),
        ("phase_finished", "e", "after", 0),
    ]
    dispatcher.remove_monitor(monitor)
    dispatcher.fire_event("unwatched")
    assert len(monitor.calls) == 8


def test_failing_monitor_is_logged_and_changes_nothing(clock: Clock, logs: list[dict[str, Any]]) -> None:
    @implementer(IDispatchMonitor)
    class Broken(RecordingMonitor):
        def handler_started(self, event: object, handler_id: Any) -> None:
            raise RuntimeError("monitor broke")

    dispatcher = started(clock)
    dispatcher.add_monitor(Broken())
    dispatcher.register(lambda e: "value", "during", use_weakref=False)
    assert result_of(dispatcher.fire_event("e")).values == ("value",)
    (logged,) = failures_logged(logs)
    assert logged["hook"] == "handler_started"


def test_monitors_must_provide_the_interface(clock: Clock) -> None:
    dispatcher = started(clock)
    with pytest.raises(TypeError, match="must provide IPhaseMonitor, IFireMonitor or IDispatchMonitor"):
        dispatcher.add_monitor(object())  # type: ignore[arg-type]
    with pytest.raises(LookupError):
        dispatcher.remove_monitor(RecordingMonitor())


def test_logging_monitor_logs_calls_and_warns_about_slow_ones(
    clock: Clock, logs: list[dict[str, Any]]
) -> None:
    dispatcher = started(clock)
    dispatcher.add_monitor(LoggingMonitor(slow_after=1.5))
    dispatcher.register(
        lambda e: deferLater(clock, 1, lambda: None), "during", name="quick", use_weakref=False
    )
    dispatcher.register(
        lambda e: deferLater(clock, 2, lambda: None), "during", name="slow", use_weakref=False
    )
    fired = dispatcher.fire_event("e")
    clock.advance(1)
    clock.advance(1)
    result_of(fired)
    calls = [(event["handler_id"].name, event["seconds"]) for event in logs if "succeeded" in event]
    assert calls == [("quick", 1), ("slow", 2)]
    (warning,) = [event for event in logs if event.get("log_level") == LogLevel.warn]
    assert warning["handler_id"].name == "slow"
    with pytest.raises(ValueError, match="slow_after"):
        LoggingMonitor(slow_after=-1)
