"""
Regression tests for defects found in the handler model while documenting it
and testing its properties: each states the behaviour wanted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest
from support import result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater

from twisted_event_dispatcher import EventContext, EventDispatcher, InjectionError, MatchSpec


def dummy_predicate(event: object, details: Mapping[str, object]) -> bool:
    return True


def test_match_spec_takes_one_predicate_as_register_does() -> None:
    """
    ``register(where=predicate)`` takes one predicate as well as several;
    ``MatchSpec(..., where=predicate)`` should too, rather than failing with
    "'function' object is not iterable".
    """
    spec = MatchSpec({"kind": "a"}, where=dummy_predicate)  # type: ignore[arg-type]
    assert spec.where == (dummy_predicate,)


def test_injection_names_missing_keywords_of_a_handler_taking_any_keyword() -> None:
    """
    A handler taking ``**rest`` still requires its named parameters: when the
    namespaces lack one, the handler's failure is an InjectionError naming
    it, as for a handler without ``**rest`` (not a TypeError from the call).
    """
    dispatcher = EventDispatcher(("user",))
    dispatcher.start()

    def needs_path(artifact_path: str, **rest: object) -> str:
        return artifact_path

    dispatcher.register(needs_path, "during", inject=True, use_weakref=False)
    (outcome,) = result_of(dispatcher.fire_event("e", user="bob")).failures
    assert outcome.failure is not None
    assert outcome.failure.check(InjectionError)


def test_context_results_show_only_finished_handlers() -> None:
    """
    `EventContext.results` is documented as the outcomes of earlier phases
    and of the finished handlers of this phase; a handler still running in a
    concurrent phase must not appear with an internal placeholder as value.
    """
    dispatcher = EventDispatcher(("user",))
    dispatcher.start()
    waiting: Deferred[str] = Deferred()
    seen: list[tuple[object, ...]] = []

    def peek(event: object, context: EventContext) -> None:
        seen.append(context.results.values)

    dispatcher.register(lambda event: waiting, "during", use_weakref=False)
    dispatcher.register(peek, "during", pass_context=True, use_weakref=False)
    fired = dispatcher.fire_event("e")
    waiting.callback("done")
    result_of(fired)
    assert seen == [()]


def test_a_follow_up_after_the_event_finished_is_not_lost_silently() -> None:
    """
    A handler that keeps its context and asks for a follow-up once the event
    has finished cannot have it dispatched as part of that event; the call
    should raise rather than queue an event that will never be dispatched.
    """
    dispatcher = EventDispatcher(("user",))
    dispatcher.start()
    kept: list[EventContext] = []
    dispatcher.register(
        lambda event, context: kept.append(context), "during", pass_context=True, use_weakref=False
    )
    result = result_of(dispatcher.fire_event("first"))
    with pytest.raises(RuntimeError):
        kept[0].follow_up("late")
    assert result.follow_ups == ()


def test_a_free_handler_of_a_concurrent_phase_does_not_wait_for_unrelated_ones() -> None:
    """
    In a concurrent phase, a handler with no constraint starts with the
    phase, even when a handler registered before it must wait for the one it
    requires; only ``requires``/``required_by`` (or a sequential phase) make a
    handler wait.
    """
    clock = Clock()
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    started: list[tuple[str, float]] = []

    def dummy_work(name: str, seconds: float) -> Callable[[object], Deferred[None]]:
        def work(event: object) -> Deferred[None]:
            started.append((name, clock.seconds()))
            return deferLater(clock, seconds, lambda: None)

        return work

    dispatcher.register(dummy_work("upload", 3), "during", name="upload", use_weakref=False)
    dispatcher.register(dummy_work("thumbnail", 2), "during", requires="upload", use_weakref=False)
    dispatcher.register(dummy_work("notify", 1), "during", use_weakref=False)
    fired = dispatcher.fire_event("photo")
    clock.advance(3)
    clock.advance(2)
    result_of(fired)
    assert started == [("upload", 0), ("notify", 0), ("thumbnail", 3)]


def test_unnamed_handlers_sharing_a_label_are_not_a_cycle() -> None:
    """
    Without ``name=``, a handler's name is its label, which many handlers
    share (every lambda is ``<lambda>``).  One that must run before "upload"
    and another that must run after it are not a cycle: the order check,
    then upload, then thumbnail satisfies both.
    """
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    ran: list[str] = []
    dispatcher.register(lambda event: ran.append("upload"), "during", name="upload", use_weakref=False)
    dispatcher.register(lambda event: ran.append("thumbnail"), "during", requires="upload", use_weakref=False)
    dispatcher.register(lambda event: ran.append("check"), "during", required_by="upload", use_weakref=False)
    result_of(dispatcher.fire_event("photo"))
    assert ran == ["check", "upload", "thumbnail"]
