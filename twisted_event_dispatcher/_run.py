# -*- test-case-name: tests.test_handler_model -*-
"""
Running fires: the dispatch loop.

A fire visits the phases that have handlers, in order; in each it starts the
matching handlers and waits for them all before the next phase begins.

There are two loops, chosen per fire:

- ``Runner.fire_event`` (in ``_runner``) is the tight synchronous loop of the common
  case: handlers called as ``fn(event)`` that answer at once.  It builds no
  Deferred but the one it returns, already fired.  The moment a fire needs
  more (a handler to wait for, a failure, a stop, a handler that is called
  with a context or through a limit), the loop hands the fire, where it
  stands, to a :class:`Run`.
- :class:`Run` is the general loop: one object per fire holding all of that
  fire's state (the phase, the handlers started and awaited, timeouts,
  cancellation, follow-up events, monitors).  Every answer but ``None`` and
  plain values goes through :meth:`Run.adopt`, so the rules for waiting,
  failing and stopping exist once.

A differential property test (``tests/test_handler_properties.py``) keeps
the two loops equal.  The runner knows which fires are in flight; the layer
above (admission) learns that a fire ended through :attr:`Runner.after`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, Protocol, cast, final

import attrs
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure

from ._answers import COROUTINE, KINDS, WAIT, FollowUps, cancel_answer, kind_of, settled
from ._context import EventContext, EventState, StopPropagation, Updates
from ._errors import FireCancelled, HandlerFailed, HandlerTimedOut, InjectionError, UnmetRequirementError
from ._handle import HandlerId
from ._introspection import InFlightEvent, PendingHandler
from ._limiter import Limiter
from ._monitors import Monitors
from ._registry import CALL, DONE, PhaseHandlers, Plan, Registration, Registry, Tuned
from ._result import NOT_RUN, PENDING, FireResult
from ._text import brief
from .interfaces import IHandlerLedger

__all__ = [
    "ARGUMENTS_ONLY",
    "DEFAULT_FIRE",
    "TO_CALL",
    "FireOptions",
    "Host",
    "Run",
    "RunSettings",
    "describe_calling",
]

_log = Logger()


@final
@attrs.define  # not frozen: a frozen attrs class costs twice as much to make, once a fire
class FireOptions:
    """
    What one fire is given besides its event and details (see
    ``EventDispatcher.fire``).  Only a fire with a ``ledger`` takes the
    general loop from its start (every handler's call asks the ledger); the
    others begin in the tight loop, which hands them over with their options.
    """

    fire_id: str | None = None
    attempt: int = 1
    ledger: IHandlerLedger | None = None
    arguments: Mapping[str, object] | None = None
    first_result: bool = False


DEFAULT_FIRE: Final[FireOptions] = FireOptions()

#: The options of a fire given arguments and nothing else: the arguments
#: travel beside them, as the tight loop's next argument (see
#: ``Runner.fire_event``), rather than in options made for each such fire.
ARGUMENTS_ONLY: Final[FireOptions] = FireOptions()


@attrs.define
class RunSettings:
    """
    What the dispatcher's configuration says about running fires; the
    dispatcher owns it and changes it (monitors come and go).

    :ivar fail_fast: whether handler failures are fatal by default.
    :ivar handler_timeout: seconds any handler may take; None for no limit.
    :ivar max_depth: how deep follow-ups of follow-ups may nest.
    :ivar clock: what durations and timeouts are measured with.
    :ivar in_thread: runs a threaded handler: ``(fn, args, kwargs)``.
    :ivar reactor: the reactor the dispatcher was given, or None.
    :ivar unmet: ``"warn"`` or ``"error"``: what a fire does when a handler
        requires one that is not registered (see ``EventDispatcher``).
    :ivar globals: the dispatcher's global namespace.
    """

    fail_fast: bool
    handler_timeout: float | None
    max_depth: int
    clock: Callable[[], IReactorTime]
    in_thread: Callable[[Callable[..., object], tuple[object, ...], dict[str, object]], Deferred[object]]
    reactor: object | None = None
    unmet: str = "warn"
    globals: dict[str, object] = attrs.Factory(dict)


def _log_failure(failure: Failure, handler_id: HandlerId, event: object) -> None:
    _log.failure(
        "Handler {handler_id!r} failed in phase {phase!r} of event {shown_event}",
        failure,
        LogLevel.error,
        handler_id=handler_id,
        phase=handler_id.phase,
        event=event,
        shown_event=brief(event),
    )


#: What the tight loop found it cannot do: call this handler (it needs the
#: general loop), rather than adopt an answer.
TO_CALL: Final = object()


class Host(Protocol):
    """
    What a run is given by whoever runs it (the runner): the registry, the
    settings, where it is in flight, and how to run a follow-up event.

    :ivar waiting: the fires a run carries, in the order they began; a run
        adds itself when made and removes itself when over.
    :ivar after: told that a fire is over (with its result) or that a run
        began to wait (with None), while the layer above asks to be.
    """

    registry: Registry
    settings: RunSettings
    waiting: dict[FireResult, Run]
    after: Callable[[FireResult | None], None] | None
    #: The plain fire whose handlers are being called, if any.
    calling: FireResult | None
    #: While a run with monitors calls a handler: its fire, and ``calling`` then.
    making: tuple[FireResult, FireResult | None] | None

    def drive(self, awaitable: Awaitable[object]) -> Deferred[object]:
        """
        A Deferred for a coroutine (or asyncio future) a handler answered.
        """
        ...

    def follow_up(
        self, event: object, details: dict[str, object], depth: int, cause: FireResult
    ) -> Deferred[FireResult]:
        """
        Run a follow-up event of ``depth``, which a handler of ``cause`` queued.
        """
        ...

    def check_follow_up(self, event: object, details: dict[str, object], depth: int) -> None:
        """
        Refuse a follow-up that nests too deep or carries bad details.
        """
        ...


#: A handler a run waits for: the record slot its outcome goes to, its
#: registration, since when it has been awaited, and its position in the phase.
_Pending = tuple[int, Registration, float, int]


@final
class Run:
    """
    One fire in the general loop (see the module docstring).
    """

    __slots__ = (
        "before",
        "began",
        "cancelled",
        "current",
        "deferred",
        "depth",
        "done",
        "failure",
        "fatal",
        "first_result",
        "follow_up",
        "handlers",
        "last_phase",
        "ledger",
        "looping",
        "monitors",
        "now",
        "pending",
        "phase",
        "phase_began",
        "registry",
        "result",
        "runner",
        "sequential",
        "settings",
        "state",
        "stopped",
        "timers",
        "unstarted",
        "watermark",
    )

    def __init__(
        self,
        runner: Host,
        result: FireResult,
        watermark: int,
        depth: int,
        options: FireOptions,
        monitors: Monitors | None,
    ) -> None:
        self.runner = runner
        self.registry = runner.registry
        self.settings = settings = runner.settings
        self.result = result
        self.watermark = watermark
        self.depth = depth
        self.ledger = options.ledger
        self.first_result = options.first_result
        self.monitors = monitors
        self.now = settings.clock().seconds
        self.began = self.now()
        # The phase being run (None between phases), the last one entered,
        # and the phase's handlers in start order.
        self.phase: PhaseHandlers[Registration] | None = None
        self.last_phase: PhaseHandlers[Registration] | None = None
        self.handlers: Sequence[Registration] = ()
        self.before: list[frozenset[int]] | None = None
        self.unstarted: deque[int] = deque()
        self.done: set[int] = set()
        self.current = -1
        self.phase_began = 0.0
        self.sequential = False
        # What the run waits for: each Deferred with where its outcome goes.
        self.pending: dict[Deferred[object], _Pending] = {}
        # Timeouts in use: each awaited Deferred's timer and its timeout
        # (the timer None once it went off).
        self.timers: dict[Deferred[object], tuple[IDelayedCall | None, float]] | None = None
        self.looping = False
        self.cancelled = False
        self.stopped = False
        self.fatal: list[tuple[HandlerId, Failure]] = []
        self.failure: Failure | None = None
        self.state: EventState | None = None
        self.deferred: Deferred[FireResult] | None = None
        # The follow-up event being dispatched, while it runs.
        self.follow_up: Deferred[FireResult] | None = None
        runner.waiting[result] = self

    # Beginning, and taking over from the tight loop

    def begin(self) -> Deferred[FireResult]:
        """
        Run the fire from its first phase; return its Deferred.
        """
        if self.monitors is not None and not self.monitors.fire_started(self.result):
            self.monitors = None  # the only monitor wants nothing more of this fire
        return self.proceed()

    def take_over(
        self,
        phase: PhaseHandlers[Registration],
        plan: Plan[Registration],
        registration: Registration,
        answer: object,
        times: tuple[float, float, float] | None,
    ) -> None:
        """
        Carry on ``phase``, which the tight loop was running in the order of
        ``plan``: it was at ``registration``, which it still has to call
        (``answer`` is ``TO_CALL``) or which answered ``answer``.  The
        handlers before it have finished (or were skipped), and monitors
        have heard of the fire and the phase starting; ``times`` says when
        the fire, the phase and that handler's call began.
        """
        since = 0.0
        if times is not None:
            self.began, self.phase_began, since = times
        self._enter(phase, plan, told=True)
        at = list(plan.handlers).index(registration)
        for position in range(at):
            self.unstarted.remove(position)
            self.done.add(position)
        if answer is TO_CALL:
            return
        self.unstarted.remove(at)
        self.current = at
        if self.before is not None:
            self.done.add(at)
        self.adopt(registration, answer, since)

    def proceed(self) -> Deferred[FireResult]:
        """
        Run as far as possible; return the fire's Deferred (already fired if
        it finished now).
        """
        if self._advance() and self._follow_ups():
            self._finish()
            self._finished()
            if self.failure is not None:
                return fail(self.failure)
            return succeed(self.result)
        self.deferred = Deferred(self._cancel)
        self._went_idle()
        return self.deferred

    def _went_idle(self) -> None:
        after = self.runner.after
        if after is not None:
            after(None)

    def _resume(self) -> None:
        if self._advance() and self._follow_ups():
            self._deliver()
        else:
            self._went_idle()

    def _finish(self) -> None:
        """
        The fire is over: no follow-up can join it any more (those queued,
        after a fatal failure or a cancellation, are reported as dropped),
        and it is not in flight.
        """
        if self.state is not None:
            self.state.finished = True
            self.state.drop_follow_ups()
        del self.runner.waiting[self.result]
        if self.monitors is not None:
            failure = self.failure
            if failure is None and self.cancelled:  # as the fire's Deferred fails (see _cancel)
                failure = Failure(FireCancelled(self.result))
            self.monitors.fire_finished(self.result, failure, self.now() - self.began)

    def _finished(self) -> None:
        """
        Tell the layer above that the fire is over.
        """
        after = self.runner.after
        if after is not None:
            after(self.result)

    def _deliver(self) -> None:
        self._finish()
        deferred = self.deferred
        if deferred is not None and not self.cancelled:
            if self.failure is not None:
                deferred.errback(self.failure)
            else:
                deferred.callback(self.result)
        self._finished()

    # Phases

    def _advance(self) -> bool:
        """
        Start what may start now.  Return True once every phase is done.
        """
        self.looping = True
        try:
            while True:
                if self.phase is None and not self._next_phase():
                    return True
                if not self._start_ready() or self.pending:
                    return False
                self._end_phase()
        finally:
            self.looping = False

    def _next_phase(self) -> bool:
        if self.cancelled or self.fatal or self.stopped or self.failure is not None:
            return False
        details = self.result.details
        for phase in self.registry.live:
            if phase.position <= self.current_position:
                continue
            found = phase.lookup(details)
            if found:
                self._enter(phase, phase.start_order(found))
                return True
        return False

    @property
    def current_position(self) -> int:
        """
        The position of the phase being run (or last run); -1 before the first.
        """
        return -1 if self.last_phase is None else self.last_phase.position

    def _enter(
        self, phase: PhaseHandlers[Registration], plan: Plan[Registration], told: bool = False
    ) -> None:
        self.phase = self.last_phase = phase
        self.handlers = plan.handlers
        self.before = plan.before
        self.unstarted = deque(range(len(plan.handlers)))
        self.done = set()
        # A first-result fire waits for each answer before starting the next.
        self.sequential = phase.sequential or self.first_result
        if self.monitors is not None and not told:
            self.phase_began = self.now()
            self.monitors.phase_started(self.result, phase.name)
        if plan.unmet:
            self._unmet(phase, plan.unmet)

    def _unmet(
        self, phase: PhaseHandlers[Registration], unmet: Mapping[Registration, frozenset[str]]
    ) -> None:
        """
        Handlers of the phase require handlers that are not registered: warn
        (once for each, until the phase changes) and go on as if the names
        were absent; or, with ``unmet_requirements="error"``, fail the fire
        before the phase starts.
        """
        named = {registration.id: names for registration, names in unmet.items()}
        if self.settings.unmet == "error":
            self.failure = Failure(UnmetRequirementError(phase.name, named))
            self.unstarted.clear()
            return
        for registration, names in unmet.items():
            if (registration, names) in phase.warned:
                continue
            phase.warned.add((registration, names))
            _log.warn(
                "{handler_id!r} must start after (or before) {names} in phase {phase!r}, but no handler "
                "of that phase has such a name: it runs without waiting for it",
                handler_id=registration.id,
                names=", ".join(map(repr, sorted(names))),
                phase=phase.name,
            )

    def _end_phase(self) -> None:
        phase = self.phase
        assert phase is not None
        self.phase = None
        self.before = None
        if self.monitors is not None:
            self.monitors.phase_finished(self.result, phase.name, self.began, self.phase_began)
        if self.fatal:
            self.failure = Failure(HandlerFailed(self.fatal, self.result))

    def _start_ready(self) -> bool:
        """
        Start every handler of the phase that may start now.  Return True
        once all have started.

        In a sequential phase a handler starts once nothing is pending.  In
        a phase with order constraints, the next to start is, among the
        handlers whose required handlers have finished, the one that ranks
        first.
        """
        unstarted = self.unstarted
        while unstarted and not self.cancelled and not self.stopped:
            if self.sequential and self.pending:
                return False
            if self.before is None:
                position = unstarted.popleft()
            else:
                free = self._free()
                if free is None:
                    return False
                unstarted.remove(free)
                position = free
            self._start(position)
        if self.cancelled or self.stopped:
            unstarted.clear()
        return not unstarted

    def _free(self) -> int | None:
        """
        Among the handlers not started whose required handlers have all
        finished, the one that ranks first (priority, then registration);
        None if each waits for one still running.
        """
        assert self.before is not None
        before, done, handlers = self.before, self.done, self.handlers
        free = [position for position in self.unstarted if before[position] <= done]
        if not free:
            return None if self.pending else self.unstarted[0]
        assert self.phase is not None
        rank = self.phase.rank
        return min(free, key=lambda position: rank(handlers[position]))

    # Handlers

    def _start(self, position: int) -> None:
        registration = self.handlers[position]
        self.current = position
        if self.before is not None:
            self.done.add(position)  # until adopt() finds it must wait
        if registration.seq > self.watermark:
            return
        listen_fn = registration.fn
        if listen_fn is None:
            ref = registration.ref
            listen_fn = registration.handler() if ref is None else ref()
            if listen_fn is None:
                self.registry.purge()
                return
        monitors = self.monitors
        since = 0.0
        if monitors is not None:  # monitors are told which fire a fire begun in the handler comes from
            since = self.now()
            runner = self.runner
            making = runner.making
            runner.making = (self.result, runner.calling)
        try:
            try:
                if registration.tuned is None and self.ledger is None:  # a plain call
                    if monitors is not None:
                        monitors.handler_started(self.result, registration.id)
                    value = listen_fn(self.result.event)
                else:
                    result = self.result
                    verdict = self.registry.admit_call(
                        registration, result.event, result.details, self.ledger
                    )
                    if verdict != CALL:
                        if verdict == DONE:
                            result.extras.skipped.append(registration.id)
                        return
                    value = self._call(registration, listen_fn)
            except Exception:
                value = Failure()
            self.adopt(registration, value, since)
        finally:
            if monitors is not None:
                runner.making = making

    def _call(self, registration: Registration, listen_fn: Callable[..., object]) -> object:
        """
        Call a handler (through its concurrency limit, if it has one).
        """
        tuned = registration.tuned
        if tuned is None:
            return self._invoke(registration, listen_fn)
        limiter = tuned.limiter
        if limiter is None:
            return self._invoke(registration, listen_fn)
        place = limiter.acquire()  # a call refused here does not count against times
        if place is None:
            self.registry.count_call(registration)
            return self._released_after(limiter, registration, listen_fn)
        place.addCallback(self._invoke_queued, registration, limiter)
        return place

    def _invoke_queued(self, _: object, registration: Registration, limiter: Limiter) -> object:
        """
        A call queued behind the handler's limit got its turn: make it,
        unless the handler was removed meanwhile (by ``unregister``, or as
        the last call its ``times`` allows started).
        """
        listen_fn = registration.handler()
        if listen_fn is None:
            limiter.release()
            return NOT_RUN
        self.registry.count_call(registration)
        if self.monitors is None:
            return self._released_after(limiter, registration, listen_fn)
        # As _start does: monitors are told that a fire begun in the handler comes from this one.
        runner = self.runner
        making, runner.making = runner.making, (self.result, runner.calling)
        try:
            return self._released_after(limiter, registration, listen_fn)
        finally:
            runner.making = making

    def _released_after(
        self, limiter: Limiter, registration: Registration, listen_fn: Callable[..., object]
    ) -> object:
        """
        Call a handler that holds a place of its limiter, and give the place
        back once the call has finished.
        """
        try:
            value = self._invoke(registration, listen_fn)
        except BaseException:
            limiter.release()
            raise
        kind = KINDS.get(type(value))
        if kind is None:
            kind = kind_of(type(value))
        if kind != WAIT and kind != COROUTINE:
            limiter.release()
            return value
        if kind == COROUTINE:
            deferred = self.runner.drive(cast(Awaitable[object], value))
        else:
            deferred = cast(Deferred[object], value)

        def release(outcome: object) -> object:
            limiter.release()
            return outcome

        return deferred.addBoth(release)

    def _invoke(self, registration: Registration, listen_fn: Callable[..., object]) -> object:
        """
        Call a handler now, as its options say.
        """
        if self.monitors is not None:
            self.monitors.handler_started(self.result, registration.id)
        tuned = registration.tuned
        event = self.result.event
        if tuned is None or not tuned.needs_general_loop:
            return listen_fn(event)
        options = tuned.options
        args: tuple[object, ...] = (event,)
        kwargs: dict[str, object] = {}
        if options.inject:
            args, kwargs = (), self._injected(registration, tuned)
        elif options.pass_context:
            args = (event, EventContext(self.event_state(), registration.id))
        if options.threaded:
            return self.settings.in_thread(listen_fn, args, kwargs)
        return listen_fn(*args, **kwargs)

    def _injected(self, registration: Registration, tuned: Tuned) -> dict[str, object]:
        state = self.event_state()
        namespace = {**state.globals, **state.local_namespace()}
        namespace["event"] = self.result.event
        namespace["context"] = EventContext(state, registration.id)
        missing = [name for name in tuned.required if name not in namespace]
        if missing:
            raise InjectionError(registration.id, missing)
        if tuned.any_keyword:
            return namespace
        return {name: namespace[name] for name in tuned.accepted if name in namespace}

    def event_state(self) -> EventState:
        """
        The per-event state, made on first use.
        """
        if self.state is None:
            runner = self.runner
            self.state = EventState(
                self.result, self.settings.globals, self.depth, runner.check_follow_up, self.result.arguments
            )
        return self.state

    def adopt(self, registration: Registration, value: object, since: float) -> None:
        """
        Take what a handler called at ``since`` answered: record it, or wait for it.
        """
        kind = KINDS.get(type(value))
        if kind is None:
            kind = kind_of(type(value))
        if kind == COROUTINE:
            value = self.runner.drive(cast(Awaitable[object], value))
        elif kind != WAIT:
            self._record(registration, value, None, since)
            return
        waiting, value = settled(value)  # type: ignore[arg-type]
        if waiting is None:
            self._record(registration, value, None, since)
            return
        records = self.result._records
        slot = len(records)
        records.append((registration, PENDING))
        position = self.current
        if self.before is not None:  # the handler is not done yet
            self.done.discard(position)
        self.pending[waiting] = (
            slot,
            registration,
            since if self.monitors is not None else self.now(),
            position,
        )
        tuned = registration.tuned
        timeout = self.settings.handler_timeout if tuned is None else tuned.options.timeout
        if tuned is not None and timeout is None:
            timeout = self.settings.handler_timeout
        if timeout is not None:
            if self.timers is None:
                self.timers = {}
            call = self.settings.clock().callLater(timeout, self._time_out, waiting)
            self.timers[waiting] = (call, timeout)
        waiting.addBoth(self._settle, waiting)

    def _time_out(self, waiting: Deferred[object]) -> None:
        assert self.timers is not None
        _, timeout = self.timers[waiting]
        self.timers[waiting] = (None, timeout)
        self._cancel_handler(waiting)
        entry = self.pending.get(waiting)
        if entry is not None:  # it ignored the cancellation: go on without it
            self._settle(Failure(HandlerTimedOut(entry[1].id, timeout)), waiting)

    def _settle(self, value: object, waiting: Deferred[object]) -> None:
        entry = self.pending.pop(waiting, None)
        if entry is None:
            return  # settled already (it timed out and ignored its cancellation)
        slot, registration, since, position = entry
        if self.before is not None:
            self.done.add(position)
        if self.timers is not None and waiting in self.timers:
            value = self._untimed(waiting, value, slot, registration)
        if self.cancelled and isinstance(value, Failure) and value.check(CancelledError):
            self.result.extras.statuses[slot] = "cancelled"
        if value is None and registration.tuned is None and self.monitors is None and self.ledger is None:
            self.result._records[slot] = (registration, None)  # what _record would do, for less
        else:
            self._record(registration, value, slot, since)
        # Go on when the phase is done, or when a handler may now start (a
        # sequential phase, or one waiting for a handler it requires).
        if not self.looping and (not self.pending or self.unstarted):
            self._resume()

    def _untimed(
        self, waiting: Deferred[object], value: object, slot: int, registration: Registration
    ) -> object:
        """
        An awaited handler with a timeout settled: stop its timer, and make
        a cancellation by its timeout a :class:`HandlerTimedOut`.
        """
        assert self.timers is not None
        call, timeout = self.timers.pop(waiting)
        if call is not None:
            call.cancel()
            return value
        if isinstance(value, Failure):
            if value.check(CancelledError) and not value.check(HandlerTimedOut):
                value = Failure(HandlerTimedOut(registration.id, timeout))
            self.result.extras.statuses[slot] = "timed_out"
        return value

    def _record(self, registration: Registration, value: object, slot: int | None, since: float) -> None:
        records = self.result._records
        if slot is None:
            slot = len(records)
            records.append((registration, PENDING))
        if value is NOT_RUN:
            records[slot] = (registration, NOT_RUN)
            return
        if type(value) is FollowUps:
            value = self._queue_follow_ups(value)
        if self.monitors is not None:
            self._tell_finished(registration, value, slot, since)
        if isinstance(value, Failure):
            value = self._failed(registration, value)
        else:
            if type(value) is Updates:
                options = registration.options
                if options.inject or options.pass_context:
                    self.event_state().apply(value)
            if self.first_result and value is not None:  # pluggy's firstresult: no other handler starts
                self.stopped = True
        records[slot] = (registration, value)
        if self.ledger is not None and not isinstance(value, Failure) and not registration.options.idempotent:
            self.ledger.record(registration.id)

    def _queue_follow_ups(self, answer: FollowUps) -> object:
        """
        Queue the follow-up events a handler answered; what to record for it
        (its answer, or the Failure of a follow-up refused).
        """
        state = self.event_state()
        try:
            for event, details in answer.events:
                state.add_follow_up(event, details)
        except Exception:
            return Failure()
        return answer

    def _tell_finished(self, registration: Registration, value: object, slot: int, since: float) -> None:
        assert self.monitors is not None
        status = self.result._read_extras.statuses.get(slot) if isinstance(value, Failure) else None
        self.monitors.handler_finished(self.result, registration, value, since, status)

    def _failed(self, registration: Registration, failure: Failure) -> object:
        """
        Deal with a handler's failure; return what to record for it.
        """
        if isinstance(failure.value, StopPropagation):
            return self._stop(registration, failure.value)
        if self.cancelled and failure.check(CancelledError):
            return failure
        policy = registration.options.errors
        if self.settings.fail_fast if policy is None else policy == "fail":
            self.fatal.append((registration.id, failure))
        else:
            _log_failure(failure, registration.id, self.result.event)
        return failure

    def _stop(self, registration: Registration, stop: StopPropagation) -> object:
        extras = self.result.extras
        self.stopped = True
        if extras.stopped_by is None:
            extras.stopped_by = registration.id
            if stop.has_value:
                extras.has_value = True
                extras.value = stop.value
                if self.state is not None:
                    self.state.drop_follow_ups()
        return stop.value if stop.has_value else None

    # Follow-up events

    def _follow_ups(self) -> bool:
        """
        Dispatch the queued follow-up events in order.  Return True when all
        are done (now), False when one is still running.
        """
        state = self.state
        while state is not None and state.follow_ups and self.failure is None and not self.cancelled:
            event, details = state.follow_ups.pop(0)
            fired = self.runner.follow_up(event, details, self.depth + 1, self.result)
            if not fired.called:
                self.follow_up = fired
                fired.addBoth(self._follow_up_done, event)
                return False
            fired.addBoth(self._take_follow_up, event)
        return True

    def _take_follow_up(self, outcome: FireResult | Failure, event: object) -> None:
        if isinstance(outcome, FireResult):
            self.result.extras.follow_up_results.append(outcome)
            if outcome._read_extras.has_value:
                self._stopped_in_follow_up(outcome)
        elif outcome.check(FireCancelled) and self.cancelled:
            self.result.extras.follow_up_results.append(outcome.value.result)  # type: ignore[union-attr]
        else:
            self.failure = self._follow_up_failed(outcome, event)

    def _follow_up_failed(self, failure: Failure, event: object) -> Failure:
        """
        A follow-up failed, its handlers' failures being fatal: as when a
        phase of this fire fails, this fire fails with its own report, in
        which the follow-up's report joins the follow-ups (and those not
        dispatched yet are dropped, by :meth:`_finish`).  The error names
        the follow-up's failed handlers.

        A follow-up that failed otherwise (an unmet requirement, say) fails
        this fire with its own error, noted with the follow-up ``event`` and
        the follow-ups that will not be dispatched, since no report of this
        fire goes with it.
        """
        error = failure.value
        if not isinstance(error, HandlerFailed):
            if error is not None:
                error.add_note(self._follow_up_note(event))
            return failure
        self.result.extras.follow_up_results.append(error.result)
        return Failure(HandlerFailed(error.failures, self.result))

    def _stopped_in_follow_up(self, follow_up: FireResult) -> None:
        """
        A handler of a follow-up stopped it with a value (EvProc's rule): the
        value ends this event too, and its follow-ups not dispatched yet are
        dropped (and reported).
        """
        extras = self.result.extras
        if extras.stopped_by is None:
            extras.stopped_by = follow_up.stopped_by
            extras.has_value = True
            extras.value = follow_up.value
        self.stopped = True
        if self.state is not None:
            self.state.drop_follow_ups()

    def _follow_up_note(self, event: object) -> str:
        """
        The note on the error of follow-up ``event``: which it was, and the
        follow-ups queued after it, which will not be dispatched.
        """
        note = f"raised by follow-up event {event!r} of event {self.result.event!r}"
        left = self.state.follow_ups if self.state is not None else ()
        if left:
            note += f"; follow-up events not dispatched: {', '.join(repr(queued) for queued, _ in left)}"
        return note

    def _follow_up_done(self, outcome: FireResult | Failure, event: object) -> None:
        self.follow_up = None
        self._take_follow_up(outcome, event)
        if self._follow_ups():
            self._deliver()

    # Cancellation

    def _cancel(self, deferred: Deferred[FireResult]) -> None:
        """
        Cancel the fire: cancel the handlers still running and the follow-up
        event being dispatched, skip the handlers not started and the
        follow-ups not dispatched, and fail the fire with :class:`FireCancelled`.
        """
        extras = self.result.extras
        extras.never_started.extend(self._not_started())
        extras.cancelled = True
        self.cancelled = True
        if self.state is not None:
            self.state.drop_follow_ups()
        for waiting in list(self.pending):
            self._cancel_handler(waiting)
        for waiting in list(self.pending):  # it ignored the cancellation
            self._settle(Failure(CancelledError()), waiting)
        if self.follow_up is not None:
            self.follow_up.cancel()
        deferred.errback(FireCancelled(self.result))

    def _cancel_handler(self, waiting: Deferred[object]) -> None:
        """
        Cancel the Deferred of a handler the run waits for; a canceller that
        raises is logged, and taken as one that ignores the cancellation.
        """
        entry = self.pending.get(waiting)
        handler = entry[1].id if entry is not None else None
        cancel_answer(waiting, handler, self.result.event)

    def _not_started(self) -> list[HandlerId]:
        """
        The handlers this fire would still start: the rest of this phase's,
        and those matching in later phases.
        """
        missed = [self.handlers[position].id for position in self.unstarted] if self.phase else []
        details = self.result.details
        for phase in self.registry.live:
            if phase.position > self.current_position:
                missed.extend(r.id for r in phase.lookup(details) if r.seq <= self.watermark)
        return missed

    # Introspection

    def describe(self, now: float) -> InFlightEvent:
        """
        This fire, for ``EventDispatcher.in_flight()``.
        """
        phase = self.last_phase.name if self.last_phase is not None else None
        pending = tuple(
            PendingHandler(registration.id, now - since)
            for _, registration, since, _ in self.pending.values()
        )
        result = self.result
        return InFlightEvent(result.event, result.details, phase, now - self.began, pending, result.fire_id)

    def pending_handlers(self) -> list[HandlerId]:
        """
        The handlers this fire waits for.
        """
        return [registration.id for _, registration, _, _ in self.pending.values()]


def describe_calling(result: FireResult) -> InFlightEvent:
    """
    A fire whose handlers are being called right now, for ``in_flight()``.
    """
    return InFlightEvent(result.event, result.details, None, 0.0, (), result.fire_id)
