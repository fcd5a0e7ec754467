# -*- test-case-name: tests.test_dispatcher -*-
"""
:class:`EventDispatcher`: checks arguments, owns the parts, runs the lifecycle.

The parts, each in its own module and each readable alone:

- the registry (``_registry``): the registrations, by phase;
- the runner (``_run``): the dispatch loops, and the fires in flight;
- admission (``_admission``): whether a fire starts now, waits, or is
  refused, and draining on stop.

While the dispatcher runs with no limit and no nested queue, its
``fire_event`` *is* the runner's tight loop (bound on the instance by
:meth:`EventDispatcher._bind_fire_event`), so that a plain fire costs not
one call more than the loop itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Final, Literal, Unpack

from twisted.application.service import Service
from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorThreads, IReactorTime
from zope.interface import implementer
from zope.interface.interface import InterfaceClass

from ._admission import Admission, NestedPolicy
from ._errors import UnknownHandlerError
from ._fired import fired
from ._handle import Handler, HandlerId
from ._introspection import InFlightEvent
from ._limiter import Limiter
from ._matching import check_fired_details, check_keywords
from ._monitors import Monitor, Monitors, as_monitor
from ._options import (
    FullPolicy,
    HandlerOptionsDict,
    Phase,
    Predicate,
    check_limit,
    check_policy,
    check_queue_bound,
    check_timeout,
    handler_options,
)
from ._registry import Registry, check_handler
from ._result import FireResult
from ._run import ARGUMENTS_ONLY, DEFAULT_FIRE, FireOptions, RunSettings, describe_calling
from ._runner import Runner
from ._scope import HandlerScope
from ._specs import Match
from .interfaces import (
    IBackgroundUtility,
    IEventDispatcher,
    IHandlerLedger,
    IObservableDispatcher,
)

__all__ = ["DEFAULT_PHASES", "RESERVED_KEYWORDS", "EventDispatcher"]

DEFAULT_PHASES: Final = ("before", "during", "after")

#: Keywords that cannot be match-spec keywords, because
#: ``add_event_handler`` takes them as its own arguments.
RESERVED_KEYWORDS: Final = frozenset({"use_weakref"})


def _check_keywords(keywords: Iterable[str]) -> frozenset[str]:
    if isinstance(keywords, str | bytes):
        raise TypeError(
            f"allowed_match_spec_keywords must be a sequence of names, not the single string {keywords!r}"
        )
    if not isinstance(keywords, Iterable):
        raise TypeError(
            "allowed_match_spec_keywords must be a sequence of names, "
            f"got {type(keywords).__name__} {keywords!r}"
        )
    checked = tuple(keywords)
    for keyword in checked:
        if not isinstance(keyword, str):
            raise TypeError(
                f"allowed_match_spec_keywords must be strings, got {type(keyword).__name__} {keyword!r}"
            )
    repeated = sorted({keyword for keyword in checked if checked.count(keyword) > 1})
    if repeated:
        raise ValueError(f"allowed_match_spec_keywords must be distinct, got {repeated!r} more than once")
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


def _check_settings(handler_errors: str, max_follow_up_depth: object, nested: str, unmet: str) -> None:
    if handler_errors not in ("log", "fail"):
        raise ValueError(f"handler_errors must be 'log' or 'fail', got {handler_errors!r}")
    if (
        not isinstance(max_follow_up_depth, int)
        or isinstance(max_follow_up_depth, bool)
        or max_follow_up_depth < 0
    ):
        raise ValueError(f"max_follow_up_depth must be a whole number >= 0, got {max_follow_up_depth!r}")
    if nested not in ("immediate", "queue"):
        raise ValueError(f"nested must be 'immediate' or 'queue', got {nested!r}")
    if unmet not in ("warn", "error"):
        raise ValueError(f"unmet_requirements must be 'warn' or 'error', got {unmet!r}")


@implementer(IEventDispatcher, IObservableDispatcher, IBackgroundUtility)
class EventDispatcher(Service):
    """
    The event dispatcher: see :class:`IEventDispatcher` and
    :class:`IObservableDispatcher` for what it promises.

    It is also a Twisted ``IService``: attach it to a ``MultiService`` and
    ``twistd``/``twist`` start and stop it.  It is not thread-safe: call it
    from the reactor thread (see ``twisted_event_dispatcher.blocking`` for
    threads).

    :param allowed_match_spec_keywords: the keywords match-specs and fired
        details may use.
    :param phases: the phases, in the order they run: names (distinct,
        non-empty strings), or :class:`Phase` for a phase with options (a
        sequential phase).
    :param handler_errors: ``"log"`` (the default) to log a failing handler
        and go on; ``"fail"`` to make handler failures fatal to the fire.
    :param max_follow_up_depth: how deep follow-up events of follow-up
        events may nest before one is refused.
    :param reactor: the reactor whose thread pool runs threaded handlers;
        the global reactor if None (imported only when first needed).
    :param clock: what timeouts and durations are measured with; the
        reactor if None.  Tests pass a ``twisted.internet.task.Clock``.
    :param handler_timeout: seconds any handler may take before it is
        cancelled and reported as timed out; None for no limit.
    :param max_in_flight: how many events may be in flight at once; None
        for no limit.
    :param max_queued_events: how many fires may wait for a place when
        ``max_in_flight`` is reached and ``when_full`` is ``"wait"``.
    :param when_full: at ``max_in_flight``: ``"wait"`` (queue, up to
        ``max_queued_events``, then refuse) or ``"error"`` (refuse at once);
        refused fires fail with ``OverloadedError``.
    :param nested: a fire made while a handler runs: ``"immediate"``
        (dispatched at once, inside the handler) or ``"queue"`` (dispatched
        once the current event has finished or is waiting for a handler).
    :param unmet_requirements: what happens when an event reaches a
        handler whose ``requires`` or ``required_by`` names a handler that
        is not registered in its phase: ``"warn"`` (the default: a warning,
        once for each such handler until the phase's handlers change, and
        the phase runs as if the name were absent) or ``"error"`` (the fire
        fails with ``UnmetRequirementError`` before that phase starts).
        :meth:`unmet_requirements` lists them at any time.
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
        nested: NestedPolicy = "immediate",
        unmet_requirements: Literal["warn", "error"] = "warn",
    ) -> None:
        _check_settings(handler_errors, max_follow_up_depth, nested, unmet_requirements)
        check_timeout(handler_timeout)
        self._reactor = reactor
        self._clock = clock
        self._registry = Registry(_check_keywords(allowed_match_spec_keywords), phases)
        settings = RunSettings(
            handler_errors == "fail",
            handler_timeout,
            max_follow_up_depth,
            self._get_clock,
            self._in_thread,
            reactor=reactor,
            unmet=unmet_requirements,
        )
        self._runner = self._make_runner(self._registry, settings)
        check_limit(max_in_flight)
        check_queue_bound(max_queued_events)
        check_policy(when_full)
        limiter = None
        if max_in_flight is not None:
            limiter = Limiter(max_in_flight, max_queued_events, when_full, self)
        self._admission = Admission(self._runner, nested, limiter)
        self._monitors: tuple[Monitor, ...] = ()
        self._direct: _TightLoop | None = None  # the runner's tight loop, while fire() may start fires in it
        self._bind_fire_event()

    def _make_runner(self, registry: Registry, settings: RunSettings) -> Runner:
        """
        The runner of this dispatcher's fires, made once (a subclass may give
        one of its own, as ``testing.RecordingDispatcher`` does).
        """
        return Runner(registry, settings)

    @property
    def allowed_match_spec_keywords(self) -> frozenset[str]:
        """
        The keywords match-specs and fired details may use.
        """
        return self._registry.allowed

    @property
    def phases(self) -> tuple[str, ...]:
        """
        The phase names, in the order they run.
        """
        return self._registry.names

    @property
    def namespace(self) -> dict[str, object]:
        """
        See :attr:`IEventDispatcher.namespace`.
        """
        return self._runner.settings.globals

    @property  # type: ignore[override]  # Service's is an int attribute
    def running(self) -> bool:
        """
        Whether the dispatcher accepts events (``IService``).
        """
        return self._admission.running

    @running.setter
    def running(self, value: bool) -> None:
        self._admission.running = bool(value)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<EventDispatcher {state} phases={self.phases!r} keywords={sorted(self._registry.allowed)!r}>"

    # Registration

    def register(
        self,
        listen_fn: Handler,
        phase: str,
        /,
        *,
        match: Match | None = None,
        where: Predicate | Iterable[Predicate] | None = None,
        use_weakref: bool | None = None,
        **options: Unpack[HandlerOptionsDict],
    ) -> HandlerId:
        """
        See :meth:`IEventDispatcher.register`.
        """
        if not options and where is None and use_weakref is None and type(match) is dict:
            return self._registry.add(listen_fn, phase, match, None)  # as add_event_handler, errors and all
        check_handler(listen_fn)
        checked = handler_options(options) if options else None
        return self._registry.register(listen_fn, phase, match, where, use_weakref, checked)

    def add_event_handler(
        self, listen_fn: Handler, phase: str, /, use_weakref: bool | None = None, **match_spec: object
    ) -> Deferred[HandlerId]:
        """
        See :meth:`IEventDispatcher.add_event_handler`.
        """
        return fired(self._registry.add(listen_fn, phase, match_spec, use_weakref))

    def unregister(self, handler_id: HandlerId) -> None:
        """
        See :meth:`IEventDispatcher.unregister`.
        """
        self._registry.unregister(handler_id)

    def remove_event_handler(self, handler_id: HandlerId) -> Deferred[None]:
        """
        See :meth:`IEventDispatcher.remove_event_handler`.
        """
        try:
            self._registry.unregister(handler_id)
        except UnknownHandlerError:
            return fail()
        return fired(None)

    def handler_ids(self, phase: str | None = None) -> list[HandlerId]:
        """
        See :meth:`IEventDispatcher.handler_ids`.
        """
        return self._registry.handler_ids(phase)

    def unmet_requirements(self, phase: str | None = None) -> dict[HandlerId, frozenset[str]]:
        """
        See :meth:`IEventDispatcher.unmet_requirements`.
        """
        return self._registry.unmet_requirements(phase)

    def allow_keywords(self, *keywords: str) -> None:
        """
        See :meth:`IEventDispatcher.allow_keywords`.
        """
        self._registry.allowed = self._registry.allowed.union(_check_keywords(keywords))

    def scoped(self) -> HandlerScope:
        """
        See :meth:`IEventDispatcher.scoped`.
        """
        return HandlerScope(self)

    # Firing

    def fire_event(self, event: object, /, **event_details: object) -> Deferred[FireResult]:
        """
        See :meth:`IEventDispatcher.fire_event`.
        """
        return self.fire(event, event_details)

    def fire(
        self,
        event: object,
        details: Mapping[str, object] | None = None,
        /,
        *,
        nested: NestedPolicy | None = None,
        arguments: Mapping[str, object] | None = None,
        first_result: bool = False,
        fire_id: str | None = None,
        attempt: int = 1,
        ledger: IHandlerLedger | None = None,
    ) -> Deferred[FireResult]:
        """
        See :meth:`IEventDispatcher.fire`.
        """
        if nested is not None and nested not in ("immediate", "queue"):
            raise ValueError(f"nested must be 'immediate' or 'queue', got {nested!r}")
        if type(details) is not dict:
            details = {} if details is None else _as_details(details)
        direct = self._direct
        try:  # costs nothing unless raised: a keyword that is no str fails the calls below
            if (  # the common shapes, for less: into the tight loop, which checks the details
                nested is None
                and fire_id is None
                and ledger is None
                and attempt is _FIRST
                and not first_result
                and direct is not None
            ):
                if not arguments:
                    return direct(event, DEFAULT_FIRE, **details)
                # No options made: the arguments travel on their own; a plain dict of names is checked here.
                given = arguments.copy() if type(arguments) is dict else None
                for name in given or ():
                    if type(name) is not str or name in details:
                        given = None
                        break
                given = given or _check_arguments(arguments, details)
                return direct(event, ARGUMENTS_ONLY, given, **details)
            options = _fire_options(
                fire_id, attempt, ledger, _check_arguments(arguments, details), first_result
            )
            if direct is not None and nested is None and options.ledger is None:  # as in the common shapes
                return direct(event, options, **details)
        except TypeError as error:  # named as the other roads name it (see check_fired_details below)
            _name_refused_keywords(error, details, self._registry.allowed)
            raise
        if details:
            check_fired_details(details, self._registry.allowed)
        return self._admission.admit(event, dict(details), options, nested)

    def when(self, **match_spec: object) -> Deferred[object]:
        """
        See :meth:`IObservableDispatcher.when`.
        """
        ids: list[HandlerId] = []

        def cancel(_: Deferred[object]) -> None:
            if ids and ids[0].handler() is not None:
                self.unregister(ids[0])

        arrived: Deferred[object] = Deferred(cancel)

        def deliver(event: object) -> None:
            self.unregister(ids[0])
            arrived.callback(event)

        described = ", ".join(f"{keyword}={value!r}" for keyword, value in sorted(match_spec.items()))
        deliver.__qualname__ = deliver.__name__ = f"when({described})"
        ids.append(self.register(deliver, self.phases[-1], match=match_spec, use_weakref=False))
        return arrived

    def _bind_fire_event(self) -> None:
        """
        Make ``fire_event`` the runner's tight loop while nothing stands in
        its way (see the module docstring), and this class's own otherwise.
        """
        direct = (
            not self._admission.gated
            and type(self).fire_event is EventDispatcher.fire_event
            and type(self).fire is EventDispatcher.fire
        )
        if direct:
            self.fire_event = self._runner.fire_event  # type: ignore[method-assign]
        else:
            vars(self).pop("fire_event", None)
        self._direct = None if self._admission.gated else self._runner.fire_event

    # Monitoring and introspection

    def add_monitor(self, monitor: object) -> None:
        """
        See :meth:`IObservableDispatcher.add_monitor`.
        """
        self._monitors = (*self._monitors, as_monitor(monitor))
        self._monitors_changed()

    def remove_monitor(self, monitor: object) -> None:
        """
        See :meth:`IObservableDispatcher.remove_monitor`.
        """
        kept = tuple(
            m for m in self._monitors if m is not monitor and getattr(m, "monitor", None) is not monitor
        )
        if len(kept) == len(self._monitors):
            raise LookupError(f"monitor {monitor!r} was not added to this dispatcher")
        self._monitors = kept
        self._monitors_changed()

    def _monitors_changed(self) -> None:
        monitors = Monitors(self._monitors, self._get_clock().seconds) if self._monitors else None
        self._runner.monitors = monitors

    def in_flight(self) -> list[InFlightEvent]:
        """
        See :meth:`IObservableDispatcher.in_flight`.
        """
        now = self._get_clock().seconds()
        return [
            describe_calling(result) if run is None else run.describe(now)
            for result, run in self._runner.fires_in_flight()
        ]

    # Lifecycle

    def start(self) -> None:
        """
        See :meth:`IBackgroundUtility.start`.
        """
        self.startService()

    def stop(self, timeout: float | None = None) -> Deferred[None]:
        """
        Refuse new events at once, and finish the fires in progress.

        :param timeout: seconds to wait for the fires in progress; the fires
            still running at the deadline fail with ``FireCancelled``, and a
            warning names each with the handlers it was waiting for.  None
            to wait however long they take.
        :returns: a Deferred firing with None once the fires that were in
            progress when ``stop()`` was called have finished.
        """
        check_timeout(timeout)
        drained = self.stopService()
        if timeout is not None:
            self._admission.when_stopped(self._get_clock, drained, timeout)
        return drained

    def startService(self) -> None:
        """
        Start accepting events (``IService``).
        """
        Service.startService(self)
        self._bind_fire_event()

    def stopService(self) -> Deferred[None]:
        """
        Refuse new events, and fire once the events in flight have finished
        (``IService``).
        """
        Service.stopService(self)
        drained = self._admission.stop()
        self._bind_fire_event()
        return drained

    # What the parts are given

    def _get_clock(self) -> IReactorTime:
        if self._clock is None:
            self._clock = IReactorTime(self._get_reactor())
        return self._clock

    def _get_reactor(self) -> IReactorThreads:
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor  # type: ignore[assignment]
        assert self._reactor is not None
        return self._reactor

    def _in_thread(
        self, listen_fn: Handler, args: tuple[object, ...], kwargs: dict[str, object]
    ) -> Deferred[object]:
        from twisted.internet.threads import deferToThreadPool

        reactor = self._get_reactor()
        return deferToThreadPool(reactor, reactor.getThreadPool(), listen_fn, *args, **kwargs)


#: ``Runner.fire_event``, bound.
_TightLoop = Callable[..., Deferred[FireResult]]

#: A fire's first attempt: ``attempt is _FIRST`` holds for the int 1 only
#: (CPython keeps one int 1; another int equal to it takes the long way).
_FIRST: Final = 1


def _name_refused_keywords(error: TypeError, details: Mapping[str, object], allowed: frozenset[str]) -> None:
    """
    Raise :class:`UnknownKeywordError`, as ``check_fired_details`` would, if
    ``error`` is Python refusing ``fire``'s call into the tight loop for a
    keyword of ``details`` that is no str: raised in ``fire``'s own frame,
    not in a function it called (the checks of the arguments and options
    keep their errors, in the order the other roads give them).
    """
    traceback = error.__traceback__
    if traceback is not None and traceback.tb_next is None:
        check_keywords(details, allowed, "fired event details")


def _as_details(details: object) -> dict[str, object]:
    """
    A fire's details given as a mapping other than a dict, as a dict.

    :raises TypeError: for details that are not a mapping.
    """
    if not isinstance(details, Mapping):
        raise TypeError(
            f"details must be a mapping of keywords to values, got {type(details).__name__} {details!r}"
        )
    return dict(details)


def _check_arguments(
    arguments: Mapping[str, object] | None, details: Mapping[str, object]
) -> dict[str, object] | None:
    """
    A fire's arguments, checked: names (str) to any values, none of them
    fired as a detail with another value.

    :raises TypeError: for arguments that are not a mapping of names.
    :raises ValueError: for a name given as a detail and as an argument with
        different values.
    """
    if not arguments:
        return None
    if type(arguments) is not dict and not isinstance(arguments, Mapping):
        raise TypeError(f"arguments must be a mapping of names to values, got {arguments!r}")
    checked = dict(arguments)
    for name, value in checked.items():
        if type(name) is not str and not isinstance(name, str):
            raise TypeError(f"argument names must be strings, got {type(name).__name__} {name!r}")
        if name in details and details[name] is not value and details[name] != value:
            raise ValueError(
                f"{name!r} is fired as a detail ({details[name]!r}) and as an argument ({value!r}): "
                "give it once, or give both the same value"
            )
    return checked


def _fire_options(
    fire_id: str | None,
    attempt: int,
    ledger: IHandlerLedger | None,
    arguments: dict[str, object] | None,
    first_result: bool,
) -> FireOptions:
    if fire_id is None and attempt is _FIRST and ledger is None and arguments is None and not first_result:
        return DEFAULT_FIRE  # (another 1, such as True or 1.0, is checked below)
    if fire_id is not None and (not isinstance(fire_id, str) or not fire_id):
        raise ValueError(f"fire_id must be a non-empty string, got {fire_id!r}")
    whole = type(attempt) is int or (isinstance(attempt, int) and not isinstance(attempt, bool))
    if not whole or attempt < 1:
        raise ValueError(f"attempt must be a whole number of at least 1, got {attempt!r}")
    if ledger is not None and not IHandlerLedger.providedBy(ledger):
        raise TypeError(f"ledger must provide IHandlerLedger, got {ledger!r}")
    return FireOptions(fire_id, attempt, ledger, arguments, bool(first_result))


def _documented_by_interfaces(cls: type, interfaces: Sequence[InterfaceClass]) -> None:
    """
    Give each method and property of ``cls`` whose docstring only points to
    the interface it implements that interface's documentation, so that
    ``help()`` shows it where it is used.
    """
    for interface in interfaces:
        for name in interface.names():
            attribute = cls.__dict__.get(name)
            own = inspect.getdoc(attribute) or ""
            if attribute is not None and own.startswith("See :"):
                attribute.__doc__ = inspect.cleandoc(interface[name].__doc__ or "")


_documented_by_interfaces(EventDispatcher, (IEventDispatcher, IObservableDispatcher, IBackgroundUtility))
