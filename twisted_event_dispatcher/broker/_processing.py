# -*- test-case-name: tests.broker.test_memory -*-
"""
What a consumer does with each delivery, whatever the transport: open the
envelope, read the completion log, fire the event at the dispatcher, and
settle the delivery once: acknowledge it after its last phase, retry it
after a delay, or give it up to the dead letters after the group's
delivery limit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast, final

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.defer import TimeoutError as WaitedTooLong
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from .._errors import FireCancelled, HandlerFailed
from ._deadletter import CONSUMER_FAILED, HANDLERS_FAILED, UNDECODABLE, dead_letter_headers
from ._envelope import Envelope, Message, from_message
from ._errors import EnvelopeError
from ._interfaces import ICompletionLog
from ._ledger import FireLedger
from ._observing import BrokerObserver

if TYPE_CHECKING:
    from .._dispatcher import EventDispatcher
    from .._result import FireResult
    from ._topology import GroupSettings

_log = Logger()

#: (handler name, error) pairs: what failed in one delivery.
Failures = list[tuple[str, str]]


class Delivery(Protocol):
    """
    One delivery of a message, as a transport hands it to a `Processor`.
    Exactly one of `ack`, `requeue` and `dead_letter` is called.
    """

    @property
    def message(self) -> Message:
        """The message delivered."""

    @property
    def attempt(self) -> int:
        """Which delivery of the message this is: 1 for the first."""

    def ack(self) -> None:
        """The message is done with: the broker forgets it."""

    def requeue(self) -> None:
        """The message goes back to the queue, for another delivery."""

    def dead_letter(self, headers: dict[str, object]) -> Deferred[None]:
        """
        Store the message with these headers in the group's dead letters,
        then acknowledge it; fire once both are done.
        """


def _describe(failure: Failure) -> str:
    return f"{type(failure.value).__name__}: {failure.getErrorMessage()}"


def _fire_failures(failure: Failure) -> Failures:
    error = failure.value
    if isinstance(error, HandlerFailed):
        return [(handler_id.name, _describe(each)) for handler_id, each in error.failures]
    if isinstance(error, FireCancelled):
        cancelled = [(o.handler_id.name, _describe(o.failure)) for o in error.result.failures if o.failure]
        return cancelled or [("(dispatch)", _describe(failure))]
    return [("(dispatch)", _describe(failure))]


@final
class _Job:
    """
    One delivery being processed; it is settled once.
    """

    __slots__ = ("delivery", "retry", "settled")

    def __init__(self, delivery: Delivery) -> None:
        self.delivery = delivery
        self.settled = False
        self.retry: IDelayedCall | None = None

    def settle(self) -> bool:
        """
        Claim the right to settle the delivery: True the first time only.
        """
        if self.settled:
            return False
        self.settled = True
        if self.retry is not None and self.retry.active():
            self.retry.cancel()
        return True


@final
class Processor:
    """
    Runs deliveries through a dispatcher, for one consumer of a group.

    :param dispatcher: a running dispatcher with the group's handlers.
    :param settings: the group.
    :param completion_log: the completion log, or None.
    :param clock: for retry delays and dead-letter times.
    :param observer: told of deliveries and dead letters, and entered
        around each fire (metrics and traces); or None.
    """

    def __init__(
        self,
        dispatcher: EventDispatcher,
        settings: GroupSettings,
        completion_log: ICompletionLog | None,
        clock: IReactorTime,
        observer: BrokerObserver | None = None,
    ) -> None:
        self._observer = observer
        self._dispatcher = dispatcher
        self._fire = dispatcher.fire
        self._settings = settings
        self._completion_log = completion_log
        self._clock = clock
        self._jobs: dict[int, _Job] = {}
        self._idle: list[Deferred[None]] = []
        #: How many deliveries were acknowledged, retried and dead-lettered.
        self.counts = {"acked": 0, "retried": 0, "dead-lettered": 0}

    @property
    def in_flight(self) -> int:
        """
        How many deliveries are not settled yet.
        """
        return len(self._jobs)

    def take(self, delivery: Delivery) -> None:
        """
        Start processing ``delivery``.
        """
        job = _Job(delivery)
        self._jobs[id(job)] = job
        try:
            if self._observer is not None:
                self._observer.delivered(self._settings, delivery.attempt)
            envelope = from_message(delivery.message)
            log = self._completion_log
            if log is not None:
                key = envelope.completion_key
                looking = log.completed(key)
        except EnvelopeError as error:
            self._undecodable(job, error)
            return
        except Exception:  # a bug: the consumer goes on to the next delivery all the same
            self._unexpected(job, Failure())
            return
        if log is None:
            self._fire_now(job, envelope, None)
            return
        looking.addCallbacks(
            self._looked_up,
            self._lookup_failed,
            callbackArgs=(job, envelope, key, log),
            errbackArgs=(job, envelope),
        )
        looking.addErrback(self._crashed, job)

    def idle(self) -> Deferred[None]:
        """
        A Deferred firing once no delivery is in flight.
        """
        if not self._jobs:
            return succeed(None)
        waiter: Deferred[None] = Deferred(self._idle.remove)
        self._idle.append(waiter)
        return waiter

    def requeue_all(self) -> int:
        """
        Send every delivery not settled yet back to the queue (on stop, once
        the drain time is over).  Their fires may still finish: their
        results are then ignored.

        :returns: how many were sent back.
        """
        jobs = list(self._jobs.values())
        for job in jobs:
            if job.settle():
                job.delivery.requeue()
                self._done(job)
        return len(jobs)

    def _done(self, job: _Job) -> None:
        self._jobs.pop(id(job), None)
        if not self._jobs:
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)

    def _crashed(self, failure: Failure, job: _Job) -> None:
        _log.failure("Processing a delivery failed unexpectedly; it goes back to the queue", failure)
        if job.settle():
            job.delivery.requeue()
        self._done(job)

    def _undecodable(self, job: _Job, error: EnvelopeError) -> None:
        _log.warn(
            "Message {id!r} is not a valid envelope ({error}): dead-lettered",
            id=job.delivery.message.message_id,
            error=error,
        )
        giving_up = Deferred.fromCoroutine(self._give_up(job, UNDECODABLE, [("(envelope)", str(error))]))
        giving_up.addErrback(self._crashed, job)

    def _unexpected(self, job: _Job, failure: Failure) -> None:
        _log.failure(
            "Taking message {id!r} failed unexpectedly: dead-lettered",
            failure,
            id=job.delivery.message.message_id,
        )
        giving_up = Deferred.fromCoroutine(
            self._give_up(job, CONSUMER_FAILED, [("(consumer)", _describe(failure))])
        )
        giving_up.addErrback(self._crashed, job)

    def _looked_up(
        self, done: frozenset[str], job: _Job, envelope: Envelope, key: str, log: ICompletionLog
    ) -> None:
        self._fire_now(job, envelope, FireLedger(key, done, log))

    def _lookup_failed(self, failure: Failure, job: _Job, envelope: Envelope) -> None:
        self._settle(job, envelope, [("(completion log)", _describe(failure))])

    def _fire_now(self, job: _Job, envelope: Envelope, ledger: FireLedger | None) -> None:
        try:
            if self._observer is None:
                firing = self._fire_envelope(job, envelope, ledger)
            else:
                with self._observer.consuming(self._settings, envelope.trace_context):
                    firing = self._fire_envelope(job, envelope, ledger)
        except Exception:
            firing = fail()
        # One callback: the fire's outcome, then settling it (the usual
        # fire has ended already, and a callback costs as much as a phase).
        firing.addBoth(self._fired_safely, job, envelope, ledger)

    def _fire_envelope(
        self, job: _Job, envelope: Envelope, ledger: FireLedger | None
    ) -> Deferred[FireResult]:
        allowed = self._dispatcher.allowed_match_spec_keywords
        details = envelope.details
        if not allowed.issuperset(details):
            details = {keyword: value for keyword, value in details.items() if keyword in allowed}
        return self._fire(
            envelope.payload,
            details,
            fire_id=envelope.event_id,
            attempt=job.delivery.attempt,
            ledger=ledger,
            arguments=envelope.arguments or None,
        )

    def _fired_safely(
        self, outcome: object, job: _Job, envelope: Envelope, ledger: FireLedger | None
    ) -> None:
        try:
            self._fired(outcome, job, envelope, ledger)
        except Exception:
            self._crashed(Failure(), job)

    def _fired(self, outcome: object, job: _Job, envelope: Envelope, ledger: FireLedger | None) -> None:
        if isinstance(outcome, Failure):
            failures = _fire_failures(outcome)
        elif cast("FireResult", outcome).succeeded:
            failures = []
        else:
            failures = [
                (o.handler_id.name, _describe(o.failure))
                for o in cast("FireResult", outcome).failures
                if o.failure
            ]
        if ledger is None or not ledger.pending:
            self._recorded(None, job, envelope, ledger, failures)
            return
        writing = ledger.written()
        writing.addCallback(self._recorded, job, envelope, ledger, failures)
        writing.addErrback(self._crashed, job)

    def _recorded(
        self, _: object, job: _Job, envelope: Envelope, ledger: FireLedger | None, failures: Failures
    ) -> None:
        if ledger is not None:
            for name, failure in ledger.failed_writes:
                _log.warn(
                    "Recording that {handler} completed for event {id} failed: {error}; "
                    "a redelivery would run it again",
                    handler=name,
                    id=envelope.event_id,
                    error=_describe(failure),
                )
        self._settle(job, envelope, failures)

    def _settle(self, job: _Job, envelope: Envelope, failures: Failures) -> None:
        if job.settled:
            return
        delivery = job.delivery
        if not failures:
            job.settle()
            delivery.ack()
            self.counts["acked"] += 1
            self._done(job)
        elif delivery.attempt >= self._settings.delivery_limit:
            self._warn(envelope, delivery.attempt, failures, "dead-lettered")
            giving_up = Deferred.fromCoroutine(self._give_up(job, HANDLERS_FAILED, failures))
            giving_up.addErrback(self._crashed, job)
        else:
            self._warn(envelope, delivery.attempt, failures, f"retried in {self._settings.retry_delay:g}s")
            job.retry = self._clock.callLater(self._settings.retry_delay, self._requeue, job)

    def _warn(self, envelope: Envelope, attempt: int, failures: Failures, then: str) -> None:
        _log.warn(
            "Event {id} failed on delivery {attempt} of {limit} in group {group}: {failures}; {then}",
            id=envelope.event_id,
            attempt=attempt,
            limit=self._settings.delivery_limit,
            group=self._settings.name,
            failures="; ".join(f"{name}: {error}" for name, error in failures),
            then=then,
        )

    def _requeue(self, job: _Job) -> None:
        if job.settle():
            job.delivery.requeue()
            self.counts["retried"] += 1
            self._done(job)

    async def _give_up(self, job: _Job, reason: str, failures: Failures) -> None:
        if not job.settle():
            return
        delivery = job.delivery
        now_ms = int(self._clock.seconds() * 1000)
        headers = dead_letter_headers(
            delivery.message, self._settings.name, reason, failures, delivery.attempt, now_ms
        )
        try:
            await delivery.dead_letter(headers)
            self.counts["dead-lettered"] += 1
            if self._observer is not None:
                self._observer.dead_lettered(self._settings, reason)
        except Exception:
            _log.failure("Dead-lettering failed; the event goes back to the queue", Failure())
            delivery.requeue()
        finally:
            self._done(job)


async def drain(processor: Processor, timeout: float | None, clock: IReactorTime, group: str) -> None:
    """
    Wait for the deliveries in flight to settle, for at most ``timeout``
    seconds (None: for as long as they take); then send the rest back to
    the queue.
    """
    waiting = processor.idle()
    if timeout is not None:
        waiting.addTimeout(timeout, clock)
    try:
        await waiting
    except WaitedTooLong:
        count = processor.requeue_all()
        _log.warn(
            "Group {group}: {count} event(s) still in flight after {timeout:g}s went back to the queue",
            group=group,
            count=count,
            timeout=timeout,
        )
