"""
``times=N`` with ``max_concurrent``: a call counts when it starts, so a call
that waits for its turn, or is refused, uses up none of the count; the
handler is called ``times`` times at most, and a call still queued once the
count is spent never starts (it ends as a removed handler's queued call
does: with no outcome).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support import result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher, HandlerId, OverloadedError


class Counted:
    """
    A handler that notes each call and answers a Deferred the test fires.
    """

    def __init__(self) -> None:
        self.calls: list[object] = []
        self.running: list[Deferred[str]] = []

    def __call__(self, event: object) -> Deferred[str]:
        self.calls.append(event)
        self.running.append(Deferred())
        return self.running[-1]

    def finish(self, index: int = 0) -> None:
        self.running.pop(index).callback("done")

    def finish_all(self) -> None:
        while self.running:
            self.finish()


def limited(times: int, **options: Any) -> tuple[EventDispatcher, Counted, HandlerId]:
    dispatcher = EventDispatcher(("k",), clock=Clock())
    dispatcher.start()
    handler = Counted()
    handler_id = dispatcher.register(handler, "during", times=times, use_weakref=False, **options)
    return dispatcher, handler, handler_id


def test_a_call_waiting_behind_max_concurrent_does_not_use_up_times() -> None:
    dispatcher, handler, handler_id = limited(2, max_concurrent=1)
    first = dispatcher.fire_event("first")
    second = dispatcher.fire_event("second")
    assert handler_id in dispatcher.handler_ids()
    handler.finish()
    assert handler.calls == ["first", "second"]
    assert handler_id not in dispatcher.handler_ids()  # removed as its last call started
    handler.finish()
    assert result_of(first).values == ("done",)
    assert result_of(second).values == ("done",)


def test_every_call_counted_runs_when_fires_wait_behind_the_limit() -> None:
    for times, max_concurrent in ((5, 1), (3, 2), (3, 1)):
        dispatcher, handler, _ = limited(times, max_concurrent=max_concurrent)
        fires = [dispatcher.fire_event(number) for number in range(times)]
        handler.finish_all()
        assert handler.calls == list(range(times))
        assert [result_of(fired).values for fired in fires] == [("done",)] * times


def test_a_refused_call_does_not_use_up_times() -> None:
    dispatcher, handler, handler_id = limited(2, max_concurrent=1, when_full="error")
    dispatcher.fire_event("a")
    refused = result_of(dispatcher.fire_event("b"))
    (outcome,) = refused.failures
    assert outcome.failure is not None and outcome.failure.check(OverloadedError)
    assert handler_id in dispatcher.handler_ids()
    handler.finish()
    dispatcher.fire_event("c")
    assert handler.calls == ["a", "c"]
    assert handler_id not in dispatcher.handler_ids()


def test_a_call_queued_beyond_the_count_never_starts_and_its_fire_ends() -> None:
    dispatcher, handler, handler_id = limited(2, max_concurrent=1)
    first = dispatcher.fire_event("first")
    second = dispatcher.fire_event("second")
    third = dispatcher.fire_event("third")  # queued while one call is still left to count
    handler.finish()
    assert handler.calls == ["first", "second"]
    handler.finish()
    assert handler.calls == ["first", "second"]
    assert handler.running == []
    assert [outcome.handler_id for outcome in result_of(second)] == [handler_id]
    assert result_of(third).outcomes == ()  # as for a removed handler's queued call
    assert result_of(first).values == ("done",)
    assert dispatcher.in_flight() == []


# A property: the dispatcher against a model of the limit and the count.

#: None fires an event; a number finishes one of the running calls.
_steps = st.lists(st.one_of(st.none(), st.integers(0, 7)), max_size=30)


class _Model:
    """
    What should happen: a call starts when it has a place, and counts then;
    the registration goes with the last call; a refused call counts nothing;
    queued calls left once it has gone never start.
    """

    def __init__(self, times: int, max_concurrent: int, max_queued: int, when_full: str) -> None:
        self.remaining = times
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self.when_full = when_full
        self.calls: list[int] = []
        self.running: list[int] = []
        self.queued: list[int] = []
        self.ends: dict[int, str] = {}  # fire -> "called", "refused" or "none"

    @property
    def registered(self) -> bool:
        return self.remaining > 0

    def fire(self, number: int) -> None:
        if not self.registered:
            self.ends[number] = "none"
        elif len(self.running) < self.max_concurrent:
            self._call(number)
        elif self.when_full == "error" or len(self.queued) >= self.max_queued:
            self.ends[number] = "refused"
        else:
            self.queued.append(number)

    def finish(self, index: int) -> None:
        self.running.pop(index)
        while self.queued and len(self.running) < self.max_concurrent:
            number = self.queued.pop(0)
            if self.registered:
                self._call(number)
            else:
                self.ends[number] = "none"

    def _call(self, number: int) -> None:
        self.remaining -= 1
        self.calls.append(number)
        self.running.append(number)
        self.ends[number] = "called"


def _end_of(fired: Deferred[Any]) -> str:
    outcomes = result_of(fired).outcomes
    if not outcomes:
        return "none"
    (outcome,) = outcomes
    return "called" if outcome.succeeded else "refused"


@settings(deadline=None, max_examples=300)
@given(
    times=st.integers(1, 4),
    max_concurrent=st.integers(1, 3),
    max_queued=st.integers(0, 3),
    when_full=st.sampled_from(["wait", "error"]),
    steps=_steps,
)
def test_times_with_max_concurrent_follows_the_model(
    times: int, max_concurrent: int, max_queued: int, when_full: str, steps: list[int | None]
) -> None:
    dispatcher, handler, handler_id = limited(
        times, max_concurrent=max_concurrent, max_queued=max_queued, when_full=when_full
    )
    model = _Model(times, max_concurrent, max_queued, when_full)
    fires: list[Deferred[Any]] = []
    for step in steps:
        if step is None:
            model.fire(len(fires))
            fires.append(dispatcher.fire_event(len(fires)))
        elif handler.running:
            index = step % len(handler.running)
            model.finish(index)
            handler.finish(index)
        assert handler.calls == model.calls
        assert len(handler.calls) <= times
        assert (handler_id in dispatcher.handler_ids()) == model.registered
    while handler.running:
        model.finish(0)
        handler.finish()
    assert handler.calls == model.calls
    assert [_end_of(fired) for fired in fires] == [model.ends[number] for number in range(len(fires))]
    refused = sum(1 for end in model.ends.values() if end == "refused")
    if when_full == "wait" and max_queued >= len(fires):  # nothing refused: enough fires, exactly times calls
        assert refused == 0
        assert len(handler.calls) == min(times, len(fires))
    assert dispatcher.in_flight() == []
