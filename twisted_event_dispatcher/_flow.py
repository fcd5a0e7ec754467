# -*- test-case-name: tests.test_flow -*-
"""
Flow control for L{EventDispatcher}: holding fires back at C{max_in_flight},
queueing nested fires, draining with a deadline, and awaiting an event.

Functions over the dispatcher's own state; its methods of the same names
call them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import MutableSequence
from typing import TYPE_CHECKING

from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger

from ._errors import DispatcherNotRunning, OverloadedError
from ._registry import HandlerId
from ._result import FireResult

if TYPE_CHECKING:
    from ._dispatcher import EventDispatcher

_log = Logger()

#: A fire held back: its event, its details, and the firer's Deferred.
Held = tuple[object, dict[str, object], Deferred[FireResult]]


def hold(
    dispatcher: EventDispatcher, event: object, details: dict[str, object]
) -> Deferred[FireResult] | None:
    """
    Hold a fire back if a policy says so: return the Deferred the firer
    gets, or None to dispatch it now.
    """
    nested = dispatcher._starting_handlers()
    if nested and (dispatcher._nested_override or dispatcher._nested) == "queue":
        return dispatcher._queue_nested(event, details)
    limit = dispatcher._max_in_flight
    # A fire made by a handler as it runs is part of an event already
    # counted: holding it back behind that event could deadlock.
    if limit is None or nested or dispatcher._count_in_flight() < limit:
        return None
    if dispatcher._when_full == "error" or len(dispatcher._held) >= dispatcher._max_queued_events:
        return fail(OverloadedError(dispatcher, limit, len(dispatcher._held)))
    return _enqueue(dispatcher._held, event, details)


def queue_nested(
    dispatcher: EventDispatcher, event: object, details: dict[str, object]
) -> Deferred[FireResult]:
    """
    Queue a fire made from inside a handler, to be dispatched once no
    handler is starting.
    """
    return _enqueue(dispatcher._queued_nested, event, details)


def _enqueue(queue: MutableSequence[Held], event: object, details: dict[str, object]) -> Deferred[FireResult]:
    """
    Put a fire in C{queue}; the Deferred returned is the firer's, and
    cancelling it withdraws the fire.
    """
    entry: Held

    def withdraw(_: Deferred[FireResult]) -> None:
        queue.remove(entry)

    waiting: Deferred[FireResult] = Deferred(withdraw)
    entry = (event, details, waiting)
    queue.append(entry)
    return waiting


def release_held(dispatcher: EventDispatcher) -> None:
    """
    Dispatch held fires while there is room for them.
    """
    limit = dispatcher._max_in_flight
    while dispatcher._held and (limit is None or dispatcher._count_in_flight() < limit):
        event, details, waiting = dispatcher._held.popleft()
        dispatcher.fire(event, details, nested="immediate").chainDeferred(waiting)


def refuse_held(dispatcher: EventDispatcher) -> None:
    """
    The dispatcher stopped: fail the fires still held (none of their
    handlers ran).
    """
    held, dispatcher._held = dispatcher._held, deque()
    for event, _, waiting in held:
        waiting.errback(DispatcherNotRunning(event))


def starting_handlers(dispatcher: EventDispatcher) -> bool:
    """
    Whether a fire is starting handlers right now (so a fire made now
    comes from inside a handler): the dispatcher's plain loop is calling
    some, or an engine is looping.
    """
    return dispatcher._calling is not None or any(
        dispatch.looping for dispatch in dispatcher._in_flight.values()
    )


def release_nested(dispatcher: EventDispatcher) -> None:
    """
    Once no handler is starting any more, dispatch the queued nested fires.
    """
    if dispatcher._starting_handlers():
        return
    queued, dispatcher._queued_nested = dispatcher._queued_nested, []
    for event, details, waiting in queued:
        dispatcher.fire(event, details, nested="immediate").chainDeferred(waiting)


def deadline(dispatcher: EventDispatcher, drained: Deferred[None], timeout: float) -> None:
    """
    A stop's deadline passed: cancel the events still in flight.
    """
    waited_for = next((waiting for waiting, d in dispatcher._drains if d is drained), set())
    late = [(result, dispatcher._in_flight.get(result)) for result in waited_for]
    for result, dispatch in late:
        if dispatch is None:
            continue
        pending = [repr(handler_id) for handler_id, _ in dispatch.pending_handlers()]
        _log.warn(
            "Stopping: event {event!r} still in flight after {timeout:g} seconds, cancelled; "
            "pending handlers: {pending}",
            event=result.event,
            timeout=timeout,
            pending=", ".join(pending) or "none",
        )
        if dispatch.deferred is not None and not dispatch.deferred.called:
            dispatch.deferred.cancel()
    if not drained.called:
        dispatcher._drains = [(waiting, d) for waiting, d in dispatcher._drains if d is not drained]
        drained.callback(None)


def when(dispatcher: EventDispatcher, match_spec: dict[str, object]) -> Deferred[object]:
    """
    See L{EventDispatcher.when}: a one-shot registration in the last phase.
    """
    ids: list[HandlerId] = []

    def cancel(_: Deferred[object]) -> None:
        if ids and ids[0].handler() is not None:
            dispatcher.unregister(ids[0])

    arrived: Deferred[object] = Deferred(cancel)

    def deliver(event: object) -> None:
        dispatcher.unregister(ids[0])
        arrived.callback(event)

    described = ", ".join(f"{keyword}={value!r}" for keyword, value in sorted(match_spec.items()))
    deliver.__qualname__ = deliver.__name__ = f"when({described})"

    ids.append(dispatcher.register(deliver, dispatcher._phases[-1], match=match_spec, use_weakref=False))
    return arrived
