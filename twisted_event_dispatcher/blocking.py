# -*- test-case-name: tests.test_blocking -*-
"""
Drive an `EventDispatcher` from threaded code, through crochet.

An `EventDispatcher` lives in the reactor thread and answers with Deferreds.
Ordinary threaded code (a WSGI application, a script) wants plain values and
exceptions instead.  `BlockingDispatcher` runs each call in the reactor
thread that crochet runs, and blocks the calling thread until the call's
Deferred has fired, or until a timeout passes.

Constructing a `BlockingDispatcher` calls ``crochet.setup()``, which starts
the reactor in a thread the first time and does nothing afterwards.  An
application that runs the reactor itself calls ``crochet.no_setup()`` before
that, and then uses the facade from its other threads only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Final, Generic, Protocol, TypeVar, cast, final

import crochet
from twisted.internet.defer import CancelledError, Deferred, maybeDeferred, succeed
from twisted.python import threadable
from twisted.python.failure import Failure

from ._dispatcher import EventDispatcher
from ._errors import BlockingTimeoutError, ReactorThreadError
from ._registry import Handler, HandlerId
from ._result import FireResult
from .interfaces import IBackgroundUtility, IEventDispatcher

__all__ = ["DEFAULT_TIMEOUT", "BlockingDispatcher", "BlockingTimeoutError", "ReactorThreadError"]

#: Seconds a call waits when neither the call nor the facade says otherwise.
DEFAULT_TIMEOUT: Final = 10.0

#: The facade's own keyword argument, which therefore cannot be a match-spec keyword.
_TIMEOUT_KEYWORD: Final = "timeout"

_T = TypeVar("_T")

#: Twisted leaves ``isInIOThread`` untyped; this is its type.
_in_reactor_thread: Callable[[], bool] = threadable.isInIOThread


class _EventualResult(Protocol):
    """
    The part of ``crochet.EventualResult`` this module uses.
    """

    def wait(self, timeout: float) -> object: ...

    def cancel(self) -> None: ...


def _checked_timeout(timeout: object) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise TypeError(f"timeout must be a number of seconds, got {timeout!r}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a positive, finite number of seconds, got {timeout!r}")
    return float(timeout)


@final
class _Call(Generic[_T]):
    """
    One blocking call: the work to run in the reactor thread, and whether the
    calling thread has stopped waiting for it.

    ``crochet.wait_for`` is not used because, after a timeout, it leaves the
    cancelled Deferred's `CancelledError` in a result nobody reads, which
    crochet then logs as "Unhandled error in EventualResult"; and because
    work queued for a reactor that is too busy to start it before the
    timeout would still run afterwards.
    """

    __slots__ = ("abandoned", "work")

    def __init__(self, work: Callable[[], Deferred[_T]]) -> None:
        self.work = work
        self.abandoned = False

    def start(self) -> Deferred[_T] | Deferred[None]:
        """
        Start the work; runs in the reactor thread.
        """
        if self.abandoned:
            return succeed(None)
        deferred = maybeDeferred(self.work)
        deferred.addErrback(self._unless_abandoned)
        return deferred

    def _unless_abandoned(self, failure: Failure) -> Failure | None:
        # The caller timed out and cancelled the work: nobody is left to tell
        # that it was cancelled.  Any other failure still reaches crochet,
        # which logs it rather than lose it.
        if self.abandoned and failure.check(CancelledError):
            return None
        return failure


@final
class BlockingDispatcher:
    """
    A blocking facade over an `EventDispatcher` that runs in crochet's
    reactor thread.

    Each method runs the dispatcher's method of the same name in the reactor
    thread and waits for its Deferred: it returns the result, or raises the
    dispatcher's exception (`UnknownKeywordError`, `HandlerFailed`,
    `DispatcherNotRunning`, ...) unchanged, in the calling thread.

    Each method takes a keyword-only ``timeout``, in seconds, that overrides
    the facade's own for that call.  When it passes, the method cancels the
    Deferred it waits for and raises `BlockingTimeoutError`.  Called in the
    reactor thread, each method raises `ReactorThreadError` and does nothing.

    Handlers run in the reactor thread, like every handler of the dispatcher.
    Handlers are held as the dispatcher holds them: a bound method by a weak
    reference to its object, anything else strongly (see ``use_weakref``).

    :param dispatcher: the dispatcher to drive; from now on, call it only
        through this facade or in the reactor thread.
    :param timeout: the default timeout of every call, in seconds.
    :raises ValueError: if ``dispatcher`` allows the match-spec keyword
        ``timeout``, which this facade takes as its own argument.
    :ivar dispatcher: the dispatcher, for code running in the reactor thread.
    """

    def __init__(self, dispatcher: EventDispatcher, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not (IEventDispatcher.providedBy(dispatcher) and IBackgroundUtility.providedBy(dispatcher)):
            raise TypeError(
                f"dispatcher must provide IEventDispatcher and IBackgroundUtility, got {dispatcher!r}"
            )
        if _TIMEOUT_KEYWORD in dispatcher.allowed_match_spec_keywords:
            raise ValueError(
                f"{_TIMEOUT_KEYWORD!r} cannot be a match-spec keyword of a dispatcher driven by "
                "BlockingDispatcher: it takes timeout as its own argument"
            )
        self._timeout = _checked_timeout(timeout)
        self.dispatcher = dispatcher
        crochet.setup()

    def __repr__(self) -> str:
        return f"<BlockingDispatcher timeout={self._timeout:g} {self.dispatcher!r}>"

    @property
    def running(self) -> bool:
        """
        Whether the dispatcher is running (as last set by the reactor thread).
        """
        return self.dispatcher.running

    def add_event_handler(
        self,
        listen_fn: Handler,
        phase: str,
        /,
        use_weakref: bool | None = None,
        *,
        timeout: float | None = None,
        **match_spec: object,
    ) -> HandlerId:
        """
        Add a handler; see `IEventDispatcher.add_event_handler`.

        :returns: the handler's id.
        """
        return self._block(
            "add_event_handler",
            timeout,
            lambda: self.dispatcher.add_event_handler(
                listen_fn, phase, use_weakref=use_weakref, **match_spec
            ),
        )

    def register(
        self,
        listen_fn: Handler,
        phase: str,
        /,
        *,
        match: Mapping[str, object] | None = None,
        use_weakref: bool | None = None,
        timeout: float | None = None,
    ) -> HandlerId:
        """
        Add a handler, the match-spec given as a mapping; see
        `IEventDispatcher.register`.

        :returns: the handler's id.
        """
        return self._block(
            "register",
            timeout,
            lambda: succeed(self.dispatcher.register(listen_fn, phase, match=match, use_weakref=use_weakref)),
        )

    def remove_event_handler(self, handler_id: HandlerId, /, *, timeout: float | None = None) -> None:
        """
        Remove a handler; see `IEventDispatcher.remove_event_handler`.

        :raises UnknownHandlerError: if ``handler_id`` is not registered.
        """
        self._block("remove_event_handler", timeout, lambda: self.dispatcher.remove_event_handler(handler_id))

    def fire_event(self, event: object, /, *, timeout: float | None = None, **details: object) -> FireResult:
        """
        Fire an event and wait until its last phase has finished; see
        `IEventDispatcher.fire_event`.

        On a timeout, the event is cancelled: the handlers it is waiting
        for are cancelled, and its later phases do not run.

        :returns: the `FireResult` of the event.
        """
        return self._block("fire_event", timeout, lambda: self.dispatcher.fire_event(event, **details))

    def start(self, *, timeout: float | None = None) -> None:
        """
        Start the dispatcher; see `IBackgroundUtility.start`.
        """
        self._block("start", timeout, self._start)

    def stop(self, *, timeout: float | None = None) -> None:
        """
        Stop the dispatcher and wait for the events in flight to finish; see
        `IBackgroundUtility.stop`.

        On a timeout, the dispatcher is stopped all the same (it refuses new
        events), and the events in flight go on.
        """
        self._block("stop", timeout, self.dispatcher.stop)

    def _start(self) -> Deferred[None]:
        self.dispatcher.start()
        return succeed(None)

    def _block(self, operation: str, timeout: float | None, work: Callable[[], Deferred[_T]]) -> _T:
        """
        Run ``work`` in the reactor thread and wait for its Deferred.
        """
        if _in_reactor_thread():
            raise ReactorThreadError(operation)
        seconds = self._timeout if timeout is None else _checked_timeout(timeout)
        call = _Call(work)
        eventual: _EventualResult = crochet.run_in_reactor(call.start)()
        try:
            return cast(_T, eventual.wait(seconds))
        except crochet.TimeoutError:
            call.abandoned = True
            eventual.cancel()
            raise BlockingTimeoutError(operation, seconds) from None
