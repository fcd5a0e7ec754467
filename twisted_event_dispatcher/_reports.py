# -*- test-case-name: tests.test_phase_monitor -*-
"""
What an :class:`~.interfaces.IPhaseMonitor` is told when a phase of a fire
ends: the phase's :class:`PhaseReport`, holding a :data:`PhaseCall` for
each handler called in it.

Times are given as offsets from the fire's start, in seconds on the
dispatcher's clock, so that a monitor can place them on a clock of its own
(a trace's nanoseconds) by reading that clock once, when the fire starts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import final

from ._handle import HandlerId
from ._result import HandlerOutcome, Recorded

__all__ = ["PhaseCall", "PhaseReport"]


#: One handler's call in a phase, as a plain tuple (a fire makes one per
#: call, and a tuple costs a third of what a named tuple does to make):
#: ``(handler_id, outcome, offset, seconds)``: the handler's id; how the
#: call ended (for a call refused by the handler's concurrency limit, which
#: never started, an ``OverloadedError`` failure); when it began, in
#: seconds after the fire began; and how long it took.
PhaseCall = tuple[HandlerId, HandlerOutcome, float, float]


@final
class PhaseReport:
    """
    One phase of one fire, once every handler of it has finished.

    :ivar phase: the phase's name.
    """

    # The tight loop makes one per phase without calling __init__, storing
    # the times as it read them on the dispatcher's clock: ``_began`` (the
    # fire's start), ``_start`` and ``_end`` (the phase's).  It leaves the
    # calls to be made by ``_make`` from ``_records`` (each handler with
    # its answer, this phase's from ``_first`` on) and ``_stamps`` (when
    # each call ended) when first asked for (until then ``_calls`` is
    # None): most reports are read for their phase alone, or not at all.
    __slots__ = ("_began", "_calls", "_end", "_first", "_make", "_records", "_stamps", "_start", "phase")

    _make: Callable[..., Sequence[PhaseCall]]
    _records: list[tuple[Recorded, object]]
    _first: int
    _stamps: list[float]

    def __init__(self, phase: str, offset: float, seconds: float, calls: Sequence[PhaseCall]) -> None:
        self.phase = phase
        # Times the properties give back exactly: x - 0.0 and 0.0 - -x are x,
        # where (offset + seconds) - offset need not be seconds.
        self._began = -offset
        self._start = 0.0
        self._end = seconds
        self._calls: Sequence[PhaseCall] | None = calls

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
    def calls(self) -> Sequence[PhaseCall]:
        """
        The handlers called, in the order they finished: for each, a
        :data:`PhaseCall` ``(handler_id, outcome, offset, seconds)``.
        """
        calls = self._calls
        if calls is None:  # not made yet
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
