"""
Tests for `EventDispatcher`: matching, phases, failures and the results it reports.
"""

from __future__ import annotations

from typing import Any

import pytest
from support import failure_of, result_of
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock, deferLater

from twisted_event_dispatcher import (
    DispatcherError,
    EventDispatcher,
    FireResult,
    HandlerFailed,
    UnhashableValueError,
    UnknownKeywordError,
    UnknownPhaseError,
)


def recorder(calls: list[Any], tag: object) -> Any:
    """
    A handler that appends ``(tag, event)`` to ``calls`` and returns ``tag``.
    """

    def record(event: object) -> object:
        calls.append((tag, event))
        return tag

    return record


# Construction


@pytest.mark.parametrize(
    ("phases", "error", "message"),
    [
        ((), ValueError, "at least one phase"),
        (("a", "b", "a"), ValueError, "['a'] more than once"),
        ("during", TypeError, "not the single string 'during'"),
        (("a", 3), TypeError, "got int 3"),
    ],
)
def test_bad_phases_are_refused(phases: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        EventDispatcher(("user",), phases)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("keywords", "error", "message"),
    [
        ("user", TypeError, "not the single string 'user'"),
        (("user", "use_weakref"), ValueError, "'use_weakref'] cannot be a match-spec keyword"),
        (("not an identifier",), ValueError, "must be Python identifiers"),
        (("user", "user"), ValueError, "more than once"),
    ],
)
def test_bad_keywords_are_refused(keywords: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error) as raised:
        EventDispatcher(keywords)
    assert message in str(raised.value)


def test_bad_error_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="handler_errors must be 'log' or 'fail', got 'ignore'"):
        EventDispatcher(("user",), handler_errors="ignore")  # type: ignore[arg-type]


def test_configuration_is_readable() -> None:
    dispatcher = EventDispatcher(["user", "role"], ["first", "second"])
    assert dispatcher.allowed_match_spec_keywords == frozenset({"user", "role"})
    assert dispatcher.phases == ("first", "second")
    assert "first" in repr(dispatcher) and "stopped" in repr(dispatcher)


# Matching


def test_handler_runs_only_for_matching_events(dispatcher: EventDispatcher) -> None:
    """
    A handler added with role='admin' runs only for events fired with role='admin'.
    """
    calls: list[Any] = []
    dispatcher.add_event_handler(recorder(calls, "admin"), "during", role="admin", use_weakref=False)
    dispatcher.fire_event("e1", role="user")
    dispatcher.fire_event("e2", role="admin", user="susan")
    assert calls == [("admin", "e2")]


def test_spec_left_out_or_none_is_a_wildcard(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    dispatcher.register(recorder(calls, "none"), "during", match={"role": None}, use_weakref=False)
    dispatcher.register(recorder(calls, "any"), "during", use_weakref=False)
    dispatcher.fire_event("e1", role="user")
    dispatcher.fire_event("e2")
    assert calls == [("none", "e1"), ("any", "e1"), ("none", "e2"), ("any", "e2")]


def test_constrained_keyword_missing_from_event_means_no_match(dispatcher: EventDispatcher) -> None:
    """
    The original matched here; that was a bug.
    """
    calls: list[Any] = []
    dispatcher.register(recorder(calls, "admin"), "during", match={"role": "admin"}, use_weakref=False)
    result = result_of(dispatcher.fire_event("e", user="bob"))
    assert calls == []
    assert len(result) == 0


def test_every_constrained_keyword_must_match(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    dispatcher.register(
        recorder(calls, "both"), "during", match={"role": "admin", "user": "susan"}, use_weakref=False
    )
    dispatcher.fire_event("e1", role="admin", user="bob")
    dispatcher.fire_event("e2", role="admin")
    dispatcher.fire_event("e3", role="admin", user="susan", event_type="login")
    assert calls == [("both", "e3")]


def test_unknown_keyword_in_spec_raises_at_the_call(dispatcher: EventDispatcher) -> None:
    with pytest.raises(UnknownKeywordError) as raised:
        dispatcher.add_event_handler(lambda e: None, "during", rolle="admin", use_weakref=False)
    message = str(raised.value)
    assert "'rolle'" in message and "match-spec" in message
    assert "('event_type', 'role', 'user')" in message
    assert isinstance(raised.value, ValueError)
    assert dispatcher.handler_ids() == []


def test_unknown_keyword_in_fired_details_raises_and_calls_nothing(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    dispatcher.register(recorder(calls, "any"), "during", use_weakref=False)
    with pytest.raises(ValueError, match="'colour' in fired event details"):
        dispatcher.fire_event("e", colour="red")
    assert calls == []


def test_unhashable_values_are_clear_type_errors(dispatcher: EventDispatcher) -> None:
    with pytest.raises(UnhashableValueError, match="'role' in match-spec must be hashable"):
        dispatcher.register(lambda e: None, "during", match={"role": ["admin"]}, use_weakref=False)
    with pytest.raises(
        TypeError, match="'user' in fired event details must be hashable to be matched, got dict"
    ):
        dispatcher.fire_event("e", role="admin", user={"name": "bob"})


def test_unknown_phase_is_refused(dispatcher: EventDispatcher) -> None:
    with pytest.raises(UnknownPhaseError) as raised:
        dispatcher.add_event_handler(lambda e: None, "durring", use_weakref=False)
    assert str(raised.value) == "phase 'durring' is not one of ('before', 'during', 'after')"
    assert isinstance(raised.value, ValueError)
    with pytest.raises(UnknownPhaseError):
        dispatcher.register(lambda e: None, ["during"], use_weakref=False)  # type: ignore[arg-type]
    with pytest.raises(UnknownPhaseError):
        dispatcher.handler_ids("durring")


def test_handler_must_be_callable(dispatcher: EventDispatcher) -> None:
    with pytest.raises(TypeError, match="handler must be callable, got 'notify'"):
        dispatcher.register("notify", "during", use_weakref=False)  # type: ignore[arg-type]


def test_every_error_is_a_dispatcher_error(dispatcher: EventDispatcher) -> None:
    with pytest.raises(DispatcherError):
        dispatcher.fire_event("e", colour="red")


# Phases


def test_phases_run_in_configured_order() -> None:
    dispatcher = EventDispatcher(("user",), ("collect", "check", "commit"))
    dispatcher.start()
    calls: list[Any] = []
    for phase in ("commit", "collect", "check"):
        dispatcher.register(recorder(calls, phase), phase, use_weakref=False)
    dispatcher.fire_event("e")
    assert [tag for tag, _ in calls] == ["collect", "check", "commit"]


def test_handlers_of_a_phase_start_in_registration_order(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    dispatcher.register(recorder(calls, 1), "during", match={"role": "admin"}, use_weakref=False)
    dispatcher.register(recorder(calls, 2), "during", use_weakref=False)
    dispatcher.register(recorder(calls, 3), "during", match={"user": "susan"}, use_weakref=False)
    dispatcher.register(
        recorder(calls, 4), "during", match={"role": "admin", "user": "susan"}, use_weakref=False
    )
    dispatcher.register(recorder(calls, 5), "during", match={"role": "admin"}, use_weakref=False)
    dispatcher.fire_event("e", role="admin", user="susan")
    assert [tag for tag, _ in calls] == [1, 2, 3, 4, 5]


def test_next_phase_waits_for_every_handler_of_the_phase(clock: Clock, dispatcher: EventDispatcher) -> None:
    """
    'after' handlers start only when every 'during' handler has finished.
    """
    seen: list[str] = []
    dispatcher.register(
        lambda e: deferLater(clock, 5, seen.append, "slow during"), "during", use_weakref=False
    )
    dispatcher.register(
        lambda e: deferLater(clock, 1, seen.append, "quick during"), "during", use_weakref=False
    )
    dispatcher.register(lambda e: seen.append("after"), "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(4)
    assert seen == ["quick during"]
    assert not fired.called
    clock.advance(1)
    assert seen == ["quick during", "slow during", "after"]
    assert isinstance(result_of(fired), FireResult)


def test_coroutine_handlers_are_awaited(dispatcher: EventDispatcher) -> None:
    gate: Deferred[str] = Deferred()
    seen: list[str] = []

    async def during(event: object) -> str:
        seen.append("started")
        value = await gate
        seen.append(value)
        return f"done {value}"

    dispatcher.register(during, "during", use_weakref=False)
    dispatcher.register(lambda e: seen.append("after"), "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    assert seen == ["started"]
    gate.callback("opened")
    assert seen == ["started", "opened", "after"]
    assert result_of(fired).values == ("done opened", None)


def test_synchronous_handlers_give_an_already_fired_deferred(dispatcher: EventDispatcher) -> None:
    async def finishes_at_once(event: object) -> int:
        return 3

    dispatcher.register(lambda e: 1, "before", use_weakref=False)
    dispatcher.register(lambda e: succeed(2), "during", use_weakref=False)
    dispatcher.register(finishes_at_once, "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    assert fired.called
    assert result_of(fired).values == (1, 2, 3)


def test_result_reports_each_handler_per_phase(dispatcher: EventDispatcher, clock: Clock) -> None:
    first = dispatcher.register(lambda e: "b", "before", use_weakref=False)
    second = dispatcher.register(lambda e: deferLater(clock, 1, lambda: "d"), "during", use_weakref=False)
    third = dispatcher.register(lambda e: None, "during", match={"role": "admin"}, use_weakref=False)
    fired = dispatcher.fire_event("the event", role="admin")
    clock.advance(1)
    result = result_of(fired)
    assert result.event == "the event"
    assert result.details == {"role": "admin"}
    assert list(result.phases) == ["before", "during"]
    assert [(o.handler_id, o.value) for o in result.phases["during"]] == [(second, "d"), (third, None)]
    assert [o.handler_id for o in result] == [first, second, third]
    assert result.succeeded and result.failures == ()
    assert "before: 1, during: 2" in repr(result)


def test_handlers_of_a_phase_run_concurrently(dispatcher: EventDispatcher) -> None:
    """
    Every handler of a phase is started before any of them has to finish.
    """
    gates: list[Deferred[None]] = [Deferred(), Deferred()]
    started: list[int] = []

    def waiter(number: int) -> Any:
        def wait(event: object) -> Deferred[None]:
            started.append(number)
            return gates[number]

        return wait

    dispatcher.register(waiter(0), "during", use_weakref=False)
    dispatcher.register(waiter(1), "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    assert started == [0, 1]
    gates[1].callback(None)
    assert not fired.called
    gates[0].callback(None)
    assert fired.called


# Failures


def test_failing_handler_is_logged_recorded_and_others_go_on(
    dispatcher: EventDispatcher, logs: list[dict[str, Any]]
) -> None:
    calls: list[Any] = []

    def broken(event: object) -> None:
        raise ZeroDivisionError("boom")

    broken_id = dispatcher.register(broken, "during", use_weakref=False)
    dispatcher.register(recorder(calls, "during"), "during", use_weakref=False)
    dispatcher.register(recorder(calls, "after"), "after", use_weakref=False)
    result = result_of(dispatcher.fire_event("e", role="admin"))
    assert [tag for tag, _ in calls] == ["during", "after"]
    (failed,) = result.failures
    assert failed.handler_id == broken_id and failed.phase == "during"
    assert failed.failure is not None and failed.failure.check(ZeroDivisionError)
    assert not failed.succeeded and not result.succeeded
    (logged,) = [event for event in logs if event.get("log_failure") is not None]
    assert logged["handler_id"] == broken_id
    assert logged["phase"] == "during"
    assert logged["event"] == "e"
    assert logged["log_failure"].check(ZeroDivisionError)


def test_asynchronous_failures_are_recorded_without_unhandled_errors(
    dispatcher: EventDispatcher, clock: Clock, logs: list[dict[str, Any]]
) -> None:
    async def broken_coroutine(event: object) -> None:
        raise KeyError("coroutine")

    def later(event: object) -> Deferred[None]:
        return deferLater(clock, 1, lambda: 1 / 0)

    dispatcher.register(broken_coroutine, "before", use_weakref=False)
    dispatcher.register(lambda e: fail(ValueError("already failed")), "before", use_weakref=False)
    dispatcher.register(later, "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(1)
    result = result_of(fired)
    kinds = [o.failure.type for o in result.failures if o.failure is not None]
    assert kinds == [KeyError, ValueError, ZeroDivisionError]
    assert len([event for event in logs if event.get("log_failure") is not None]) == 3


def test_fatal_failures_finish_the_phase_then_stop(clock: Clock, logs: list[dict[str, Any]]) -> None:
    """
    With handler_errors='fail', the failing phase still completes, later
    phases do not run, and the fire fails with one error carrying every failure.
    """
    dispatcher = EventDispatcher(("user",), handler_errors="fail")
    dispatcher.start()
    calls: list[Any] = []
    first = dispatcher.register(lambda e: 1 / 0, "during", use_weakref=False)
    dispatcher.register(
        lambda e: deferLater(clock, 1, calls.append, "slow during"), "during", use_weakref=False
    )
    second = dispatcher.register(lambda e: deferLater(clock, 2, lambda: {}["x"]), "during", use_weakref=False)
    dispatcher.register(recorder(calls, "after"), "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(1)
    assert not fired.called
    clock.advance(1)
    error = failure_of(fired).value
    assert isinstance(error, HandlerFailed)
    assert [handler_id for handler_id, _ in error.failures] == [first, second]
    assert [failure.type for _, failure in error.failures] == [ZeroDivisionError, KeyError]
    assert calls == ["slow during"]
    assert "2 handler(s) failed for event 'e'" in str(error)
    assert list(error.result.phases) == ["during"]
    assert not [event for event in logs if event.get("log_failure") is not None]


def test_fatal_failure_in_a_synchronous_phase(dispatcher: EventDispatcher) -> None:
    fatal = EventDispatcher(("user",), handler_errors="fail")
    fatal.start()
    calls: list[Any] = []
    fatal.register(lambda e: 1 / 0, "before", use_weakref=False)
    fatal.register(recorder(calls, "before"), "before", use_weakref=False)
    fatal.register(recorder(calls, "after"), "after", use_weakref=False)
    error = failure_of(fatal.fire_event("e")).value
    assert isinstance(error, HandlerFailed)
    assert calls == [("before", "e")]


def test_handler_returning_a_deferred_that_is_chained(dispatcher: EventDispatcher) -> None:
    """
    A handler's Deferred that waits on another Deferred is waited for.
    """
    inner: Deferred[str] = Deferred()
    outer: Deferred[None] = succeed(None)
    outer.addCallback(lambda _: inner)
    dispatcher.register(lambda e: outer, "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    assert not fired.called
    inner.callback("inner value")
    assert result_of(fired).values == ("inner value",)


def test_cancelling_a_fire_cancels_pending_handlers_and_skips_later_phases(
    dispatcher: EventDispatcher, logs: list[dict[str, Any]]
) -> None:
    pending: Deferred[None] = Deferred()
    calls: list[Any] = []
    dispatcher.register(lambda e: pending, "during", use_weakref=False)
    dispatcher.register(recorder(calls, "after"), "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    fired.cancel()
    assert failure_of(fired).check(Exception)
    assert pending.called
    assert calls == []
    assert not [event for event in logs if event.get("log_failure") is not None]
    assert result_of(dispatcher.stop()) is None
