# -*- test-case-name: tests.test_flow -*-
"""
What a dispatcher can say about the events in flight, for health endpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, final

import attrs

from ._registry import HandlerId
from ._result import FireResult

if TYPE_CHECKING:
    from ._engine import Dispatch


@final
@attrs.frozen
class PendingHandler:
    """
    A handler an event in flight waits for.

    :ivar handler_id: the handler.
    :ivar seconds: how long it has been running.
    """

    handler_id: HandlerId
    seconds: float


@final
@attrs.frozen
class InFlightEvent:
    """
    An event in flight.

    :ivar event: the event.
    :ivar details: the details it was fired with.
    :ivar phase: the phase it is in, or None if it has not reached one yet
        (or is being dispatched synchronously right now).
    :ivar seconds: how long it has been in flight.
    :ivar pending: the handlers it waits for.
    """

    event: object
    details: dict[str, object]
    phase: str | None
    seconds: float
    pending: tuple[PendingHandler, ...]


def describe_in_flight(
    result: FireResult, dispatch: Dispatch | None, phases: Sequence[str], now: float
) -> InFlightEvent:
    """
    Describe one event in flight from what its engine keeps.
    """
    if dispatch is None:
        return InFlightEvent(result.event, result.details, None, 0.0, ())
    phase = phases[dispatch.position] if dispatch.position >= 0 else None
    pending = tuple(
        PendingHandler(handler_id, now - since) for handler_id, since in dispatch.pending_handlers()
    )
    return InFlightEvent(result.event, result.details, phase, now - dispatch.began, pending)
