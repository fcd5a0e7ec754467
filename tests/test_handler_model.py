"""
Tests for the handler model: N-times handlers, richer match-specs, ordering,
context and namespaces, stop, follow-ups, error policy, threads and results.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest
import pytest_twisted
from support import failure_of, result_of
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock, deferLater
from zope.interface import implementer

from twisted_event_dispatcher import (
    EventContext,
    EventDispatcher,
    FireResult,
    FollowUpDepthError,
    HandlerFailed,
    IFireMonitor,
    IHandlerLedger,
    InjectionError,
    MatchSpec,
    OrderingError,
    Phase,
    StopPropagation,
    UnknownKeywordError,
    Updates,
    any_of,
)


def tagger(calls: list[Any], tag: object) -> Any:
    def record(event: object, *rest: object) -> object:
        calls.append(tag)
        return tag

    return record


# N-times handlers


def test_times_limits_calls_and_removes_the_handler(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    handler_id = dispatcher.register(calls.append, "during", times=2, use_weakref=False)
    for event in ("a", "b", "c"):
        dispatcher.fire_event(event)
    assert calls == ["a", "b"]
    assert handler_id not in dispatcher.handler_ids()


def test_times_with_a_predicate_counts_only_the_calls_it_accepts(dispatcher: EventDispatcher) -> None:
    """
    A handler with ``times`` and ``where`` is counted when called, not when
    its predicate refuses the event; one with ``times`` only is counted by
    the tight loop itself.
    """
    picky: list[Any] = []
    counted: list[Any] = []
    picky_id = dispatcher.register(
        picky.append, "during", times=2, where=lambda event, details: event != "skip", use_weakref=False
    )
    counted_id = dispatcher.register(counted.append, "during", times=3, use_weakref=False)
    for event in ("a", "skip", "b", "c"):
        dispatcher.fire_event(event)
    assert picky == ["a", "b"]
    assert counted == ["a", "skip", "b"]
    assert picky_id not in dispatcher.handler_ids()
    assert counted_id not in dispatcher.handler_ids()


def test_times_holds_with_events_in_flight(dispatcher: EventDispatcher) -> None:
    """
    Never more than N calls, even when every call is still running.
    """
    gates: list[Deferred[None]] = []

    def slow(event: object) -> Deferred[None]:
        gates.append(Deferred())
        return gates[-1]

    handler_id = dispatcher.register(slow, "during", times=2, use_weakref=False)
    fires = [dispatcher.fire_event(n) for n in range(4)]
    assert len(gates) == 2
    assert handler_id not in dispatcher.handler_ids()
    for gate in gates:
        gate.callback(None)
    assert [len(result_of(fired)) for fired in fires] == [1, 1, 0, 0]


def test_registration_is_gone_when_the_last_call_starts(dispatcher: EventDispatcher) -> None:
    seen: list[bool] = []
    ids: list[Any] = []

    def once(event: object) -> None:
        seen.append(ids[0] in dispatcher.handler_ids())

    ids.append(dispatcher.register(once, "during", times=1, use_weakref=False))
    dispatcher.fire_event("e")
    assert seen == [False]


@pytest.mark.parametrize("times", [0, -1, 1.5, True])
def test_times_must_be_a_positive_whole_number(dispatcher: EventDispatcher, times: Any) -> None:
    with pytest.raises(ValueError, match="times must be a whole number of at least 1"):
        dispatcher.register(print, "during", times=times)


# Keywords


def test_allowed_keywords_can_be_extended(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    dispatcher.register(tagger(calls, "old"), "during", match={"role": "admin"}, use_weakref=False)
    with pytest.raises(UnknownKeywordError):
        dispatcher.register(print, "during", match={"region": "eu"})
    dispatcher.allow_keywords("region")
    dispatcher.register(tagger(calls, "new"), "during", match={"region": "eu"}, use_weakref=False)
    dispatcher.fire_event("e", role="admin", region="eu")
    dispatcher.fire_event("e", role="admin", region="us")
    assert calls == ["old", "new", "old"]
    assert "region" in dispatcher.allowed_match_spec_keywords
    with pytest.raises(ValueError, match="cannot be a match-spec keyword"):
        dispatcher.allow_keywords("use_weakref")


# Scopes


def test_scope_removes_its_handlers_on_exit(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    keep = dispatcher.register(tagger(calls, "kept"), "during", use_weakref=False)
    with dispatcher.scoped() as scope:
        scope.register(tagger(calls, "scoped"), "during", use_weakref=False)
        removed_early = scope.register(print, "after")
        dispatcher.unregister(removed_early)
        dispatcher.fire_event("inside")
    dispatcher.fire_event("outside")
    assert calls == ["kept", "scoped", "kept"]
    assert dispatcher.handler_ids() == [keep]
    assert scope.handler_ids == ()


def test_scope_removes_its_handlers_when_the_block_fails(dispatcher: EventDispatcher) -> None:
    def block() -> None:
        with dispatcher.scoped() as scope:
            scope.register(print, "during")
            raise RuntimeError("block failed")

    with pytest.raises(RuntimeError, match="block failed"):
        block()
    assert dispatcher.handler_ids() == []


@pytest_twisted.ensureDeferred
async def test_scope_works_with_async_with(dispatcher: EventDispatcher) -> None:
    async with dispatcher.scoped() as scope:
        scope.register(print, "during", times=3)
        assert len(dispatcher.handler_ids()) == 1
    assert dispatcher.handler_ids() == []


# Richer match-specs


def test_value_alternatives(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    dispatcher.register(
        tagger(calls, "staff"), "during", match={"role": any_of("admin", "owner")}, use_weakref=False
    )
    for role in ("admin", "user", "owner"):
        dispatcher.fire_event(role, role=role)
    dispatcher.fire_event("none")
    assert calls == ["staff", "staff"]


def test_any_of_needs_values() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        any_of()
    with pytest.raises(TypeError, match="must be hashable"):
        any_of(["admin"])


def test_predicates_run_only_on_handlers_the_index_found(dispatcher: EventDispatcher) -> None:
    """
    A predicate is a filter after the keyword index, not a scan: handlers
    whose indexed keywords do not match never have their predicate called.
    """
    checked: list[str] = []

    def predicate_for(user: str) -> Any:
        def check(event: object, details: Any) -> bool:
            checked.append(user)
            return event == "wanted"

        return check

    calls: list[Any] = []
    for number in range(100):
        user = f"user-{number}"
        dispatcher.register(
            tagger(calls, user), "during", match={"user": user}, where=predicate_for(user), use_weakref=False
        )
    dispatcher.fire_event("wanted", user="user-7")
    dispatcher.fire_event("unwanted", user="user-8")
    assert checked == ["user-7", "user-8"]
    assert calls == ["user-7"]


def test_several_alternative_specs_run_the_handler_once(dispatcher: EventDispatcher) -> None:
    """
    EvProc's @want('ev1', 'ev2') @want('ev3', lambda ev: ...): any one
    alternative is enough, and the handler runs once even if several match.
    """
    calls: list[Any] = []
    dispatcher.register(
        tagger(calls, "ran"),
        "during",
        match=[
            {"event_type": any_of("ev1", "ev2")},
            MatchSpec({"event_type": "ev3"}, where=[lambda event, details: event == "resource"]),
            {"role": "admin"},
        ],
        use_weakref=False,
    )
    dispatcher.fire_event("x", event_type="ev1", role="admin")
    dispatcher.fire_event("x", event_type="ev3")
    dispatcher.fire_event("resource", event_type="ev3")
    dispatcher.fire_event("x", event_type="ev4")
    assert calls == ["ran", "ran"]


def test_failing_predicate_is_reported_as_the_handlers_failure(
    dispatcher: EventDispatcher, logs: list[dict[str, Any]]
) -> None:
    calls: list[Any] = []
    handler_id = dispatcher.register(calls.append, "during", where=lambda e, d: 1 / 0, use_weakref=False)
    result = result_of(dispatcher.fire_event("e"))
    assert calls == []
    (failed,) = result.failures
    assert failed.handler_id == handler_id
    assert failed.failure is not None
    assert failed.failure.check(ZeroDivisionError)


def test_match_must_be_mappings(dispatcher: EventDispatcher) -> None:
    with pytest.raises(TypeError, match="each match alternative must be a mapping or a MatchSpec"):
        dispatcher.register(print, "during", match=["role"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="at least one alternative"):
        dispatcher.register(print, "during", match=[])
    with pytest.raises(UnknownKeywordError):
        dispatcher.register(print, "during", match={"rolle": any_of("a", "b")})


def test_handler_id_describes_alternatives(dispatcher: EventDispatcher) -> None:
    handler_id = dispatcher.register(print, "during", match=[{"role": any_of("a", "b")}, {}], times=1)
    assert repr(handler_id).endswith("during role=any_of('a', 'b') | *>")
    assert handler_id.match_spec == {"role": any_of("a", "b")}
    assert handler_id.options.times == 1


# Ordering


def test_priority_orders_a_phase(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []
    dispatcher.register(tagger(calls, "default"), "during", use_weakref=False)
    dispatcher.register(tagger(calls, "late"), "during", priority=-5, use_weakref=False)
    dispatcher.register(tagger(calls, "early"), "during", priority=10, use_weakref=False)
    dispatcher.fire_event("e")
    assert calls == ["early", "default", "late"]


def test_requires_and_required_by_order_named_handlers(dispatcher: EventDispatcher) -> None:
    """
    EvProc's example: test_auxiliary requires test_prepare and is required by
    test_run, so they run prepare, auxiliary, run.
    """
    calls: list[Any] = []
    dispatcher.register(
        tagger(calls, "run"), "during", name="test_run", requires="test_prepare", use_weakref=False
    )
    dispatcher.register(
        tagger(calls, "auxiliary"),
        "during",
        requires=["test_prepare"],
        required_by=["test_run"],
        use_weakref=False,
    )
    dispatcher.register(tagger(calls, "prepare"), "during", name="test_prepare", use_weakref=False)
    dispatcher.fire_event("e")
    assert calls == ["prepare", "auxiliary", "run"]


def test_required_handler_finishes_before_the_one_that_requires_it(
    dispatcher: EventDispatcher, clock: Clock
) -> None:
    seen: list[str] = []
    dispatcher.register(
        lambda e: deferLater(clock, 2, seen.append, "prepared"), "during", name="prepare", use_weakref=False
    )
    dispatcher.register(lambda e: seen.append("run"), "during", requires="prepare", use_weakref=False)
    fired = dispatcher.fire_event("e")
    assert seen == []
    clock.advance(2)
    assert seen == ["prepared", "run"]
    assert result_of(fired).values == (None, None)


def test_ordering_cycle_is_refused_at_registration(dispatcher: EventDispatcher) -> None:
    dispatcher.register(print, "during", name="a", requires="b")
    with pytest.raises(OrderingError) as raised:
        dispatcher.register(repr, "during", name="b", requires="a")
    assert raised.value.phase == "during"
    assert "is a cycle" in str(raised.value)
    assert isinstance(raised.value, ValueError)
    assert len(dispatcher.handler_ids()) == 1
    dispatcher.register(repr, "after", name="b", requires="a")


def test_sequential_phase_runs_one_handler_at_a_time(clock: Clock) -> None:
    dispatcher = EventDispatcher(("user",), ["before", Phase("during", sequential=True), "after"])
    dispatcher.start()
    seen: list[str] = []

    def step(tag: str, delay: int) -> Any:
        def run(event: object) -> Deferred[None]:
            seen.append(f"start {tag}")
            return deferLater(clock, delay, seen.append, f"end {tag}")

        return run

    dispatcher.register(step("one", 3), "during", use_weakref=False)
    dispatcher.register(step("two", 1), "during", use_weakref=False)
    dispatcher.register(lambda e: seen.append("after"), "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    assert seen == ["start one"]
    clock.advance(3)
    assert seen == ["start one", "end one", "start two"]
    clock.advance(1)
    assert seen == ["start one", "end one", "start two", "end two", "after"]
    assert result_of(fired).succeeded


# Stop propagation


def test_stop_skips_every_handler_not_yet_started(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []

    def stopper(event: object) -> None:
        calls.append("stopper")
        raise StopPropagation("denied")

    dispatcher.register(tagger(calls, "before"), "before", use_weakref=False)
    stopper_id = dispatcher.register(stopper, "during", use_weakref=False)
    dispatcher.register(tagger(calls, "same phase"), "during", use_weakref=False)
    dispatcher.register(tagger(calls, "after"), "after", use_weakref=False)
    result = result_of(dispatcher.fire_event("e"))
    assert calls == ["before", "stopper"]
    assert result.stopped_by == stopper_id
    assert result.value == "denied"
    assert result.succeeded


def test_stop_from_an_asynchronous_handler(dispatcher: EventDispatcher, clock: Clock) -> None:
    calls: list[Any] = []

    async def stopper(event: object) -> None:
        await deferLater(clock, 1, lambda: None)
        raise StopPropagation()

    dispatcher.register(stopper, "during", use_weakref=False)
    dispatcher.register(tagger(calls, "after"), "after", use_weakref=False)
    fired = dispatcher.fire_event("e")
    clock.advance(1)
    result = result_of(fired)
    assert calls == []
    assert result.stopped_by is not None
    assert result.value is None


def test_handlers_already_started_in_a_concurrent_phase_are_awaited(dispatcher: EventDispatcher) -> None:
    slow: Deferred[str] = Deferred()
    dispatcher.register(lambda e: slow, "during", use_weakref=False)

    def stopper(event: object) -> None:
        raise StopPropagation("enough")

    dispatcher.register(stopper, "during", use_weakref=False)
    dispatcher.register(lambda e: "never", "during", use_weakref=False)
    fired = dispatcher.fire_event("e")
    assert not fired.called
    slow.callback("finished anyway")
    result = result_of(fired)
    assert result.values == ("finished anyway", "enough")
    assert result.value == "enough"


# Context and namespaces


def test_context_gives_details_phase_namespaces_and_results(dispatcher: EventDispatcher) -> None:
    seen: dict[str, Any] = {}

    def before(event: object, context: EventContext) -> str:
        context.local["note"] = "from before"
        context.globals["count"] = context.globals.get("count", 0) + 1  # type: ignore[operator]
        return "before done"

    def during(event: object, context: EventContext) -> None:
        seen.update(
            event=context.event,
            details=dict(context.details),
            phase=context.phase,
            note=context.local["note"],
            count=context.globals["count"],
            earlier=context.results.values,
        )

    dispatcher.register(before, "before", pass_context=True, use_weakref=False)
    dispatcher.register(during, "during", pass_context=True, use_weakref=False)
    dispatcher.fire_event("first", role="admin")
    assert seen == {
        "event": "first",
        "details": {"role": "admin"},
        "phase": "during",
        "note": "from before",
        "count": 1,
        "earlier": ("before done",),
    }
    dispatcher.fire_event("second")
    assert seen["details"] == {}
    assert dispatcher.namespace == {"count": 2}


def test_local_namespace_is_discarded_with_the_event(dispatcher: EventDispatcher) -> None:
    seen: list[object] = []

    def handler(event: object, context: EventContext) -> None:
        seen.append(context.local.get("mark"))
        context.local["mark"] = event

    dispatcher.register(handler, "during", pass_context=True, use_weakref=False)
    dispatcher.fire_event("a")
    dispatcher.fire_event("b")
    assert seen == [None, None]


def test_rigger_walk_through_with_injected_keywords(dispatcher: EventDispatcher) -> None:
    """
    A before-phase handler computes artifact_path; the during-phase handler
    receives it as a keyword, alongside the fired details.
    """
    written: list[tuple[str, str]] = []
    dispatcher.allow_keywords("test_name", "test_location")
    dispatcher.namespace["ident"] = "global-ident"

    def prepare(test_name: str, test_location: str) -> Updates:
        return Updates(local={"artifact_path": f"{test_location}{test_name}", "ident": "local-ident"})

    def start_test(test_name: str, artifact_path: str, ident: str) -> None:
        written.append((f"{artifact_path}-{ident}.log", test_name))

    dispatcher.register(prepare, "before", inject=True, use_weakref=False)
    dispatcher.register(start_test, "during", inject=True, use_weakref=False)
    result = result_of(dispatcher.fire_event("start_test", test_name="my_test", test_location="var/test/"))
    assert written == [("var/test/my_test-local-ident.log", "my_test")]
    assert result.succeeded
    assert dispatcher.namespace == {"ident": "global-ident"}


def test_injection_of_a_missing_keyword_is_a_clear_failure(dispatcher: EventDispatcher) -> None:
    def needs(artifact_path: str) -> None:
        pass

    handler_id = dispatcher.register(needs, "during", inject=True, use_weakref=False)
    (failed,) = result_of(dispatcher.fire_event("e")).failures
    assert failed.failure is not None
    error = failed.failure.value
    assert isinstance(error, InjectionError)
    assert error.missing == ("artifact_path",)
    assert error.handler_id == handler_id


def test_injection_can_ask_for_event_context_and_everything(dispatcher: EventDispatcher) -> None:
    seen: list[Any] = []

    def handler(event: object, context: EventContext, **everything: object) -> None:
        seen.append((event, context.phase, sorted(everything)))

    dispatcher.register(handler, "during", inject=True, use_weakref=False)
    dispatcher.fire_event("e", role="admin")
    assert seen == [("e", "during", ["role"])]


def test_injection_and_context_cannot_be_combined(dispatcher: EventDispatcher) -> None:
    with pytest.raises(ValueError, match="cannot be combined"):
        dispatcher.register(print, "during", inject=True, pass_context=True)


def test_updates_from_a_plain_handler_are_just_a_value(dispatcher: EventDispatcher) -> None:
    dispatcher.register(lambda e: Updates(globals={"x": 1}), "during", use_weakref=False)
    result = result_of(dispatcher.fire_event("e"))
    assert dispatcher.namespace == {}
    assert isinstance(result.values[0], Updates)


# Follow-up events


def test_follow_ups_run_after_the_event_in_order(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []

    def emit(event: object, context: EventContext) -> None:
        if event == "order placed":
            context.follow_up("reserve stock", event_type="stock")
            context.follow_up("send receipt", event_type="mail")

    dispatcher.register(emit, "during", pass_context=True, use_weakref=False)
    dispatcher.register(lambda e: calls.append(e), "after", use_weakref=False)
    result = result_of(dispatcher.fire_event("order placed"))
    assert calls == ["order placed", "reserve stock", "send receipt"]
    assert [follow_up.event for follow_up in result.follow_ups] == ["reserve stock", "send receipt"]
    assert result.follow_ups[0].details == {"event_type": "stock"}


def test_outer_fire_waits_for_asynchronous_follow_ups(dispatcher: EventDispatcher, clock: Clock) -> None:
    def emit(event: object, context: EventContext) -> None:
        if event == "outer":
            context.follow_up("inner", role="slow")

    dispatcher.register(emit, "during", pass_context=True, use_weakref=False)
    dispatcher.register(
        lambda e: deferLater(clock, 5, lambda: "slow done"),
        "during",
        match={"role": "slow"},
        use_weakref=False,
    )
    fired = dispatcher.fire_event("outer")
    assert not fired.called
    clock.advance(5)
    (inner,) = result_of(fired).follow_ups
    assert inner.values == (None, "slow done")


def test_runaway_follow_ups_stop_at_the_configured_depth() -> None:
    dispatcher = EventDispatcher(("role",), max_follow_up_depth=3)
    dispatcher.start()

    def again(event: int, context: EventContext) -> None:
        context.follow_up(event + 1)

    dispatcher.register(again, "during", pass_context=True, use_weakref=False)
    result = result_of(dispatcher.fire_event(0))
    chain = [result]
    while chain[-1].follow_ups:
        chain.append(chain[-1].follow_ups[0])
    assert [fired.event for fired in chain] == [0, 1, 2, 3]
    (failed,) = chain[-1].failures
    assert failed.failure is not None
    error = failed.failure.value
    assert isinstance(error, FollowUpDepthError)
    assert "max_follow_up_depth is 3" in str(error)


def test_follow_up_details_are_checked_at_the_call(dispatcher: EventDispatcher) -> None:
    errors: list[BaseException] = []

    def emit(event: object, context: EventContext) -> None:
        try:
            context.follow_up("next", colour="red")
        except UnknownKeywordError as error:
            errors.append(error)

    dispatcher.register(emit, "during", pass_context=True, use_weakref=False)
    assert result_of(dispatcher.fire_event("e")).follow_ups == ()
    assert len(errors) == 1


@pytest.mark.parametrize(("stop", "expected"), [(StopPropagation(), 1), (StopPropagation("value"), 0)])
def test_stop_with_a_value_drops_queued_follow_ups(
    dispatcher: EventDispatcher, stop: StopPropagation, expected: int
) -> None:
    """
    EvProc: a stop without a value lets queued follow-ups run; with a value
    they are dropped, and reported as dropped.
    """

    def emit_then_stop(event: object, context: EventContext) -> None:
        if event == "first":
            context.follow_up("queued")
            raise stop

    dispatcher.register(emit_then_stop, "during", pass_context=True, use_weakref=False)
    result = result_of(dispatcher.fire_event("first"))
    assert len(result.follow_ups) == expected
    assert len(result.dropped_follow_ups) == 1 - expected


# Error policy


def test_per_handler_error_policy_overrides_the_dispatchers(logs: list[dict[str, Any]]) -> None:
    logging = EventDispatcher(("role",))
    logging.start()
    logging.register(lambda e: 1 / 0, "during", errors="fail", use_weakref=False)
    assert failure_of(logging.fire_event("e")).check(HandlerFailed)

    fatal = EventDispatcher(("role",), handler_errors="fail")
    fatal.start()
    fatal.register(lambda e: 1 / 0, "during", errors="log", use_weakref=False)
    calls: list[Any] = []
    fatal.register(calls.append, "after", use_weakref=False)
    assert len(result_of(fatal.fire_event("e")).failures) == 1
    assert calls == ["e"]
    assert len([event for event in logs if event.get("log_failure") is not None]) == 1


def test_unknown_error_policy_is_refused(dispatcher: EventDispatcher) -> None:
    with pytest.raises(ValueError, match="errors must be 'log' or 'fail'"):
        dispatcher.register(print, "during", errors="ignore")  # type: ignore[typeddict-item]


# Threads


@pytest_twisted.ensureDeferred
async def test_threaded_handler_does_not_block_the_reactor() -> None:
    from twisted.internet import reactor

    dispatcher = EventDispatcher(("role",), reactor=reactor)
    dispatcher.start()
    released = threading.Event()
    threads: list[str] = []

    def blocking(event: object) -> str:
        threads.append(threading.current_thread().name)
        if not released.wait(timeout=10):
            raise AssertionError("the reactor never released the handler: it was blocked")
        return "unblocked"

    dispatcher.register(blocking, "during", threaded=True, use_weakref=False)
    fired = dispatcher.fire_event("e")
    reactor.callLater(0, released.set)  # type: ignore[attr-defined]
    result = await fired
    assert result.values == ("unblocked",)
    assert threads != [threading.current_thread().name]


# Results


def test_first_result_is_the_first_answer_in_call_order(dispatcher: EventDispatcher) -> None:
    """
    pubtools' get_cert_key_paths: the first non-None answer counts.  Unlike
    pluggy (last registered first), handlers answer in registration order;
    priority changes that.
    """
    dispatcher.register(lambda e: None, "during", use_weakref=False)
    dispatcher.register(lambda e: ("first.crt", "first.key"), "during", use_weakref=False)
    dispatcher.register(lambda e: ("second.crt", "second.key"), "during", use_weakref=False)
    result = result_of(dispatcher.fire_event("get_cert_key_paths"))
    assert result.first_result() == ("first.crt", "first.key")
    assert result.values == (None, ("first.crt", "first.key"), ("second.crt", "second.key"))
    dispatcher.register(lambda e: ("urgent.crt", "urgent.key"), "during", priority=1, use_weakref=False)
    assert result_of(dispatcher.fire_event("again")).first_result() == ("urgent.crt", "urgent.key")


def test_first_result_skips_failures(dispatcher: EventDispatcher) -> None:
    dispatcher.register(lambda e: succeed(None), "during", use_weakref=False)
    dispatcher.register(lambda e: 1 / 0, "during", use_weakref=False)
    assert result_of(dispatcher.fire_event("e")).first_result() is None


def test_weakly_held_handler_with_options_disappears(dispatcher: EventDispatcher) -> None:
    calls: list[Any] = []

    def handler(event: object) -> None:
        calls.append(event)

    dispatcher.register(handler, "during", times=5, match={"role": any_of("a", "b")}, use_weakref=True)
    del handler
    gc.collect()
    dispatcher.fire_event("e", role="a")
    assert calls == []
    assert dispatcher.handler_ids() == []


# Per-fire options in the tight loop


@implementer(IFireMonitor)
class HookLog:
    """
    A monitor that notes each hook it hears, with the phase or value.
    """

    def __init__(self) -> None:
        self.heard: list[tuple[str, object]] = []

    def fire_started(self, fire: FireResult) -> None:
        self.heard.append(("fire_started", fire.event))

    def phase_started(self, fire: FireResult, phase: str) -> None:
        self.heard.append(("phase_started", phase))

    def handler_started(self, fire: FireResult, handler_id: Any) -> None:
        self.heard.append(("handler_started", handler_id.phase))

    def handler_finished(self, fire: FireResult, handler_id: Any, outcome: Any, seconds: float) -> None:
        self.heard.append(("handler_finished", outcome.value))

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        self.heard.append(("phase_finished", phase))

    def fire_finished(self, fire: FireResult, failure: Any, seconds: float) -> None:
        self.heard.append(("fire_finished", failure))


@implementer(IHandlerLedger)
class Forgetful:
    """
    A ledger that remembers nothing (a fire given it runs in the general loop).
    """

    def completed(self, handler_id: Any) -> bool:
        return False

    def record(self, handler_id: Any) -> None:
        pass


@pytest.mark.parametrize("ledger", [None, Forgetful()])
def test_first_result_ends_the_fire_at_the_first_answer(ledger: Forgetful | None) -> None:
    """
    A ``first_result`` fire of plain handlers stops at the first answer other
    than None, with the rest of the phase and later phases not called, and
    monitors told the same, whichever loop runs it.
    """
    dispatcher = EventDispatcher(("kind",), clock=Clock())
    dispatcher.start()
    log = HookLog()
    dispatcher.add_monitor(log)
    called: list[object] = []
    for phase, value in (("during", None), ("during", 7), ("during", 9), ("after", 11)):
        dispatcher.register(tagger(called, value), phase, use_weakref=False)
    result = result_of(dispatcher.fire("e", {"kind": "k"}, first_result=True, ledger=ledger))
    assert result.values == (None, 7)
    assert result.first_result() == 7
    assert called == [None, 7]
    assert log.heard == [
        ("fire_started", "e"),
        ("phase_started", "during"),
        ("handler_started", "during"),
        ("handler_finished", None),
        ("handler_started", "during"),
        ("handler_finished", 7),
        ("phase_finished", "during"),
        ("fire_finished", None),
    ]


def test_arguments_reach_a_context_handler_after_plain_ones(dispatcher: EventDispatcher) -> None:
    """
    A fire given arguments begins in the tight loop; the handler that needs a
    context, after plain ones, still sees the fire's arguments, and so does
    the report.
    """
    seen: list[object] = []
    dispatcher.register(lambda event: None, "before", use_weakref=False)
    dispatcher.register(
        lambda event, context: seen.append(dict(context.arguments)),
        "during",
        pass_context=True,
        use_weakref=False,
    )
    result = result_of(dispatcher.fire("e", {}, arguments={"payload": [1, 2]}, fire_id="f-1", attempt=2))
    assert seen == [{"payload": [1, 2]}]
    assert result.arguments == {"payload": [1, 2]}
    assert (result.fire_id, result.attempt) == ("f-1", 2)


def test_fire_event_refuses_a_second_positional_argument(dispatcher: EventDispatcher) -> None:
    with pytest.raises(TypeError, match="only positional argument"):
        dispatcher.fire_event("e", "stray")  # type: ignore[call-arg]
