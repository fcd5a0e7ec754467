# -*- test-case-name: tests.test_dispatcher -*-
"""
L{EventDispatcher}: phases, Deferreds and the lifecycle.

The dispatch loop is written for the common case: when every handler answers
synchronously, a fire builds no Deferred but the one it returns, which has
already fired.  Only a handler that returns an unfired Deferred (or a coroutine
that has not finished) makes the dispatch wait, through a L{_Dispatch}.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from types import CoroutineType
from typing import Final, Literal

from twisted.application.service import Service
from twisted.internet.defer import CancelledError, Deferred, fail, succeed
from twisted.logger import Logger, LogLevel
from twisted.python.failure import Failure
from zope.interface import implementer

from ._errors import (
    DispatcherNotRunning,
    HandlerFailed,
    UnknownHandlerError,
    UnknownPhaseError,
)
from ._matching import SpecIndex, check_hashable, check_keywords, index_key, normalize_spec
from ._registry import Handler, HandlerId, HandlerRef, describe_callable, hold
from ._result import FireResult
from .interfaces import IBackgroundUtility, IEventDispatcher

DEFAULT_PHASES: Final = ("before", "during", "after")

#: Keywords that cannot be match-spec keywords, because
#: C{add_event_handler} takes them as its own arguments.
RESERVED_KEYWORDS: Final = frozenset({"use_weakref"})

_AWAITABLE: Final = (Deferred, CoroutineType)

# What a handler's return value is, by its type.  Deferred is an ABC, so
# isinstance() against it is slow; a dict lookup per call is not.
_PLAIN: Final = 0
_WAIT: Final = 1
_FAILED: Final = 2
_kinds: dict[type, int] = {type(None): _PLAIN, Deferred: _WAIT, CoroutineType: _WAIT, Failure: _FAILED}


def _kind_of(kind: type) -> int:
    """
    Classify a type of handler return value not seen before, and remember it.
    """
    if len(_kinds) > 512:  # dynamically made types: keep the table small
        _kinds.clear()
        _kinds.update({type(None): _PLAIN, Deferred: _WAIT, CoroutineType: _WAIT, Failure: _FAILED})
    found = _WAIT if issubclass(kind, _AWAITABLE) else _FAILED if issubclass(kind, Failure) else _PLAIN
    _kinds[kind] = found
    return found


_PENDING: Final = object()
_log = Logger()
_new_result = object.__new__


def _seq_of(handler_id: HandlerId) -> int:
    return handler_id._seq


def _consume(failure: Failure) -> None:
    """
    Errback that marks a failure as handled: the dispatcher has recorded it.
    """


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


def _check_keywords_allowed(keywords: Iterable[str]) -> frozenset[str]:
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
    return frozenset(checked)


def _check_phases(phases: Sequence[str]) -> tuple[str, ...]:
    checked = _check_names(phases, "phases")
    if not checked:
        raise ValueError("phases must name at least one phase")
    return checked


def _has_failure(records: list[tuple[HandlerId, object]], start: int) -> bool:
    return any(isinstance(value, Failure) for _, value in records[start:])


@implementer(IEventDispatcher, IBackgroundUtility)
class EventDispatcher(Service):
    """
    The event dispatcher: see L{IEventDispatcher} for what it promises.

    It is also a Twisted L{IService}: attach it to a C{MultiService} and
    C{twistd}/C{twist} start and stop it.  It is not thread-safe: call it from
    the reactor thread (see L{twisted_event_dispatcher.blocking} for threads).

    :param allowed_match_spec_keywords: the keywords match-specs and fired
        details may use.
    :param phases: the phase names, in the order they run.
    :param handler_errors: ``"log"`` (the default) to log a failing handler and
        go on; ``"fail"`` to make handler failures fatal to the fire.
    """

    running: bool

    def __init__(
        self,
        allowed_match_spec_keywords: Iterable[str],
        phases: Sequence[str] = DEFAULT_PHASES,
        *,
        handler_errors: Literal["log", "fail"] = "log",
    ) -> None:
        if handler_errors not in ("log", "fail"):
            raise ValueError(f"handler_errors must be 'log' or 'fail', got {handler_errors!r}")
        self._allowed = _check_keywords_allowed(allowed_match_spec_keywords)
        self._phases = _check_phases(phases)
        self._indexes: dict[str, SpecIndex[HandlerId]] = {name: SpecIndex(_seq_of) for name in self._phases}
        self._table = tuple(enumerate(self._indexes.values()))
        # The phases that have handlers: all a fire needs to visit.
        self._live: tuple[tuple[int, SpecIndex[HandlerId]], ...] = ()
        self._fail_fast = handler_errors == "fail"
        self._keyword_tuples: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._last_seq = 0
        self._in_flight: dict[FireResult, None] = {}
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
        match: Mapping[str, object] | None = None,
        use_weakref: bool = True,
    ) -> HandlerId:
        """
        See L{IEventDispatcher.register}.
        """
        if not callable(listen_fn):
            raise TypeError(f"handler must be callable, got {listen_fn!r}")
        index = self._index_for(phase)
        keywords, values = normalize_spec(match or {}, self._allowed)
        keywords = self._keyword_tuples.setdefault(keywords, keywords)
        key = index_key(keywords, values)
        handler_id = HandlerId(phase, keywords, key, describe_callable(listen_fn))
        if self._dead:
            self._purge()
        hold(handler_id, listen_fn, use_weakref, self._dead.append)
        index.add(keywords, key, handler_id)
        self._last_seq = handler_id._seq
        if index.size == 1:
            self._refresh_live()
        return handler_id

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
        index = self._indexes.get(handler_id._phase)
        if index is None or not index.remove(handler_id._keywords, handler_id._key, handler_id):
            raise UnknownHandlerError(handler_id)
        self._forget(index, handler_id)

    def _forget(self, index: SpecIndex[HandlerId], handler_id: HandlerId) -> None:
        handler_id._release()
        if not index.size:
            self._refresh_live()

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
            return self._index_for(phase).items()
        return [handler_id for _, index in self._table for handler_id in index.items()]

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
            if handler_id._ref is not ref:
                continue
            index = self._indexes[handler_id._phase]
            index.remove(handler_id._keywords, handler_id._key, handler_id)
            self._forget(index, handler_id)
            _log.info(
                "Removed {handler_id!r}: its handler was garbage collected "
                "(pass use_weakref=False to keep a handler alive)",
                handler_id=handler_id,
            )

    # Firing

    def fire_event(self, event: object, /, **event_details: object) -> Deferred[FireResult]:
        """
        See L{IEventDispatcher.fire_event}.
        """
        if not self.running:
            return fail(DispatcherNotRunning(event))
        if event_details:
            if not self._allowed.issuperset(event_details):
                check_keywords(event_details, self._allowed, "fired event details")
            try:
                hash(tuple(event_details.values()))
            except TypeError:
                check_hashable(event_details, "fired event details")
                raise
        result = _new_result(FireResult)
        result.event = event
        result.details = event_details
        result._records = []
        in_flight = self._in_flight
        in_flight[result] = None
        dispatch = self._run(result, self._last_seq, 0, None)
        if dispatch is not None:
            return dispatch.deferred
        del in_flight[result]
        if self._drains:
            self._drained(result)
        if self._fail_fast and not result.succeeded:
            return fail(self._fatal(result))
        return succeed(result)

    def _run(
        self, result: FireResult, watermark: int, first: int, dispatch: _Dispatch | None
    ) -> _Dispatch | None:
        """
        Run the phases from position C{first} on.

        Handlers registered after the fire began (C{_seq} above C{watermark})
        are skipped; removed or collected ones have lost their handler.

        :returns: the L{_Dispatch} to wait for if a phase is waiting on a
            handler, else None: every phase is done.
        """
        details = result.details
        event = result.event
        records = result._records
        kinds = _kinds
        fail_fast = self._fail_fast
        for position, index in self._live:
            if position < first:
                continue
            candidates = index.lookup(details) if index.has_groups else index.wild_items()
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
                    kind = _FAILED
                else:
                    kind = kinds.get(type(value))
                    if kind is None:
                        kind = _kind_of(type(value))
                    if kind == _WAIT:
                        waiting, value = _settled(value)
                        if waiting is not None:
                            if dispatch is None:
                                dispatch = _Dispatch(self, result, watermark)
                            dispatch.wait(waiting, handler_id)
                            continue
                        kind = _FAILED if isinstance(value, Failure) else _PLAIN
                if kind == _FAILED:
                    self._handler_failed(value, handler_id, event)
                records.append((handler_id, value))
            if dispatch is not None and dispatch.phase_started(position, phase_start):
                return dispatch
            if fail_fast and _has_failure(records, phase_start):
                break
        return None

    def _handler_failed(self, failure: Failure, handler_id: HandlerId, event: object) -> None:
        if self._fail_fast:
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

    def _fatal(self, result: FireResult) -> HandlerFailed:
        failures = [
            (outcome.handler_id, outcome.failure)
            for outcome in result.failures
            if outcome.failure is not None
        ]
        return HandlerFailed(failures, result)

    def _resume(self, dispatch: _Dispatch) -> None:
        """
        The phase C{dispatch} waited for has finished: go on with the next one.
        """
        result = dispatch.result
        stopped = self._fail_fast and _has_failure(result._records, dispatch.phase_start)
        go_on = not dispatch.cancelled and not stopped
        if go_on and self._run(result, dispatch.watermark, dispatch.position + 1, dispatch) is not None:
            return
        if not dispatch.cancelled:
            if self._fail_fast and not result.succeeded:
                dispatch.deferred.errback(self._fatal(result))
            else:
                dispatch.deferred.callback(result)
        # Only now, so that a stop() waiting for this fire fires after it.
        del self._in_flight[result]
        if self._drains:
            self._drained(result)

    # Lifecycle

    def start(self) -> None:
        """
        See L{IBackgroundUtility.start}.
        """
        self.startService()

    def stop(self) -> Deferred[None]:
        """
        See L{IBackgroundUtility.stop}.
        """
        return self.stopService()

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
        if not self._in_flight:
            return succeed(None)
        drained: Deferred[None] = Deferred()
        self._drains.append((set(self._in_flight), drained))
        return drained

    def _drained(self, result: FireResult) -> None:
        """
        C{result}'s fire has finished: fire the stops that waited only for it.
        """
        still = []
        for waiting_for, drained in self._drains:
            waiting_for.discard(result)
            if waiting_for:
                still.append((waiting_for, drained))
            else:
                drained.callback(None)
        self._drains = still


def _settled(value: object) -> tuple[Deferred[object] | None, object]:
    """
    Look into a handler's Deferred or coroutine.

    :returns: C{(None, outcome)} if it has already finished with C{outcome}
        (a value or a Failure), else C{(deferred, None)} to wait for.
    """
    deferred = value if isinstance(value, Deferred) else Deferred.fromCoroutine(value)  # type: ignore[arg-type]
    # Called and not paused: its callbacks have run, so its result is final.
    if not deferred.called or deferred.paused:
        return deferred, None
    outcome = deferred.result
    if isinstance(outcome, Failure):
        deferred.addErrback(_consume)
    return None, outcome


class _Dispatch:
    """
    The state of a fire that is waiting for a handler.
    """

    __slots__ = (
        "cancelled",
        "deferred",
        "dispatcher",
        "pending",
        "phase_start",
        "position",
        "result",
        "starting",
        "waiting_on",
        "watermark",
    )

    def __init__(self, dispatcher: EventDispatcher, result: FireResult, watermark: int) -> None:
        self.dispatcher = dispatcher
        self.result = result
        self.watermark = watermark
        self.pending = 0
        self.position = 0
        self.phase_start = 0
        self.starting = False
        self.cancelled = False
        self.waiting_on: list[Deferred[object]] = []
        self.deferred: Deferred[FireResult] = Deferred(self._cancel)

    def wait(self, deferred: Deferred[object], handler_id: HandlerId) -> None:
        """
        Wait for a handler's Deferred, keeping its place in the records.
        """
        records = self.result._records
        slot = len(records)
        records.append((handler_id, _PENDING))
        self.pending += 1
        self.starting = True
        self.waiting_on.append(deferred)
        deferred.addBoth(self._settle, slot, handler_id)

    def phase_started(self, position: int, phase_start: int) -> bool:
        """
        Every handler of the phase at C{position}, whose records begin at
        C{phase_start}, has been started: return whether the phase must wait.
        """
        self.starting = False
        self.position = position
        self.phase_start = phase_start
        return self.pending > 0

    def _settle(self, value: object, slot: int, handler_id: HandlerId) -> None:
        self.result._records[slot] = (handler_id, value)
        if isinstance(value, Failure):
            self.dispatcher._handler_failed(value, handler_id, self.result.event)
        self.pending -= 1
        if not self.pending and not self.starting:
            self.waiting_on = []
            self.dispatcher._resume(self)

    def _cancel(self, deferred: Deferred[FireResult]) -> None:
        self.cancelled = True
        for waiting in self.waiting_on:
            waiting.cancel()
