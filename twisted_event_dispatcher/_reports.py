# -*- test-case-name: tests.test_phase_monitor -*-
"""
What an :class:`~.interfaces.IPhaseMonitor` is told when a phase of a fire
ends: the phase's :class:`PhaseReport`, holding a :class:`HandlerCall` for
each handler called in it.

Times are given as offsets from the fire's start, in seconds on the
dispatcher's clock, so that a monitor can place them on a clock of its own
(a trace's nanoseconds) by reading that clock once, when the fire starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, final

from ._handle import HandlerId
from ._result import HandlerOutcome

__all__ = ["HandlerCall", "PhaseReport"]


class HandlerCall(NamedTuple):
    """
    One handler's call in a phase.

    :ivar handler_id: the handler's id.
    :ivar outcome: how the call ended (for a call refused by the handler's
        concurrency limit, which never started, an ``OverloadedError``
        failure).
    :ivar offset: when the call began, in seconds after the fire began.
    :ivar seconds: how long it took.
    """

    handler_id: HandlerId
    outcome: HandlerOutcome
    offset: float
    seconds: float


@final
class PhaseReport:
    """
    One phase of one fire, once every handler of it has finished.

    :ivar phase: the phase's name.
    """

    # The tight loop makes one per phase without calling __init__: it
    # stores the times as it read them (``_began``: the fire's start,
    # ``_start`` and ``_end``: the phase's, on the dispatcher's clock), and
    # leaves the calls to be made by ``_make`` from ``_records`` (each
    # handler with its answer, this phase's from ``_first`` on) and
    # ``_stamps`` (when each call ended) when first asked for (until then,
    # ``_calls`` is not set): most reports
    # are read for their phase and duration alone, or not at all.
    __slots__ = ("_began", "_calls", "_end", "_first", "_make", "_records", "_stamps", "_start", "phase")

    _make: Callable[..., Sequence[HandlerCall]]
    _records: object
    _first: int
    _stamps: list[float]

    def __init__(self, phase: str, offset: float, seconds: float, calls: Sequence[HandlerCall]) -> None:
        self.phase = phase
        self._began = 0.0
        self._start = offset
        self._end = offset + seconds
        self._calls: Sequence[HandlerCall] = calls

    @property
    def offset(self) -> float:
        """
        When the phase began, in seconds after the fire began.
        """
        return self._start - self._began

    @property
    def seconds(self) -> float:
        """
        How long the phase took, from its start to its last handler's end.
        """
        return self._end - self._start

    @property
    def calls(self) -> Sequence[HandlerCall]:
        """
        The handlers called, in the order they finished.
        """
        try:
            return self._calls
        except AttributeError:  # not made yet
            calls = self._calls = self._make(
                self._records, self._first, self._stamps, self._start, self._began
            )
            del self._records, self._stamps
            return calls

    def __repr__(self) -> str:
        return (
            f"<PhaseReport {self.phase!r} at +{self.offset:g}s for {self.seconds:g}s, "
            f"{len(self.calls)} call(s)>"
        )
