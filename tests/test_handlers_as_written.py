"""
Handlers as users write them: how they are held by default, failures that
can be seen, arguments besides match details, pluggy's first result and LIFO
order, follow-ups returned, a stop with a value inside a follow-up, and
requirements that name no handler.
"""

from __future__ import annotations

import functools
import gc
from types import MappingProxyType
from typing import Any

import pytest
from support import failure_of, result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import (
    EventContext,
    EventDispatcher,
    FireCancelled,
    FollowUps,
    HandlerFailed,
    HandlerId,
    Phase,
    StopPropagation,
    UnknownKeywordError,
    UnmetRequirementError,
)


def started(*keywords: str, **options: Any) -> EventDispatcher:
    dispatcher = EventDispatcher(keywords, **options)
    dispatcher.start()
    return dispatcher


# Held as written ------------------------------------------------------------


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, event: object) -> None:
        self.calls += 1

    def method(self, event: object) -> str:
        return "method"


def test_inline_handlers_are_held_strongly_by_default() -> None:
    """
    A lambda, a partial and a callable object registered inline keep
    running: nothing else refers to them, and nothing needs to.
    """
    dispatcher = started("kind")
    seen: list[str] = []
    dispatcher.register(lambda event: seen.append("lambda"), "during")
    dispatcher.register(functools.partial(lambda tag, event: seen.append(tag), "partial"), "during")
    counter_id = dispatcher.register(Counter(), "during")
    gc.collect()
    result_of(dispatcher.fire_event("e"))
    assert seen == ["lambda", "partial"]
    assert counter_id.handler().calls == 1  # type: ignore[union-attr]


def test_a_bound_method_lasts_as_long_as_its_object_by_default() -> None:
    dispatcher = started("kind")
    owner = Counter()
    method_id = dispatcher.register(owner.method, "during")
    assert result_of(dispatcher.fire_event("e")).values == ("method",)
    del owner
    gc.collect()
    assert method_id not in dispatcher.handler_ids()
    assert result_of(dispatcher.fire_event("e")).values == ()


def test_use_weakref_forces_either_way() -> None:
    dispatcher = started("kind")
    weak_id = dispatcher.register(lambda event: "weak", "during", use_weakref=True)
    owner = Counter()
    strong_id = dispatcher.register(owner.method, "during", use_weakref=False)
    del owner
    gc.collect()
    assert dispatcher.handler_ids() == [strong_id]
    assert weak_id not in dispatcher.handler_ids()


def test_add_event_handler_holds_like_register() -> None:
    dispatcher = started("kind")
    added: list[Any] = []
    dispatcher.add_event_handler(lambda event: "kept", "during").addCallback(added.append)
    gc.collect()
    assert dispatcher.handler_ids() == added


# Failures that can be seen --------------------------------------------------


def failing_dispatcher() -> EventDispatcher:
    dispatcher = started("kind")

    def broken(event: object) -> None:
        raise ValueError(f"no {event}")

    def also_broken(event: object) -> None:
        raise KeyError("missing")

    dispatcher.register(lambda event: "ok", "before")
    dispatcher.register(broken, "during")
    dispatcher.register(also_broken, "after")
    return dispatcher


def test_the_repr_names_the_first_failure() -> None:
    result = result_of(failing_dispatcher().fire_event("e"))
    assert repr(result) == (
        "<FireResult event='e' handlers ran (before: 1, during: 1, after: 1); "
        "2 failed, first broken in 'during': ValueError: no e>"
    )


def test_the_repr_counts_cancelled_calls_apart_from_failures() -> None:
    """
    A call cut short by cancelling the fire is in ``failures`` (its status
    "cancelled"), but the repr does not call it failed.
    """
    dispatcher = started("kind")
    dispatcher.register(lambda event: None, "before")
    dispatcher.register(lambda event: Deferred(), "during")
    firing = dispatcher.fire_event("e")
    firing.cancel()
    error = failure_of(firing).value
    assert isinstance(error, FireCancelled)
    assert [outcome.status for outcome in error.result.failures] == ["cancelled"]
    assert (
        repr(error.result)
        == "<FireResult event='e' handlers ran (before: 1, during: 1); 0 failed; 1 cancelled>"
    )


def test_raise_first_failure_raises_the_handlers_own_exception_with_the_others_noted() -> None:
    result = result_of(failing_dispatcher().fire_event("e"))
    with pytest.raises(ValueError, match="no e") as raised:
        result.raise_first_failure()
    notes = raised.value.__notes__
    assert notes[0].startswith("raised by handler <HandlerId #") and "broken during" in notes[0]
    assert "also_broken after" in notes[1] and "KeyError" in notes[1]
    with pytest.raises(ValueError, match="no e"):  # again: the same notes, not twice
        result.raise_first_failure()
    assert raised.value.__notes__ == notes


def test_raise_first_failure_returns_the_result_when_nothing_failed() -> None:
    dispatcher = started("kind")
    dispatcher.register(lambda event: "ok", "during")
    result = result_of(dispatcher.fire_event("e"))
    assert result.raise_first_failure() is result


# Arguments besides match details --------------------------------------------


def test_arguments_of_any_type_reach_injected_handlers_without_being_matched() -> None:
    """
    Rigger's fire_hook: only the routing keyword is declared; the others are
    arguments, unhashable ones included.
    """
    dispatcher = started("hook", phases=("pre", "hook", "post"))
    seen: list[tuple[str, list[str]]] = []

    def start_test(test_name: str, tags: list[str]) -> None:
        seen.append((test_name, tags))

    dispatcher.register(start_test, "hook", match={"hook": "start_test"}, inject=True)
    fired = dispatcher.fire(
        "start_test", {"hook": "start_test"}, arguments={"test_name": "t", "tags": ["slow"]}
    )
    result = result_of(fired)
    assert seen == [("t", ["slow"])]
    assert result.arguments == {"test_name": "t", "tags": ["slow"]}
    assert result.details == {"hook": "start_test"}


def test_arguments_are_in_the_context_and_its_local_namespace() -> None:
    dispatcher = started("kind")
    seen: list[object] = []

    def read(event: object, context: EventContext) -> None:
        seen.extend([dict(context.arguments), context.local["payload"], context.local["kind"]])

    dispatcher.register(read, "during", pass_context=True)
    result_of(dispatcher.fire("e", {"kind": "k"}, arguments={"payload": {"a": 1}}))
    assert seen == [{"payload": {"a": 1}}, {"a": 1}, "k"]


def test_a_name_given_as_detail_and_argument_must_agree() -> None:
    dispatcher = started("kind")
    with pytest.raises(
        ValueError, match="'kind' is fired as a detail \\('a'\\) and as an argument \\('b'\\)"
    ):
        dispatcher.fire("e", {"kind": "a"}, arguments={"kind": "b"})
    assert result_of(dispatcher.fire("e", {"kind": "a"}, arguments={"kind": "a"})).arguments == {"kind": "a"}


@pytest.mark.parametrize(
    ("arguments", "message"),
    [(["x"], "arguments must be a mapping"), ({1: "x"}, "argument names must be strings, got int 1")],
)
def test_bad_arguments_are_refused(arguments: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        started("kind").fire("e", arguments=arguments)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ({"x": 1, "kind": "a", 2: "y"}, TypeError, "argument names must be strings, got int 2"),
        ({"x": 1, "kind": "b", 2: "y"}, ValueError, "'kind' is fired as a detail"),
        ({"x": 1, 2: "y", "kind": "b"}, TypeError, "argument names must be strings, got int 2"),
    ],
)
def test_the_first_bad_argument_is_the_one_refused(arguments: Any, error: type, message: str) -> None:
    """
    Arguments are checked in their order, whatever the first name is, and
    before the details (here an unknown keyword as well).
    """
    dispatcher = started("kind")
    with pytest.raises(error, match=message):
        dispatcher.fire("e", {"kind": "a"}, arguments=arguments)
    with pytest.raises(error, match=message):
        dispatcher.fire("e", {"kind": "a", "unknown": 1}, arguments=arguments)


def test_arguments_of_any_mapping_are_kept_as_a_dict_of_their_own() -> None:
    """
    A fire keeps a copy of its arguments, a dict whatever mapping they
    came as: changing the mapping given afterwards changes nothing.
    """
    dispatcher = started("kind")
    given = {"payload": [1]}
    result = result_of(dispatcher.fire("e", {"kind": "a"}, arguments=given))
    given["payload"] = [2]
    proxied = result_of(dispatcher.fire("e", arguments=MappingProxyType({"payload": 3})))
    assert (result.arguments, proxied.arguments) == ({"payload": [1]}, {"payload": 3})
    assert type(proxied.arguments) is dict


def test_a_fire_from_a_handler_keeps_the_arguments_of_each_fire_apart() -> None:
    """
    A handler that fires an event with other arguments, before a handler of
    the first event that reads its arguments (called with a context).
    """
    dispatcher = started("kind")
    seen: list[tuple[object, dict[str, object]]] = []

    def fire_inner(event: object) -> None:
        if event == "outer":
            result_of(dispatcher.fire("inner", {"kind": "i"}, arguments={"n": 2}))

    def read(event: object, context: EventContext) -> None:
        seen.append((event, dict(context.arguments)))

    dispatcher.register(fire_inner, "before")
    dispatcher.register(read, "during", pass_context=True)
    result = result_of(dispatcher.fire("outer", {"kind": "o"}, arguments={"n": 1}))
    assert seen == [("inner", {"n": 2}), ("outer", {"n": 1})]
    assert result.arguments == {"n": 1}


def test_a_fire_refused_for_its_details_leaves_no_arguments_behind() -> None:
    dispatcher = started("kind")
    with pytest.raises(UnknownKeywordError):
        dispatcher.fire("e", {"unknown": 1}, arguments={"a": 1})
    assert result_of(dispatcher.fire("e", {"kind": "a"})).arguments == {}
    assert result_of(dispatcher.fire_event("e", kind="a")).arguments == {}


@pytest.mark.parametrize("arguments", [None, {"a": 1}], ids=["alone", "with arguments"])
@pytest.mark.parametrize("attempt", [True, 1.0, 0, "1"])
def test_an_attempt_that_is_not_a_whole_number_from_1_is_refused(
    attempt: Any, arguments: dict[str, object] | None
) -> None:
    """
    Whatever else the fire is given: an attempt equal to 1 but not an int
    (True, 1.0) is refused too.
    """
    with pytest.raises(ValueError, match="attempt must be a whole number of at least 1"):
        started("kind").fire("e", arguments=arguments, attempt=attempt)


def test_an_attempt_of_an_int_subclass_counts() -> None:
    class Count(int):
        pass

    dispatcher = started("kind")
    assert result_of(dispatcher.fire("e", attempt=Count(1))).attempt == 1
    assert result_of(dispatcher.fire("e", arguments={"a": 1}, attempt=Count(2))).attempt == 2


# pluggy: first result and LIFO -----------------------------------------------


def test_first_result_stops_at_the_first_answer_that_is_not_none() -> None:
    dispatcher = started("kind")
    called: list[str] = []

    def answer(name: str, value: object) -> Any:
        def handler(event: object) -> object:
            called.append(name)
            return value

        handler.__name__ = handler.__qualname__ = name
        return handler

    dispatcher.register(answer("none", None), "before")
    dispatcher.register(answer("first", "found"), "during")
    dispatcher.register(answer("second", "also"), "during")
    dispatcher.register(answer("later", "late"), "after")
    result = result_of(dispatcher.fire("e", first_result=True))
    assert called == ["none", "first"]
    assert result.first_result() == "found"
    assert result_of(dispatcher.fire("e")).first_result() == "found"
    assert called[2:] == ["none", "first", "second", "later"]


def test_first_result_waits_for_each_answer_before_starting_the_next() -> None:
    dispatcher = started("kind")
    pending: list[Deferred[object]] = []
    called: list[str] = []

    def slow(event: object) -> Deferred[object]:
        called.append("slow")
        pending.append(Deferred())
        return pending[-1]

    dispatcher.register(slow, "during")
    dispatcher.register(lambda event: called.append("next") or "next", "during")
    fired = dispatcher.fire("e", first_result=True)
    assert called == ["slow"]
    pending[0].callback(None)
    assert called == ["slow", "next"]
    assert result_of(fired).first_result() == "next"


def test_a_lifo_phase_starts_the_newest_first_within_a_priority() -> None:
    dispatcher = EventDispatcher(("kind",), phases=(Phase("hook", lifo=True),))
    dispatcher.start()
    for name, priority in [("a", 0), ("b", 0), ("urgent", 1), ("c", 0)]:
        dispatcher.register(lambda event, name=name: name, "hook", priority=priority)
    assert result_of(dispatcher.fire_event("e")).values == ("urgent", "c", "b", "a")


# Follow-ups returned ---------------------------------------------------------


def test_a_handler_may_return_its_follow_ups() -> None:
    dispatcher = started("kind")
    dispatcher.register(
        lambda event: FollowUps(("receipt", {"kind": "mail"}), ("audit", {})),
        "during",
        match={"kind": "order"},
    )
    dispatcher.register(lambda event: f"sent {event}", "after", match={"kind": "mail"})
    result = result_of(dispatcher.fire_event("order 1", kind="order"))
    assert [follow_up.event for follow_up in result.follow_ups] == ["receipt", "audit"]
    assert result.follow_ups[0].values == ("sent receipt",)


def test_follow_ups_of_events_without_details() -> None:
    assert FollowUps.of(["a", "b"]).events == (("a", {}), ("b", {}))


@pytest.mark.parametrize("bad", ["just an event", ("event",), ("event", ["not", "a", "mapping"])])
def test_follow_ups_are_pairs_of_event_and_details(bad: Any) -> None:
    with pytest.raises(TypeError, match="FollowUps takes \\(event, details\\) pairs"):
        FollowUps(bad)


def test_a_follow_up_refused_fails_the_handler_that_returned_it() -> None:
    dispatcher = started("kind")
    handler_id = dispatcher.register(lambda event: FollowUps(("x", {"colour": "red"})), "during")
    result = result_of(dispatcher.fire_event("e"))
    [failure] = result.failures
    assert failure.handler_id == handler_id
    assert failure.failure is not None and failure.failure.check(UnknownKeywordError)
    assert result.follow_ups == ()


# A stop with a value inside a follow-up ----------------------------------------


def stopping_dispatcher(value: tuple[object, ...]) -> tuple[EventDispatcher, list[str]]:
    """
    "main" queues the follow-ups "check" then "ship"; "check" is stopped,
    with a value or without.
    """
    dispatcher = started("kind")
    ran: list[str] = []

    def main(event: object, context: EventContext) -> None:
        context.follow_up("check", kind="check")
        context.follow_up("ship", kind="ship")

    def check(event: object) -> None:
        raise StopPropagation(*value)

    dispatcher.register(main, "during", match={"kind": "main"}, pass_context=True)
    dispatcher.register(check, "during", match={"kind": "check"})
    dispatcher.register(lambda event: ran.append("ship"), "during", match={"kind": "ship"})
    return dispatcher, ran


def test_a_stop_with_a_value_in_a_follow_up_ends_the_whole_fire() -> None:
    dispatcher, ran = stopping_dispatcher(("denied",))
    result = result_of(dispatcher.fire_event("main", kind="main"))
    assert ran == []
    assert result.value == "denied"
    assert result.stopped_by is not None and result.stopped_by.label.endswith("check")
    assert result.dropped_follow_ups == (("ship", {"kind": "ship"}),)
    assert [follow_up.event for follow_up in result.follow_ups] == ["check"]


def test_a_stop_without_a_value_in_a_follow_up_lets_its_siblings_run() -> None:
    dispatcher, ran = stopping_dispatcher(())
    result = result_of(dispatcher.fire_event("main", kind="main"))
    assert ran == ["ship"]
    assert result.value is None and result.stopped_by is None
    assert result.dropped_follow_ups == ()


# A follow-up that fails a strict fire ------------------------------------------


def failing_follow_up_dispatcher(
    answer: Deferred[None] | None,
) -> tuple[EventDispatcher, list[object], HandlerId]:
    """
    On a dispatcher whose failures are fatal, "order" queues the follow-ups
    "invoice" then "shipment"; "invoice" fails (at once, or when ``answer``
    fails).
    """
    dispatcher = started("k", handler_errors="fail")
    ran: list[object] = []

    def order(event: object, context: EventContext) -> None:
        ran.append(event)
        context.follow_up("invoice", k="invoice")
        context.follow_up("shipment", k="shipment")

    def invoice(event: object) -> Deferred[None]:
        ran.append(event)
        if answer is None:
            raise ValueError("no invoice")
        return answer

    dispatcher.register(order, "during", match={"k": "order"}, pass_context=True)
    invoice_id = dispatcher.register(invoice, "during", match={"k": "invoice"})
    dispatcher.register(lambda event: ran.append(event), "during", match={"k": "shipment"})
    return dispatcher, ran, invoice_id


@pytest.mark.parametrize("later", [False, True])
def test_a_failing_follow_up_fails_the_first_fire_with_its_own_report(later: bool) -> None:
    """
    As when a later phase of the first fire fails: the first fire's
    HandlerFailed carries the first fire's report, in which the follow-up's
    report is one of its follow-ups and the siblings never dispatched are
    dropped follow-ups.
    """
    answer: Deferred[None] | None = Deferred() if later else None
    dispatcher, ran, invoice_id = failing_follow_up_dispatcher(answer)
    fired = dispatcher.fire_event("order", k="order")
    if answer is not None:
        answer.errback(ValueError("no invoice"))
    error = failure_of(fired, HandlerFailed).value
    assert ran == ["order", "invoice"]
    assert error.result.event == "order"
    assert error.result.dropped_follow_ups == (("shipment", {"k": "shipment"}),)
    [invoice] = error.result.follow_ups
    assert invoice.event == "invoice"
    [failed] = invoice.failures
    assert failed.handler_id == invoice_id
    assert failed.failure is not None and failed.failure.check(ValueError)
    assert [handler_id for handler_id, _ in error.failures] == [invoice_id]
    assert "no invoice" in str(error)


def test_a_failure_deep_in_follow_ups_is_reached_through_each_report() -> None:
    dispatcher = started("k", handler_errors="fail")

    def emit(*events: str) -> Any:
        return lambda event: FollowUps(*((name, {"k": name}) for name in events))

    def broken(event: object) -> None:
        raise ValueError("deep")

    dispatcher.register(emit("child", "uncle"), "during", match={"k": "root"})
    dispatcher.register(emit("grandchild", "sibling"), "during", match={"k": "child"})
    dispatcher.register(broken, "during", match={"k": "grandchild"})
    error = failure_of(dispatcher.fire_event("root", k="root"), HandlerFailed).value
    assert error.result.event == "root"
    assert error.result.dropped_follow_ups == (("uncle", {"k": "uncle"}),)
    [child] = error.result.follow_ups
    assert child.event == "child"
    assert child.dropped_follow_ups == (("sibling", {"k": "sibling"}),)
    [grandchild] = child.follow_ups
    [failed] = grandchild.failures
    assert failed.failure is not None and failed.failure.check(ValueError)


def test_a_follow_up_failing_otherwise_names_itself_and_what_was_not_dispatched() -> None:
    """
    A follow-up that fails with another error than HandlerFailed (here an
    unmet requirement, two levels down) fails the first fire with that
    error, noted at each level with the follow-up and the siblings that
    will not be dispatched: no report goes with it, and nothing is lost
    without a word.
    """
    dispatcher = started("k", unmet_requirements="error")
    dispatcher.register(
        lambda event: FollowUps(("child", {"k": "child"}), ("uncle", {})), "during", match={"k": "root"}
    )
    dispatcher.register(
        lambda event: FollowUps(("grandchild", {"k": "grandchild"})), "during", match={"k": "child"}
    )
    dispatcher.register(lambda event: None, "during", match={"k": "grandchild"}, requires="missing")
    error = failure_of(dispatcher.fire_event("root", k="root"), UnmetRequirementError).value
    assert error.__notes__ == [
        "raised by follow-up event 'grandchild' of event 'child'",
        "raised by follow-up event 'child' of event 'root'; follow-up events not dispatched: 'uncle'",
    ]


# Requirements that name no handler -------------------------------------------


def test_an_unmet_requirement_is_listed_and_warned_of_once(logs: list[dict[str, Any]]) -> None:
    dispatcher = started("kind")
    test_id = dispatcher.register(lambda event: "tested", "during", name="test", requires="prep")
    assert dispatcher.unmet_requirements() == {test_id: frozenset({"prep"})}
    assert dispatcher.unmet_requirements("after") == {}
    for _ in range(3):
        assert result_of(dispatcher.fire_event("e")).values == ("tested",)
    warnings = [
        event for event in logs if "no handler of that phase has such a name" in event.get("log_format", "")
    ]
    assert len(warnings) == 1
    assert warnings[0]["handler_id"] == test_id
    dispatcher.register(lambda event: "prepared", "during", name="prep")
    assert dispatcher.unmet_requirements() == {}
    assert result_of(dispatcher.fire_event("e")).values == ("prepared", "tested")


def test_unmet_requirements_can_fail_the_fire() -> None:
    clock = Clock()
    dispatcher = started("kind", clock=clock, unmet_requirements="error")
    ran: list[str] = []
    dispatcher.register(lambda event: ran.append("before"), "before")
    test_id = dispatcher.register(
        lambda event: ran.append("test"), "during", name="test", required_by="report"
    )
    error = failure_of(dispatcher.fire_event("e"), UnmetRequirementError).value
    assert isinstance(error, UnmetRequirementError)
    assert error.phase == "during" and error.unmet == {test_id: frozenset({"report"})}
    assert "names 'report'" in str(error)
    assert ran == ["before"]


def test_unmet_requirements_setting_is_checked() -> None:
    with pytest.raises(ValueError, match="unmet_requirements must be 'warn' or 'error', got 'ignore'"):
        EventDispatcher(("kind",), unmet_requirements="ignore")  # type: ignore[arg-type]
