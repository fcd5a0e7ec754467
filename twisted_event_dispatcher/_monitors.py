# -*- test-case-name: tests.test_flow -*-
"""
Telling monitors what a fire does.

:class:`Monitors` is what a run calls: one method per hook, each telling
every monitor in turn and logging (never raising) a monitor's failure.
Monitors written for the older :class:`~.interfaces.IDispatchMonitor`
(hooks given the event, not the fire) are adapted on the way in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import final

from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from ._handle import HandlerId
from ._result import FireResult, HandlerOutcome, Recorded, Status
from .interfaces import IDispatchMonitor, IFireMonitor

__all__ = ["Monitors", "as_fire_monitor", "failed", "outcome_of"]

_log = Logger()


@final
@implementer(IFireMonitor)
class _EventMonitor:
    """
    An :class:`IDispatchMonitor` seen as an :class:`IFireMonitor`: its hooks
    are given the fire's event.
    """

    __slots__ = ("monitor",)

    def __init__(self, monitor: IDispatchMonitor) -> None:
        self.monitor = monitor

    def fire_started(self, fire: FireResult) -> None:
        pass

    def phase_started(self, fire: FireResult, phase: str) -> None:
        self.monitor.phase_started(fire.event, phase)

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        self.monitor.handler_started(fire.event, handler_id)

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        self.monitor.handler_finished(fire.event, handler_id, outcome, seconds)

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        self.monitor.phase_finished(fire.event, phase, seconds)

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        pass

    def __repr__(self) -> str:
        return repr(self.monitor)


def as_fire_monitor(monitor: object) -> IFireMonitor:
    """
    ``monitor`` as an :class:`IFireMonitor`.

    :raises TypeError: if it provides neither monitor interface.
    """
    if IFireMonitor.providedBy(monitor):
        return monitor
    if IDispatchMonitor.providedBy(monitor):
        return _EventMonitor(monitor)
    raise TypeError(f"monitor must provide IDispatchMonitor or IFireMonitor, got {monitor!r}")


def _hooks(monitors: Iterable[IFireMonitor], name: str) -> tuple[Callable[..., object], ...]:
    """
    Each monitor's hook ``name``, bound, skipping the fire-level hooks an
    adapted :class:`IDispatchMonitor` does not have.
    """
    return tuple(
        getattr(monitor, name)
        for monitor in monitors
        if not (isinstance(monitor, _EventMonitor) and name.startswith("fire_"))
    )


def failed(hook: Callable[..., object]) -> None:
    """
    Log that a monitor's hook raised (called from its ``except`` block).
    """
    monitor = getattr(hook, "__self__", hook)
    name = getattr(hook, "__name__", repr(hook))
    _log.failure("Monitor {monitor!r} failed in {hook}", monitor=monitor, hook=name, level=LogLevel.error)


@final
class Monitors:
    """
    The monitors of one dispatcher, as one, with the clock they are told
    durations by.

    Each hook is also kept as a tuple of bound methods (``fire_starts``,
    ``phase_starts``, ``handler_starts``, ``handler_ends``, ``phase_ends``,
    ``fire_ends``), which the tight loop calls itself: a no-op monitor then
    costs its own calls and nothing more.
    """

    __slots__ = (
        "fire_ends",
        "fire_starts",
        "handler_ends",
        "handler_starts",
        "now",
        "phase_ends",
        "phase_starts",
    )

    def __init__(self, monitors: Iterable[IFireMonitor], now: Callable[[], float]) -> None:
        monitors = tuple(monitors)
        self.now = now
        self.fire_starts = _hooks(monitors, "fire_started")
        self.phase_starts = _hooks(monitors, "phase_started")
        self.handler_starts = _hooks(monitors, "handler_started")
        self.handler_ends = _hooks(monitors, "handler_finished")
        self.phase_ends = _hooks(monitors, "phase_finished")
        self.fire_ends = _hooks(monitors, "fire_finished")

    def fire_started(self, fire: FireResult) -> None:
        _tell(self.fire_starts, fire)

    def phase_started(self, fire: FireResult, phase: str) -> None:
        _tell(self.phase_starts, fire, phase)

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        _tell(self.handler_starts, fire, handler_id)

    def handler_finished(
        self,
        fire: FireResult,
        registration: Recorded,
        value: object,
        since: float,
        status: Status | None = None,
    ) -> float:
        """
        Tell that a handler called at ``since`` answered ``value`` (a Failure,
        if it failed, with its ``status``); return the time now.
        """
        now = self.now()
        _tell(self.handler_ends, fire, registration.id, outcome_of(registration, value, status), now - since)
        return now

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        _tell(self.phase_ends, fire, phase, seconds)

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        _tell(self.fire_ends, fire, failure, seconds)


def outcome_of(registration: Recorded, value: object, status: Status | None = None) -> HandlerOutcome:
    """
    The outcome of a handler that answered ``value``.
    """
    if isinstance(value, Failure):
        return HandlerOutcome(registration.id, registration.phase, None, value, status)
    return HandlerOutcome(registration.id, registration.phase, value, None, "succeeded")


def _tell(hooks: tuple[Callable[..., object], ...], *args: object) -> None:
    for hook in hooks:
        try:
            hook(*args)
        except Exception:
            failed(hook)
