# -*- test-case-name: tests.test_dispatcher -*-
"""
The zope interfaces of C{twisted_event_dispatcher}, and what they promise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from ._registry import Handler, HandlerId
    from ._result import FireResult, HandlerOutcome


class IEventDispatcher(Interface):
    """
    Deliver events to the handlers whose match-spec they satisfy, phase by phase.

    A handler is added for one phase with a match-spec: keyword to value.  An
    event is fired with keyword details.  The handler runs for the event when,
    for every keyword its spec constrains, the details carry that keyword with
    an equal value.  A keyword left out of the spec, or given as ``None``, is a
    wildcard; a handler with no constraints sees every event.

    Phases run in their configured order.  Every matching handler of a phase is
    started, in registration order, and the next phase starts only once each of
    them has finished: a handler may return a plain value, a L{Deferred} or a
    coroutine, and all of them are waited for.

    A failing handler never causes an "Unhandled error in Deferred".  By
    default its failure is logged through C{twisted.logger} and recorded in the
    L{FireResult}, and the other handlers and phases still run.  A dispatcher
    may instead make handler failures fatal: the failing phase still completes,
    later phases do not run, and the fire fails with L{HandlerFailed}.
    """

    allowed_match_spec_keywords = Attribute(
        "The keywords match-specs and fired details may use (a frozenset of str)."
    )
    phases = Attribute("The phase names, in the order they run (a tuple of str).")

    def add_event_handler(
        listen_fn: Handler, phase: str, /, use_weakref: bool = True, **match_spec: object
    ) -> Deferred[HandlerId]:
        """
        Add a handler, to be called with the event object for matching events.

        Arguments are checked at once; the handler takes effect for events
        fired after this call.

        :param listen_fn: called as ``listen_fn(event)``.
        :param phase: one of L{phases}.
        :param use_weakref: hold C{listen_fn} (or, for a bound method, its
            instance) by a weak reference: once it is garbage collected, the
            registration disappears and it is never called again.
        :param match_spec: keyword to required value; ``None`` is a wildcard.
        :returns: a Deferred, already fired, with the handler's L{HandlerId}.
        :raises TypeError: if C{listen_fn} is not callable.
        :raises UnknownPhaseError: for a phase the dispatcher does not have.
        :raises UnknownKeywordError: for a keyword not allowed.
        :raises UnhashableValueError: for a value that cannot be hashed.
        :raises NotWeakReferenceableError: if C{use_weakref} is true and
            C{listen_fn} cannot be weakly referenced.
        """

    def remove_event_handler(handler_id: HandlerId) -> Deferred[None]:
        """
        Remove a handler.  Removal takes effect at once: the handler is not
        started again, not even in a later phase of an event already in flight.
        A call already started is not interrupted.

        :returns: a Deferred firing with None once the handler is gone, or
            failing with L{UnknownHandlerError} if C{handler_id} is not
            registered here (never was, already removed, or its weakly held
            handler was garbage collected).
        """

    def fire_event(event: object, /, **event_details: object) -> Deferred[FireResult]:
        """
        Run the matching handlers of each phase, phase after phase.

        Handlers added while the event is being dispatched do not see it;
        handlers removed meanwhile are not started.  Events in flight are
        independent of each other.  When every handler answers synchronously,
        the returned Deferred has already fired.

        :param event: passed to every matching handler.
        :param event_details: keyword to value, matched against the specs.
        :returns: a Deferred firing with a L{FireResult} once the last phase
            has finished; failing with L{DispatcherNotRunning} if the
            dispatcher is not running (and then no handler was called), or with
            L{HandlerFailed} if handler failures are fatal and one failed.
        :raises UnknownKeywordError: for a keyword not allowed.
        :raises UnhashableValueError: for a value that cannot be hashed.
        """

    def register(
        listen_fn: Handler,
        phase: str,
        /,
        *,
        match: Mapping[str, object] | None = None,
        use_weakref: bool = True,
    ) -> HandlerId:
        """
        Add a handler and return its id at once: the synchronous twin of
        L{add_event_handler}, with the match-spec as a mapping so that any
        keyword can be matched.

        :raises: as L{add_event_handler}.
        """

    def unregister(handler_id: HandlerId) -> None:
        """
        Remove a handler at once: the synchronous twin of L{remove_event_handler}.

        :raises UnknownHandlerError: if C{handler_id} is not registered here.
        """

    def handler_ids(phase: str | None = None) -> list[HandlerId]:
        """
        The ids of the registered handlers, in registration order.

        :param phase: only the handlers of this phase; every phase if None.
        :raises UnknownPhaseError: for a phase the dispatcher does not have.
        """


class IBackgroundUtility(Interface):
    """
    Something that runs in the background between C{start()} and C{stop()}.
    """

    running = Attribute("True between start() and stop().")

    def start() -> None:
        """
        Start accepting work.  Starting a running utility does nothing.
        """

    def stop() -> Deferred[Any]:
        """
        Refuse new work at once, and finish the work in progress.

        :returns: a Deferred firing with None once the work that was in
            progress when C{stop()} was called has finished.
        """


class IDispatchMonitor(Interface):
    """
    Told about every phase and handler call of a dispatcher it was added to
    (C{EventDispatcher.add_monitor}), to export metrics or traces.  Durations
    are in seconds on the dispatcher's clock.  A monitor that raises is
    logged and otherwise ignored: it never changes a dispatch.
    """

    def phase_started(event: object, phase: str) -> None:
        """
        C{event} starts C{phase} (a phase with matching handlers).
        """

    def phase_finished(event: object, phase: str, seconds: float) -> None:
        """
        Every handler of C{phase} has finished for C{event}.
        """

    def handler_started(event: object, handler_id: HandlerId) -> None:
        """
        A handler is about to be called for C{event}.
        """

    def handler_finished(
        event: object, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        """
        A handler finished (or failed, or timed out) for C{event}.
        """
