# -*- test-case-name: tests.test_dispatcher -*-
"""
What a handler's answer (its return value) is, told by its type: a plain
value to record, a Deferred to wait for, a coroutine to drive, a failure, or
follow-up events (:class:`FollowUps`).

The kind of each type is remembered, so that telling a common answer apart
costs one dictionary lookup (``Deferred`` is an ABC: ``isinstance`` against
it is slow).

Coroutines are driven by ``Deferred.fromCoroutine``, except under Twisted's
asyncio reactor, where they run as asyncio tasks so that they may await
anything asyncio offers (:func:`choose_driver`, once per dispatcher).
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator, Iterable, Mapping
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, cast, final

if TYPE_CHECKING:
    import asyncio

from twisted.internet.defer import Deferred
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from ._text import brief, safe_repr

__all__ = [
    "COROUTINE",
    "FAILED",
    "FOLLOW_UPS",
    "KINDS",
    "PLAIN",
    "WAIT",
    "CoroutineDriver",
    "FollowUps",
    "cancel_answer",
    "choose_driver",
    "drive_in_asyncio",
    "is_asyncio_reactor",
    "kind_of",
    "settled",
]

_log = Logger()

PLAIN: Final = 0
WAIT: Final = 1
FAILED: Final = 2
COROUTINE: Final = 3
FOLLOW_UPS: Final = 4


@final
class FollowUps:
    """
    A handler's answer asking for follow-up events, as
    ``context.follow_up(event, **details)`` does for each: they are
    dispatched, in order, once this event (and its earlier follow-ups) has
    finished, and their results join ``FireResult.follow_ups``::

        def charge(order):
            return FollowUps(("receipt", {"kind": "mail"}), ("audit", {}))

    :ivar events: ``(event, details)`` pairs.
    :raises TypeError: for something that is not an ``(event, details)``
        pair with details a mapping of keyword to value.
    """

    __slots__ = ("events",)

    def __init__(self, *events: tuple[object, Mapping[str, object]]) -> None:
        checked = []
        for item in events:
            if not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[1], Mapping):
                raise TypeError(
                    f"FollowUps takes (event, details) pairs with details a mapping, got {item!r}"
                )
            checked.append((item[0], dict(item[1])))
        self.events: tuple[tuple[object, dict[str, object]], ...] = tuple(checked)

    @classmethod
    def of(cls, events: Iterable[object]) -> FollowUps:
        """
        Follow-up events without details: ``FollowUps.of(["a", "b"])``.
        """
        return cls(*((event, {}) for event in events))

    def __repr__(self) -> str:
        return f"FollowUps{self.events!r}"


_KNOWN: Final[dict[type, int]] = {
    type(None): PLAIN,
    Deferred: WAIT,
    CoroutineType: COROUTINE,
    Failure: FAILED,
    FollowUps: FOLLOW_UPS,
}

#: The kind of each type of answer seen so far.
KINDS: Final[dict[type, int]] = dict(_KNOWN)

#: What turns a coroutine (or an asyncio future) into a Deferred.
CoroutineDriver = Callable[[Awaitable[object]], Deferred[object]]


def kind_of(kind: type) -> int:
    """
    The kind of a type of answer not seen before, remembered.
    """
    if len(KINDS) > 512:  # dynamically made types: keep the table small
        KINDS.clear()
        KINDS.update(_KNOWN)
    if issubclass(kind, Deferred):
        found = WAIT
    elif issubclass(kind, CoroutineType) or _is_asyncio_future(kind):
        found = COROUTINE
    elif issubclass(kind, Failure):
        found = FAILED
    else:
        found = PLAIN
    KINDS[kind] = found
    return found


def _is_asyncio_future(kind: type) -> bool:
    asyncio = sys.modules.get("asyncio")  # no asyncio future without asyncio imported
    return asyncio is not None and issubclass(kind, asyncio.Future)


def _consume(failure: Failure) -> None:
    """
    Errback that marks a failure as handled: the dispatcher records it.
    """


def settled(deferred: Deferred[object]) -> tuple[Deferred[object] | None, object]:
    """
    Look into a Deferred a handler answered.

    :returns: ``(None, outcome)`` if it has already finished with ``outcome``
        (a value or a Failure), else ``(deferred, None)`` to wait for.
    """
    # Called and not paused: its callbacks have run, so its result is final.
    if not deferred.called or deferred.paused:
        return deferred, None
    outcome = deferred.result
    if isinstance(outcome, Failure):
        deferred.addErrback(_consume)
    return None, outcome


@final
class _AsyncioAwaitable:
    """
    A handler's coroutine, made awaitable by an asyncio task even where it
    awaits a Twisted Deferred: each Deferred it yields is awaited as an
    asyncio future (``Deferred.asFuture``); anything else goes to the task
    as it is.  Cancelling the task reaches the coroutine as
    ``asyncio.CancelledError``, and cancels the Deferred it awaited.
    """

    __slots__ = ("_coroutine",)

    def __init__(self, coroutine: Coroutine[object, object, object]) -> None:
        self._coroutine = coroutine

    def __await__(self) -> Generator[object, object, object]:
        coroutine = self._coroutine
        sent: object = None
        error: BaseException | None = None
        while True:
            try:
                yielded = coroutine.send(sent) if error is None else coroutine.throw(error)
            except StopIteration as stop:
                return stop.value
            sent, error = None, None
            try:
                if isinstance(yielded, Deferred):
                    yield from _until_called(yielded, coroutine)
                else:
                    sent = yield yielded
            except BaseException as raised:  # cancellation included: the coroutine decides
                error = raised


def cancel_answer(deferred: Deferred[Any], handler: object, event: object = None) -> None:
    """
    Cancel a Deferred a handler answered (or awaited).  A canceller that
    raises is logged, naming ``handler`` (its id, or a description), and the
    cancellation is taken as ignored: the Deferred is left as it is, and the
    caller goes on.
    """
    try:
        deferred.cancel()
    except Exception:
        _log.failure(
            "Cancelling {handler} (event {shown_event}) failed: the canceller of the Deferred "
            "it waits on raised; the cancellation is taken as ignored",
            Failure(),
            LogLevel.error,
            handler_id=handler,
            handler=handler if isinstance(handler, str) else safe_repr(handler),
            event=event,
            shown_event=brief(event),
        )


def _until_called(
    deferred: Deferred[object], coroutine: Coroutine[object, object, object]
) -> Generator[object, object, None]:
    """
    Wait, in an asyncio task, until ``deferred`` has a result, leaving the
    result in it (the coroutine awaiting it then takes it from there).  If
    the task is cancelled meanwhile, so is ``deferred``.
    """
    import asyncio

    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def called(result: object) -> object:
        if not future.done():
            future.set_result(None)
        return result

    deferred.addBoth(called)
    try:
        yield from future.__await__()
    except asyncio.CancelledError:
        name = getattr(coroutine, "__qualname__", "?")
        cancel_answer(deferred, f"the coroutine handler {name} awaiting {safe_repr(deferred)}")
        raise


def drive_in_asyncio(awaitable: Awaitable[object]) -> Deferred[object]:
    """
    Run a coroutine as an asyncio task (or take an asyncio future as it is),
    so that it may await asyncio libraries and Deferreds alike: cancelling
    the Deferred cancels the task, which the coroutine sees as
    ``asyncio.CancelledError``, as asyncio code expects.
    """
    import asyncio

    if type(awaitable) is CoroutineType:
        awaitable = _AsyncioAwaitable(awaitable)
    return Deferred.fromFuture(asyncio.ensure_future(awaitable))


def _drive_as_deferred(awaitable: Awaitable[object]) -> Deferred[object]:
    if type(awaitable) is not CoroutineType:  # an asyncio future, outside the asyncio reactor
        return Deferred.fromFuture(cast("asyncio.Future[object]", awaitable))
    return Deferred.fromCoroutine(cast(Coroutine[Deferred[object], object, object], awaitable))


def choose_driver(reactor: object | None) -> CoroutineDriver:
    """
    How coroutine handlers run with ``reactor`` (the one given to the
    dispatcher, else the installed global reactor, or None if none is
    installed yet): as asyncio tasks on Twisted's asyncio reactor, else
    through ``Deferred.fromCoroutine`` (so that they await Deferreds).
    """
    if reactor is None:
        reactor = sys.modules.get("twisted.internet.reactor")
    return drive_in_asyncio if is_asyncio_reactor(reactor) else _drive_as_deferred


def is_asyncio_reactor(reactor: object) -> bool:
    """
    Whether ``reactor`` is Twisted's asyncio reactor (without importing it
    when nothing did).
    """
    asyncio_reactor = sys.modules.get("twisted.internet.asyncioreactor")
    return asyncio_reactor is not None and isinstance(reactor, asyncio_reactor.AsyncioSelectorReactor)
