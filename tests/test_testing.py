"""
The test kit, twisted_event_dispatcher.testing: reading Deferreds, the
recording dispatcher, and handlers the test drives by hand or by a Clock.
"""

from __future__ import annotations

import re
from unittest.mock import ANY

import pytest
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import (
    DispatcherNotRunning,
    EventDispatcher,
    HandlerFailed,
    IBackgroundUtility,
    IEventDispatcher,
    UnhashableValueError,
    UnknownKeywordError,
    testing,
)
from twisted_event_dispatcher.testing import (
    ControlledHandler,
    DelayedHandler,
    FiredEvent,
    RecordingDispatcher,
    assert_not_fired,
    failure_of,
    result_of,
)


@pytest.fixture
def recorder() -> RecordingDispatcher:
    """
    A running recording dispatcher with keywords event_type, user and role.
    """
    started = RecordingDispatcher(allowed_match_spec_keywords=("event_type", "user", "role"))
    started.start()
    return started


def fire_three(recorder: RecordingDispatcher) -> None:
    recorder.fire_event("alice", event_type="user_created", user="alice", role="admin")
    recorder.fire_event("bob", event_type="user_created", user="bob")
    recorder.fire_event("bob", event_type="user_deleted", user="bob")


LISTING_OF_THREE = (
    "fired (3):\n"
    "  1. 'alice' with event_type='user_created', user='alice', role='admin'\n"
    "  2. 'bob' with event_type='user_created', user='bob'\n"
    "  3. 'bob' with event_type='user_deleted', user='bob'"
)


# result_of, failure_of, assert_not_fired


def test_result_of_returns_the_result_and_leaves_it_in_place():
    deferred = succeed(42)
    assert result_of(deferred) == 42
    assert result_of(deferred) == 42


def test_result_of_an_unfired_deferred_fails_the_test():
    with pytest.raises(AssertionError, match=r"expected a success result from <Deferred .*has no result yet"):
        result_of(Deferred())


def test_result_of_a_deferred_waiting_on_another_fails_the_test():
    """
    A Deferred that was called but waits on an unfired inner Deferred has no
    result yet.
    """
    inner: Deferred[int] = Deferred()
    outer = succeed(None).addCallback(lambda _: inner)
    with pytest.raises(AssertionError, match="has no result yet"):
        result_of(outer)
    inner.callback(7)
    assert result_of(outer) == 7


def test_result_of_a_failed_deferred_shows_the_traceback_and_consumes_it():
    deferred: Deferred[int] = fail(ZeroDivisionError("no dividing by zero"))
    with pytest.raises(AssertionError, match=r"(?s)but it failed:\n.*ZeroDivisionError: no dividing by zero"):
        result_of(deferred)
    assert result_of(deferred) is None


def test_failure_of_returns_the_failure_and_consumes_it():
    deferred: Deferred[int] = fail(KeyError("missing"))
    failure = failure_of(deferred)
    assert failure.check(KeyError)
    assert result_of(deferred) is None


def test_failure_of_accepts_a_failure_of_an_expected_type_or_subclass():
    failure = failure_of(fail(UnknownKeywordError(["colour"], ["role"], "here")), KeyError, ValueError)
    assert failure.check(UnknownKeywordError)


def test_failure_of_the_wrong_type_names_both_types_and_shows_the_traceback():
    deferred: Deferred[int] = fail(KeyError("missing"))
    expected_message = (
        r"(?s)failure of type ValueError or TypeError from .*but it failed with KeyError:\n.*missing"
    )
    with pytest.raises(AssertionError, match=expected_message):
        failure_of(deferred, ValueError, TypeError)


def test_failure_of_a_succeeded_deferred_shows_the_value():
    with pytest.raises(
        AssertionError, match=r"expected a failure from <Deferred .*, but it succeeded with 42$"
    ):
        failure_of(succeed(42))


def test_failure_of_an_unfired_deferred_fails_the_test():
    with pytest.raises(AssertionError, match=r"expected a failure from <Deferred .*has no result yet"):
        failure_of(Deferred())


def test_assert_not_fired_leaves_an_unfired_deferred_untouched():
    """
    Nothing is added to the Deferred: a failure that comes later still
    reaches the callbacks added after the assertion.
    """
    deferred: Deferred[int] = Deferred()
    assert_not_fired(deferred)
    deferred.errback(ValueError("later"))
    assert failure_of(deferred, ValueError).getErrorMessage() == "later"


def test_assert_not_fired_on_a_succeeded_deferred_shows_the_value():
    with pytest.raises(
        AssertionError, match=r"expected <Deferred .* to have no result yet, but it succeeded with 'x'$"
    ):
        assert_not_fired(succeed("x"))


def test_assert_not_fired_on_a_failed_deferred_shows_the_traceback_and_consumes_it():
    deferred: Deferred[int] = fail(RuntimeError("too soon"))
    with pytest.raises(
        AssertionError, match=r"(?s)to have no result yet, but it failed:\n.*RuntimeError: too soon"
    ):
        assert_not_fired(deferred)
    assert result_of(deferred) is None


# RecordingDispatcher: a real dispatcher


def test_recording_dispatcher_provides_the_dispatcher_interfaces(recorder):
    assert isinstance(recorder, EventDispatcher)
    assert verifyObject(IEventDispatcher, recorder)
    assert verifyObject(IBackgroundUtility, recorder)


def test_recording_dispatcher_takes_the_dispatcher_arguments():
    recorder = RecordingDispatcher(("user",), ("first", "second"), handler_errors="fail")
    recorder.start()
    recorder.register(lambda event: 1 / 0, "second", use_weakref=False)
    assert recorder.phases == ("first", "second")
    failure_of(recorder.fire_event("e", user="u"), HandlerFailed)
    assert recorder.fired == (FiredEvent("e", {"user": "u"}),)


def test_recorded_events_still_reach_the_handlers(recorder):
    seen = []
    recorder.register(seen.append, "during", match={"role": "admin"}, use_weakref=False)
    fire_three(recorder)
    assert seen == ["alice"]
    assert [(fired.event, fired.details["event_type"]) for fired in recorder.fired] == [
        ("alice", "user_created"),
        ("bob", "user_created"),
        ("bob", "user_deleted"),
    ]


def test_the_record_keeps_a_copy_of_the_details(recorder):
    details = {"user": "bob"}
    result = result_of(recorder.fire_event("bob", **details))
    result.details["user"] = "changed by a handler"
    assert recorder.fired[0].details == {"user": "bob"}


def test_an_event_fired_by_a_handler_is_recorded_after_the_one_that_caused_it(recorder):
    def follow_up(event):
        if event == "outer":
            recorder.fire_event("inner", event_type="nested")

    recorder.register(follow_up, "during", use_weakref=False)
    recorder.fire_event("outer", event_type="first")
    assert [fired.event for fired in recorder.fired] == ["outer", "inner"]


@pytest.mark.parametrize(
    ("details", "error"),
    [({"colour": "blue"}, UnknownKeywordError), ({"user": ["unhashable"]}, UnhashableValueError)],
)
def test_a_fire_refused_at_the_call_is_not_recorded(recorder, details, error):
    with pytest.raises(error):
        recorder.fire_event("e", **details)
    assert recorder.fired == ()


def test_a_fire_on_a_stopped_dispatcher_is_recorded_and_fails_as_usual():
    recorder = RecordingDispatcher(("user",))
    failure_of(recorder.fire_event("early", user="u"), DispatcherNotRunning)
    recorder.assert_fired_once_with("early", user="u")


def test_clear_forgets_what_was_fired(recorder):
    fire_three(recorder)
    recorder.clear()
    assert recorder.fired == ()
    recorder.fire_event("carol")
    recorder.assert_fired_once_with("carol")


def test_fired_event_is_unhashable_since_its_details_are_a_dict():
    with pytest.raises(TypeError):
        hash(FiredEvent("e", {}))


@pytest.mark.parametrize(
    ("event", "details", "expected"),
    [
        ((), {}, True),
        (("bob",), {}, True),
        (("alice",), {}, False),
        ((), {"user": "bob"}, True),
        ((), {"user": "bob", "role": "user"}, True),
        ((), {"role": "admin"}, False),
        ((), {"role": None}, False),
        (("bob",), {"role": ANY}, True),
        ((ANY,), {"user": ANY, "event_type": ANY}, False),
    ],
)
def test_fired_event_matches_the_event_and_the_given_details_only(event, details, expected):
    """
    Details not given are not compared; a detail given must have been fired
    (None is a value here, not a wildcard); ANY matches any value.
    """
    fired = FiredEvent("bob", {"user": "bob", "role": "user"})
    assert fired.matches(*event, **details) is expected


# RecordingDispatcher: assertions


def test_assert_fired_returns_the_matching_fires_in_order(recorder):
    fire_three(recorder)
    matching = recorder.assert_fired("bob")
    assert [fired.details["event_type"] for fired in matching] == ["user_created", "user_deleted"]
    assert recorder.assert_fired(role="admin") == (recorder.fired[0],)


def test_assert_fired_lists_what_was_fired_when_nothing_matches(recorder):
    fire_three(recorder)
    expected = "no fired event matches 'carol' with event_type='user_created'; " + LISTING_OF_THREE
    with pytest.raises(AssertionError, match=f"^{re.escape(expected)}$"):
        recorder.assert_fired("carol", event_type="user_created")


def test_assert_fired_says_when_nothing_was_fired(recorder):
    with pytest.raises(AssertionError, match=r"^no fired event matches any event; nothing was fired$"):
        recorder.assert_fired()


def test_assert_fired_once_with_returns_the_one_match(recorder):
    fire_three(recorder)
    assert recorder.assert_fired_once_with("bob", event_type="user_deleted") is recorder.fired[2]


@pytest.mark.parametrize(("details", "found"), [({"user": "carol"}, 0), ({"user": "bob"}, 2)])
def test_assert_fired_once_with_lists_what_was_fired_unless_exactly_one_matches(recorder, details, found):
    fire_three(recorder)
    shown = ", ".join(f"{keyword}={value!r}" for keyword, value in details.items())
    expected = f"expected exactly one fired event matching any event with {shown}, found {found}; "
    with pytest.raises(AssertionError, match=f"^{re.escape(expected + LISTING_OF_THREE)}$"):
        recorder.assert_fired_once_with(**details)


def test_assert_not_fired_passes_when_nothing_matches(recorder):
    fire_three(recorder)
    recorder.assert_not_fired("carol")
    recorder.assert_not_fired(event_type="user_updated")
    recorder.assert_not_fired("alice", role="user")


def test_assert_not_fired_lists_what_was_fired_when_one_matches(recorder):
    fire_three(recorder)
    expected = "expected no fired event matching any event with role='admin', found 1; " + LISTING_OF_THREE
    with pytest.raises(AssertionError, match=f"^{re.escape(expected)}$"):
        recorder.assert_not_fired(role="admin")


def test_assert_not_fired_without_arguments_means_nothing_was_fired(recorder):
    recorder.assert_not_fired()
    recorder.fire_event("anything")
    with pytest.raises(
        AssertionError, match=r"^expected no fired event matching any event, found 1; fired \(1\)"
    ):
        recorder.assert_not_fired()


@pytest.mark.parametrize("assertion", ["assert_fired", "assert_fired_once_with", "assert_not_fired"])
def test_assertions_refuse_keywords_the_dispatcher_does_not_allow(recorder, assertion):
    """
    A misspelt keyword is an error, not an assertion that can never pass (or
    never fail).
    """
    expected = (
        f"{assertion}() got keyword(s) ['rol'] that this dispatcher does not allow; "
        "allowed keywords are ['event_type', 'role', 'user']"
    )
    with pytest.raises(TypeError, match=f"^{re.escape(expected)}$"):
        getattr(recorder, assertion)(rol="admin")


def test_assertions_hint_that_the_event_is_given_positionally(recorder):
    with pytest.raises(TypeError, match=r"\['event'\] .*; give the event itself positionally$"):
        recorder.assert_fired(event="bob")


def test_a_dispatcher_keyword_named_event_can_be_asserted():
    recorder = RecordingDispatcher(("event",))
    recorder.start()
    recorder.fire_event("the event", event="a detail")
    recorder.assert_fired_once_with("the event", event="a detail")


# ControlledHandler


def test_each_call_returns_a_new_unfired_deferred():
    handler = ControlledHandler("audit")
    first, second = handler("e1"), handler("e2")
    assert first is not second
    assert_not_fired(first)
    assert_not_fired(second)
    assert handler.events == ("e1", "e2")
    assert [call.deferred for call in handler.calls] == [first, second]
    assert handler.pending == handler.calls


def test_succeed_and_fail_finish_the_oldest_pending_call_first():
    handler = ControlledHandler("audit")
    first, second, third = handler("e1"), handler("e2"), handler("e3")
    assert handler.succeed("one") is handler.calls[0]
    assert handler.fail(ValueError("two")) is handler.calls[1]
    assert result_of(first) == "one"
    assert failure_of(second, ValueError).getErrorMessage() == "two"
    assert handler.pending == (handler.calls[2],)
    handler.calls[2].succeed()
    assert result_of(third) is None
    assert handler.pending == ()


def test_a_call_can_be_finished_out_of_order():
    handler = ControlledHandler()
    first, second = handler("e1"), handler("e2")
    handler.calls[1].succeed("second")
    assert_not_fired(first)
    assert result_of(second) == "second"
    assert handler.succeed("first") is handler.calls[0]


def test_finishing_with_no_pending_call_fails_the_test():
    handler = ControlledHandler("audit")
    with pytest.raises(
        AssertionError, match=r"^'audit' has no pending call to succeed: it was called 0 time\(s\)"
    ):
        handler.succeed()
    handler("e")
    handler.succeed("done")
    expected = (
        "'audit' has no pending call to fail: it was called 1 time(s): "
        "[<HandlerCall #1 of 'audit' with 'e': succeeded with 'done'>]"
    )
    with pytest.raises(AssertionError, match=f"^{re.escape(expected)}$"):
        handler.fail(ValueError())


def test_a_call_cannot_finish_twice():
    handler = ControlledHandler("audit")
    handler("e")
    handler.fail(KeyError("k"))
    failure_of(handler.calls[0].deferred)
    expected = "<HandlerCall #1 of 'audit' with 'e': failed with KeyError('k')> cannot finish again"
    with pytest.raises(AssertionError, match=f"^{re.escape(expected)}$"):
        handler.calls[0].succeed()


def test_a_cancelled_call_is_recorded_and_ignores_a_late_finish():
    handler = ControlledHandler("audit")
    deferred = handler("e")
    deferred.cancel()
    (call,) = handler.calls
    assert call.cancelled
    assert not call.pending
    failure_of(deferred, CancelledError)
    call.succeed("too late")
    call.fail(ValueError("too late"))
    assert repr(call) == "<HandlerCall #1 of 'audit' with 'e': cancelled>"


def test_reprs_say_how_far_the_handler_got():
    handler = ControlledHandler("audit")
    handler("e1")
    handler("e2")
    handler.succeed("ok")
    assert repr(handler) == "<ControlledHandler 'audit': 2 call(s), 1 pending>"
    assert [repr(call) for call in handler.calls] == [
        "<HandlerCall #1 of 'audit' with 'e1': succeeded with 'ok'>",
        "<HandlerCall #2 of 'audit' with 'e2': pending>",
    ]


def test_the_handler_name_labels_its_registration(dispatcher):
    handler = ControlledHandler("audit")
    assert dispatcher.register(handler, "during").label == "audit"


def test_the_next_phase_starts_only_when_every_controlled_call_finished(dispatcher):
    """
    The scenario the kit is for: 'after' has not started while a 'during'
    handler is pending, and starts as soon as the last one finishes.
    """
    audit, mail, welcome = ControlledHandler("audit"), ControlledHandler("mail"), ControlledHandler("welcome")
    dispatcher.register(audit, "during")
    dispatcher.register(mail, "during")
    dispatcher.register(welcome, "after")
    fired = dispatcher.fire_event("bob", user="bob")
    assert (audit.events, mail.events, welcome.events) == (("bob",), ("bob",), ())
    mail.succeed("mailed")
    assert welcome.calls == ()
    audit.fail(ValueError("audit log full"))
    assert welcome.events == ("bob",)
    assert_not_fired(fired)
    welcome.succeed("welcomed")
    result = result_of(fired)
    assert result.values == ("mailed", "welcomed")
    assert [outcome.failure.getErrorMessage() for outcome in result.failures if outcome.failure] == [
        "audit log full"
    ]


def test_cancelling_a_fire_cancels_the_pending_controlled_calls(dispatcher):
    audit, welcome = ControlledHandler("audit"), ControlledHandler("welcome")
    dispatcher.register(audit, "during")
    dispatcher.register(welcome, "after")
    fired = dispatcher.fire_event("bob")
    fired.cancel()
    failure_of(fired, CancelledError)
    assert audit.calls[0].cancelled
    assert welcome.calls == ()


# DelayedHandler


def test_a_delayed_call_succeeds_by_itself_when_its_time_has_passed(clock):
    handler = DelayedHandler(clock, 5, "done", name="slow")
    deferred = handler("e")
    clock.advance(4.9)
    assert_not_fired(deferred)
    clock.advance(0.1)
    assert result_of(deferred) == "done"
    assert repr(handler.calls[0]) == "<HandlerCall #1 of 'slow' with 'e': succeeded with 'done'>"


def test_a_delayed_call_finished_early_by_hand_drops_its_timer(clock):
    handler = DelayedHandler(clock, 5)
    deferred = handler("e")
    handler.fail(ValueError("early"))
    assert clock.getDelayedCalls() == []
    clock.advance(10)
    assert failure_of(deferred, ValueError).getErrorMessage() == "early"


def test_cancelling_a_delayed_call_drops_its_timer(clock):
    handler = DelayedHandler(clock, 5)
    deferred = handler("e")
    deferred.cancel()
    assert clock.getDelayedCalls() == []
    assert handler.calls[0].cancelled
    failure_of(deferred, CancelledError)


def test_phases_take_the_time_of_their_delayed_handlers(clock, dispatcher):
    """
    With a Clock, a test can say when each phase starts: here 'after' waits
    for the slower of two 'during' handlers.
    """
    quick, slow = DelayedHandler(clock, 2, name="quick"), DelayedHandler(clock, 5, name="slow")
    welcome = ControlledHandler("welcome")
    dispatcher.register(quick, "during")
    dispatcher.register(slow, "during")
    dispatcher.register(welcome, "after")
    fired = dispatcher.fire_event("bob")
    clock.advance(2)
    assert (quick.pending, welcome.calls) == ((), ())
    clock.advance(3)
    assert welcome.events == ("bob",)
    welcome.succeed()
    assert len(result_of(fired)) == 3


def test_the_module_exports_exactly_its_public_helpers():
    """
    Every name in __all__ is defined in the testing module (or is the
    broker's in-memory transport, re-exported), and every public class or
    function defined there is in __all__.
    """
    from twisted_event_dispatcher.broker import testing as broker_testing

    defined = {
        name
        for name, value in vars(testing).items()
        if not name.startswith("_") and getattr(value, "__module__", None) == testing.__name__
    }
    reexported = {"MemoryCompletionLog", "MemoryTransport"}
    assert all(getattr(testing, name) is getattr(broker_testing, name) for name in reexported)
    assert defined | reexported == set(testing.__all__)
