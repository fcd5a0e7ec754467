# -*- test-case-name: tests.test_flow -*-
"""
Telling monitors what a fire does.

:class:`Monitors` is what a run calls: one method per hook, each telling
every monitor in turn and logging (never raising) a monitor's failure.
Monitors written for the older :class:`~.interfaces.IDispatchMonitor`
(hooks given the event, not the fire) are adapted on the way in.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import final

from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from ._handle import HandlerId
from ._result import FireResult, HandlerOutcome
from .interfaces import IDispatchMonitor, IFireMonitor

__all__ = ["Monitors", "as_fire_monitor"]

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


def _failed(monitor: IFireMonitor, hook: str) -> None:
    _log.failure("Monitor {monitor!r} failed in {hook}", monitor=monitor, hook=hook, level=LogLevel.error)


@final
class Monitors:
    """
    The monitors of one dispatcher, as one.
    """

    __slots__ = ("_monitors",)

    def __init__(self, monitors: Iterable[IFireMonitor]) -> None:
        self._monitors = tuple(monitors)

    def fire_started(self, fire: FireResult) -> None:
        for monitor in self._monitors:
            try:
                monitor.fire_started(fire)
            except Exception:
                _failed(monitor, "fire_started")

    def phase_started(self, fire: FireResult, phase: str) -> None:
        for monitor in self._monitors:
            try:
                monitor.phase_started(fire, phase)
            except Exception:
                _failed(monitor, "phase_started")

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        for monitor in self._monitors:
            try:
                monitor.handler_started(fire, handler_id)
            except Exception:
                _failed(monitor, "handler_started")

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        for monitor in self._monitors:
            try:
                monitor.handler_finished(fire, handler_id, outcome, seconds)
            except Exception:
                _failed(monitor, "handler_finished")

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        for monitor in self._monitors:
            try:
                monitor.phase_finished(fire, phase, seconds)
            except Exception:
                _failed(monitor, "phase_finished")

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        for monitor in self._monitors:
            try:
                monitor.fire_finished(fire, failure, seconds)
            except Exception:
                _failed(monitor, "fire_finished")
