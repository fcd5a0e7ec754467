# -*- test-case-name: tests.service.test_declarations -*-
"""
Declared events: an application says which events it fires, with which
arguments, and which of them handlers may match on (pluggy's hook specs).

A `DeclaredDispatcher` is built from declarations.  It checks a handler's
signature when the handler is registered, not when the event is fired, and
it refuses to fire a declared event with missing or unexpected arguments.

Handlers of a declared event are called with the event's arguments as
keyword arguments; a handler may name only the arguments it needs, as with
pluggy.  The dispatcher underneath matches on the keyword ``event`` (the
declared name) and on the arguments each declaration lists as ``keywords``;
the other arguments are never matched on, so they may hold any value,
unhashable ones included.  They travel in the `EventCall`, the event object
the dispatcher underneath hands its handlers, not as the fire's
``arguments``: a handler is called with the event alone, and could reach
the fire's arguments only through a context (which only the dispatcher's
general loop gives), while in the event they cost nothing; and ``fire``
with ``arguments`` costs more to call than ``fire_event``.

A declaration may ask for pluggy's calling conventions: ``first_result``
(handlers are called one at a time and the first answer other than None
ends the fire) and ``lifo`` (the handlers registered last are called first).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType, ModuleType
from typing import Any, Final, Literal, cast, final, overload

import attrs
from twisted.internet.defer import Deferred

from ._dispatcher import DEFAULT_PHASES, EventDispatcher
from ._errors import EventArgumentsError, SignatureMismatchError, UnknownEventError
from ._registry import Handler, HandlerId, describe_callable
from ._result import FireResult

__all__ = [
    "EVENT_KEYWORD",
    "DeclaredDispatcher",
    "EventArgumentsError",
    "EventCall",
    "EventDeclaration",
    "SignatureMismatchError",
    "UnknownEventError",
    "accepted_arguments",
    "declarations_in",
    "declare_event",
]

#: The match-spec keyword that carries a declared event's name.
EVENT_KEYWORD: Final = "event"

_PASSED_BY_KEYWORD: Final = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)):
        raise TypeError(f"expected a sequence of names, not the single string {value!r}")
    names = tuple(value)
    bad = [name for name in names if not isinstance(name, str) or not name.isidentifier()]
    if bad:
        raise ValueError(f"names must be Python identifiers, got {bad!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"names must be distinct, got {names!r}")
    return names


@final
@attrs.frozen
class EventDeclaration:
    """
    What an application promises about one of its events.

    :ivar name: the event's name; it is matched through the ``event`` keyword.
    :ivar arguments: the keyword arguments it is fired with, which its
        handlers receive.
    :ivar keywords: the arguments handlers may also match on (a subset of
        ``arguments``); their values must be hashable.
    :ivar doc: when the event is fired, and what its arguments mean.
    :ivar first_result: stop at the first handler that answers something
        other than None (pluggy's ``firstresult``): handlers are called one
        at a time, in the order their phase runs them, and none is called
        after that answer; ``FireResult.first_result()`` is the answer.
    :ivar lifo: call the handlers of a phase that have the same priority
        in the reverse order of their registration, the last registered
        first (pluggy's order), so that plugins registered independently
        need not agree on priorities.
    """

    name: str
    arguments: tuple[str, ...] = attrs.field(converter=_names)
    keywords: tuple[str, ...] = attrs.field(default=(), converter=_names)
    doc: str = ""
    first_result: bool = attrs.field(
        default=False, kw_only=True, validator=attrs.validators.instance_of(bool)
    )
    lifo: bool = attrs.field(default=False, kw_only=True, validator=attrs.validators.instance_of(bool))

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"an event's name must be a non-empty string, got {self.name!r}")
        stray = sorted(set(self.keywords) - set(self.arguments))
        if stray:
            raise ValueError(
                f"keywords {stray!r} of event {self.name!r} are not among its arguments {self.arguments!r}"
            )
        if EVENT_KEYWORD in self.keywords:
            raise ValueError(
                f"event {self.name!r} cannot match on {EVENT_KEYWORD!r}: "
                "that keyword carries the event's name"
            )


def _declaration_from(
    spec: Callable[..., object], keywords: Iterable[str], first_result: bool = False, lifo: bool = False
) -> EventDeclaration:
    parameters = inspect.signature(spec).parameters.values()
    odd = [parameter.name for parameter in parameters if parameter.kind not in _PASSED_BY_KEYWORD]
    if odd:
        raise TypeError(
            f"event spec {describe_callable(spec)} must name each argument; "
            f"parameters {odd!r} are positional-only or variadic"
        )
    return EventDeclaration(
        spec.__name__,
        tuple(parameter.name for parameter in parameters),
        tuple(keywords),
        inspect.getdoc(spec) or "",
        first_result=first_result,
        lifo=lifo,
    )


@overload
def declare_event(spec: Callable[..., object], /) -> EventDeclaration: ...


@overload
def declare_event(
    *, keywords: Iterable[str] = (), first_result: bool = False, lifo: bool = False
) -> Callable[[Callable[..., object]], EventDeclaration]: ...


def declare_event(
    spec: Callable[..., object] | None = None,
    /,
    *,
    keywords: Iterable[str] = (),
    first_result: bool = False,
    lifo: bool = False,
) -> EventDeclaration | Callable[[Callable[..., object]], EventDeclaration]:
    """
    Declare an event from a spec function, as pluggy's ``@hookspec`` does.

    The function's name is the event's name, its parameters the event's
    arguments and its docstring the event's documentation; its body is never
    run.  The decorated name becomes the `EventDeclaration`.

    :param spec: the spec function, when used as ``@declare_event``.
    :param keywords: the arguments handlers may match on, when used as
        ``@declare_event(keywords=[...])``.
    :param first_result: stop at the first answer other than None (pluggy's
        ``firstresult=True``); see `EventDeclaration`.
    :param lifo: call the last registered handlers first (pluggy's order);
        see `EventDeclaration`.
    """
    if spec is not None:
        return _declaration_from(spec, keywords, first_result, lifo)
    return functools.partial(
        _declaration_from, keywords=tuple(keywords), first_result=first_result, lifo=lifo
    )


def declarations_in(module: ModuleType) -> list[EventDeclaration]:
    """
    The `EventDeclaration`s defined at the top level of ``module``, in
    definition order.
    """
    return [value for value in vars(module).values() if isinstance(value, EventDeclaration)]


def _read_only(given: Mapping[str, object]) -> Mapping[str, object]:
    return MappingProxyType(dict(given))


@final
@attrs.frozen
class EventCall:
    """
    One firing of a declared event: what handlers of declared events are
    given by the dispatcher (and what they are called with, unpacked).

    :ivar name: the declared event's name.
    :ivar arguments: its arguments, read-only.
    """

    name: str
    arguments: Mapping[str, object] = attrs.field(converter=_read_only)


def accepted_arguments(fn: Handler, declaration: EventDeclaration) -> tuple[str, ...] | None:
    """
    Which of a declared event's arguments ``fn`` takes.

    :returns: the argument names to pass to ``fn``, or None to pass every
        argument (``fn`` takes ``**kwargs``, or its signature cannot be read).
    :raises SignatureMismatchError: if ``fn`` requires an argument the event
        does not declare, or takes a required positional-only parameter.
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    parameters = signature.parameters.values()
    if any(parameter.kind is inspect.Parameter.VAR_KEYWORD for parameter in parameters):
        return None
    declared = set(declaration.arguments)
    for parameter in parameters:
        required = parameter.default is inspect.Parameter.empty
        if parameter.kind is inspect.Parameter.POSITIONAL_ONLY and required:
            mismatch = (
                f"its parameter {parameter.name!r} is positional-only, but arguments are passed by keyword"
            )
            raise SignatureMismatchError(describe_callable(fn), declaration, mismatch)
        if parameter.kind in _PASSED_BY_KEYWORD and required and parameter.name not in declared:
            mismatch = f"it requires argument {parameter.name!r}, which the event does not declare"
            raise SignatureMismatchError(describe_callable(fn), declaration, mismatch)
    return tuple(
        parameter.name
        for parameter in parameters
        if parameter.kind in _PASSED_BY_KEYWORD and parameter.name in declared
    )


def _calling(fn: Handler, wanted: tuple[str, ...] | None) -> Handler:
    """
    Wrap ``fn`` as a dispatcher handler: it receives an `EventCall` and calls
    ``fn`` with the arguments ``fn`` takes.
    """

    def call_declared(call: EventCall) -> object:
        if not isinstance(call, EventCall):
            raise TypeError(
                f"a handler of a declared event was given {call!r}; fire declared events with "
                "DeclaredDispatcher.fire()"
            )
        if wanted is None:
            return fn(**call.arguments)
        return fn(**{name: call.arguments[name] for name in wanted})

    functools.update_wrapper(
        call_declared, fn, assigned=("__module__", "__name__", "__qualname__"), updated=()
    )
    return call_declared


@final
class DeclaredDispatcher:
    """
    An `EventDispatcher` for declared events.

    Its allowed match-spec keywords are ``event`` plus every declared
    keyword.  Handlers are registered for one declared event and held
    strongly; the dispatcher underneath (`dispatcher`) is a plain
    `EventDispatcher` and still takes plain handlers.

    :param declarations: the events, with distinct names.
    :param phases: the phase names, in order.
    :param handler_errors: ``"log"`` or ``"fail"``, as for `EventDispatcher`.
    :raises ValueError: if two declarations share a name.
    """

    def __init__(
        self,
        declarations: Iterable[EventDeclaration],
        phases: Sequence[str] = DEFAULT_PHASES,
        *,
        handler_errors: Literal["log", "fail"] = "log",
        handler_timeout: float | None = None,
    ) -> None:
        by_name: dict[str, EventDeclaration] = {}
        for declaration in declarations:
            if not isinstance(declaration, EventDeclaration):
                raise TypeError(f"expected an EventDeclaration, got {declaration!r}")
            if declaration.name in by_name:
                raise ValueError(f"event {declaration.name!r} is declared twice")
            by_name[declaration.name] = declaration
        self._declarations = MappingProxyType(by_name)
        keywords = {EVENT_KEYWORD}.union(*(declaration.keywords for declaration in by_name.values()))
        self._dispatcher = EventDispatcher(
            sorted(keywords), phases, handler_errors=handler_errors, handler_timeout=handler_timeout
        )

    @property
    def dispatcher(self) -> EventDispatcher:
        """
        The plain dispatcher underneath.
        """
        return self._dispatcher

    @property
    def declarations(self) -> Mapping[str, EventDeclaration]:
        """
        Event name to declaration, read-only.
        """
        return self._declarations

    def declaration(self, event: str) -> EventDeclaration:
        """
        The declaration of ``event``.

        :raises UnknownEventError: if ``event`` is not declared.
        """
        try:
            return self._declarations[event]
        except (KeyError, TypeError):
            raise UnknownEventError(event, self._declarations) from None

    def register(
        self,
        listen_fn: Handler,
        phase: str,
        event: str,
        /,
        *,
        match: Mapping[str, object] | None = None,
        **options: object,
    ) -> HandlerId:
        """
        Register ``listen_fn`` for the declared ``event``, after checking that
        it can accept the event's arguments.

        :param listen_fn: called with the event's arguments, as keywords.
        :param phase: one of the dispatcher's phases.
        :param event: a declared event's name.
        :param match: further constraints on the event's keywords.
        :param options: passed on to `EventDispatcher.register`; a handler
            of an event declared ``lifo`` is registered with ``lifo=True``.
        :raises UnknownEventError: if ``event`` is not declared.
        :raises SignatureMismatchError: if ``listen_fn`` cannot accept the
            event's arguments.
        :raises: as `EventDispatcher.register` for the phase and the spec.
        """
        declaration = self.declaration(event)
        if "use_weakref" in options:
            raise TypeError("handlers of declared events are held strongly; use_weakref cannot be given")
        if not callable(listen_fn):
            raise TypeError(f"handler must be callable, got {listen_fn!r}")
        spec = dict(match or {})
        if EVENT_KEYWORD in spec:
            raise ValueError(
                f"match of a declared-event handler cannot set {EVENT_KEYWORD!r}; pass the event"
            )
        stray = sorted(set(spec) - set(declaration.keywords))
        if stray:
            raise ValueError(
                f"match keywords {stray!r} are not keywords of event {event!r} "
                f"(its keywords are {declaration.keywords!r})"
            )
        spec[EVENT_KEYWORD] = event
        wrapped = _calling(listen_fn, accepted_arguments(listen_fn, declaration))
        # Options belong to the handler model of the dispatcher underneath.
        if declaration.lifo:
            options.setdefault("lifo", True)
        register = cast(Callable[..., HandlerId], self._dispatcher.register)
        return register(wrapped, phase, match=spec, use_weakref=False, **options)

    def unregister(self, handler_id: HandlerId) -> None:
        """
        Remove a handler at once.

        :raises UnknownHandlerError: if it is not registered.
        """
        self._dispatcher.unregister(handler_id)

    def details_for(self, event: str, arguments: Mapping[str, Any]) -> dict[str, object]:
        """
        Check ``arguments`` against ``event``'s declaration, and return the
        details to match on.

        :raises UnknownEventError: if ``event`` is not declared.
        :raises EventArgumentsError: for missing or unexpected arguments.
        """
        declaration = self.declaration(event)
        declared = set(declaration.arguments)
        if declared != arguments.keys():
            raise EventArgumentsError(event, declared - arguments.keys(), arguments.keys() - declared)
        details: dict[str, object] = {EVENT_KEYWORD: event}
        for keyword in declaration.keywords:
            details[keyword] = arguments[keyword]
        return details

    def fire(self, event: str, /, **arguments: object) -> Deferred[FireResult]:
        """
        Fire the declared ``event`` with its arguments.

        Only the event's name and its declared keywords are matched on; its
        other arguments may have any value.  An event declared
        ``first_result`` stops at the first answer other than None.

        :returns: as `EventDispatcher.fire`; the `FireResult`'s ``event`` is
            the `EventCall`, and its ``first_result()`` the first answer
            other than None.
        :raises UnknownEventError: if ``event`` is not declared.
        :raises EventArgumentsError: for missing or unexpected arguments.
        :raises UnhashableValueError: if a keyword's value cannot be hashed.
        """
        details = self.details_for(event, arguments)
        call = EventCall(event, arguments)
        if self._declarations[event].first_result:
            return self._dispatcher.fire(call, details, first_result=True)
        return self._dispatcher.fire_event(call, **details)

    @property
    def running(self) -> bool:
        """
        Whether the dispatcher underneath is running.
        """
        return self._dispatcher.running

    def start(self) -> None:
        """
        Start the dispatcher underneath.
        """
        self._dispatcher.start()

    def stop(self) -> Deferred[None]:
        """
        Stop the dispatcher underneath; see `EventDispatcher.stop`.
        """
        return self._dispatcher.stop()

    def __repr__(self) -> str:
        return f"<DeclaredDispatcher events={sorted(self._declarations)!r} {self._dispatcher!r}>"
