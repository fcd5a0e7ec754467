# -*- test-case-name: tests.test_result -*-
"""
What a dispatch reports: every handler that ran, per phase, with its value or
its failure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Final, final

import attrs
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from ._errors import HandlerTimedOut
from ._registry import HandlerId

if TYPE_CHECKING:
    from ._context import EventState


@final
@attrs.frozen
class HandlerOutcome:
    """
    What one handler did for one event.

    :ivar handler_id: the handler's id.
    :ivar phase: the phase it ran in.
    :ivar value: what it returned (what its Deferred or coroutine produced),
        or None if it failed.
    :ivar failure: its L{Failure}, or None if it succeeded.
    """

    handler_id: HandlerId
    phase: str
    value: object
    failure: Failure | None

    @property
    def succeeded(self) -> bool:
        """
        True unless the handler failed.
        """
        return self.failure is None

    @property
    def timed_out(self) -> bool:
        """
        Whether the handler was cancelled because it ran past its timeout.
        """
        return self.failure is not None and self.failure.check(HandlerTimedOut) is not None

    @property
    def cancelled(self) -> bool:
        """
        Whether the handler was cancelled with its fire.
        """
        return self.failure is not None and self.failure.check(CancelledError) is not None


#: The value recorded for a handler that has not finished yet.
PENDING: Final = object()


def _outcome(phase: str, handler_id: HandlerId, value: object) -> HandlerOutcome:
    if isinstance(value, Failure):
        return HandlerOutcome(handler_id, phase, None, value)
    return HandlerOutcome(handler_id, phase, value, None)


def new_result(event: object, details: dict[str, object]) -> FireResult:
    """
    The report of a fire about to begin.  (L{FireResult} has no
    C{__init__}: the dispatcher's plain fire sets these three attributes
    itself, which is cheaper than calling one.)
    """
    result = FireResult()
    result.event = event
    result.details = details
    result._records = []
    return result


@final
class FireResult:
    """
    The report of one C{fire_event}: each handler that ran, phase by phase.

    Phases in which no handler ran are absent.  Within a phase, handlers are
    listed in the order they were started.

    :ivar event: the event that was fired.
    :ivar details: the keyword details it was fired with.
    """

    __slots__ = ("_extra", "_outer", "_records", "details", "event")

    event: object
    details: dict[str, object]
    #: (handler id, value or Failure) per handler started, in start order;
    #: the id knows its phase.
    _records: list[tuple[HandlerId, object]]
    #: The per-event state of the richer features; left unset (not None) by
    #: plain fires, which then pay nothing for it.
    _extra: EventState
    #: While the dispatcher's plain loop calls this fire's handlers: the
    #: fire whose handler made this one, if any.
    _outer: FireResult | None

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
        for handler_id, value in self._records:
            if value is not PENDING:
                yield _outcome(handler_id._phase, handler_id, value)

    def __len__(self) -> int:
        """
        How many handlers have finished (while the fire runs, some started
        handlers may not have).
        """
        return sum(1 for _, value in self._records if value is not PENDING)

    @property
    def failures(self) -> tuple[HandlerOutcome, ...]:
        """
        The outcomes of the handlers that failed.
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
        C{firstresult}); None if there is none.
        """
        for _, value in self._records:
            if value is not None and value is not PENDING and not isinstance(value, Failure):
                return value
        return None

    @property
    def _state(self) -> EventState | None:
        return getattr(self, "_extra", None)

    @property
    def stopped_by(self) -> HandlerId | None:
        """
        The handler that stopped the event (raised L{StopPropagation}), if any.
        """
        state = self._state
        return None if state is None or state.stop is None else state.stop[0]

    @property
    def value(self) -> object:
        """
        The value given to L{StopPropagation} by the handler that stopped the
        event; None otherwise.
        """
        state = self._state
        if state is None or state.stop is None or not state.stop[1].has_value:
            return None
        return state.stop[1].value

    @property
    def follow_ups(self) -> tuple[FireResult, ...]:
        """
        The results of the follow-up events the handlers emitted, in the
        order they were dispatched.
        """
        state = self._state
        return () if state is None else tuple(state.follow_up_results)

    @property
    def cancelled(self) -> bool:
        """
        Whether the fire was cancelled (some handlers may have run).
        """
        state = self._state
        return (state is not None and bool(state.never_started)) or any(outcome.cancelled for outcome in self)

    @property
    def never_started(self) -> tuple[HandlerId, ...]:
        """
        The handlers a cancelled fire never started.
        """
        state = self._state
        return () if state is None else tuple(state.never_started)

    @property
    def dropped_follow_ups(self) -> tuple[tuple[object, dict[str, object]], ...]:
        """
        Follow-up events, with their details, that were not dispatched
        because a handler stopped the event with a value.
        """
        state = self._state
        return () if state is None else tuple(state.dropped)

    def __repr__(self) -> str:
        ran = ", ".join(f"{phase}: {len(outcomes)}" for phase, outcomes in self.phases.items())
        return (
            f"<FireResult event={self.event!r} handlers ran ({ran or 'none'}); {len(self.failures)} failed>"
        )
