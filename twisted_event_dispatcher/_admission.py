# -*- test-case-name: tests.test_flow -*-
"""
Admission: whether a fire starts now, waits, or is refused; and draining.

- A stopped dispatcher refuses every fire.
- A fire made from inside a handler, under the ``"queue"`` nested policy,
  waits until no handler is being started; then it starts as part of the
  event that made it, past ``max_in_flight`` as any nested fire.
- ``max_in_flight`` is a :class:`~._limiter.Limiter`: at the limit a fire
  waits in its bounded queue, or is refused with ``OverloadedError``.  A
  fire made by a handler as it runs belongs to an event already admitted, so
  it is never held back (that could deadlock).
- A stop waits for the fires in flight (a *drain*), and its deadline cancels
  them in the order they began.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, final

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._errors import DispatcherNotRunning, OverloadedError
from ._limiter import Limiter
from ._result import FireResult
from ._run import FireOptions
from ._runner import Runner
from ._text import brief

__all__ = ["Admission", "NestedPolicy"]

_log = Logger()

NestedPolicy = Literal["immediate", "queue"]


class _Stopped(Exception):
    """
    The dispatcher stopped while a fire waited for a place.
    """


def _refused_if_stopped(failure: Failure, event: object) -> Failure:
    if failure.check(_Stopped):
        return Failure(DispatcherNotRunning(event))
    return failure


@final
class Admission:
    """
    The gate every fire passes but the tight loop's own.

    :param runner: runs the fires admitted.
    :param nested: the dispatcher's nested policy.
    :param limiter: ``max_in_flight``, or None for no limit.
    """

    def __init__(self, runner: Runner, nested: NestedPolicy, limiter: Limiter | None) -> None:
        self._runner = runner
        self.nested = nested
        self.limiter = limiter
        self.running = False
        self._queued: list[tuple[object, dict[str, object], FireOptions, Deferred[FireResult]]] = []
        self._drains: list[tuple[set[FireResult], Deferred[None]]] = []

    @property
    def gated(self) -> bool:
        """
        Whether a fire must pass through :meth:`admit`: the tight loop may
        not be called directly.
        """
        return not self.running or self.limiter is not None or self.nested == "queue"

    def admit(
        self,
        event: object,
        details: dict[str, object],
        options: FireOptions,
        nested: NestedPolicy | None = None,
    ) -> Deferred[FireResult]:
        """
        Start a fire, hold it back, or refuse it.

        :param nested: this fire's own nested policy, if it was given one.
        """
        if not self.running:
            return fail(DispatcherNotRunning(event))
        starting = self._runner.starting_handlers()
        if starting and (nested or self.nested) == "queue":
            return self._queue(event, details, options)
        if self.limiter is None or starting:
            return self._runner.start(event, details, options)
        try:
            place = self.limiter.acquire()
        except OverloadedError as refused:
            return fail(refused)
        if place is None:
            return self._start_in_place(event, details, options)
        started = place.addCallback(lambda _: self._start_in_place(event, details, options))
        return started.addErrback(_refused_if_stopped, event)

    def _start_in_place(
        self, event: object, details: dict[str, object], options: FireOptions
    ) -> Deferred[FireResult]:
        """
        Start a fire that holds a place of the limiter, and give the place
        back when it ends.
        """
        limiter = self.limiter
        assert limiter is not None
        try:
            fired = self._runner.start(event, details, options)
        except BaseException:
            limiter.release()
            raise

        def release(outcome: object) -> object:
            limiter.release()
            return outcome

        return fired.addBoth(release)

    def _queue(self, event: object, details: dict[str, object], options: FireOptions) -> Deferred[FireResult]:
        """
        Hold a nested fire until no handler is being started; cancelling the
        Deferred returned withdraws it.
        """
        entry: tuple[object, dict[str, object], FireOptions, Deferred[FireResult]]

        def withdraw(_: Deferred[FireResult]) -> None:
            self._queued.remove(entry)
            self._watch()

        waiting: Deferred[FireResult] = Deferred(withdraw)
        entry = (event, details, options, waiting)
        self._queued.append(entry)
        self._watch()
        return waiting

    def _watch(self) -> None:
        """
        Hear from the runner when fires end, exactly while something waits on that.
        """
        self._runner.after = self._after if self._drains or self._queued else None

    def _after(self, result: FireResult | None) -> None:
        """
        A fire ended (``result``), or a run began to wait (None).
        """
        if result is not None and self._drains:
            self._drained(result)
        if self._queued and not self._runner.starting_handlers():
            queued, self._queued = self._queued, []
            for event, details, options, waiting in queued:
                self._release(event, details, options).chainDeferred(waiting)
        self._watch()

    def _release(
        self, event: object, details: dict[str, object], options: FireOptions
    ) -> Deferred[FireResult]:
        """
        Start a nested fire the queue policy held back.  It was made by a
        handler of an event already admitted, so it is part of that event:
        ``max_in_flight`` never holds it back nor refuses it (the event it
        belongs to may hold the only place, and wait for it).  Only a stop
        made meanwhile refuses it.
        """
        if not self.running:
            return fail(DispatcherNotRunning(event))
        return self._runner.start(event, details, options)

    # Stopping

    def stop(self) -> Deferred[None]:
        """
        Refuse new fires and those waiting for a place; return a Deferred
        that fires once the fires in flight now have ended.
        """
        self.running = False
        if self.limiter is not None:
            self.limiter.refuse_waiting(_Stopped)
        fires = {result for result, _ in self._runner.fires_in_flight()}
        if not fires:
            return succeed(None)
        drained: Deferred[None] = Deferred()
        self._drains.append((fires, drained))
        self._watch()
        return drained

    def _drained(self, result: FireResult) -> None:
        """
        Fire the drains that waited only for ``result``.
        """
        still = []
        for waiting_for, drained in self._drains:
            waiting_for.discard(result)
            if waiting_for:
                still.append((waiting_for, drained))
            else:
                drained.callback(None)
        self._drains = still

    def deadline(self, drained: Deferred[None], timeout: float) -> None:
        """
        A stop's deadline passed: cancel the fires it still waits for, in
        the order they began (a fire's follow-ups are cancelled with it), each
        with a warning naming what it waited for; then fire ``drained``.
        """
        waited_for = next((fires for fires, d in self._drains if d is drained), set())
        for result, run in self._runner.fires_in_flight():
            if run is None or result not in waited_for:
                continue
            if run.deferred is None or run.deferred.called:
                continue  # a follow-up cancelled with its event, or one that ended meanwhile
            pending = ", ".join(repr(handler_id) for handler_id in run.pending_handlers()) or "none"
            _log.warn(
                "Stopping: event {shown_event} still in flight after {timeout:g} seconds, cancelled; "
                "pending handlers: {pending}",
                event=result.event,
                shown_event=brief(result.event),
                timeout=timeout,
                pending=pending,
            )
            run.deferred.cancel()
        if not drained.called:
            self._drains = [(fires, d) for fires, d in self._drains if d is not drained]
            self._watch()
            drained.callback(None)

    def when_stopped(
        self, clock: Callable[[], IReactorTime], drained: Deferred[None], timeout: float
    ) -> None:
        """
        Give ``drained`` a deadline of ``timeout`` seconds.
        """
        if drained.called:
            return
        call = clock().callLater(timeout, self.deadline, drained, timeout)

        def cancel_deadline(outcome: object) -> object:
            if call.active():
                call.cancel()
            return outcome

        drained.addBoth(cancel_deadline)
