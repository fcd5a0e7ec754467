# -*- test-case-name: tests.test_result -*-
"""
What a dispatch reports: every handler that ran, per phase, with its value or
its failure.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import final

import attrs
from twisted.python.failure import Failure

from ._registry import HandlerId


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


def _outcome(phase: str, handler_id: HandlerId, value: object) -> HandlerOutcome:
    if isinstance(value, Failure):
        return HandlerOutcome(handler_id, phase, None, value)
    return HandlerOutcome(handler_id, phase, value, None)


@final
class FireResult:
    """
    The report of one C{fire_event}: each handler that ran, phase by phase.

    Phases in which no handler ran are absent.  Within a phase, handlers are
    listed in the order they were started.

    :ivar event: the event that was fired.
    :ivar details: the keyword details it was fired with.
    """

    __slots__ = ("_records", "details", "event")

    event: object
    details: dict[str, object]
    #: (handler id, value or Failure) per handler started, in start order;
    #: the id knows its phase.
    _records: list[tuple[HandlerId, object]]

    def __init__(self, event: object, details: dict[str, object]) -> None:
        self.event = event
        self.details = details
        self._records = []

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
            yield _outcome(handler_id._phase, handler_id, value)

    def __len__(self) -> int:
        return len(self._records)

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

    def __repr__(self) -> str:
        ran = ", ".join(f"{phase}: {len(outcomes)}" for phase, outcomes in self.phases.items())
        return (
            f"<FireResult event={self.event!r} handlers ran ({ran or 'none'}); {len(self.failures)} failed>"
        )
