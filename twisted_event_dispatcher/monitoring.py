# -*- test-case-name: tests.test_flow -*-
"""
Monitors: the built-in one that logs every handler call through
``twisted.logger``, with its duration, and warns about slow handlers, and
the bases a monitor of your own can start from (:class:`FireMonitor`,
:class:`PhaseMonitor`: hooks that do nothing and are not called).
Prometheus metrics and OpenTelemetry traces are monitors of their own, in
``twisted_event_dispatcher.metrics`` and ``twisted_event_dispatcher.tracing``.
"""

from __future__ import annotations

from typing import final

from twisted.logger import Logger, LogLevel

from ._handle import HandlerId
from ._monitors import FireMonitor, PhaseMonitor
from ._result import FireResult, HandlerOutcome

__all__ = ["FireMonitor", "LoggingMonitor", "PhaseMonitor"]


@final
class LoggingMonitor(FireMonitor):
    """
    Emit a structured log event for every handler call and phase, with its
    duration (at ``level``), and a warning for every call slower than
    ``slow_after`` seconds.  Add it with ``dispatcher.add_monitor(LoggingMonitor())``.
    (An :class:`~twisted_event_dispatcher.IFireMonitor` told as phases and
    calls end: the other hooks are left as :class:`FireMonitor` has them.)

    Each handler event carries ``handler_id``, ``phase``, ``event``,
    ``fire_id``, ``seconds`` and ``succeeded``; log observers can export them
    as metrics.

    :param slow_after: seconds after which a call is reported as slow;
        None for no warning.
    :param level: the level of the per-call events.
    :param logger: where to emit; a logger named for this module by default.
    """

    def __init__(
        self, slow_after: float | None = None, level: LogLevel = LogLevel.debug, logger: Logger | None = None
    ) -> None:
        if slow_after is not None and slow_after < 0:
            raise ValueError(f"slow_after must be >= 0 seconds, got {slow_after!r}")
        self._slow_after = slow_after
        self._level = level
        self._log = logger if logger is not None else Logger()

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        """
        Log the phase's duration.
        """
        self._log.emit(
            self._level,
            "Phase {phase!r} of {event!r} took {seconds:.6f}s",
            phase=phase,
            event=fire.event,
            fire_id=fire.fire_id,
            seconds=seconds,
        )

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        """
        Log the call and its duration, and warn if it was slow.
        """
        self._log.emit(
            self._level,
            "Handler {handler_id!r} took {seconds:.6f}s in phase {phase!r} of {event!r} ({status})",
            handler_id=handler_id,
            phase=outcome.phase,
            event=fire.event,
            fire_id=fire.fire_id,
            seconds=seconds,
            succeeded=outcome.succeeded,
            status="ok" if outcome.succeeded else "failed",
        )
        if self._slow_after is not None and seconds > self._slow_after:
            self._log.warn(
                "Slow handler {handler_id!r}: {seconds:.3f}s in phase {phase!r} of {event!r} "
                "(slow_after is {slow_after:g}s)",
                handler_id=handler_id,
                phase=outcome.phase,
                event=fire.event,
                fire_id=fire.fire_id,
                seconds=seconds,
                slow_after=self._slow_after,
            )
