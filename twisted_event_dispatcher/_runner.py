# -*- test-case-name: tests.test_handler_model -*-
"""
:class:`Runner`: where every fire of a dispatcher begins, and the tight loop.

The tight loop (:meth:`Runner.fire_event`) serves the common case: handlers
called as ``fn(event)`` that answer at once.  It builds no Deferred but the
one it returns, already fired.  The moment a fire needs more (a handler to
wait for, a failure, a stop, a handler called with a context or through a
limit), it hands the fire, where it stands, to a :class:`~._run.Run`, whose
general loop adopts every answer but ``None`` and plain values: the rules for
waiting, failing and stopping exist there once.

The runner also knows which fires are in flight, and tells the layer above
(admission) when one ends, through :attr:`Runner.after`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Final

from twisted.internet.defer import Deferred, succeed
from twisted.python.failure import Failure

from ._answers import COROUTINE, KINDS, PLAIN, WAIT, CoroutineDriver, choose_driver, kind_of, settled
from ._errors import FollowUpDepthError
from ._fired import DIRECT
from ._matching import HASHABLE_TYPES, check_details
from ._monitors import Monitors, failed
from ._registry import PhaseHandlers, Registration, Registry
from ._reports import PhaseReport
from ._result import FireResult, HandlerOutcome, Recorded, new_result
from ._run import ARGUMENTS_ONLY, DEFAULT_FIRE, TO_CALL, FireOptions, Run, RunSettings

__all__ = ["Runner"]

_new: Final = object.__new__

#: A fire's arguments when it has none.
_NO_ARGUMENTS: Final[Mapping[str, object]] = MappingProxyType({})

#: When a fire the tight loop hands over began, its phase began, and the
#: call it was at began; where the phase's calls begin in the fire's
#: records, and when each ended (for IPhaseMonitors; else None).
_Times = tuple[float, float, float, int, list[float] | None]


class Runner:
    """
    Runs the fires of one dispatcher.  (Not final: ``testing`` records the
    follow-up events of a ``RecordingDispatcher`` in a subclass, so that a
    plain dispatcher pays nothing for it.)

    The fires in flight are those it is calling the handlers of right now
    (``calling``, the innermost, and through ``FireResult._outer`` the ones
    it was called from) and those a :class:`Run` carries (``waiting``, in
    the order they began).

    :ivar after: told that a fire has finished (with its result) or that a
        run is now waiting (with None), while the layer above needs to
        know; None otherwise.
    :ivar making: while a :class:`Run` with monitors calls a handler, its
        fire and what ``calling`` was then (a plain fire begun in the
        handler finds it is the innermost if ``calling`` is still that):
        what tells monitors which fire made a fire (see ``cause_of``).
    """

    __slots__ = ("after", "calling", "drive", "making", "monitors", "registry", "settings", "waiting")

    def __init__(self, registry: Registry, settings: RunSettings) -> None:
        self.registry = registry
        self.settings = settings
        self.calling: FireResult | None = None
        self.making: tuple[FireResult, FireResult | None] | None = None
        self.waiting: dict[FireResult, Run] = {}
        #: The monitors to tell, or None when there are none.
        self.monitors: Monitors | None = None
        self.after: Callable[[FireResult | None], None] | None = None
        #: Turns the coroutines handlers answer into Deferreds; chosen, by
        #: the reactor, at the first coroutine.
        self.drive: CoroutineDriver = self._choose_driver

    def _choose_driver(self, awaitable: Awaitable[object]) -> Deferred[object]:
        self.drive = choose_driver(self.settings.reactor)
        return self.drive(awaitable)

    def count_in_flight(self) -> int:
        """
        How many fires are in flight.
        """
        count = len(self.waiting)
        result = self.calling
        while result is not None:
            count += 1
            result = result._outer
        return count

    def starting_handlers(self) -> bool:
        """
        Whether handlers are being started right now (so a fire made now is
        made from inside a handler).
        """
        if self.calling is not None:
            return True
        return bool(self.waiting) and any(run.looping for run in self.waiting.values())

    def fires_in_flight(self) -> list[tuple[FireResult, Run | None]]:
        """
        Each fire in flight with its run: first those a run carries, in the
        order they began, then those being called right now, outermost first.
        """
        calling = []
        result = self.calling
        while result is not None:
            calling.append((result, None))
            result = result._outer
        return [*self.waiting.items(), *reversed(calling)]

    def start(
        self, event: object, details: dict[str, object], options: FireOptions = DEFAULT_FIRE
    ) -> Deferred[FireResult]:
        """
        Run a fire whose details are checked already.
        """
        if options.ledger is not None:  # every handler asks the ledger: the general loop
            return self.run(event, details, options)
        return self.fire_event(event, options, **details)

    def run(self, event: object, details: dict[str, object], options: FireOptions) -> Deferred[FireResult]:
        """
        Run a fire in the general loop from its start.
        """
        result = new_result(event, details)
        _given(result, options)
        if self.monitors is not None:
            cause = self.making_now()
            if cause is not None:
                result._cause = cause
        run = Run(self, result, self.registry.last_seq, 0, options, self.monitors)
        return run.begin()

    def making_now(self) -> FireResult | None:
        """
        The fire whose handler is being called right now (the innermost),
        if any: a plain fire's, or a run's (see :attr:`making`).
        """
        making = self.making
        if making is not None and making[1] is self.calling:
            return making[0]
        return self.calling

    def follow_up(
        self, event: object, details: dict[str, object], depth: int, cause: FireResult
    ) -> Deferred[FireResult]:
        """
        Run a follow-up event, which a handler of ``cause`` queued: part of
        the event in flight, so it runs even if the dispatcher stopped
        meanwhile.
        """
        result = new_result(event, details)
        result._cause = cause
        run = Run(self, result, self.registry.last_seq, depth, DEFAULT_FIRE, self.monitors)
        return run.begin()

    def check_follow_up(self, event: object, details: dict[str, object], depth: int) -> None:
        """
        Refuse a follow-up that nests too deep or carries bad details.
        """
        if depth > self.settings.max_depth:
            raise FollowUpDepthError(event, depth, self.settings.max_depth)
        if details:
            check_details(details, self.registry.allowed, "follow-up event details")

    def fire_event(
        self,
        event: object,
        options: FireOptions = DEFAULT_FIRE,
        arguments: Mapping[str, object] = _NO_ARGUMENTS,
        /,
        **details: object,
    ) -> Deferred[FireResult]:
        """
        The tight loop (see the module docstring): the dispatcher's
        ``fire_event`` itself while nothing needs more.

        A fire given ``options`` (by :meth:`start` or the dispatcher's
        ``fire``; never with a ledger) takes it too: its arguments matter
        only to handlers called with a context, which the general loop
        calls; with ``first_result``, the first answer other than None goes
        to the general loop, which adopts it and ends the fire (answers of
        None cost nothing more).  With ``ARGUMENTS_ONLY``, ``arguments`` are
        the fire's, checked (no options are made for them).

        It is one function because here a Python call costs as much as
        calling a handler.  Handlers registered after the fire began (whose
        ``seq`` is above ``watermark``) are left out of each phase; removed
        or collected ones have lost their handler.  With monitors, it tells
        them as it goes, reading the clock once per handler and phase
        (``if monitors is not None:`` rather than ``is not None``: half the instructions).
        """
        registry = self.registry
        if details:  # check_fired_details, without a call
            allowed = registry.allowed
            for keyword in details:
                if keyword not in allowed or type(details[keyword]) not in HASHABLE_TYPES:
                    check_details(details, allowed, "fired event details")
                    break
        result = _new(FireResult)
        result.event = event
        result.details = details
        records: list[tuple[Recorded, object]] = []
        result._records = records
        outer = result._outer = self.calling
        self.calling = result
        watermark = registry.last_seq
        first_result = False
        if options is not DEFAULT_FIRE:
            if options is ARGUMENTS_ONLY:
                result._arguments = arguments
            else:
                first_result = _given(result, options)
        monitors = self.monitors
        handler_start = handler_end = None
        stamps: list[float] | None = None
        if monitors is not None:
            clock, hook, phase_start, handler_start, handler_end, phase_end, reported, fire_end = (
                monitors.hooks
            )
            outcomes = monitors.outcomes
            making = self.making
            if making is not None and making[1] is outer:  # begun in a handler a run calls
                result._cause = making[0]
            began = since = clock()
            if hook is not None:
                try:
                    if hook(result) is False and monitors.alone:  # it wants nothing more of this fire
                        monitors = None
                        handler_start = None
                except Exception:
                    failed(hook)
        try:
            for phase in registry.live:
                index = phase.index
                candidates: Sequence[Registration]
                if index.constrained and not index.keywords.isdisjoint(details):
                    candidates = index.lookup(details)
                else:
                    candidates = index.wild or index.wild_items()
                if not candidates:
                    continue
                if registry.last_seq != watermark:  # registered while this fire runs: not for it
                    candidates = [
                        registration for registration in candidates if registration.seq <= watermark
                    ]
                if monitors is not None:
                    phase_began = since
                    first = len(records)
                    if reported is not None:  # each call's end, for IPhaseMonitors
                        stamps = []
                    if phase_start is not None:
                        try:
                            phase_start(result, phase.name)
                        except Exception:
                            failed(phase_start)
                if phase.ordered and (len(candidates) > 1 or phase.has_unmet):
                    plan = phase.plan(candidates)
                    candidates = plan.handlers
                    if plan.unmet:  # a run says so, or fails the fire
                        return self._hand_over(
                            result,
                            options,
                            watermark,
                            phase,
                            candidates,
                            candidates[0],
                            TO_CALL,
                            (began, phase_began, since, first, stamps) if monitors is not None else None,
                        )
                for registration in candidates:
                    listen_fn = registration.fn
                    try:
                        if listen_fn is None:
                            ref = registration.ref
                            if ref is not None:
                                listen_fn = ref()
                                if listen_fn is None:
                                    registry.purge()
                                    continue
                            else:
                                tuned = registration.tuned
                                if tuned is None:  # removed
                                    continue
                                if tuned.needs_general_loop:
                                    return self._hand_over(
                                        result,
                                        options,
                                        watermark,
                                        phase,
                                        candidates,
                                        registration,
                                        TO_CALL,
                                        (began, phase_began, since, first, stamps)
                                        if monitors is not None
                                        else None,
                                    )
                                listen_fn = tuned.fn
                                if listen_fn is None:
                                    listen_fn = tuned.handler()
                                    if listen_fn is None:
                                        registry.purge()
                                        continue
                                if tuned.gated:  # what Registry.admit_call does (no ledger here)
                                    if tuned.predicates and not tuned.accepts(event, details):
                                        continue
                                    if tuned.remaining is not None:  # count the call
                                        tuned.remaining -= 1
                                        if not tuned.remaining:
                                            registry.remove(registration)
                        if handler_start is not None:
                            try:
                                handler_start(result, registration.id)
                            except Exception:
                                failed(handler_start)
                        answer = listen_fn(event)
                    except Exception:
                        return self._hand_over(
                            result,
                            options,
                            watermark,
                            phase,
                            candidates,
                            registration,
                            Failure(),
                            (began, phase_began, since, first, stamps) if monitors is not None else None,
                        )
                    if answer is not None:
                        kind = KINDS.get(type(answer))
                        if kind is None:
                            kind = kind_of(type(answer))
                        if kind == COROUTINE:
                            answer = self.drive(answer)
                            kind = WAIT
                        if kind == WAIT:
                            waiting, answer = settled(answer)
                            if waiting is not None:  # still waiting: the run waits for it
                                answer = waiting
                                handing = True
                            else:
                                handing = answer is not None and (first_result or isinstance(answer, Failure))
                        else:
                            handing = kind != PLAIN or first_result
                        if handing:
                            return self._hand_over(
                                result,
                                options,
                                watermark,
                                phase,
                                candidates,
                                registration,
                                answer,
                                (began, phase_began, since, first, stamps) if monitors is not None else None,
                            )
                    records.append((registration, answer))
                    if monitors is not None:
                        now = clock()
                        if handler_end is not None:
                            if answer is None:  # the outcome made once (see Monitors.returned_none)
                                outcome = outcomes.get(registration) or monitors.returned_none(registration)
                            else:
                                outcome = HandlerOutcome(
                                    registration.id, phase.name, answer, None, "succeeded"
                                )
                            try:
                                handler_end(result, registration.id, outcome, now - since)
                            except Exception:
                                failed(handler_end)
                        if stamps is not None:
                            stamps.append(now)
                        since = now
                if monitors is not None:
                    if phase_end is not None:
                        try:
                            phase_end(result, phase.name, since - phase_began)
                        except Exception:
                            failed(phase_end)
                    # IPhaseMonitors are told: a PhaseReport, made without its
                    # __init__ (see its slots), its calls left to be made if asked for.
                    if stamps is not None and reported is not None:
                        report = _new(PhaseReport)
                        report.phase = phase.name
                        report._began = began
                        report._start = phase_began
                        report._end = since
                        report._calls = None
                        report._make = monitors.make
                        report._records = records
                        report._first = first
                        report._stamps = stamps
                        try:
                            reported(result, report)
                        except Exception:
                            failed(reported)
        except BaseException:  # KeyboardInterrupt and the like: not in flight any more
            self.calling = outer
            raise
        self.calling = outer
        if monitors is not None and fire_end is not None:
            try:
                fire_end(result, None, since - began)
            except Exception:
                failed(fire_end)
        if self.after is not None:
            self.after(result)
        if Deferred.debug or not DIRECT:  # debugging records who made each Deferred
            return succeed(result)
        # What succeed(result) returns (see _fired), for less.
        done: Deferred[FireResult] = _new(Deferred)
        done._callbacks = []
        done._canceller = None
        done.result = result
        done.called = True
        done._chainedTo = None
        return done

    def _hand_over(
        self,
        result: FireResult,
        options: FireOptions,
        watermark: int,
        phase: PhaseHandlers[Registration],
        handlers: Sequence[Registration],
        registration: Registration,
        answer: object = TO_CALL,
        times: _Times | None = None,
    ) -> Deferred[FireResult]:
        """
        Give a fire the tight loop began to a :class:`Run`, and return what
        the fire returns.  The fire began when the newest registration was
        ``watermark``.  The loop was at ``registration`` of ``phase``, whose
        matching ``handlers`` it was calling in their start order: that handler either
        still has to be called (``answer`` is ``TO_CALL``), or it answered
        ``answer``.  For monitors, ``times`` says when the fire, the phase
        and that handler's call began, where the phase's calls begin in the
        fire's records, and (for IPhaseMonitors) when each ended.  The run
        goes on with the fire's ``options``.
        """
        self.calling = result._outer  # the run has it in flight from now on
        monitors = self.monitors if times is not None else None  # None: not told of this fire
        run = Run(self, result, watermark, 0, options, monitors)
        began_at = None
        if times is not None:
            began, phase_began, since, first, stamps = times
            began_at = (began, phase_began, since)
            if monitors is not None and stamps is not None:
                monitors.carry(result, result._records, first, stamps, phase_began)
        run.take_over(phase, phase.start_order(handlers), registration, answer, began_at)
        return run.proceed()

    def in_thread(
        self, listen_fn: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
    ) -> Deferred[object]:
        return self.settings.in_thread(listen_fn, args, kwargs)


def _given(result: FireResult, options: FireOptions) -> bool:
    """
    Write what a fire was given into its report; return whether the fire
    ends at its first answer other than None.

    :raises TypeError: if ``options`` are not a :class:`FireOptions` (a
        second positional argument given to ``fire_event``).
    """
    if type(options) is not FireOptions:
        raise TypeError(
            f"fire_event() takes the event as its only positional argument (details are keywords), "
            f"got also {options!r}"
        )
    if options.fire_id is not None:
        result._fire_id = options.fire_id
    if options.attempt != 1:
        result.extras.attempt = options.attempt
    if options.arguments:
        result._arguments = options.arguments
    return options.first_result
