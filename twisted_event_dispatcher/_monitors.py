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
from functools import partial
from typing import Final, final

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

    The tight loop calls each hook itself, as one callable or None when no
    monitor has it (``fire_start``, ``phase_start``, ``handler_start``,
    ``handler_end``, ``phase_end``, ``fire_end``): the bound method of the
    only monitor that has it (its failure is the caller's to log, with
    :func:`failed`), or one that tells each in turn (and logs their
    failures itself).

    :ivar outcomes: the outcome of each handler that answered None, made
        once (see :meth:`returned_none`).
    """

    __slots__ = (
        "fire_end",
        "fire_start",
        "handler_end",
        "handler_start",
        "now",
        "outcomes",
        "phase_end",
        "phase_start",
    )

    def __init__(self, monitors: Iterable[IFireMonitor], now: Callable[[], float]) -> None:
        monitors = tuple(monitors)
        self.now = now
        self.fire_start = _as_one(_hooks(monitors, "fire_started"))
        self.phase_start = _as_one(_hooks(monitors, "phase_started"))
        self.handler_start = _as_one(_hooks(monitors, "handler_started"))
        self.handler_end = _as_one(_hooks(monitors, "handler_finished"))
        self.phase_end = _as_one(_hooks(monitors, "phase_finished"))
        self.fire_end = _as_one(_hooks(monitors, "fire_finished"))
        self.outcomes: dict[Recorded, HandlerOutcome] = {}

    def fire_started(self, fire: FireResult) -> None:
        _call(self.fire_start, fire)

    def phase_started(self, fire: FireResult, phase: str) -> None:
        _call(self.phase_start, fire, phase)

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        _call(self.handler_start, fire, handler_id)

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
        if self.handler_end is not None:
            if value is None:
                outcome = self.outcomes.get(registration) or self.returned_none(registration)
            else:
                outcome = outcome_of(registration, value, status)
            _call(self.handler_end, fire, registration.id, outcome, now - since)
        return now

    def returned_none(self, registration: Recorded) -> HandlerOutcome:
        """
        The outcome of a handler that answered None, kept in
        :attr:`outcomes`: an outcome is read-only, and answering None is
        the common case.  (Kept for at most 1,024 handlers at a time, so
        that removed handlers do not pile up.)
        """
        outcomes = self.outcomes
        if len(outcomes) >= _KEPT_OUTCOMES:
            outcomes.clear()
        outcome = outcomes[registration] = outcome_of(registration, None)
        return outcome

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        _call(self.phase_end, fire, phase, seconds)

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        _call(self.fire_end, fire, failure, seconds)


_KEPT_OUTCOMES: Final = 1024


def outcome_of(registration: Recorded, value: object, status: Status | None = None) -> HandlerOutcome:
    """
    The outcome of a handler that answered ``value``.
    """
    if isinstance(value, Failure):
        return HandlerOutcome(registration.id, registration.phase, None, value, status)
    return HandlerOutcome(registration.id, registration.phase, value, None, "succeeded")


def _as_one(hooks: tuple[Callable[..., object], ...]) -> Callable[..., object] | None:
    """
    ``hooks`` as one callable: None for none, the hook itself for one, or
    one that calls each in turn.
    """
    if not hooks:
        return None
    if len(hooks) == 1:
        return hooks[0]
    return partial(_tell, hooks)


def _call(hook: Callable[..., object] | None, *args: object) -> None:
    """
    Call a hook made by :func:`_as_one`, if any, logging its failure.
    """
    if hook is not None:
        try:
            hook(*args)
        except Exception:
            failed(hook)


def _tell(hooks: tuple[Callable[..., object], ...], *args: object) -> None:
    for hook in hooks:
        try:
            hook(*args)
        except Exception:
            failed(hook)
