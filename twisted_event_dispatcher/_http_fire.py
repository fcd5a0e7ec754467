# -*- test-case-name: tests.service.test_http -*-
"""
``POST /events`` once the request is checked: fire the event, and answer
with its result, at once when the handlers answered synchronously, else when
the fire settles.

At most ``max_in_flight`` fires wait for their handlers at once; past that,
up to ``max_queued`` more wait for a place, and the rest are answered 503
with ``Retry-After``.  A fire (or a place in the queue) that takes longer
than the timeout is cancelled and answered 504, and the handlers it waited
for are logged; a fire whose client goes away is cancelled; a fire
cancelled by the service's stop is answered 503.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Final, cast

from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

from ._errors import (
    DispatcherNotRunning,
    FireCancelled,
    HandlerFailed,
    UnhashableValueError,
    UnknownKeywordError,
)
from ._http_answers import ApiError, ResultWriter, answer, answer_error
from ._http_checks import FireRequest
from ._json import brief
from ._registry import HandlerId
from ._result import FireResult
from .declarations import EventArgumentsError, UnknownEventError

#: Errors in what the client sent that JSON could not catch: 422.
UNPROCESSABLE: Final = (UnknownKeywordError, UnhashableValueError, UnknownEventError, EventArgumentsError)

#: How much of an event a log line shows, in characters.
LOGGED_EVENT: Final = 200

#: Fires a requested event.
Fire = Callable[[FireRequest], "Deferred[FireResult]"]

#: What is entered around the fire of a request (its trace context, say).
AroundFire = Callable[[Request], AbstractContextManager[object]]

_log = Logger()


class Firing:
    """
    The fires made through HTTP, and their answers.

    :param fire: fires a requested event; raises one of
        `UNPROCESSABLE` for details or arguments it refuses.
    :param writer: turns results into JSON.
    :param timeout: seconds a fire may take (queueing included) before it
        is cancelled.
    :param clock: for the timeout.
    :param max_in_flight: how many fires may wait for their handlers at once.
    :param max_queued: how many more may wait for a place.
    :param around: entered around each fire, given its request; or None.
    :param refused: told of each fire refused because the queue is full; or None.
    """

    def __init__(
        self,
        fire: Fire,
        writer: ResultWriter,
        timeout: float | None,
        clock: IReactorTime,
        max_in_flight: int,
        max_queued: int,
        *,
        around: AroundFire | None = None,
        refused: Callable[[], None] | None = None,
    ) -> None:
        self._fire = fire
        self.writer = writer
        self.timeout = timeout
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._max_queued = max_queued
        self._around = around
        self._refused = refused
        self._running = 0
        self._releasing = False
        self._queued: deque[Answer] = deque()
        self._waiting: set[Answer] = set()
        self._idle: list[Deferred[None]] = []
        self._unqueued: list[Deferred[None]] = []

    @property
    def in_flight(self) -> int:
        """
        How many fires have not been answered yet (queued ones included).
        """
        return len(self._waiting)

    @property
    def running(self) -> int:
        """
        How many fires wait for their handlers.
        """
        return self._running

    @property
    def queued(self) -> int:
        """
        How many fires wait for a place.
        """
        return len(self._queued)

    @property
    def max_in_flight(self) -> int:
        """
        How many fires may wait for their handlers at once.
        """
        return self._max_in_flight

    @property
    def max_queued(self) -> int:
        """
        How many more may wait for a place.
        """
        return self._max_queued

    def when_idle(self) -> Deferred[None]:
        """
        A Deferred firing with None once every fire has been answered.
        """
        if not self._waiting:
            return succeed(None)
        idle: Deferred[None] = Deferred()
        self._idle.append(idle)
        return idle

    def when_unqueued(self) -> Deferred[None]:
        """
        A Deferred firing with None once no fire waits for a place: each has
        started, or been withdrawn or cancelled.
        """
        if not self._queued:
            return succeed(None)
        unqueued: Deferred[None] = Deferred()
        self._unqueued.append(unqueued)
        return unqueued

    def cancel_queued(self) -> None:
        """
        Cancel the fires that still wait for a place (the service stopped
        before a place freed): each is answered 503.
        """
        for pending in list(self._queued):
            pending.cancel()

    def _tell_if_unqueued(self) -> None:
        if not self._queued and self._unqueued:
            unqueued, self._unqueued = self._unqueued, []
            for waiter in unqueued:
                waiter.callback(None)

    def submit(self, request: Request, fire: FireRequest) -> bytes | int:
        """
        Fire, or queue the fire: the body of the answer if the fire settled
        at once, else ``NOT_DONE_YET``.

        :raises ApiError: 422 for details the dispatcher refuses; 503 if
            the queue is full.
        """
        pending = Answer(self, request, fire)
        if self._running < self._max_in_flight:
            self._start(pending)
            if pending.body is not None:
                return pending.body
        elif len(self._queued) < self._max_queued:
            self._queued.append(pending)
        else:
            if self._refused is not None:
                self._refused()
            message = (
                f"too many events in flight ({self._running} running, {len(self._queued)} waiting); "
                "try again later"
            )
            raise ApiError(503, message)
        pending.wait(self.timeout, self._clock)
        self._waiting.add(pending)
        return NOT_DONE_YET

    def _start(self, pending: Answer) -> None:
        """
        Fire ``pending``'s event; answer it 422 if its details are refused.
        """
        try:
            if self._around is None:
                fired = self._fire(pending.fire)
            else:
                with self._around(pending.request):
                    fired = self._fire(pending.fire)
        except UNPROCESSABLE as error:
            refused = ApiError(422, str(error)[:1000])
            if not pending.waiting:
                raise refused from None
            pending.settled(Failure(refused))
            return
        self._running += 1
        pending.fired = fired
        fired.addBoth(pending.settled)

    def withdraw(self, pending: Answer) -> None:
        """
        Take a fire out of the queue (its client went or its time is up).
        """
        self._queued.remove(pending)

    def answered(self, pending: Answer) -> None:
        """
        A fire has been answered: start queued ones in the place it leaves.
        """
        if pending.fired is not None:
            self._running -= 1
        if not self._releasing:  # not again from a queued fire started below
            self._releasing = True
            try:
                while self._queued and self._running < self._max_in_flight:
                    self._start(self._queued.popleft())
            finally:
                self._releasing = False
            self._tell_if_unqueued()
        if pending.waiting:
            self._waiting.discard(pending)
            if not self._waiting and self._idle:
                idle, self._idle = self._idle, []
                for waiter in idle:
                    waiter.callback(None)

    def body_for(self, request: Request, outcome: object, pending: Answer) -> bytes | None:
        """
        The answer to a settled fire; None if nobody is left to answer.
        """
        if isinstance(outcome, Failure):
            if outcome.check(ApiError):
                return answer_error(request, cast(ApiError, outcome.value))
            if outcome.check(CancelledError):
                return _cancelled(request, outcome, pending, self.timeout)
            return answer_error(request, _failure_answer(outcome, self.writer))
        return answer(request, 200, self.writer.body(cast(FireResult, outcome)))


class Answer:
    """
    The answer to one fire: given at once if the fire has settled by the
    time it is asked for, else written when it settles.

    :ivar fire: what was asked for.
    :ivar fired: the fire's Deferred, or None while it is queued.
    :ivar body: the answer, if the fire settled at once.
    :ivar timed_out: whether the timeout cancelled the fire.
    :ivar gone: whether the client went away before the answer.
    """

    __slots__ = (
        "_firing",
        "_timer",
        "body",
        "fire",
        "fired",
        "gone",
        "request",
        "timed_out",
        "waiting",
    )

    def __init__(self, firing: Firing, request: Request, fire: FireRequest) -> None:
        self._firing = firing
        self.request = request
        self.fire = fire
        self.fired: Deferred[FireResult] | None = None
        self.body: bytes | None = None
        self.waiting = False
        self.timed_out = False
        self.gone = False
        self._timer: IDelayedCall | None = None

    def wait(self, timeout: float | None, clock: IReactorTime) -> None:
        """
        The fire has not settled: time it out, and cancel it if the client
        goes away.
        """
        self.waiting = True
        if timeout is not None:
            self._timer = clock.callLater(timeout, self._time_out)
        self.request.notifyFinish().addErrback(self._client_gone)

    def _time_out(self) -> None:
        self._timer = None
        self.timed_out = True
        self.cancel()

    def _client_gone(self, reason: Failure) -> None:
        if self.body is None:
            self.gone = True
            self.cancel()

    def cancel(self) -> None:
        """
        Withdraw the fire if it is queued, else cancel it: either way it is
        answered as cancelled (a 504 after a timeout, else a 503).
        """
        if self.fired is None:
            self._firing.withdraw(self)
            self.settled(Failure(CancelledError()))
        elif not self.fired.called:
            self.fired.cancel()

    def settled(self, outcome: object) -> None:
        """
        The fire settled: answer, now or later.
        """
        try:
            body = self._firing.body_for(self.request, outcome, self)
        except Exception:
            _log.failure("Answering a fired event failed")
            body = answer_error(self.request, ApiError(500, "internal error; see the service's log"))
        self._firing.answered(self)
        if not self.waiting:
            self.body = body
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.body = body or b""
        if body is not None and not self.gone:
            self.request.setHeader(b"content-length", b"%d" % len(body))
            self.request.write(body)
            self.request.finish()


def _names(handler_ids: Iterable[HandlerId]) -> str:
    return ", ".join(handler_id.label for handler_id in handler_ids) or "none"


def _cancelled(request: Request, failure: Failure, pending: Answer, timeout: float | None) -> bytes | None:
    """
    The answer to a cancelled fire, and the log line that says why.
    """
    if isinstance(failure.value, FireCancelled):
        result = failure.value.result
        running = [outcome.handler_id for outcome in result if outcome.cancelled]
        never = list(result.never_started)
    else:  # cancelled while it waited for a place: no handler ran
        running, never = [], []
    shown = brief(pending.fire.event, LOGGED_EVENT)
    if pending.gone:
        _log.info("The client went away: fire of {event} cancelled", event=shown)
        return None
    cancelled = {"cancelled": [h.label for h in running], "never_started": [h.label for h in never]}
    if pending.timed_out:
        _log.warn(
            "Event {event} did not finish within {timeout} seconds: cancelled; "
            "pending handlers: {pending}; never started: {never}",
            event=shown,
            timeout=timeout,
            pending=_names(running) if pending.fired is not None else "none (it waited for a place)",
            never=_names(never),
        )
        message = f"the event's handlers did not finish within {timeout} seconds and were cancelled"
        return answer_error(request, ApiError(504, message, extra=cancelled))
    _log.warn(
        "The service stopped before event {event} finished: cancelled; "
        "pending handlers: {pending}; never started: {never}",
        event=shown,
        pending=_names(running),
        never=_names(never),
    )
    message = "the service stopped before the event's handlers finished; they were cancelled"
    return answer_error(request, ApiError(503, message, extra=cancelled))


def _failure_answer(failure: Failure, writer: ResultWriter) -> ApiError:
    if failure.check(DispatcherNotRunning):
        return ApiError(503, "the dispatcher is not running; try again later")
    if failure.check(HandlerFailed):
        error = cast(HandlerFailed, failure.value)
        result = error.result
        # The report's own failures; those of the follow-up that failed, if it was one.
        failed = [outcome.handler_id.label for outcome in result.failures] or [
            handler_id.label for handler_id, _ in error.failures
        ]
        message = f"{len(failed)} handler(s) failed: {', '.join(failed)}"
        return ApiError(500, message, extra={"result": writer.body(result)})
    _log.failure("Firing an event failed unexpectedly", failure)
    return ApiError(500, "internal error; see the service's log")
