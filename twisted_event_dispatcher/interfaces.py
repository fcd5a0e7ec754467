# -*- test-case-name: tests.test_dispatcher -*-
"""
The zope interfaces of ``twisted_event_dispatcher``, and what they promise.

Everything public on :class:`~twisted_event_dispatcher.EventDispatcher` is
promised here: :class:`IEventDispatcher` (handlers and fires),
:class:`IObservableDispatcher` (monitors, the events in flight, waiting for
an event) and :class:`IBackgroundUtility` (start and stop), besides Twisted's
own ``IService``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Unpack

from zope.interface import Attribute, Interface

from ._handle import Handler, HandlerId
from ._introspection import InFlightEvent
from ._options import HandlerOptionsDict, MatchSpec, Predicate
from ._reports import PhaseReport
from ._result import FireResult, HandlerOutcome
from ._scope import HandlerScope

if TYPE_CHECKING:  # names of the outer layers, for signatures only
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

__all__ = [
    "IBackgroundUtility",
    "IDispatchMonitor",
    "IEventDispatcher",
    "IFireMonitor",
    "IHandlerLedger",
    "IObservableDispatcher",
    "IPhaseMonitor",
]


class IEventDispatcher(Interface):
    """
    Deliver events to the handlers whose match-spec they satisfy, phase by phase.

    A handler is added for one phase with a match-spec: keyword to value.  An
    event is fired with keyword details.  The handler runs for the event when,
    for every keyword its spec constrains, the details carry that keyword with
    an equal value.  A keyword left out of the spec, or given as ``None``, is a
    wildcard; a handler with no constraints sees every event.

    Phases run in their configured order.  Every matching handler of a phase is
    started, in registration order (or by priority and order constraints),
    and the next phase starts only once each of them has finished: a handler
    may return a plain value, a ``Deferred`` or a coroutine, and all of them
    are waited for.

    A failing handler never causes an "Unhandled error in Deferred".  By
    default its failure is logged through ``twisted.logger`` and recorded in
    the :class:`~twisted_event_dispatcher.FireResult`, and the other handlers
    and phases still run.  A dispatcher may instead make handler failures
    fatal: the failing phase still completes, later phases do not run, and
    the fire fails with ``HandlerFailed``.
    """

    allowed_match_spec_keywords = Attribute(
        "The keywords match-specs and fired details may use (a frozenset of str)."
    )
    phases = Attribute("The phase names, in the order they run (a tuple of str).")
    namespace = Attribute(
        "The dispatcher's global namespace (a dict): kept for its lifetime, seen by "
        "handlers through their context or injected keywords."
    )

    def add_event_handler(
        listen_fn: Handler, phase: str, /, use_weakref: bool | None = None, **match_spec: object
    ) -> Deferred[HandlerId]:
        """
        Add a handler, to be called with the event object for matching events.

        Arguments are checked at once; the handler takes effect for events
        fired after this call.

        :param listen_fn: called as ``listen_fn(event)``.
        :param phase: one of :attr:`phases`.
        :param use_weakref: how ``listen_fn`` is held.  By default (None) a
            bound method is held by a weak reference to its instance, and
            anything else (a function, a lambda, a ``functools.partial``, a
            callable object) strongly: the registration of a method lasts
            as long as its object, and an inline handler is never lost.
            True holds any handler (or, for a bound method, its instance)
            weakly: once it is garbage collected, the registration
            disappears and it is never called again.  False holds it strongly.
        :param match_spec: keyword to required value; ``None`` is a wildcard.
        :returns: a Deferred, already fired, with the handler's ``HandlerId``.
        :raises TypeError: if ``listen_fn`` is not callable.
        :raises UnknownPhaseError: for a phase the dispatcher does not have.
        :raises UnknownKeywordError: for a keyword not allowed.
        :raises UnhashableValueError: for a value that cannot be hashed.
        :raises NotWeakReferenceableError: if ``use_weakref`` is true and
            ``listen_fn`` cannot be weakly referenced.
        """

    def register(
        listen_fn: Handler,
        phase: str,
        /,
        *,
        match: Mapping[str, object] | MatchSpec | Sequence[Mapping[str, object] | MatchSpec] | None = None,
        where: Predicate | Iterable[Predicate] | None = None,
        use_weakref: bool | None = None,
        **options: Unpack[HandlerOptionsDict],
    ) -> HandlerId:
        """
        Add a handler and return its id at once: the synchronous twin of
        :meth:`add_event_handler`, with the match-spec as a mapping (so that
        any keyword can be matched) and the handler model's options.

        :param match: keyword to value (or ``any_of(...)``), a ``MatchSpec``,
            or a sequence of them for alternatives (the handler runs once
            when any matches).
        :param where: a predicate, or predicates, each called as
            ``predicate(event, details)``: all must accept the event.
        :param use_weakref: how ``listen_fn`` is held, as for
            :meth:`add_event_handler`.
        :param options: the fields of ``HandlerOptions``, each optional:

            - ``times``: call the handler at most this many times, then
              remove it.
            - ``priority``: a higher one starts earlier in its phase
              (default 0; equal ones keep registration order).
            - ``name``: what other handlers' ``requires`` and
              ``required_by`` call this one (by default its own name).
            - ``requires``, ``required_by``: names of handlers that must
              finish before this one starts, or that start only after it
              (one string is one name).
            - ``pass_context``: call it as ``fn(event, context)``, with the
              event's ``EventContext``.
            - ``inject``: call it with keyword arguments taken, by its
              signature, from the event's namespaces.
            - ``errors``: ``"log"`` or ``"fail"``, this handler's failure
              policy instead of the dispatcher's ``handler_errors``.
            - ``threaded``: run it in the reactor's thread pool.
            - ``timeout``: seconds it may take before it is cancelled and
              reported as timed out.
            - ``max_concurrent``, ``max_queued``, ``when_full``: how many
              of its calls run at once, how many more may wait, and
              whether a call beyond them waits (``"wait"``) or fails at once
              with ``OverloadedError`` (``"error"``).
            - ``idempotent``: it may run again for an event it already
              handled; a completion log never skips it.
            - ``lifo``: start it before the handlers of its priority that
              were registered earlier (last registered first, as pluggy
              calls implementations).
        :returns: the handler's ``HandlerId``, to remove it with.
        :raises: as :meth:`add_event_handler`; ``ValueError`` or
            ``TypeError`` for a bad option, ``TypeError`` for a name that
            is no option (match-spec keywords go in ``match``) or a
            ``match`` that is neither a mapping, a ``MatchSpec`` nor a
            sequence of them (a string is refused), ``OrderingError`` for
            order constraints that would form a cycle.
        """

    def remove_event_handler(handler_id: HandlerId) -> Deferred[None]:
        """
        Remove a handler.  Removal takes effect at once: the handler is not
        started again, not even in a later phase of an event already in flight,
        nor for a call that waits for a turn behind its ``max_concurrent``
        limit.  A call already started is not interrupted.

        :returns: a Deferred firing with None once the handler is gone, or
            failing with ``UnknownHandlerError`` if ``handler_id`` is not
            registered here (never was, already removed, or its weakly held
            handler was garbage collected).
        """

    def unregister(handler_id: HandlerId) -> None:
        """
        Remove a handler at once: the synchronous twin of
        :meth:`remove_event_handler`.

        :raises UnknownHandlerError: if ``handler_id`` is not registered here.
        """

    def handler_ids(phase: str | None = None) -> list[HandlerId]:
        """
        The ids of the registered handlers, in registration order.

        :param phase: only the handlers of this phase; every phase if None.
        :raises UnknownPhaseError: for a phase the dispatcher does not have.
        """

    def unmet_requirements(phase: str | None = None) -> dict[HandlerId, frozenset[str]]:
        """
        Each handler whose ``requires`` or ``required_by`` names a handler
        that is not registered in its phase, with those names: requirements
        that order nothing (a misspelt name, a plugin not loaded).

        :param phase: only the handlers of this phase; every phase if None.
        :raises UnknownPhaseError: for a phase the dispatcher does not have.
        """

    def allow_keywords(*keywords: str) -> None:
        """
        Allow more match-spec keywords.  Handlers already registered do not
        constrain them, so they treat them as wildcards.

        :raises ValueError: for a keyword that is not a Python identifier or
            that ``add_event_handler`` reserves.
        """

    def scoped() -> HandlerScope:
        """
        A ``HandlerScope``: handlers registered through it are all removed
        when it exits.  Use it as a context manager, synchronous or asynchronous.
        """

    def fire_event(event: object, /, **event_details: object) -> Deferred[FireResult]:
        """
        Run the matching handlers of each phase, phase after phase.

        Handlers added while the event is being dispatched do not see it;
        handlers removed meanwhile are not started.  Events in flight are
        independent of each other.  When every handler answers synchronously,
        the returned Deferred has already fired.  Cancelling the Deferred
        cancels the fire: the handlers still running are cancelled, those not
        started never start, and its follow-up events are cancelled too.

        :param event: passed to every matching handler.
        :param event_details: keyword to value, matched against the specs.
        :returns: a Deferred firing with a ``FireResult`` once the last phase
            (and the last follow-up event) has finished; failing with
            ``DispatcherNotRunning`` if the dispatcher is not running (and
            then no handler was called), with ``OverloadedError`` if a limit
            refused it, with ``FireCancelled`` if it was cancelled, or with
            ``HandlerFailed`` if handler failures are fatal and one failed.
        :raises UnknownKeywordError: for a keyword not allowed.
        :raises UnhashableValueError: for a value that cannot be hashed.
        """

    def fire(
        event: object,
        details: Mapping[str, object] | None = None,
        /,
        *,
        nested: Literal["immediate", "queue"] | None = None,
        arguments: Mapping[str, object] | None = None,
        first_result: bool = False,
        fire_id: str | None = None,
        attempt: int = 1,
        ledger: IHandlerLedger | None = None,
    ) -> Deferred[FireResult]:
        """
        Fire an event with its details as a mapping, and options for this
        fire only: the twin of :meth:`fire_event`.

        :param nested: for this fire alone, if it is made from inside a
            handler: ``"immediate"`` or ``"queue"`` (overriding the
            dispatcher's ``nested`` policy).  Fires its handlers make keep
            the dispatcher's policy.
        :param arguments: names to values of any type (unhashable ones
            included) that seed the event's local namespace, and so what
            handlers with ``pass_context`` or ``inject`` see, without being
            matched on: only the keywords used for routing need declaring.
            A name fired both as a detail and as an argument must have the
            same value in both.
        :param first_result: stop at the first handler that answers
            something other than None (pluggy's ``firstresult``): handlers
            are then started one at a time, in the order the phase runs
            them, and none starts after that answer, in this phase or a
            later one; ``FireResult.first_result()`` is that answer.
        :param fire_id: the fire's id (``FireResult.fire_id``,
            ``EventContext.fire_id``, what monitors see); a new one if None.
        :param attempt: which delivery of the event this is (1 for the first):
            an int of at least 1 (a bool or a float is refused).
        :param ledger: asked before each handler whether it already completed
            for this event, and told when one completes (see
            :class:`IHandlerLedger`).
        :raises ValueError: for a bad option.
        :raises TypeError: for details that are not a mapping.
        :raises: as :meth:`fire_event`; a keyword of ``details`` that is not
            a string is an ``UnknownKeywordError`` too.
        """


class IObservableDispatcher(Interface):
    """
    What can be learnt of a dispatcher while it works: monitors told about
    every fire, the events in flight, and the next event that matches.
    """

    def add_monitor(monitor: object) -> None:
        """
        Tell ``monitor`` (an :class:`IPhaseMonitor`, an :class:`IFireMonitor`,
        or an older :class:`IDispatchMonitor`) about every fire from now on.
        A monitor that provides :class:`IPhaseMonitor` is told through it
        alone.

        :raises TypeError: if ``monitor`` provides none of these interfaces.
        """

    def remove_monitor(monitor: object) -> None:
        """
        Stop telling ``monitor``.

        :raises LookupError: if it was not added.
        """

    def in_flight() -> list[InFlightEvent]:
        """
        The events in flight, as ``InFlightEvent`` values: for each, its
        current phase, how long it has been in flight, and the handlers it
        waits for and since when.  Cheap: it reads what the dispatcher keeps
        anyway.  Events waiting for a handler come first, in the order they
        started; then those whose handlers are being called right now (from
        inside a handler), the outermost first.
        """

    def when(**match_spec: object) -> Deferred[object]:
        """
        A Deferred that fires with the next event whose details match
        ``match_spec``, when that event reaches the last phase (the other
        handlers of that phase may still be running).  Cancelling it leaves
        no registration behind.

        :raises UnknownKeywordError: for a keyword not allowed.
        :raises UnhashableValueError: for a value that cannot be hashed.
        """


class IBackgroundUtility(Interface):
    """
    Something that runs in the background between ``start()`` and ``stop()``.
    """

    running = Attribute("True between start() and stop().")

    def start() -> None:
        """
        Start accepting work.  Starting a running utility does nothing.
        """

    def stop(timeout: float | None = None) -> Deferred[Any]:
        """
        Refuse new work at once, and finish the work in progress.

        :param timeout: seconds to wait for the work in progress; then what
            is still running is cancelled (and logged), and the returned
            Deferred fires.  None to wait however long it takes.
        :returns: a Deferred firing with None once the work that was in
            progress when ``stop()`` was called has finished.
        """


class IFireMonitor(Interface):
    """
    Told about every fire of a dispatcher it was added to
    (``EventDispatcher.add_monitor``), to export metrics or traces.

    Every hook is given the fire: a ``FireResult`` still being filled in,
    whose ``fire_id`` identifies it (the broker's event id, for an event
    that came through the broker) and whose ``event``, ``details`` and
    ``attempt`` describe it.  Durations are in seconds on the dispatcher's
    clock.  A monitor that raises is logged and otherwise ignored: it never
    changes a dispatch.
    """

    def fire_started(fire: FireResult) -> bool | None:
        """
        A fire begins (before its first phase).

        Answer ``False`` to hear nothing more of this fire (a sampling
        monitor's answer for a fire it does not sample): the dispatcher then
        skips the fire's other hooks, and the clock readings and reports
        they need, when no other monitor wants them.  A monitor that answers
        ``False`` still takes the other hooks for that fire (it is told them
        when it shares a dispatcher with another monitor).  ``None`` (or
        anything else): tell it all.
        """

    def phase_started(fire: FireResult, phase: str) -> None:
        """
        ``fire`` starts ``phase`` (a phase with matching handlers).
        """

    def handler_started(fire: FireResult, handler_id: HandlerId) -> None:
        """
        A handler is being called for ``fire``, now (not when a call is
        queued behind a concurrency limit, nor for a call refused).
        """

    def handler_finished(
        fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        """
        A handler finished (or failed, or timed out, or was cancelled) for ``fire``.
        """

    def phase_finished(fire: FireResult, phase: str, seconds: float) -> None:
        """
        Every handler of ``phase`` has finished for ``fire``.
        """

    def fire_finished(fire: FireResult, failure: Failure | None, seconds: float) -> None:
        """
        The fire is over: ``failure`` is None when it succeeded, else what it
        failed with (``HandlerFailed``, ``FireCancelled``...).  Follow-up
        events are fires of their own.
        """


class IPhaseMonitor(Interface):
    """
    Told about every fire of a dispatcher it was added to, as
    :class:`IFireMonitor` is, but once per phase rather than twice per
    handler call: when a phase ends, it hears of every call the phase made,
    with each call's outcome, start and duration.

    This is the cheaper interface for monitors that count or record calls
    once they are over (metrics, traces): a fire tells it three times
    whatever its number of handlers, and reads the clock once per call.
    A monitor that must know a handler is starting while it runs uses
    :class:`IFireMonitor`.  A monitor that raises is logged and otherwise
    ignored: it never changes a dispatch.
    """

    def fire_started(fire: FireResult) -> bool | None:
        """
        A fire begins (before its first phase).  Answer ``False`` to hear
        nothing more of it, as :meth:`IFireMonitor.fire_started` says (its
        phases are then not even reported).
        """

    def phase_ended(fire: FireResult, report: PhaseReport) -> None:
        """
        Every handler of a phase of ``fire`` has finished: ``report`` says
        which phase, when it began (as seconds after the fire began), how
        long it took, and each call it made, in the order they finished.
        """

    def fire_finished(fire: FireResult, failure: Failure | None, seconds: float) -> None:
        """
        The fire is over, as :meth:`IFireMonitor.fire_finished` says.
        """


class IDispatchMonitor(Interface):
    """
    The older monitor interface, still accepted by ``add_monitor``: the same
    phase and handler hooks as :class:`IFireMonitor`, given the event
    instead of the fire, and no hooks for a fire's start and end.
    """

    def phase_started(event: object, phase: str) -> None:
        """
        ``event`` starts ``phase`` (a phase with matching handlers).
        """

    def phase_finished(event: object, phase: str, seconds: float) -> None:
        """
        Every handler of ``phase`` has finished for ``event``.
        """

    def handler_started(event: object, handler_id: HandlerId) -> None:
        """
        A handler is being called for ``event``, now.
        """

    def handler_finished(
        event: object, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        """
        A handler finished (or failed, or timed out) for ``event``.
        """


class IHandlerLedger(Interface):
    """
    What one fire asks about the handlers that already completed for its
    event, and tells when one completes: a completion log's view of one
    event, so that a redelivered event skips the handlers whose effect
    already happened.  Given to ``fire(..., ledger=...)``.

    Handlers registered with ``idempotent=True`` are neither asked about nor
    recorded: they run on every delivery.  Both methods are called in the
    reactor thread and must not block.
    """

    def completed(handler_id: HandlerId) -> bool:
        """
        Whether the handler already completed for this event: if so, it is
        not called, and the fire lists it in ``FireResult.skipped``.
        """

    def record(handler_id: HandlerId) -> None:
        """
        The handler has just completed successfully for this event.
        """
