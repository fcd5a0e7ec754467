# -*- test-case-name: tests.test_flow -*-
"""
Telling monitors what a fire does.

:class:`Monitors` is what a run calls: one method per hook, each telling
every monitor in turn and logging (never raising) a monitor's failure.
Monitors written for the older :class:`~.interfaces.IDispatchMonitor`
(hooks given the event, not the fire) are adapted on the way in.

An :class:`~.interfaces.IPhaseMonitor` hears of a phase's calls once the
phase is over: the calls a run made are kept, per fire, in
:attr:`Monitors.unreported` until then (the tight loop keeps its own, and
hands them over with the fire).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import partial
from typing import Final, final

from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from ._handle import HandlerId
from ._reports import PhaseCall, PhaseReport
from ._result import FireResult, HandlerOutcome, Recorded, Status
from .interfaces import IDispatchMonitor, IFireMonitor, IPhaseMonitor

__all__ = ["FireMonitor", "Monitor", "Monitors", "PhaseMonitor", "as_monitor", "failed", "outcome_of"]

#: A monitor as the dispatcher keeps it.
Monitor = IFireMonitor | IPhaseMonitor


_log = Logger()


@implementer(IFireMonitor)
class FireMonitor:
    """
    A base for an :class:`~.interfaces.IFireMonitor` whose every hook does
    nothing: override the hooks you need.  The dispatcher does not call a
    hook left as this class has it, so a hook you do not use costs a fire
    nothing (a monitor that counts finished calls alone is not called as
    each handler starts).
    """

    __slots__ = ()

    def fire_started(self, fire: FireResult) -> None:
        """
        Not used.
        """

    def phase_started(self, fire: FireResult, phase: str) -> None:
        """
        Not used.
        """

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        """
        Not used.
        """

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        """
        Not used.
        """

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        """
        Not used.
        """

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        """
        Not used.
        """


@implementer(IPhaseMonitor)
class PhaseMonitor:
    """
    A base for an :class:`~.interfaces.IPhaseMonitor` whose every hook does
    nothing: override the hooks you need.  The dispatcher does not call a
    hook left as this class has it (a monitor without ``phase_ended``
    costs a fire no phase reports).
    """

    __slots__ = ()

    def fire_started(self, fire: FireResult) -> None:
        """
        Not used.
        """

    def phase_ended(self, fire: FireResult, report: PhaseReport) -> None:
        """
        Not used.
        """

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        """
        Not used.
        """


#: The hooks the dispatcher does not call: those the bases have.
_UNUSED = tuple(
    hook
    for base in (FireMonitor, PhaseMonitor)
    for name, hook in vars(base).items()
    if callable(hook) and not name.startswith("_")
)


@final
class _EventMonitor(FireMonitor):
    """
    An :class:`IDispatchMonitor` seen as an :class:`IFireMonitor`: its hooks
    are given the fire's event (it has no hooks for a fire's start and end).
    """

    __slots__ = ("monitor",)

    def __init__(self, monitor: IDispatchMonitor) -> None:
        self.monitor = monitor

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

    def __repr__(self) -> str:
        return repr(self.monitor)


def as_monitor(monitor: object) -> Monitor:
    """
    ``monitor`` as an :class:`IPhaseMonitor` or an :class:`IFireMonitor`.

    :raises TypeError: if it provides none of the monitor interfaces.
    """
    if IPhaseMonitor.providedBy(monitor) or IFireMonitor.providedBy(monitor):
        return monitor
    if IDispatchMonitor.providedBy(monitor):
        return _EventMonitor(monitor)
    raise TypeError(f"monitor must provide IPhaseMonitor, IFireMonitor or IDispatchMonitor, got {monitor!r}")


def _hooks(monitors: Iterable[Monitor], name: str) -> tuple[Callable[..., object], ...]:
    """
    Each monitor's hook ``name``, bound, skipping those left as
    :class:`FireMonitor` or :class:`PhaseMonitor` has them.
    """
    hooks = (getattr(monitor, name) for monitor in monitors)
    return tuple(hook for hook in hooks if not _unused(hook))


def _unused(hook: Callable[..., object]) -> bool:
    """
    Whether ``hook`` is a method :class:`FireMonitor` or :class:`PhaseMonitor`
    defines, bound to a monitor that left it as it is.
    """
    function = getattr(hook, "__func__", None)
    return any(function is unused for unused in _UNUSED)


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
    ``handler_end``, ``phase_end``, ``fire_end``, and ``phase_report``, the
    :class:`IPhaseMonitor` s' ``phase_ended``): the bound method of the
    only monitor that has it (its failure is the caller's to log, with
    :func:`failed`), or one that tells each in turn (and logs their
    failures itself).  The per-handler hooks are those of the
    :class:`IFireMonitor` s alone.

    :ivar outcomes: the outcome of each handler that answered None, made
        once (see :meth:`returned_none`).
    :ivar unreported: for :class:`IPhaseMonitor` s, the calls each fire a
        run carries made in its current phase, with their start times on
        the clock (not yet offsets from the fire's start).
    """

    __slots__ = (
        "alone",
        "fire_end",
        "fire_start",
        "handler_end",
        "handler_start",
        "hooks",
        "make",
        "now",
        "outcomes",
        "phase_end",
        "phase_report",
        "phase_start",
        "unreported",
    )

    def __init__(self, monitors: Iterable[Monitor], now: Callable[[], float]) -> None:
        monitors = tuple(monitors)
        by_call = tuple(monitor for monitor in monitors if not IPhaseMonitor.providedBy(monitor))
        by_phase = tuple(monitor for monitor in monitors if IPhaseMonitor.providedBy(monitor))
        self.now = now
        self.fire_start = _as_one(_hooks(monitors, "fire_started"))
        self.phase_start = _as_one(_hooks(by_call, "phase_started"))
        self.handler_start = _as_one(_hooks(by_call, "handler_started"))
        self.handler_end = _as_one(_hooks(by_call, "handler_finished"))
        self.phase_end = _as_one(_hooks(by_call, "phase_finished"))
        self.phase_report = _as_one(_hooks(by_phase, "phase_ended"))
        self.fire_end = _as_one(_hooks(monitors, "fire_finished"))
        #: Whether the dispatcher has one monitor: then its ``fire_started``
        #: answering False ends the telling of that fire.
        self.alone = len(monitors) == 1
        self.outcomes: dict[Recorded, HandlerOutcome] = {}
        self.unreported: dict[FireResult, list[PhaseCall]] = {}
        #: :meth:`make_calls`, bound once (the tight loop hands it to each
        #: PhaseReport it makes).
        self.make = self.make_calls
        #: What the tight loop reads at a fire's start, in one read: the
        #: clock, then the hooks in the order a fire meets them.
        self.hooks = (
            now,
            self.fire_start,
            self.phase_start,
            self.handler_start,
            self.handler_end,
            self.phase_end,
            self.phase_report,
            self.fire_end,
        )

    def fire_started(self, fire: FireResult) -> bool:
        """
        Tell that ``fire`` begins; return whether to tell the rest of it:
        not when the dispatcher's only monitor answered False.
        """
        hook = self.fire_start
        if hook is None:
            return True
        try:
            return hook(fire) is not False or not self.alone
        except Exception:
            failed(hook)
            return True

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
        if self.handler_end is None and self.phase_report is None:
            return now
        outcome = self.outcome(registration, value, status)
        _call(self.handler_end, fire, registration.id, outcome, now - since)
        if self.phase_report is not None:
            self.unreported.setdefault(fire, []).append((registration.id, outcome, since, now - since))
        return now

    def outcome(self, registration: Recorded, value: object, status: Status | None = None) -> HandlerOutcome:
        """
        The outcome of a handler that answered ``value`` (a Failure, if it
        failed, with its ``status``), made once for an answer of None.
        """
        if value is None:
            return self.outcomes.get(registration) or self.returned_none(registration)
        return outcome_of(registration, value, status)

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

    def phase_finished(self, fire: FireResult, phase: str, began: float, phase_began: float) -> None:
        """
        Tell that ``phase`` of ``fire`` (which began at ``began``) is over:
        it began at ``phase_began`` and ends now.
        """
        now = self.now()
        _call(self.phase_end, fire, phase, now - phase_began)
        if self.phase_report is not None:
            made = self.unreported.pop(fire, ())
            calls = [
                (handler_id, outcome, since - began, seconds) for handler_id, outcome, since, seconds in made
            ]
            _call(self.phase_report, fire, PhaseReport(phase, phase_began - began, now - phase_began, calls))

    def carry(
        self,
        fire: FireResult,
        records: list[tuple[Recorded, object]],
        first: int,
        stamps: list[float],
        phase_began: float,
    ) -> None:
        """
        Keep, for :class:`IPhaseMonitor` s, the calls the tight loop made in
        the current phase of a fire it hands to a run: the ``records`` from
        ``first`` on (each handler with its answer) ended at ``stamps``, the
        first began at ``phase_began``.
        """
        self.unreported[fire] = self.make_calls(records, first, stamps, phase_began, 0.0)

    def make_calls(
        self,
        records: list[tuple[Recorded, object]],
        first: int,
        stamps: list[float],
        since: float,
        began: float,
    ) -> list[PhaseCall]:
        """
        The calls of ``records`` from ``first`` on, ending at ``stamps``, one
        after the other from ``since``, their starts as offsets from ``began``
        (what the tight loop's :class:`PhaseReport` s make when asked for
        their calls).
        """
        calls: list[PhaseCall] = []
        append, outcome = calls.append, self.outcome
        for (registration, answer), stamp in zip(records[first : first + len(stamps)], stamps, strict=True):
            append((registration.id, outcome(registration, answer), since - began, stamp - since))
            since = stamp
        return calls

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        if self.unreported and fire in self.unreported:  # a run ends every phase it enters first
            _log.error(
                "The calls of a phase of {fire!r} were never reported: {calls!r}",
                fire=fire,
                calls=self.unreported.pop(fire),
            )
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
