# -*- test-case-name: tests.test_errors -*-
"""
The exceptions of C{twisted_event_dispatcher}: one small hierarchy.

Every class subclasses L{DispatcherError} and, where a caller would reach for
one, the builtin it specialises, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from ._handle import HandlerId
from ._result import FireResult

__all__ = [
    "DispatcherError",
    "DispatcherNotRunning",
    "EventFinishedError",
    "FireCancelled",
    "FollowUpDepthError",
    "HandlerFailed",
    "HandlerTimedOut",
    "InjectionError",
    "NotWeakReferenceableError",
    "OrderingError",
    "OverloadedError",
    "UnhashableValueError",
    "UnknownHandlerError",
    "UnknownKeywordError",
    "UnknownPhaseError",
    "UnmetRequirementError",
]


class DispatcherError(Exception):
    """
    Base class of every error this package raises; never raised itself.
    """


class UnknownKeywordError(DispatcherError, ValueError):
    """
    A match-spec or a fired event used a keyword the dispatcher does not allow.

    :ivar keywords: the offending keywords, sorted.
    :ivar allowed: the keywords the dispatcher allows, sorted.
    """

    def __init__(self, keywords: Iterable[str], allowed: Iterable[str], where: str) -> None:
        self.keywords = tuple(sorted(keywords))
        self.allowed = tuple(sorted(allowed))
        super().__init__(
            f"unknown keyword(s) {', '.join(map(repr, self.keywords))} in {where}; "
            f"allowed keywords are {self.allowed!r}"
        )


class UnhashableValueError(DispatcherError, TypeError):
    """
    A match-spec or event detail value cannot be hashed, so it cannot be matched.

    :ivar keyword: the keyword whose value is unhashable.
    :ivar value: the value itself.
    """

    def __init__(self, keyword: str, value: object, where: str) -> None:
        self.keyword = keyword
        self.value = value
        super().__init__(
            f"value of keyword {keyword!r} in {where} must be hashable to be matched, "
            f"got {type(value).__name__} {value!r}"
        )


class UnknownPhaseError(DispatcherError, ValueError):
    """
    A handler was added for a phase the dispatcher does not have.

    :ivar phase: the unknown phase.
    :ivar phases: the dispatcher's phases, in order.
    """

    def __init__(self, phase: object, phases: Sequence[str]) -> None:
        self.phase = phase
        self.phases = tuple(phases)
        super().__init__(f"phase {phase!r} is not one of {self.phases!r}")


class NotWeakReferenceableError(DispatcherError, TypeError):
    """
    A handler cannot be held by a weak reference.

    :ivar handler: the callable that was refused.
    """

    def __init__(self, handler: object) -> None:
        self.handler = handler
        super().__init__(
            f"cannot hold {handler!r} by a weak reference; "
            "pass use_weakref=False to keep a strong reference to it"
        )


class UnknownHandlerError(DispatcherError, LookupError):
    """
    A handler id is not registered with this dispatcher (never was, or was
    already removed, or its handler was garbage collected).

    :ivar handler_id: the id that was looked up.
    """

    def __init__(self, handler_id: object) -> None:
        self.handler_id = handler_id
        super().__init__(f"no handler with id {handler_id!r} is registered with this dispatcher")


class DispatcherNotRunning(DispatcherError, RuntimeError):
    """
    An event was fired at a dispatcher that is not running: it was never
    started, or it was stopped.  No handler was called.

    :ivar event: the event that was refused.
    """

    def __init__(self, event: object) -> None:
        self.event = event
        super().__init__(
            f"dispatcher is not running: event {event!r} was refused and no handler was called; "
            "call start() first"
        )


class HandlerFailed(DispatcherError):
    """
    One or more handlers failed on a dispatcher whose handler failures are fatal.

    :ivar failures: ``(handler id, Failure)`` pairs, in the order the handlers
        were started.
    :ivar result: the L{FireResult} of the dispatch, up to and including the
        phase that failed.
    """

    def __init__(self, failures: Sequence[tuple[HandlerId, Failure]], result: FireResult) -> None:
        self.failures = tuple(failures)
        self.result = result
        described = "; ".join(
            f"{handler_id!r}: {failure.getErrorMessage()}" for handler_id, failure in self.failures
        )
        super().__init__(f"{len(self.failures)} handler(s) failed for event {result.event!r}: {described}")


class OrderingError(DispatcherError, ValueError):
    """
    Handlers' C{requires}/C{required_by} constraints form a cycle.

    :ivar phase: the phase whose handlers are in the cycle.
    :ivar cycle: the handler names around the cycle, the first repeated last.
    """

    def __init__(self, phase: str, cycle: Sequence[str]) -> None:
        self.phase = phase
        self.cycle = tuple(cycle)
        super().__init__(
            f"handlers of phase {phase!r} cannot be ordered: {' -> '.join(map(repr, self.cycle))} is a cycle"
        )


class UnmetRequirementError(DispatcherError, LookupError):
    """
    Handlers that an event reached require (``requires``/``required_by``)
    handlers that are not registered in their phase, on a dispatcher made
    with ``unmet_requirements="error"``: the fire fails before that phase.

    :ivar phase: the phase.
    :ivar unmet: each such handler's id, with the names nothing bears.
    """

    def __init__(self, phase: str, unmet: Mapping[HandlerId, frozenset[str]]) -> None:
        self.phase = phase
        self.unmet = dict(unmet)
        described = "; ".join(
            f"{handler_id!r} names {', '.join(map(repr, sorted(names)))}"
            for handler_id, names in self.unmet.items()
        )
        super().__init__(f"handlers of phase {phase!r} require handlers that are not registered: {described}")


class FollowUpDepthError(DispatcherError, RuntimeError):
    """
    Follow-up events of follow-up events nested deeper than the dispatcher allows.

    :ivar event: the follow-up event that was refused.
    :ivar depth: how deep it would have been.
    :ivar limit: the dispatcher's C{max_follow_up_depth}.
    """

    def __init__(self, event: object, depth: int, limit: int) -> None:
        self.event = event
        self.depth = depth
        self.limit = limit
        super().__init__(
            f"follow-up event {event!r} refused: it would be {depth} follow-ups deep, "
            f"and max_follow_up_depth is {limit} (a runaway chain of follow-ups?)"
        )


class InjectionError(DispatcherError, TypeError):
    """
    An injected handler asked for keywords that neither of the event's
    namespaces holds.

    :ivar handler_id: the handler.
    :ivar missing: the keywords it needs and could not be given, sorted.
    """

    def __init__(self, handler_id: HandlerId, missing: Iterable[str]) -> None:
        self.handler_id = handler_id
        self.missing = tuple(sorted(missing))
        super().__init__(
            f"cannot call {handler_id!r}: it needs {', '.join(map(repr, self.missing))}, which neither "
            "the event's local namespace nor the dispatcher's global one holds"
        )


class HandlerTimedOut(DispatcherError, TimeoutError):
    """
    A handler did not finish within its timeout: its Deferred was cancelled
    and its phase went on.

    :ivar handler_id: the handler.
    :ivar timeout: the timeout, in seconds.
    """

    def __init__(self, handler_id: HandlerId, timeout: float) -> None:
        self.handler_id = handler_id
        self.timeout = timeout
        super().__init__(f"{handler_id!r} did not finish within {timeout:g} seconds and was cancelled")


class FireCancelled(DispatcherError, CancelledError):
    """
    A fire was cancelled (by cancelling its Deferred, or by a stop whose
    deadline passed).  A C{CancelledError}, carrying what happened.

    :ivar result: the L{FireResult}: the handlers that ran, those cancelled
        (their outcome failed with C{CancelledError}), and in
        C{never_started} those that never started.
    """

    def __init__(self, result: FireResult) -> None:
        self.result = result
        super().__init__(
            f"fire of {result.event!r} cancelled: {len(result)} handler(s) started, "
            f"{len(result.never_started)} never started"
        )


class OverloadedError(DispatcherError, RuntimeError):
    """
    A concurrency limit was reached and its queue was full (or its policy
    is to refuse at once): the work was refused, not dropped silently.

    :ivar what: what was overloaded (the dispatcher, or a handler's id).
    :ivar limit: how many may run at once.
    :ivar queued: how many were waiting.
    """

    def __init__(self, what: object, limit: int, queued: int) -> None:
        self.what = what
        self.limit = limit
        self.queued = queued
        super().__init__(f"{what!r} is overloaded: {limit} running, {queued} queued; refused")


class EventFinishedError(DispatcherError, RuntimeError):
    """
    A handler asked for a follow-up event after its event had finished
    (through a context it kept): the follow-up cannot join that event.

    :ivar event: the event that had finished.
    :ivar follow_up: the follow-up event that was refused.
    """

    def __init__(self, event: object, follow_up: object) -> None:
        self.event = event
        self.follow_up = follow_up
        super().__init__(
            f"follow-up {follow_up!r} refused: event {event!r} has finished; "
            "fire it with fire_event() instead"
        )
