# -*- test-case-name: tests.test_dispatcher -*-
"""
L{EventDispatcher}: registration, firing and the lifecycle.

The dispatch loop here is written for the common case: plain handlers that
answer synchronously.  Then a fire builds no Deferred but the one it returns,
which has already fired.  A fire that has to wait for a handler, or that uses
the richer handler model, is handed to the engine (L{_engine.Dispatch}).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Literal, TypedDict, Unpack

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorThreads, IReactorTime
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from . import _engine, _flow
from ._context import StopPropagation
from ._engine import FAILED, PLAIN, WAIT
from ._errors import (
    DispatcherNotRunning,
    FollowUpDepthError,
    HandlerFailed,
    UnknownHandlerError,
    UnknownPhaseError,
)
from ._fired import DIRECT
from ._introspection import InFlightEvent, describe_in_flight
from ._matching import SpecIndex, check_details, index_key, normalize_spec
from ._options import (
    AnyOf,
    ErrorPolicy,
    FullPolicy,
    MatchSpec,
    Phase,
    Predicate,
    Special,
    build_options,
    check_limits,
    check_timeout,
    normalize_match,
)
from ._ordering import check_acyclic
from ._registry import Handler, HandlerId, HandlerRef, describe_callable, hold
from ._result import FireResult, new_result
from ._scope import HandlerScope
from .interfaces import IBackgroundUtility, IDispatchMonitor, IEventDispatcher

DEFAULT_PHASES: Final = ("before", "during", "after")

#: Keywords that cannot be match-spec keywords, because
#: C{add_event_handler} takes them as its own arguments.
RESERVED_KEYWORDS: Final = frozenset({"use_weakref"})

_log = Logger()
_new: Final = object.__new__

#: Types whose values are always hashable: fired details of these types need
#: no hashing to be checked.
_HASHABLE: Final = frozenset({str, int, float, bool, bytes, type(None)})

Match = Mapping[str, object] | MatchSpec | Sequence[Mapping[str, object] | MatchSpec]


class HandlerOptionsDict(TypedDict, total=False):
    """
    The keyword options of L{EventDispatcher.register}; see L{HandlerOptions}.
    """

    times: int | None
    priority: int
    name: str | None
    requires: str | Iterable[str]
    required_by: str | Iterable[str]
    pass_context: bool
    inject: bool
    errors: ErrorPolicy | None
    threaded: bool
    timeout: float | None
    max_concurrent: int | None
    max_queued: int
    when_full: FullPolicy


class RegisterArguments(HandlerOptionsDict, total=False):
    """
    Every keyword argument of L{EventDispatcher.register}, for callers that
    pass them on (L{HandlerScope.register}).
    """

    match: Match | None
    where: Predicate | Iterable[Predicate] | None
    use_weakref: bool


def _seq_of(handler_id: HandlerId) -> int:
    return handler_id._seq


def _check_names(names: Iterable[str], what: str) -> tuple[str, ...]:
    if isinstance(names, (str, bytes)):
        raise TypeError(f"{what} must be a sequence of names, not the single string {names!r}")
    checked = tuple(names)
    for name in checked:
        if not isinstance(name, str):
            raise TypeError(f"{what} must be strings, got {type(name).__name__} {name!r}")
    if len(set(checked)) != len(checked):
        repeated = sorted({name for name in checked if checked.count(name) > 1})
        raise ValueError(f"{what} must be distinct, got {repeated!r} more than once")
    return checked


def _check_keywords_allowed(keywords: Iterable[str]) -> tuple[str, ...]:
    checked = _check_names(keywords, "allowed_match_spec_keywords")
    bad = [keyword for keyword in checked if not keyword.isidentifier()]
    if bad:
        raise ValueError(f"allowed_match_spec_keywords must be Python identifiers, got {bad!r}")
    reserved = RESERVED_KEYWORDS.intersection(checked)
    if reserved:
        raise ValueError(
            f"{sorted(reserved)!r} cannot be a match-spec keyword: "
            "add_event_handler takes it as its own argument"
        )
    return checked


def _check_phases(phases: Sequence[str | Phase]) -> tuple[tuple[str, ...], frozenset[int]]:
    if isinstance(phases, (str, bytes)):
        raise TypeError(f"phases must be a sequence of names, not the single string {phases!r}")
    declared = [phase if isinstance(phase, Phase) else Phase(phase) for phase in phases]
    names = _check_names([phase.name for phase in declared], "phases")
    if not names:
        raise ValueError("phases must name at least one phase")
    return names, frozenset(position for position, phase in enumerate(declared) if phase.sequential)


def _cancel_call(outcome: object, call: IDelayedCall) -> object:
    if call.active():
        call.cancel()
    return outcome


def _has_failure(records: list[tuple[HandlerId, object]], start: int) -> bool:
    return any(isinstance(value, Failure) for _, value in records[start:])


def _is_plain(match: Match | None, where: object, options: HandlerOptionsDict) -> bool:
    """
    Whether a registration needs nothing beyond a one-alternative keyword spec.
    """
    if options or where is not None:
        return False
    if match is None:
        return True
    if type(match) is not dict and not isinstance(match, Mapping):  # dict first: Mapping is an ABC
        return False
    for value in match.values():  # noqa: SIM110 (a plain loop: no generator to make per call)
        if type(value) is AnyOf:
            return False
    return True


@implementer(IEventDispatcher, IBackgroundUtility)
class EventDispatcher(Service):
    """
    The event dispatcher: see L{IEventDispatcher} for what it promises.

    It is also a Twisted L{IService}: attach it to a C{MultiService} and
    C{twistd}/C{twist} start and stop it.  It is not thread-safe: call it from
    the reactor thread (see L{twisted_event_dispatcher.blocking} for threads).

    :param allowed_match_spec_keywords: the keywords match-specs and fired
        details may use.
    :param phases: the phases, in the order they run: names, or L{Phase}
        for a phase with options (a sequential phase).
    :param handler_errors: ``"log"`` (the default) to log a failing handler and
        go on; ``"fail"`` to make handler failures fatal to the fire.
    :param max_follow_up_depth: how deep follow-up events of follow-up
        events may nest before one is refused.
    :param reactor: the reactor whose thread pool runs threaded handlers;
        the global reactor if None (imported only when first needed).
    :param clock: what timeouts and durations are measured with; the
        reactor if None.  Tests pass a L{twisted.internet.task.Clock}.
    :param handler_timeout: seconds any handler may take before it is
        cancelled and reported as timed out; None for no limit.
    :param max_in_flight: how many events may be in flight at once; None
        for no limit.
    :param max_queued_events: how many fires may wait for a place when
        C{max_in_flight} is reached and C{when_full} is C{"wait"}.
    :param when_full: at C{max_in_flight}: C{"wait"} (queue, up to
        C{max_queued_events}, then refuse) or C{"error"} (refuse at once);
        refused fires fail with L{OverloadedError}.
    :param nested: a fire made while a handler runs: C{"immediate"}
        (dispatched at once, inside the handler) or C{"queue"} (dispatched
        once the current event has finished or is waiting for a handler).
    """

    def __init__(
        self,
        allowed_match_spec_keywords: Iterable[str],
        phases: Sequence[str | Phase] = DEFAULT_PHASES,
        *,
        handler_errors: Literal["log", "fail"] = "log",
        max_follow_up_depth: int = 16,
        reactor: IReactorThreads | None = None,
        clock: IReactorTime | None = None,
        handler_timeout: float | None = None,
        max_in_flight: int | None = None,
        max_queued_events: int = 1000,
        when_full: FullPolicy = "wait",
        nested: Literal["immediate", "queue"] = "immediate",
    ) -> None:
        if handler_errors not in ("log", "fail"):
            raise ValueError(f"handler_errors must be 'log' or 'fail', got {handler_errors!r}")
        if not isinstance(max_follow_up_depth, int) or max_follow_up_depth < 0:
            raise ValueError(f"max_follow_up_depth must be a whole number >= 0, got {max_follow_up_depth!r}")
        check_limits(handler_timeout, max_in_flight, max_queued_events, when_full)
        if nested not in ("immediate", "queue"):
            raise ValueError(f"nested must be 'immediate' or 'queue', got {nested!r}")
        self._handler_timeout = handler_timeout
        self._max_in_flight = max_in_flight
        self._max_queued_events = max_queued_events
        self._when_full = when_full
        self._nested = nested
        self._gated = max_in_flight is not None or nested == "queue"
        self._fail_fast = handler_errors == "fail"
        self._running = False
        self._nested_override: Literal["immediate", "queue"] | None = None
        self._held: deque[tuple[object, dict[str, object], Deferred[FireResult]]] = deque()
        self._queued_nested: list[tuple[object, dict[str, object], Deferred[FireResult]]] = []
        self._monitors: tuple[IDispatchMonitor, ...] = ()
        self._time = clock
        self._allowed = frozenset(_check_keywords_allowed(allowed_match_spec_keywords))
        self._phases, self._sequential = _check_phases(phases)
        self._indexes: dict[str, SpecIndex[HandlerId]] = {name: SpecIndex(_seq_of) for name in self._phases}
        self._table = tuple(enumerate(self._indexes.values()))
        # The phases that have handlers: all a fire needs to visit.
        self._live: tuple[tuple[int, SpecIndex[HandlerId]], ...] = ()
        self._max_depth = max_follow_up_depth
        self._reactor = reactor
        self._keyword_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._last_seq = 0
        # Registrations with options, and those that order their phase.
        self._specials: set[HandlerId] = set()
        self._ordering: dict[str, set[HandlerId]] = {name: set() for name in self._phases}
        # Per phase, the names its handlers' constraints refer to: a handler
        # bearing one of them may close a cycle, even without constraints.
        self._referenced: dict[str, frozenset[str]] = {name: frozenset() for name in self._phases}
        self._ordered: frozenset[int] = frozenset()
        self._globals: dict[str, object] = {}
        self._refresh_advanced()
        # The events in flight: those the engine dispatches, and the chain
        # (through FireResult._outer) of those whose handlers the plain loop
        # is calling right now, the innermost first.
        self._in_flight: dict[FireResult, _engine.Dispatch] = {}
        self._calling: FireResult | None = None
        self._drains: list[tuple[set[FireResult], Deferred[None]]] = []
        # Weak references whose handler was garbage collected.  The weakref
        # callback only appends here (atomic, and safe in any thread or in the
        # middle of an index update); the dispatcher purges them itself.
        self._dead: deque[HandlerRef] = deque()
        self.running = False

    @property
    def allowed_match_spec_keywords(self) -> frozenset[str]:
        """
        The keywords match-specs and fired details may use.
        """
        return self._allowed

    @property
    def phases(self) -> tuple[str, ...]:
        """
        The phase names, in the order they run.
        """
        return self._phases

    @property
    def namespace(self) -> dict[str, object]:
        """
        The dispatcher's global namespace: kept for its lifetime, seen by
        handlers through their context or injected keywords.
        """
        return self._globals

    def allow_keywords(self, *keywords: str) -> None:
        """
        Allow more match-spec keywords.  Handlers already registered do not
        constrain them, so they treat them as wildcards.

        :raises ValueError: for a keyword that is not a Python identifier or
            that C{add_event_handler} reserves.
        """
        self._allowed = self._allowed.union(_check_keywords_allowed(keywords))

    def scoped(self) -> HandlerScope:
        """
        A scope whose handlers are all removed when it exits: use it as a
        context manager, synchronous or asynchronous.
        """
        return HandlerScope(self)

    def _refresh_advanced(self) -> None:
        # Whether fires need the engine from the start: a plain attribute,
        # cheap to test on every fire.
        self._advanced = bool(self._specials or self._sequential or self._monitors)
        self._refresh_plain()

    def _refresh_plain(self) -> None:
        # Whether a fire may take the plain path: running, not held back,
        # not failing fast, and with no handler that needs the engine.
        self._plain = self._running and not self._gated and not self._advanced and not self._fail_fast

    @property  # type: ignore[override]  # Service's is an int attribute
    def running(self) -> bool:
        """
        Whether the dispatcher accepts events (L{IService}).
        """
        return self._running

    @running.setter
    def running(self, value: bool) -> None:
        self._running = bool(value)
        self._refresh_plain()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EventDispatcher {state} phases={self._phases!r} keywords={sorted(self._allowed)!r}>"

    # Registration

    def register(
        self,
        listen_fn: Handler,
        phase: str,
        /,
        *,
        match: Match | None = None,
        where: Predicate | Iterable[Predicate] | None = None,
        use_weakref: bool = True,
        **options: Unpack[HandlerOptionsDict],
    ) -> HandlerId:
        """
        See L{IEventDispatcher.register}.
        """
        if not callable(listen_fn):
            raise TypeError(f"handler must be callable, got {listen_fn!r}")
        index = self._index_for(phase)
        if self._dead:
            self._purge()
        if not _is_plain(match, where, options):
            return self._register_special(listen_fn, phase, index, match, where, use_weakref, options)
        keywords, values = normalize_spec(match or {}, self._allowed)  # type: ignore[arg-type]
        keywords = self._keyword_tuples.setdefault(keywords, keywords)
        key = index_key(keywords, values)
        handler_id = HandlerId(phase, keywords, key, describe_callable(listen_fn))
        if handler_id._label in self._referenced[phase]:
            self._check_order(phase, handler_id)
        hold(handler_id, listen_fn, use_weakref, self._dead.append)
        index.add(keywords, key, handler_id)
        self._last_seq = handler_id._seq
        if index.size == 1:
            self._refresh_live()
        return handler_id

    def _register_special(
        self,
        listen_fn: Handler,
        phase: str,
        index: SpecIndex[HandlerId],
        match: Match | None,
        where: Predicate | Iterable[Predicate] | None,
        use_weakref: bool,
        options: HandlerOptionsDict,
    ) -> HandlerId:
        handler_options = build_options(**options)
        alternatives = normalize_match(match, where, self._allowed)
        filings: dict[tuple[tuple[str, ...], object], None] = {}
        for alternative in alternatives:
            keywords = self._keyword_tuples.setdefault(alternative.keywords, alternative.keywords)
            for combination in alternative.filings:
                filings[(keywords, index_key(keywords, combination))] = None
        special = Special(handler_options, alternatives, list(filings), listen_fn)
        handler_id = HandlerId(phase, (), (), describe_callable(listen_fn))
        handler_id._special = special
        if handler_options.ordered or handler_id.name in self._referenced[phase]:
            self._check_order(phase, handler_id)
        hold(handler_id, listen_fn, use_weakref, self._dead.append)
        self._specials.add(handler_id)
        self._refresh_advanced()
        if handler_options.ordered:
            self._ordering[phase].add(handler_id)
            self._refresh_ordered()
        self._file(index, handler_id, special.filings)
        return handler_id

    def _check_order(self, phase: str, new: HandlerId) -> None:
        """
        Refuse C{new} if its constraints close a cycle among the phase's
        handlers (a scan of the phase, made only for handlers with constraints).
        """
        check_acyclic([*dict.fromkeys(self._indexes[phase].items()), new], phase)

    def _refresh_ordered(self) -> None:
        self._ordered = frozenset(
            position for position, name in enumerate(self._phases) if self._ordering[name]
        )
        self._referenced = {
            phase: frozenset(name for h in handlers for name in h.requires | h.required_by)
            for phase, handlers in self._ordering.items()
        }

    def _file(
        self,
        index: SpecIndex[HandlerId],
        handler_id: HandlerId,
        filings: list[tuple[tuple[str, ...], object]],
    ) -> None:
        for keywords, key in filings:
            index.add(keywords, key, handler_id)
        self._last_seq = handler_id._seq
        if index.size == len(filings):
            self._refresh_live()

    def add_event_handler(
        self, listen_fn: Handler, phase: str, /, use_weakref: bool = True, **match_spec: object
    ) -> Deferred[HandlerId]:
        """
        See L{IEventDispatcher.add_event_handler}.
        """
        return succeed(self.register(listen_fn, phase, match=match_spec, use_weakref=use_weakref))

    def unregister(self, handler_id: HandlerId) -> None:
        """
        See L{IEventDispatcher.unregister}.
        """
        if not isinstance(handler_id, HandlerId):
            raise UnknownHandlerError(handler_id)
        if self._dead:
            self._purge()
        if not self._unfile(handler_id):
            raise UnknownHandlerError(handler_id)

    def _unfile(self, handler_id: HandlerId) -> bool:
        """
        Remove a registration from the index; return whether it was there.
        """
        index = self._indexes.get(handler_id._phase)
        if index is None:
            return False
        special = handler_id._special
        if special is None:
            if not index.remove(handler_id._keywords, handler_id._key, handler_id):
                return False
        else:
            if handler_id not in self._specials:
                return False
            for keywords, key in special.filings:
                index.remove(keywords, key, handler_id)
            self._specials.discard(handler_id)
            self._refresh_advanced()
            ordering = self._ordering[handler_id._phase]
            if handler_id in ordering:
                ordering.discard(handler_id)
                self._refresh_ordered()
        handler_id._release()
        if not index.size:
            self._refresh_live()
        return True

    def _refresh_live(self) -> None:
        self._live = tuple((position, index) for position, index in self._table if index.size)

    def remove_event_handler(self, handler_id: HandlerId) -> Deferred[None]:
        """
        See L{IEventDispatcher.remove_event_handler}.
        """
        try:
            self.unregister(handler_id)
        except UnknownHandlerError:
            return fail()
        return succeed(None)

    def handler_ids(self, phase: str | None = None) -> list[HandlerId]:
        """
        See L{IEventDispatcher.handler_ids}.
        """
        if self._dead:
            self._purge()
        if phase is not None:
            return list(dict.fromkeys(self._index_for(phase).items()))
        return [handler_id for _, index in self._table for handler_id in dict.fromkeys(index.items())]

    def _index_for(self, phase: str) -> SpecIndex[HandlerId]:
        try:
            index = self._indexes.get(phase)
        except TypeError:
            index = None
        if index is None:
            raise UnknownPhaseError(phase, self._phases)
        return index

    def _purge(self) -> None:
        """
        Forget the registrations whose weakly held handler was garbage collected.
        """
        dead = self._dead
        while dead:
            ref = dead.popleft()
            handler_id = ref.handler_id
            if handler_id._ref is ref and self._unfile(handler_id):
                _log.info(
                    "Removed {handler_id!r}: its handler was garbage collected "
                    "(pass use_weakref=False to keep a handler alive)",
                    handler_id=handler_id,
                )

    def _take_call(self, handler_id: HandlerId, special: Special) -> None:
        """
        A handler with options is about to be called: count its calls, and
        remove it when this is its last.
        """
        if special.remaining is not None:
            special.remaining -= 1
            if not special.remaining:
                self._unfile(handler_id)

    # Firing

    def fire(
        self,
        event: object,
        /,
        details: Mapping[str, object] | None = None,
        *,
        nested: Literal["immediate", "queue"] | None = None,
    ) -> Deferred[FireResult]:
        """
        Fire an event with its details as a mapping: the twin of
        L{fire_event} that takes options.

        :param nested: for this fire, overrides the dispatcher's C{nested}
            policy.
        :raises ValueError: for an unknown C{nested} policy.
        """
        if nested is None:
            return EventDispatcher.fire_event(self, event, **(details or {}))
        if nested not in ("immediate", "queue"):
            raise ValueError(f"nested must be 'immediate' or 'queue', got {nested!r}")
        saved = self._nested_override, self._gated
        self._nested_override, self._gated, self._plain = nested, True, False
        try:
            return EventDispatcher.fire_event(self, event, **(details or {}))
        finally:
            self._nested_override, self._gated = saved
            self._refresh_plain()

    def fire_event(self, event: object, /, **event_details: object) -> Deferred[FireResult]:
        """
        See L{IEventDispatcher.fire_event}.

        The hot path of the library, kept in one function because here a
        Python call costs as much as calling a handler.  It checks the
        details, lets L{_guard} decide the fate of a fire that is not plain,
        then calls each phase's matching handlers in turn for as long as they
        answer synchronously.  When one makes the fire wait, or stops it, the
        engine (L{_engine.Dispatch}) takes over where the loop is.  Handlers
        registered after the fire began (C{_seq} above C{watermark}) are
        skipped; removed or collected ones have lost their handler.
        """
        if event_details:
            allowed = self._allowed
            for keyword in event_details:
                if keyword not in allowed or type(event_details[keyword]) not in _HASHABLE:
                    check_details(event_details, allowed, "fired event details")
                    break
        if not self._plain:
            answer = self._guard(event, event_details)
            if answer is not None:
                return answer
        result = FireResult()
        result.event = event
        result.details = event_details
        records: list[tuple[HandlerId, object]] = []
        result._records = records
        outer = result._outer = self._calling
        self._calling = result
        watermark = self._last_seq
        try:
            for position, index in self._live:
                if index.has_groups:
                    candidates = index.lookup(event_details)
                else:
                    candidates = index._wild_items or index.wild_items()
                if not candidates:
                    continue
                phase_start = len(records)
                for handler_id in candidates:
                    if handler_id._seq > watermark:
                        continue
                    listen_fn = handler_id._fn
                    if listen_fn is None:
                        ref = handler_id._ref
                        if ref is None:
                            continue
                        listen_fn = ref()
                        if listen_fn is None:
                            self._purge()
                            continue
                    kind: int | None
                    try:
                        value = listen_fn(event)
                    except Exception:
                        value = Failure()
                        kind = FAILED
                    else:
                        if value is None:  # the usual answer: nothing to look into
                            records.append((handler_id, None))
                            continue
                        kind = _engine.kinds.get(type(value))
                        if kind is None:
                            kind = _engine.kind_of(type(value))
                        if kind == WAIT:
                            waiting, value = _engine.settled(value)
                            if waiting is not None:
                                at = (position, candidates, handler_id, phase_start)
                                return self._hand_over(result, watermark, at, waiting)
                            kind = FAILED if isinstance(value, Failure) else PLAIN
                    if kind == FAILED:
                        if value.check(StopPropagation):
                            at = (position, candidates, handler_id, phase_start)
                            return self._hand_over(result, watermark, at, value)
                        self._log_failure(value, handler_id, event)
                    records.append((handler_id, value))
                if self._fail_fast and _has_failure(records, phase_start):
                    break
        except BaseException:  # KeyboardInterrupt and the like: not in flight any more
            self._in_flight.pop(result, None)
            raise
        finally:
            self._calling = outer
        if self._drains or self._queued_nested or self._held or self._fail_fast:
            return self._finish(result)
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

    def _guard(self, event: object, event_details: dict[str, object]) -> Deferred[FireResult] | None:
        """
        The fate of a fire on a dispatcher that is not plain: refused when
        stopped, held back at C{max_in_flight}, or dispatched by the engine
        when a handler needs it.  None lets it take the plain path.
        """
        if not self.running:
            return fail(DispatcherNotRunning(event))
        if self._gated:
            held = self._hold(event, event_details)
            if held is not None:
                return held
        if not self._advanced:
            return None
        result = new_result(event, event_details)
        try:
            return _engine.Dispatch(self, result, self._last_seq, 0).proceed()
        except BaseException:  # KeyboardInterrupt and the like: not in flight any more
            self._in_flight.pop(result, None)
            raise

    def _finish(self, result: FireResult) -> Deferred[FireResult]:
        """
        A fire finished synchronously while fires wait on it, or on a
        dispatcher that fails fast.
        """
        self._finished_extra(result)
        if self._fail_fast and not result.succeeded:
            return fail(HandlerFailed(self._failures(result), result))
        return succeed(result)

    def _hand_over(
        self,
        result: FireResult,
        watermark: int,
        at: tuple[int, Sequence[HandlerId], HandlerId, int],
        outcome: object,
    ) -> Deferred[FireResult]:
        """
        Give a fire to the engine, and return what the fire returns.  C{at}
        says where the loop is: the phase's position, its candidates, the
        handler it just started (which returned C{outcome}: a Deferred to
        wait for, or a L{StopPropagation} failure) and where the phase's
        records begin.
        """
        position, candidates, handler_id, phase_start = at
        self._calling = result._outer  # the engine has it in flight from now on
        started = candidates.index(handler_id) + 1
        dispatch = _engine.Dispatch(self, result, watermark, 0)
        dispatch.take_over(position, candidates, started, phase_start)
        dispatch.adopt(handler_id, outcome)
        return dispatch.proceed()

    def _log_failure(self, failure: Failure, handler_id: HandlerId, event: object) -> None:
        if self._fail_fast and handler_id._special is None:
            return
        if failure.check(CancelledError):
            return
        _log.failure(
            "Handler {handler_id!r} failed in phase {phase!r} of event {event!r}",
            failure,
            LogLevel.error,
            handler_id=handler_id,
            phase=handler_id._phase,
            event=event,
        )

    @staticmethod
    def _failures(result: FireResult) -> list[tuple[HandlerId, Failure]]:
        return [(handler_id, value) for handler_id, value in result._records if isinstance(value, Failure)]

    def _check_follow_up(self, event: object, details: dict[str, object], depth: int) -> None:
        if depth > self._max_depth:
            raise FollowUpDepthError(event, depth, self._max_depth)
        if details:
            check_details(details, self._allowed, "follow-up event details")

    def _fire_follow_up(self, event: object, details: dict[str, object], depth: int) -> Deferred[FireResult]:
        """
        Dispatch a follow-up event: part of the event in flight, so it runs
        even if the dispatcher stopped meanwhile.
        """
        result = new_result(event, details)
        return _engine.Dispatch(self, result, self._last_seq, depth).proceed()

    def _in_thread(
        self, listen_fn: Callable[..., object], args: tuple[object, ...], kwargs: dict[str, object]
    ) -> Deferred[object]:
        from twisted.internet.threads import deferToThreadPool

        reactor = self._reactor
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = self._reactor = global_reactor  # type: ignore[assignment]
        assert reactor is not None
        return deferToThreadPool(reactor, reactor.getThreadPool(), listen_fn, *args, **kwargs)

    # Flow control (see _flow)

    def _hold(self, event: object, details: dict[str, object]) -> Deferred[FireResult] | None:
        return _flow.hold(self, event, details)

    def _queue_nested(self, event: object, details: dict[str, object]) -> Deferred[FireResult]:
        return _flow.queue_nested(self, event, details)

    def _release_held(self) -> None:
        _flow.release_held(self)

    def _refuse_held(self) -> None:
        _flow.refuse_held(self)

    def _starting_handlers(self) -> bool:
        return _flow.starting_handlers(self)

    def _release_nested(self) -> None:
        _flow.release_nested(self)

    def _deadline(self, drained: Deferred[None], timeout: float) -> None:
        _flow.deadline(self, drained, timeout)

    def when(self, **match_spec: object) -> Deferred[object]:
        """
        A Deferred that fires with the next event whose details match
        C{match_spec}, when that event reaches the last phase (the other
        handlers of that phase may still be running).  Cancelling it leaves
        no registration behind.

        :raises UnknownKeywordError: for a keyword not allowed.
        :raises UnhashableValueError: for a value that cannot be hashed.
        """
        return _flow.when(self, match_spec)

    # Monitoring and introspection

    def add_monitor(self, monitor: IDispatchMonitor) -> None:
        """
        Tell C{monitor} about every phase and handler call from now on.

        :raises TypeError: if C{monitor} does not provide L{IDispatchMonitor}.
        """
        if not IDispatchMonitor.providedBy(monitor):
            raise TypeError(f"monitor must provide IDispatchMonitor, got {monitor!r}")
        self._monitors = (*self._monitors, monitor)
        self._refresh_advanced()

    def remove_monitor(self, monitor: IDispatchMonitor) -> None:
        """
        Stop telling C{monitor}.

        :raises LookupError: if it was not added.
        """
        if monitor not in self._monitors:
            raise LookupError(f"monitor {monitor!r} was not added to this dispatcher")
        self._monitors = tuple(m for m in self._monitors if m is not monitor)
        self._refresh_advanced()

    def _monitor_failed(self, monitor: object, hook: str) -> None:
        _log.failure("Monitor {monitor!r} failed in {hook}", monitor=monitor, hook=hook, level=LogLevel.error)

    def in_flight(self) -> list[InFlightEvent]:
        """
        The events in flight: for each, its current phase, how long it has
        been in flight, and the handlers it waits for and since when.
        Cheap: it reads what the dispatcher keeps anyway.  Events waiting for
        a handler come first, in the order they started; then those whose
        handlers are being called right now (from inside a handler), the
        outermost first.
        """
        now = self._now()
        return [
            describe_in_flight(result, dispatch, self._phases, now)
            for result, dispatch in self._events_in_flight()
        ]

    def _count_in_flight(self) -> int:
        """
        How many events are in flight: what C{max_in_flight} limits.
        """
        count = len(self._in_flight)
        result = self._calling
        while result is not None:
            count += 1
            result = result._outer
        return count

    def _events_in_flight(self) -> list[tuple[FireResult, _engine.Dispatch | None]]:
        """
        Each event in flight with its engine: first those the engine
        dispatches, in the order they started, then those whose handlers
        are being called right now (which have no engine), outermost first.
        """
        calling = []
        result = self._calling
        while result is not None:
            calling.append((result, None))
            result = result._outer
        return [*self._in_flight.items(), *reversed(calling)]

    def _clock(self) -> IReactorTime:
        clock = self._time
        if clock is None:
            reactor = self._reactor
            if reactor is None:
                from twisted.internet import reactor as global_reactor

                reactor = global_reactor  # type: ignore[assignment]
            clock = self._time = IReactorTime(reactor)
        return clock

    def _now(self) -> float:
        return self._clock().seconds()

    # Lifecycle

    def start(self) -> None:
        """
        See L{IBackgroundUtility.start}.
        """
        self.startService()

    def stop(self, timeout: float | None = None) -> Deferred[None]:
        """
        See L{IBackgroundUtility.stop}.

        :param timeout: seconds to wait for the events in flight; then those
            still running are cancelled (their fires fail with
            L{FireCancelled}), a warning names them and their pending
            handlers, and the returned Deferred fires.
        """
        check_timeout(timeout)
        drained = self.stopService()
        if timeout is not None and not drained.called:
            deadline = self._clock().callLater(timeout, self._deadline, drained, timeout)
            drained.addBoth(_cancel_call, deadline)
        return drained

    def startService(self) -> None:
        """
        Start accepting events (L{IService}).
        """
        Service.startService(self)
        self.running = True

    def stopService(self) -> Deferred[None]:
        """
        Refuse new events, and fire once the events in flight have finished
        (L{IService}).
        """
        Service.stopService(self)
        self.running = False
        self._refuse_held()
        in_flight = {result for result, _ in self._events_in_flight()}
        if not in_flight:
            return succeed(None)
        drained: Deferred[None] = Deferred()
        self._drains.append((in_flight, drained))
        return drained

    def _finished(self, result: FireResult) -> None:
        """
        C{result}'s fire has finished.
        """
        del self._in_flight[result]
        if self._drains or self._held or self._queued_nested:
            self._finished_extra(result)

    def _finished_extra(self, result: FireResult) -> None:
        if self._drains:
            self._drained(result)
        if self._held:
            self._release_held()
        if self._queued_nested:
            self._release_nested()

    def _drained(self, result: FireResult) -> None:
        """
        Fire the stops that waited only for C{result}'s fire.
        """
        still = []
        for waiting_for, drained in self._drains:
            waiting_for.discard(result)
            if waiting_for:
                still.append((waiting_for, drained))
            else:
                drained.callback(None)
        self._drains = still
