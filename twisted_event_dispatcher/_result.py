# -*- test-case-name: tests.test_result -*-
"""
What a fire reports: every handler that ran, phase by phase, with its value
or its failure, and what the richer features did (stop, follow-ups,
cancellation, skips).

Pure data: the run (``_run``) writes it, callers read it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import MappingProxyType
from typing import Final, Literal, Protocol, final

from twisted.python.failure import Failure

from ._handle import HandlerId
from ._ids import new_id

__all__ = [
    "NOT_RUN",
    "PENDING",
    "FireExtras",
    "FireResult",
    "HandlerOutcome",
    "Recorded",
    "Status",
    "cause_of",
    "new_result",
]

#: How a handler's call ended.
Status = Literal["succeeded", "failed", "timed_out", "cancelled"]


@final
class HandlerOutcome:
    """
    What one handler did for one event (read-only).

    :ivar handler_id: the handler's id.
    :ivar phase: the phase it ran in.
    :ivar value: what it returned (what its Deferred or coroutine produced),
        or None if it failed.
    :ivar failure: its :class:`~twisted.python.failure.Failure`, or None if
        it succeeded.
    :ivar status: ``"succeeded"``, ``"failed"``, ``"timed_out"`` (cancelled
        because it ran past its timeout) or ``"cancelled"`` (cancelled with
        its fire); by default, from ``failure``.
    """

    # A plain class with read-only properties rather than a frozen attrs
    # class: fires and monitors make one per handler, and this costs a
    # third as much to make.
    __slots__ = ("_failure", "_handler_id", "_phase", "_status", "_value")

    def __init__(
        self,
        handler_id: HandlerId,
        phase: str,
        value: object,
        failure: Failure | None,
        status: Status | None = None,
    ) -> None:
        self._handler_id = handler_id
        self._phase = phase
        self._value = value
        self._failure = failure
        if status is None:
            status = "succeeded" if failure is None else "failed"
        self._status = status

    @property
    def handler_id(self) -> HandlerId:
        return self._handler_id

    @property
    def phase(self) -> str:
        return self._phase

    @property
    def value(self) -> object:
        return self._value

    @property
    def failure(self) -> Failure | None:
        return self._failure

    @property
    def status(self) -> Status:
        return self._status

    @property
    def succeeded(self) -> bool:
        """
        True unless the handler failed (or timed out, or was cancelled).
        """
        return self._failure is None

    @property
    def timed_out(self) -> bool:
        """
        Whether the handler was cancelled because it ran past its timeout.
        """
        return self._status == "timed_out"

    @property
    def cancelled(self) -> bool:
        """
        Whether the handler was cancelled with its fire.
        """
        return self._status == "cancelled"

    def _fields(self) -> tuple[object, ...]:
        return (self._handler_id, self._phase, self._value, self._failure, self._status)

    def __eq__(self, other: object) -> bool:
        if type(other) is not HandlerOutcome:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        return (
            f"HandlerOutcome(handler_id={self._handler_id!r}, phase={self._phase!r}, value={self._value!r}, "
            f"failure={self._failure!r}, status={self._status!r})"
        )


class Recorded(Protocol):
    """
    What a fire's records name a handler by: its registration, which knows
    its id and its phase.
    """

    @property
    def id(self) -> HandlerId: ...

    @property
    def phase(self) -> str: ...


#: The value recorded for a handler that has not finished yet.
PENDING: Final = object()

#: The value recorded for a call that never started after all (its handler
#: was removed while the call waited for a turn): no outcome is reported.
NOT_RUN: Final = object()


@final
class FireExtras:
    """
    What the richer features add to a fire's report, made on first use: a
    plain fire has none.
    """

    __slots__ = (
        "attempt",
        "cancelled",
        "dropped",
        "follow_up_results",
        "has_value",
        "never_started",
        "skipped",
        "statuses",
        "stopped_by",
        "value",
    )

    def __init__(self) -> None:
        self.attempt = 1
        self.cancelled = False
        self.stopped_by: HandlerId | None = None
        self.has_value = False
        self.value: object = None
        self.follow_up_results: list[FireResult] = []
        self.dropped: list[tuple[object, dict[str, object]]] = []
        self.never_started: list[HandlerId] = []
        self.skipped: list[HandlerId] = []
        #: The status of the records (by position) that did not end as
        #: their value says: timed out, or cancelled.
        self.statuses: dict[int, Status] = {}


_NO_EXTRAS: Final = FireExtras()
_NO_ARGUMENTS: Final[Mapping[str, object]] = MappingProxyType({})


def new_result(event: object, details: dict[str, object]) -> FireResult:
    """
    The report of a fire about to begin.  (:class:`FireResult` has no
    ``__init__``: the plain fire sets these three attributes itself, which
    is cheaper than calling one.)
    """
    result = FireResult()
    result.event = event
    result.details = details
    result._records = []
    return result


@final
class FireResult:
    """
    The report of one fire: each handler that ran, phase by phase.

    Phases in which no handler ran are absent.  Within a phase, handlers are
    listed in the order they were started.

    :ivar event: the event that was fired.
    :ivar details: the keyword details it was fired with.
    """

    __slots__ = ("_arguments", "_cause", "_extras", "_fire_id", "_outer", "_records", "details", "event")

    event: object
    details: dict[str, object]
    #: (registration, value, Failure, PENDING or NOT_RUN) per handler
    #: started, in start order.
    _records: list[tuple[Recorded, object]]
    #: Left unset (not None) by plain fires, which then pay nothing for it.
    _extras: FireExtras
    _fire_id: str
    #: The arguments the fire was given, if any (a fire without has none set).
    _arguments: Mapping[str, object]
    #: While this fire's handlers are being called synchronously: the fire
    #: that was being called when this one began, if any (see ``_run.InFlight``).
    _outer: FireResult | None
    #: The fire whose handler made this one, where ``_outer`` does not say
    #: it (see :func:`cause_of`); left unset otherwise.
    _cause: FireResult

    @property
    def fire_id(self) -> str:
        """
        The fire's id: the one given to ``fire(fire_id=...)`` (the broker's
        event id, for an event that came through the broker), else a new
        unique, time-sortable id made on first use.
        """
        try:
            return self._fire_id
        except AttributeError:
            self._fire_id = new_id()
            return self._fire_id

    @property
    def extras(self) -> FireExtras:
        """
        The report of the richer features, made on first use.
        """
        try:
            return self._extras
        except AttributeError:
            self._extras = FireExtras()
            return self._extras

    @property
    def _read_extras(self) -> FireExtras:
        return getattr(self, "_extras", _NO_EXTRAS)

    @property
    def arguments(self) -> Mapping[str, object]:
        """
        The arguments the event was fired with besides its details: seen by
        handlers in the event's namespace, never matched on.
        """
        return getattr(self, "_arguments", _NO_ARGUMENTS)

    @property
    def attempt(self) -> int:
        """
        Which delivery of the event this fire is: 1, unless it came through
        the broker again after a failure.
        """
        return self._read_extras.attempt

    @property
    def phases(self) -> Mapping[str, tuple[HandlerOutcome, ...]]:
        """
        Phase name to the outcomes of the handlers that ran in it, in phase order.
        """
        grouped: dict[str, list[HandlerOutcome]] = {}
        for outcome in self:
            grouped.setdefault(outcome.phase, []).append(outcome)
        return {phase: tuple(outcomes) for phase, outcomes in grouped.items()}

    @property
    def outcomes(self) -> tuple[HandlerOutcome, ...]:
        """
        Every handler outcome, phase by phase, in the order the handlers started.
        """
        return tuple(self)

    def __iter__(self) -> Iterator[HandlerOutcome]:
        statuses = self._read_extras.statuses
        for position, (registration, value) in enumerate(self._records):
            if value is PENDING or value is NOT_RUN:
                continue
            if isinstance(value, Failure):
                status = statuses.get(position, "failed")
                yield HandlerOutcome(registration.id, registration.phase, None, value, status)
            else:
                yield HandlerOutcome(registration.id, registration.phase, value, None)

    def __len__(self) -> int:
        """
        How many handlers have finished (while the fire runs, some started
        handlers may not have).
        """
        return sum(1 for _, value in self._records if value is not PENDING and value is not NOT_RUN)

    @property
    def failures(self) -> tuple[HandlerOutcome, ...]:
        """
        The outcomes of the handlers that failed: every call that did not
        succeed, those that timed out or were cancelled with their fire
        included (their ``status`` tells them apart).
        """
        return tuple(outcome for outcome in self if outcome.failure is not None)

    @property
    def succeeded(self) -> bool:
        """
        True when no handler failed.
        """
        return not any(isinstance(value, Failure) for _, value in self._records)

    @property
    def values(self) -> tuple[object, ...]:
        """
        The return values of the handlers that succeeded, in call order.
        """
        return tuple(outcome.value for outcome in self if outcome.failure is None)

    def first_result(self) -> object:
        """
        The first value, in call order, that is not None (pluggy's
        ``firstresult``); None if there is none.
        """
        for _, value in self._records:
            if (
                value is not None
                and value is not PENDING
                and value is not NOT_RUN
                and not isinstance(value, Failure)
            ):
                return value
        return None

    @property
    def stopped_by(self) -> HandlerId | None:
        """
        The handler that stopped the event (raised ``StopPropagation``), if any.
        """
        return self._read_extras.stopped_by

    @property
    def value(self) -> object:
        """
        The value given to ``StopPropagation`` by the handler that stopped
        the event; None otherwise.
        """
        return self._read_extras.value

    @property
    def follow_ups(self) -> tuple[FireResult, ...]:
        """
        The results of the follow-up events the handlers emitted, in the
        order they were dispatched.
        """
        return tuple(self._read_extras.follow_up_results)

    @property
    def cancelled(self) -> bool:
        """
        Whether the fire was cancelled (some handlers may have run).
        """
        return self._read_extras.cancelled or any(outcome.cancelled for outcome in self)

    @property
    def never_started(self) -> tuple[HandlerId, ...]:
        """
        The handlers a cancelled fire never started.
        """
        return tuple(self._read_extras.never_started)

    @property
    def skipped(self) -> tuple[HandlerId, ...]:
        """
        The handlers not called because the fire's ledger said they had
        already completed for this event (see ``IHandlerLedger``).
        """
        return tuple(self._read_extras.skipped)

    @property
    def dropped_follow_ups(self) -> tuple[tuple[object, dict[str, object]], ...]:
        """
        Follow-up events, with their details, that were not dispatched
        because a handler stopped the event with a value (or the fire was
        cancelled or failed first).
        """
        return tuple(self._read_extras.dropped)

    def raise_first_failure(self) -> FireResult:
        """
        Raise the first handler failure, for code that wants exceptions
        rather than a report: the handler's own exception, with a note naming
        the handler, and one note for each other handler that failed (all of
        them are in :attr:`failures`).

        :returns: this result, when no handler failed.
        """
        failures = self.failures
        if not failures:
            return self
        first = failures[0]
        assert first.failure is not None
        error = first.failure.value
        assert error is not None
        notes = [f"raised by handler {first.handler_id!r} in phase {first.phase!r}"]
        for other in failures[1:]:
            assert other.failure is not None
            notes.append(f"also failed: {other.handler_id!r}: {_described(other.failure)}")
        for note in notes:
            if note not in getattr(error, "__notes__", ()):  # raised again: noted once
                error.add_note(note)
        first.failure.raiseException()

    def __repr__(self) -> str:
        """
        The event, how many handlers ran in each phase, how many failed
        (the first named), and how many were cancelled (calls cut short when
        the fire was cancelled or stopped, which :attr:`failures` lists too).
        """
        ran = ", ".join(f"{phase}: {len(outcomes)}" for phase, outcomes in self.phases.items())
        every = self.failures
        failures = [outcome for outcome in every if outcome.status != "cancelled"]
        cancelled = len(every) - len(failures)
        failed = f"{len(failures)} failed"
        if failures:
            first = failures[0]
            assert first.failure is not None
            failed += f", first {first.handler_id.name} in {first.phase!r}: {_described(first.failure)}"
        if cancelled:
            failed += f"; {cancelled} cancelled"
        return f"<FireResult event={self.event!r} handlers ran ({ran or 'none'}); {failed}>"


def cause_of(result: FireResult) -> FireResult | None:
    """
    The fire whose handler made ``result``, as monitors are told of it:
    for a follow-up event, the fire that queued it; for a fire made while
    a handler was being called (``fire_event`` inside it), the fire that
    handler serves (the innermost, when fires nest); else None.

    Known only for fires that began while the dispatcher had monitors: a
    plain fire's loop records the fire it began in as ``_outer`` (which
    this reads), and only with monitors does it look for a handler the
    general loop was calling (which it records as ``_cause``).
    """
    try:
        return result._cause
    except AttributeError:
        return getattr(result, "_outer", None)


def _described(failure: Failure) -> str:
    """
    A failure as ``Type: message``, kept short.
    """
    text = f"{type(failure.value).__name__}: {failure.getErrorMessage()}"
    return text if len(text) <= 200 else text[:197] + "..."
