# -*- test-case-name: tests.test_handler_model -*-
"""
The full dispatch engine: one L{Dispatch} per fire that waits for a handler
or uses the richer handler model (options, ordering, sequential phases,
context, stop, follow-ups, threads).

The dispatcher's own loop handles the plain synchronous case and hands a fire
over to a L{Dispatch} the moment it needs more.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from types import CoroutineType
from typing import TYPE_CHECKING, Final

from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from ._context import EventContext, EventState, StopPropagation, Updates
from ._errors import FireCancelled, HandlerFailed, HandlerTimedOut, InjectionError, OverloadedError
from ._options import Special
from ._ordering import order
from ._registry import Handler, HandlerId
from ._result import PENDING, FireResult, HandlerOutcome

if TYPE_CHECKING:
    from ._dispatcher import EventDispatcher

_AWAITABLE: Final = (Deferred, CoroutineType)

# What a handler's return value is, by its type.  Deferred is an ABC, so
# isinstance() against it is slow; a dict lookup per call is not.
PLAIN: Final = 0
WAIT: Final = 1
FAILED: Final = 2
_KNOWN: Final[dict[type, int]] = {type(None): PLAIN, Deferred: WAIT, CoroutineType: WAIT, Failure: FAILED}
kinds: dict[type, int] = dict(_KNOWN)


def kind_of(kind: type) -> int:
    """
    Classify a type of handler return value not seen before, and remember it.
    """
    if len(kinds) > 512:  # dynamically made types: keep the table small
        kinds.clear()
        kinds.update(_KNOWN)
    found = WAIT if issubclass(kind, _AWAITABLE) else FAILED if issubclass(kind, Failure) else PLAIN
    kinds[kind] = found
    return found


def _consume(failure: Failure) -> None:
    """
    Errback that marks a failure as handled: the dispatcher has recorded it.
    """


def settled(value: object) -> tuple[Deferred[object] | None, object]:
    """
    Look into a handler's Deferred or coroutine.

    :returns: C{(None, outcome)} if it has already finished with C{outcome}
        (a value or a Failure), else C{(deferred, None)} to wait for.
    """
    if type(value) is Deferred or isinstance(value, Deferred):  # isinstance: slow, Deferred is an ABC
        deferred = value
    else:
        deferred = Deferred.fromCoroutine(value)  # type: ignore[arg-type]
    # Called and not paused: its callbacks have run, so its result is final.
    if not deferred.called or deferred.paused:
        return deferred, None
    outcome = deferred.result
    if isinstance(outcome, Failure):
        deferred.addErrback(_consume)
    return None, outcome


class Dispatch:
    """
    A fire in progress: which phase it is in, which handlers it has started
    and waits for, and what it will report.
    """

    __slots__ = (
        "before",
        "began",
        "cancelled",
        "candidates",
        "current",
        "deferred",
        "depth",
        "dispatcher",
        "done",
        "failure",
        "fatal",
        "looping",
        "monitors",
        "now",
        "pending",
        "phase_began",
        "phase_start",
        "position",
        "result",
        "sequential",
        "slot_position",
        "state",
        "timed_out",
        "timers",
        "unstarted",
        "watermark",
    )

    def __init__(self, dispatcher: EventDispatcher, result: FireResult, watermark: int, depth: int) -> None:
        self.dispatcher = dispatcher
        self.result = result
        self.watermark = watermark
        self.depth = depth
        self.position = -1
        self.candidates: Sequence[HandlerId] | None = None
        self.before: list[set[int]] | None = None
        self.unstarted: deque[int] = deque()
        self.done: set[int] = set()
        self.current = -1
        self.phase_start = 0
        self.sequential = False
        # What the fire waits for: each Deferred with the record slot its
        # outcome goes to, its handler, and when it started waiting.
        self.pending: dict[Deferred[object], tuple[int, HandlerId, float]] = {}
        self.looping = False
        self.cancelled = False
        self.fatal: list[tuple[HandlerId, Failure]] = []
        self.slot_position: dict[int, int] = {}
        self.state: EventState | None = None
        self.deferred: Deferred[FireResult] | None = None
        self.failure: Failure | None = None
        self.timers: dict[Deferred[object], IDelayedCall] = {}
        self.timed_out: dict[Deferred[object], float] = {}
        self.phase_began = 0.0
        self.now = dispatcher._clock().seconds
        self.began = self.now()
        self.monitors = dispatcher._monitors
        dispatcher._in_flight[result] = self

    # Taking over from the dispatcher's loop, and finishing.

    def take_over(
        self, position: int, candidates: Sequence[HandlerId], started: int, phase_start: int
    ) -> None:
        """
        Carry on a phase the dispatcher's loop began: C{started} of its
        C{candidates} have been started, their records begin at C{phase_start}.
        """
        self.position = position
        self.candidates = candidates
        self.unstarted = deque(range(started, len(candidates)))
        self.current = started - 1
        self.phase_start = phase_start
        self.sequential = position in self.dispatcher._sequential
        if self.dispatcher._fail_fast:  # failures the loop already met in this phase
            self.fatal = [(h, v) for h, v in self.result._records[phase_start:] if isinstance(v, Failure)]

    def proceed(self) -> Deferred[FireResult]:
        """
        Run as far as possible; return the fire's Deferred (already fired if
        it finished now).
        """
        if self._advance() and self._follow_ups():
            self._close()
            self.dispatcher._finished(self.result)
            if self.failure is not None:
                return fail(self.failure)
            return succeed(self.result)
        self.deferred = Deferred(self._cancel)
        if self.dispatcher._queued_nested:  # waiting now: nested fires may go
            self.dispatcher._release_nested()
        return self.deferred

    def _close(self) -> None:
        """
        No follow-up can join this event any more; those still queued
        (after a fatal failure or a cancellation) are reported as dropped.
        """
        state = self.state
        if state is not None:
            state.finished = True
            state.dropped.extend(state.follow_ups)
            state.follow_ups.clear()

    def _deliver(self) -> None:
        self._close()
        deferred = self.deferred
        if deferred is not None and not self.cancelled:
            if self.failure is not None:
                deferred.errback(self.failure)
            else:
                deferred.callback(self.result)
        self.dispatcher._finished(self.result)

    def _resume(self) -> None:
        if self._advance() and self._follow_ups():
            self._deliver()
        elif self.dispatcher._queued_nested:
            self.dispatcher._release_nested()

    # Phases

    def _advance(self) -> bool:
        """
        Start what may start now.  Return True once every phase is done.
        """
        self.looping = True
        try:
            while True:
                if self.candidates is None and not self._next_phase():
                    return True
                if not self._start_candidates() or self.pending:
                    return False
                self._end_phase()
        finally:
            self.looping = False

    def _next_phase(self) -> bool:
        if self.cancelled or self.fatal or self.stopped:
            return False
        dispatcher = self.dispatcher
        details = self.result.details
        for position, index in dispatcher._live:
            if position <= self.position:
                continue
            found = index.lookup(details) if index.has_groups else index.wild_items()
            if not found:
                continue
            self.position = position
            self._set_candidates(found, position in dispatcher._ordered)
            self.phase_start = len(self.result._records)
            self.sequential = position in dispatcher._sequential
            if self.monitors:
                self.phase_began = self.now()
                self._notify("phase_started", self.result.event, dispatcher._phases[position])
            return True
        return False

    def _notify(self, hook: str, *args: object) -> None:
        """
        Tell every monitor; a failing monitor is logged, never fatal.
        """
        for monitor in self.monitors:
            try:
                getattr(monitor, hook)(*args)
            except Exception:
                self.dispatcher._monitor_failed(monitor, hook)

    def _set_candidates(self, found: Sequence[HandlerId], ordered: bool) -> None:
        candidates = list(dict.fromkeys(found))  # an id filed under several alternatives
        self.before = None
        if ordered:
            positions, before = order(candidates)
            self.candidates = [candidates[p] for p in positions]
            rank = {p: i for i, p in enumerate(positions)}
            self.before = [{rank[b] for b in before[p]} for p in positions]
        else:
            self.candidates = candidates
        self.unstarted = deque(range(len(self.candidates)))
        self.done = set()

    def _end_phase(self) -> None:
        self.candidates = None
        self.before = None
        if self.monitors:
            elapsed = self.now() - self.phase_began
            phase = self.dispatcher._phases[self.position]
            self._notify("phase_finished", self.result.event, phase, elapsed)
        if self.fatal:
            self.failure = Failure(HandlerFailed(self.fatal, self.result))

    @property
    def stopped(self) -> bool:
        """
        Whether a handler has stopped the event.
        """
        return self.state is not None and self.state.stop is not None

    def _start_candidates(self) -> bool:
        """
        Start every handler of the phase that may start now.  Return True
        once all have started.

        In a sequential phase a handler starts once nothing is pending.  In
        an ordered phase, the next to start is, among the handlers whose
        required handlers have finished, the one with the best order key.
        """
        unstarted = self.unstarted
        while unstarted and not self.cancelled and (self.state is None or self.state.stop is None):
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
        The best-ranked handler not started whose required handlers have all
        finished, or None if each waits for one still running.
        """
        assert self.before is not None
        assert self.candidates is not None
        candidates, before, done = self.candidates, self.before, self.done
        free = [position for position in self.unstarted if before[position] <= done]
        if not free:
            return None if self.pending else self.unstarted[0]
        return min(free, key=lambda position: candidates[position].order_key)

    # Handlers

    def _start(self, position: int) -> None:
        assert self.candidates is not None
        handler_id = self.candidates[position]
        self.current = position
        if self.before is not None:  # an ordered phase
            self.done.add(position)  # until adopt() finds it must wait
        if handler_id._seq > self.watermark:
            return
        listen_fn = handler_id._fn
        if listen_fn is None:
            ref = handler_id._ref
            listen_fn = None if ref is None else ref()
        if listen_fn is None:
            self.dispatcher._purge()
            return
        special = handler_id._special
        event = self.result.event
        try:
            if special is None:
                if self.monitors:
                    self._notify("handler_started", event, handler_id)
                value = listen_fn(event)
            else:
                if special.filters and not special.accepts(event, self.result.details):
                    return
                self.dispatcher._take_call(handler_id, special)
                if self.monitors:
                    self._notify("handler_started", event, handler_id)
                value = self._limited(handler_id, special, listen_fn)
        except Exception:
            value = Failure()
        self.adopt(handler_id, value)

    def _limited(self, handler_id: HandlerId, special: Special, listen_fn: Handler) -> object:
        """
        Call a handler with options, through its concurrency limit if it has one.
        """
        limiter = special.limiter
        if limiter is None:
            return self._call_special(handler_id, special, listen_fn)
        options = special.options
        if not limiter.tokens and (
            options.when_full == "error" or len(limiter.waiting) >= options.max_queued
        ):
            raise OverloadedError(handler_id, options.max_concurrent or 0, len(limiter.waiting))
        return limiter.run(self._call_special, handler_id, special, listen_fn)

    def adopt(self, handler_id: HandlerId, value: object) -> None:
        """
        Take what a handler just started returned: record it, or wait for it.
        """
        kind = kinds.get(type(value))
        if kind is None:
            kind = kind_of(type(value))
        if kind == WAIT:
            waiting, value = settled(value)
            if waiting is None:
                self._record(handler_id, value, FAILED if isinstance(value, Failure) else PLAIN, None)
                return
        else:
            self._record(handler_id, value, kind, None)
            return
        records = self.result._records
        slot = len(records)
        records.append((handler_id, PENDING))
        if self.before is not None:  # an ordered phase: the handler is not done yet
            self.done.discard(self.current)
            self.slot_position[slot] = self.current
        self.pending[waiting] = (slot, handler_id, self.now())
        special = handler_id._special
        timeout = special.options.timeout if special is not None else None
        if timeout is None:
            timeout = self.dispatcher._handler_timeout
        if timeout is not None:
            clock = self.dispatcher._clock()
            self.timers[waiting] = clock.callLater(timeout, self._time_out, waiting, timeout)
        waiting.addBoth(self._settle, waiting)

    def _time_out(self, waiting: Deferred[object], timeout: float) -> None:
        del self.timers[waiting]
        self.timed_out[waiting] = timeout
        waiting.cancel()
        if waiting in self.pending:  # it ignored the cancellation: go on without it
            _, handler_id, _ = self.pending[waiting]
            self._settle(Failure(HandlerTimedOut(handler_id, timeout)), waiting)

    def _call_special(self, handler_id: HandlerId, special: Special, listen_fn: Handler) -> object:
        options = special.options
        args: tuple[object, ...] = (self.result.event,)
        kwargs: dict[str, object] = {}
        if options.inject:
            args, kwargs = (), self._injected(handler_id, special)
        elif options.pass_context:
            args = (self.result.event, EventContext(self.event_state(), handler_id))
        if options.threaded:
            return self.dispatcher._in_thread(listen_fn, args, kwargs)
        return listen_fn(*args, **kwargs)

    def _injected(self, handler_id: HandlerId, special: Special) -> dict[str, object]:
        state = self.event_state()
        namespace = {**state.globals, **state.local_namespace()}
        namespace["event"] = self.result.event
        namespace["context"] = EventContext(state, handler_id)
        missing = [name for name in special.required if name not in namespace]
        if missing:
            raise InjectionError(handler_id, missing)
        if special.any_keyword:
            return namespace
        return {name: namespace[name] for name in special.accepted if name in namespace}

    def event_state(self) -> EventState:
        """
        The per-event state, made on first use.
        """
        if self.state is None:
            dispatcher = self.dispatcher
            self.state = EventState(self.result, dispatcher._globals, self.depth, dispatcher._check_follow_up)
            self.result._extra = self.state
        return self.state

    def _settle(self, value: object, waiting: Deferred[object]) -> None:
        entry = self.pending.pop(waiting, None)
        if entry is None:
            return  # settled already (it timed out and ignored its cancellation)
        slot, handler_id, since = entry
        if self.slot_position and slot in self.slot_position:
            self.done.add(self.slot_position.pop(slot))
        if self.timers or self.timed_out:  # timeouts in use
            timer = self.timers.pop(waiting, None)
            if timer is not None:
                timer.cancel()
            timeout = self.timed_out.pop(waiting, None)
            if timeout is not None and isinstance(value, Failure) and value.check(CancelledError):
                value = Failure(HandlerTimedOut(handler_id, timeout))
        if isinstance(value, Failure):
            self._record(handler_id, value, FAILED, slot, since)
        elif self.monitors or handler_id._special is not None:
            self._record(handler_id, value, PLAIN, slot, since)
        else:  # the usual case, where _record would only store it
            self.result._records[slot] = (handler_id, value)
        # Go on when the phase is done, or when a handler may now start (a
        # sequential phase, or one waiting for a handler it requires).
        if not self.looping and (not self.pending or self.unstarted):
            self._resume()

    def _record(
        self, handler_id: HandlerId, value: object, kind: int, slot: int | None, since: float | None = None
    ) -> None:
        if self.monitors:
            self._finished_call(handler_id, value, since)
        if kind == FAILED:
            assert isinstance(value, Failure)
            value = self._failed(handler_id, value)
        elif isinstance(value, Updates):
            special = handler_id._special
            if special is not None and (special.options.inject or special.options.pass_context):
                self.event_state().apply(value)
        records = self.result._records
        if slot is None:
            records.append((handler_id, value))
        else:
            records[slot] = (handler_id, value)

    def _finished_call(self, handler_id: HandlerId, value: object, since: float | None) -> None:
        elapsed = 0.0 if since is None else self.now() - since
        failure = value if isinstance(value, Failure) else None
        outcome = HandlerOutcome(handler_id, handler_id.phase, None if failure else value, failure)
        self._notify("handler_finished", self.result.event, handler_id, outcome, elapsed)

    def _failed(self, handler_id: HandlerId, failure: Failure) -> object:
        """
        Deal with a handler's failure; return what to record for it.
        """
        if isinstance(failure.value, StopPropagation):
            return self._stop(handler_id, failure.value)
        if self.cancelled and failure.check(CancelledError):
            return failure
        special = handler_id._special
        policy = special.options.errors if special is not None else None
        fatal = self.dispatcher._fail_fast if policy is None else policy == "fail"
        if fatal:
            self.fatal.append((handler_id, failure))
        else:
            self.dispatcher._log_failure(failure, handler_id, self.result.event)
        return failure

    def _stop(self, handler_id: HandlerId, stop: StopPropagation) -> object:
        state = self.event_state()
        if state.stop is None:
            state.stop = (handler_id, stop)
            if stop.has_value:
                state.dropped.extend(state.follow_ups)
                state.follow_ups.clear()
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
            fired = self.dispatcher._fire_follow_up(event, details, self.depth + 1)
            if not fired.called:
                fired.addBoth(self._follow_up_done)
                return False
            fired.addBoth(self._take_follow_up)
        return True

    def _take_follow_up(self, outcome: FireResult | Failure) -> None:
        if isinstance(outcome, Failure):
            self.failure = outcome
        else:
            self.event_state().follow_up_results.append(outcome)

    def _follow_up_done(self, outcome: FireResult | Failure) -> None:
        self._take_follow_up(outcome)
        if self._follow_ups():
            self._deliver()

    # Cancellation

    def _cancel(self, deferred: Deferred[FireResult]) -> None:
        """
        Cancel the fire: cancel the handlers still running, skip those not
        started, and fail the fire's Deferred with L{FireCancelled}.
        """
        self.event_state().never_started.extend(self._not_started())
        self.cancelled = True
        for waiting in list(self.pending):
            waiting.cancel()
        for waiting in list(self.pending):  # it ignored the cancellation
            self._settle(Failure(CancelledError()), waiting)
        deferred.errback(FireCancelled(self.result))

    def _not_started(self) -> list[HandlerId]:
        """
        The handlers this fire would still start: the rest of this phase's,
        and those matching in later phases.
        """
        candidates = self.candidates
        missed = [candidates[p] for p in self.unstarted] if candidates is not None else []
        details = self.result.details
        for position, index in self.dispatcher._live:
            if position > self.position:
                found = index.lookup(details) if index.has_groups else index.wild_items()
                missed.extend(h for h in dict.fromkeys(found) if h._seq <= self.watermark)
        return missed

    def pending_handlers(self) -> list[tuple[HandlerId, float]]:
        """
        The handlers this fire waits for, with when each started waiting.
        """
        return [(handler_id, since) for _, handler_id, since in self.pending.values()]
