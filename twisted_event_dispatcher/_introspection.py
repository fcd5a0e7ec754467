# -*- test-case-name: tests.test_flow -*-
"""
What a dispatcher says about the events in flight, for health endpoints.
"""

from __future__ import annotations

from typing import final

import attrs

from ._handle import HandlerId

__all__ = ["InFlightEvent", "PendingHandler"]


@final
@attrs.frozen
class PendingHandler:
    """
    A handler an event in flight waits for.

    :ivar handler_id: the handler.
    :ivar seconds: how long it has been running (or waiting for its turn).
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
    :ivar fire_id: the fire's id.
    """

    event: object
    details: dict[str, object]
    phase: str | None
    seconds: float
    pending: tuple[PendingHandler, ...]
    fire_id: str = ""
