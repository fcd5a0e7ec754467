# -*- test-case-name: tests.test_errors -*-
"""
The exceptions of ``twisted_event_dispatcher``: one small hierarchy, all of
it in this module.

Every class subclasses `DispatcherError` and, where a caller would reach for
one, the builtin it specialises, so ``except ValueError`` keeps working.
Each is imported by users from a public module (the package, or
``config``, ``plugins``, ``discovery``, ``declarations``, ``blocking``,
``broker``), which re-exports it; its ``__module__`` names that module, so
that tracebacks and logs show where to import it from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Final, Protocol

from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from ._handle import HandlerId
from ._result import FireResult
from ._text import brief

__all__ = [
    "PUBLIC_MODULES",
    "BlockingTimeoutError",
    "BrokerConfigProblem",
    "BrokerError",
    "BrokerUnavailable",
    "ConfigError",
    "DispatcherError",
    "DispatcherNotRunning",
    "EnvelopeError",
    "EventArgumentsError",
    "EventFinishedError",
    "FireCancelled",
    "FollowUpDepthError",
    "HandlerFailed",
    "HandlerTimedOut",
    "InjectionError",
    "NotWeakReferenceableError",
    "OrderingError",
    "OverloadedError",
    "PluginLoadError",
    "PublishRejected",
    "ReactorThreadError",
    "SignatureMismatchError",
    "UnhashableValueError",
    "UnknownDeadLetter",
    "UnknownEventError",
    "UnknownHandlerError",
    "UnknownKeywordError",
    "UnknownPhaseError",
    "UnknownPluginError",
    "UnmetRequirementError",
    "UnroutableEvent",
]


class DispatcherError(Exception):
    """
    Base class of every error this package raises; never raised itself.
    """


def _keyword_order(keyword: object) -> tuple[int, str]:
    return (1, keyword) if isinstance(keyword, str) else (0, repr(keyword))


class UnknownKeywordError(DispatcherError, ValueError):
    """
    A match-spec or a fired event used a keyword the dispatcher does not allow.

    :ivar keywords: the offending keywords, sorted.
    :ivar allowed: the keywords the dispatcher allows, sorted.
    """

    def __init__(self, keywords: Iterable[str], allowed: Iterable[str], where: str) -> None:
        # Keywords that are no str (a fire's details may hold any) first, by repr: not comparable with str.
        self.keywords = tuple(sorted(keywords, key=_keyword_order))
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
        super().__init__(f"no handler with id {brief(handler_id)} is registered with this dispatcher")


class DispatcherNotRunning(DispatcherError, RuntimeError):
    """
    An event was fired at a dispatcher that is not running: it was never
    started, or it was stopped.  No handler was called.

    :ivar event: the event that was refused.
    """

    def __init__(self, event: object) -> None:
        self.event = event
        super().__init__(
            f"dispatcher is not running: event {brief(event)} was refused and no handler was called; "
            "call start() first"
        )


class HandlerFailed(DispatcherError):
    """
    One or more handlers failed on a dispatcher whose handler failures are fatal.

    :ivar failures: ``(handler id, Failure)`` pairs, in the order the handlers
        were started (those of the follow-up event that failed, when one did).
    :ivar result: the `FireResult` of the dispatch, up to and including the
        phase that failed.  When a follow-up event failed, it is still the
        report of the fire that was made, the follow-up's report among its
        ``follow_ups``, and the follow-ups never dispatched among its
        ``dropped_follow_ups``.
    """

    def __init__(self, failures: Sequence[tuple[HandlerId, Failure]], result: FireResult) -> None:
        self.failures = tuple(failures)
        self.result = result
        described = "; ".join(
            f"{handler_id!r}: {failure.getErrorMessage()}" for handler_id, failure in self.failures
        )
        super().__init__(
            f"{len(self.failures)} handler(s) failed for event {brief(result.event)}: {described}"
        )


class OrderingError(DispatcherError, ValueError):
    """
    Handlers' ``requires``/``required_by`` constraints form a cycle.

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
    :ivar limit: the dispatcher's ``max_follow_up_depth``.
    """

    def __init__(self, event: object, depth: int, limit: int) -> None:
        self.event = event
        self.depth = depth
        self.limit = limit
        super().__init__(
            f"follow-up event {brief(event)} refused: it would be {depth} follow-ups deep, "
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
    deadline passed).  A ``CancelledError``, carrying what happened.

    :ivar result: the `FireResult`: the handlers that ran, those cancelled
        (their outcome failed with ``CancelledError``), and in
        ``never_started`` those that never started.
    """

    def __init__(self, result: FireResult) -> None:
        self.result = result
        super().__init__(
            f"fire of {brief(result.event)} cancelled: {len(result)} handler(s) started, "
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
            f"follow-up {brief(follow_up)} refused: event {brief(event)} has finished; "
            "fire it with fire_event() instead"
        )


# The outer ring's errors: configuration, plugins, declared events, the
# blocking facade.


class ConfigError(DispatcherError, ValueError):
    """
    A mistake in a configuration file.

    :ivar source: the file (or ``config.EMBEDDED``).
    :ivar key: the dotted key at fault, or ``""`` for the whole file.
    :ivar problem: what was expected, and what was found.
    """

    def __init__(self, source: str, key: str, problem: str) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        super().__init__(f"{source}: {key}: {problem}" if key else f"{source}: {problem}")


class UnknownPluginError(DispatcherError, LookupError):
    """
    A plugin id (or plugin) that is not added to this host.

    :ivar plugin: what was looked up.
    """

    def __init__(self, plugin: object) -> None:
        self.plugin = plugin
        super().__init__(f"no plugin {plugin!r} is added to this host")


class PluginLoadError(DispatcherError, ImportError):
    """
    A plugin could not be found, imported or built.

    :ivar plugin: the plugin's dotted path or entry point.
    :ivar entry: the configuration entry that named it, or None.
    :ivar reason: what went wrong.
    """

    def __init__(self, plugin: str, entry: str | None, reason: str) -> None:
        self.plugin = plugin
        self.entry = entry
        self.reason = reason
        where = f" (configuration entry {entry})" if entry else ""
        super().__init__(f"cannot load plugin {plugin!r}{where}: {reason}")


class UnknownEventError(DispatcherError, LookupError):
    """
    An event name that is not declared.

    :ivar event: the name that was looked up.
    :ivar declared: the declared names, sorted.
    """

    def __init__(self, event: object, declared: Iterable[str]) -> None:
        self.event = event
        self.declared = tuple(sorted(declared))
        super().__init__(f"event {event!r} is not declared; declared events are {self.declared!r}")


class EventArgumentsError(DispatcherError, TypeError):
    """
    A declared event was fired with missing or unexpected arguments.

    :ivar event: the event's name.
    :ivar missing: the declared arguments that were not given, sorted.
    :ivar unexpected: the given arguments that are not declared, sorted.
    """

    def __init__(self, event: str, missing: Iterable[str], unexpected: Iterable[str]) -> None:
        self.event = event
        self.missing = tuple(sorted(missing))
        self.unexpected = tuple(sorted(unexpected))
        problems = []
        if self.missing:
            problems.append(f"missing argument(s) {', '.join(map(repr, self.missing))}")
        if self.unexpected:
            problems.append(f"unexpected argument(s) {', '.join(map(repr, self.unexpected))}")
        super().__init__(f"event {event!r} fired with {' and '.join(problems)}")


class _Declaration(Protocol):
    """
    What an error needs of an ``EventDeclaration`` (a type of the outer
    ring, which this module cannot import).
    """

    @property
    def name(self) -> str: ...

    @property
    def arguments(self) -> Sequence[str]: ...


class SignatureMismatchError(DispatcherError, TypeError):
    """
    A handler registered for a declared event cannot accept its arguments.

    :ivar handler: the handler's name.
    :ivar event: the declared event's name.
    :ivar mismatch: what is wrong with the handler's signature.
    """

    def __init__(self, handler: str, declaration: _Declaration, mismatch: str) -> None:
        self.handler = handler
        self.event = declaration.name
        self.mismatch = mismatch
        super().__init__(
            f"handler {handler} cannot handle declared event {declaration.name!r}: {mismatch}; "
            f"its handlers are called with keyword arguments drawn from ({', '.join(declaration.arguments)})"
        )


class BlockingTimeoutError(DispatcherError, TimeoutError):
    """
    A blocking call did not finish within its timeout.  What it was waiting
    for has been cancelled (or, if it had not started yet, will not start).

    :ivar operation: the name of the method that timed out.
    :ivar timeout: the seconds it waited.
    """

    def __init__(self, operation: str, timeout: float) -> None:
        self.operation = operation
        self.timeout = timeout
        super().__init__(f"{operation}() did not finish within {timeout:g} seconds and was cancelled")


class ReactorThreadError(DispatcherError, RuntimeError):
    """
    A blocking call was made in the reactor thread, where waiting would
    deadlock: the reactor could never run what the call waits for.  Nothing
    was done.

    :ivar operation: the name of the method that was called.
    """

    def __init__(self, operation: str) -> None:
        self.operation = operation
        super().__init__(
            f"BlockingDispatcher.{operation}() was called in the reactor thread, where blocking "
            "would deadlock; in the reactor thread, call the EventDispatcher itself "
            "(BlockingDispatcher.dispatcher), which returns Deferreds"
        )


# Broker mode's errors: each one says what went wrong and what to do.


class BrokerError(DispatcherError):
    """
    Base class of the errors of broker mode; never raised itself.
    """


class EnvelopeError(BrokerError, ValueError):
    """
    An event cannot be put in an envelope (a detail or payload that cannot
    travel), or a message is not a valid envelope.
    """


class BrokerUnavailable(BrokerError, ConnectionError):
    """
    The broker could not be reached within the time allowed.

    :ivar url: the broker's address, without its password.
    :ivar seconds: how long it was waited for.
    """

    def __init__(self, url: str, seconds: float, why: str = "") -> None:
        self.url = url
        self.seconds = seconds
        detail = f": {why}" if why else ""
        super().__init__(
            f"the broker at {url} was not reachable within {seconds:g} seconds{detail}; "
            "is RabbitMQ running (rabbitmq-server -detached)?"
        )


class BrokerRefused(BrokerUnavailable):
    """
    The broker refused the connection while it was being opened: the login
    (a wrong user name or password), or the virtual host (missing, or not
    open to the user).  Retrying as it is cannot help.

    :ivar url: the broker's address, without its password.
    :ivar reply_code: the broker's code (403 ACCESS_REFUSED, 530 NOT_ALLOWED...).
    :ivar reply_text: the broker's words.
    """

    def __init__(self, url: str, reply_code: int, reply_text: str) -> None:
        self.url = url
        self.seconds = 0.0
        self.reply_code = reply_code
        self.reply_text = reply_text
        if reply_code == 403:
            what = "refused the login; check the user name and password in the URL"
        elif reply_code == 530:
            what = (
                "refused the virtual host; check the vhost at the end of the URL (%2F is '/') "
                "and the user's permissions on it (rabbitmqctl list_permissions -p VHOST)"
            )
        else:
            what = "closed the connection while it was being opened"
        super(BrokerUnavailable, self).__init__(f"the broker at {url} {what} ({reply_code} {reply_text})")


class UnroutableEvent(BrokerError, LookupError):
    """
    The broker confirmed a publish but no consumer group's bindings matched
    it: no group runs a handler for these details, so the event would be lost.

    :ivar event_id: the event's id.
    :ivar details: its match details.
    """

    def __init__(self, event_id: str, details: dict[str, object]) -> None:
        self.event_id = event_id
        self.details = details
        super().__init__(
            f"event {event_id} with details {details!r} matches no consumer group's bindings: "
            "no group is running a handler for it, so it was not accepted"
        )


class PublishRejected(BrokerError, RuntimeError):
    """
    The broker refused a publish (a negative publisher confirm), or the
    channel closed before it confirmed: the event may not have been stored.

    :ivar event_id: the event's id.
    """

    def __init__(self, event_id: str, why: str) -> None:
        self.event_id = event_id
        super().__init__(f"the broker did not confirm event {event_id}: {why}; publish it again")


class UnknownDeadLetter(BrokerError, LookupError):
    """
    No dead letter has this event id.

    :ivar event_id: the id asked for.
    """

    def __init__(self, event_id: str, group: str) -> None:
        self.event_id = event_id
        super().__init__(f"no dead letter of group {group!r} has event id {event_id!r}")


class GroupConflict(BrokerError, ValueError):
    """
    A consumer group's queue exists on the broker with other arguments than
    the group's settings ask for (a changed ``delivery_limit``, say): the
    broker refuses to declare it again, and the group does not consume.
    Retrying cannot help; keep the settings the queue was made with, or
    drain and delete the queue so that the group makes it again.

    :ivar group: the group's name.
    :ivar queue: the queue the broker refused to declare.
    """

    def __init__(self, group: str, queue: str, problem: str, remedy: str) -> None:
        self.group = group
        self.queue = queue
        super().__init__(f"group {group!r} cannot consume: {problem}; {remedy}")


class BrokerConfigProblem(DispatcherError, ValueError):
    """
    A mistake in the ``[broker]`` table, found by the broker package before
    the configuration knows which file it came from: ``config`` turns it
    into a `ConfigError` naming the file.  Not public.

    :ivar key: the key at fault, relative to ``broker``.
    :ivar problem: what was expected, and what was found.
    """

    def __init__(self, key: str, problem: str) -> None:
        self.key = key
        self.problem = problem
        super().__init__(f"broker.{key}: {problem}")


#: The public module each error is imported from, by users: its ``__module__``.
PUBLIC_MODULES: Final[dict[str, tuple[type[DispatcherError], ...]]] = {
    "twisted_event_dispatcher": (
        DispatcherError,
        UnknownKeywordError,
        UnhashableValueError,
        UnknownPhaseError,
        NotWeakReferenceableError,
        UnknownHandlerError,
        DispatcherNotRunning,
        HandlerFailed,
        OrderingError,
        FollowUpDepthError,
        InjectionError,
        HandlerTimedOut,
        FireCancelled,
        OverloadedError,
        EventFinishedError,
        UnmetRequirementError,
    ),
    "twisted_event_dispatcher.config": (ConfigError,),
    "twisted_event_dispatcher.plugins": (UnknownPluginError,),
    "twisted_event_dispatcher.discovery": (PluginLoadError,),
    "twisted_event_dispatcher.declarations": (UnknownEventError, EventArgumentsError, SignatureMismatchError),
    "twisted_event_dispatcher.blocking": (BlockingTimeoutError, ReactorThreadError),
    "twisted_event_dispatcher.broker": (
        BrokerError,
        EnvelopeError,
        BrokerUnavailable,
        BrokerRefused,
        UnroutableEvent,
        PublishRejected,
        UnknownDeadLetter,
        GroupConflict,
    ),
}


def _name_public_modules() -> None:
    for module, errors in PUBLIC_MODULES.items():
        for error in errors:
            error.__module__ = module


_name_public_modules()
