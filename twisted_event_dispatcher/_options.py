# -*- test-case-name: tests.test_handler_model -*-
"""
What a registration or a dispatcher may be configured with, defined once and
checked where it is made: handler options, phases with options, and the
values a match-spec may hold besides plain ones.

Pure data, no Twisted: every other module of the package may import this one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal, TypedDict, final

import attrs

__all__ = [
    "DEFAULT_OPTIONS",
    "AnyOf",
    "ErrorPolicy",
    "FullPolicy",
    "HandlerOptions",
    "HandlerOptionsDict",
    "MatchSpec",
    "Phase",
    "Predicate",
    "any_of",
    "check_limit",
    "check_policy",
    "check_queue_bound",
    "check_timeout",
    "handler_options",
]

#: A predicate: called as ``predicate(event, details)``, true to let the handler run.
Predicate = Callable[[object, Mapping[str, object]], object]

ErrorPolicy = Literal["log", "fail"]
FullPolicy = Literal["wait", "error"]


def check_timeout(timeout: object) -> None:
    """
    Check a timeout: None, or a number of seconds above 0.

    :raises ValueError: for anything else.
    """
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0
    ):
        raise ValueError(f"timeout must be a number of seconds above 0, got {timeout!r}")


def check_limit(limit: object) -> None:
    """
    Check a concurrency limit: None, or a whole number of at least 1.

    :raises ValueError: for anything else.
    """
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"a concurrency limit must be a whole number of at least 1, got {limit!r}")


def check_queue_bound(queued: object) -> None:
    """
    Check how many may wait for a place: a whole number >= 0.

    :raises ValueError: for anything else.
    """
    if isinstance(queued, bool) or not isinstance(queued, int) or queued < 0:
        raise ValueError(f"a queue bound must be a whole number >= 0, got {queued!r}")


def check_policy(when_full: object) -> None:
    """
    Check what happens at a full limit: ``"wait"`` or ``"error"``.

    :raises ValueError: for anything else.
    """
    if when_full not in ("wait", "error"):
        raise ValueError(f"when_full must be 'wait' or 'error', got {when_full!r}")


def _names(value: object, option: str) -> frozenset[str]:
    """
    Handler names given as one string or an iterable of strings.

    :raises TypeError: naming ``option``, for anything else (bytes included).
    """
    if isinstance(value, str):
        return frozenset((value,))
    if not isinstance(value, Iterable):
        raise TypeError(
            f"{option} must be a handler name or an iterable of handler names, "
            f"got {type(value).__name__} {value!r}"
        )
    names = (value,) if isinstance(value, bytes) else tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{option} must name handlers by str, got {type(name).__name__} {name!r}")
    return frozenset(names)


def _requires(value: str | Iterable[str]) -> frozenset[str]:
    return _names(value, "requires")


def _required_by(value: str | Iterable[str]) -> frozenset[str]:
    return _names(value, "required_by")


def _check_times(_: object, __: object, times: int | None) -> None:
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise ValueError(f"times must be a whole number of at least 1, got {times!r}")


def _check_priority(_: object, __: object, priority: int) -> None:
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError(f"priority must be an int, got {priority!r}")


def _check_name(_: object, __: object, name: str | None) -> None:
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")


def _check_errors(_: object, __: object, errors: str | None) -> None:
    if errors not in (None, "log", "fail"):
        raise ValueError(f"errors must be 'log' or 'fail', got {errors!r}")


def _check_timeout(_: object, __: object, timeout: float | None) -> None:
    check_timeout(timeout)


def _check_limit(_: object, __: object, limit: int | None) -> None:
    check_limit(limit)


def _check_queue_bound(_: object, __: object, queued: int) -> None:
    check_queue_bound(queued)


def _check_policy(_: object, __: object, when_full: str) -> None:
    check_policy(when_full)


@final
@attrs.frozen
class HandlerOptions:
    """
    The options of one registration beyond its phase and match-spec: the
    keyword arguments of :meth:`EventDispatcher.register
    <twisted_event_dispatcher.EventDispatcher.register>`, checked when made.

    :ivar times: call the handler at most this many times, then remove it.
    :ivar priority: higher starts earlier within its phase (default 0).
    :ivar name: the name other handlers' ``requires``/``required_by`` refer
        to; by default the handler's own name.
    :ivar requires: names of handlers that must finish before this one starts.
    :ivar required_by: names of handlers that may start only after this one.
    :ivar pass_context: call the handler as ``fn(event, context)``.
    :ivar inject: call the handler with keyword arguments taken, by its
        signature, from the event's namespaces.
    :ivar errors: this handler's failure policy, overriding the dispatcher's.
    :ivar threaded: run the handler in the reactor's thread pool.
    :ivar timeout: seconds the handler may take before it is cancelled and
        reported as timed out (overrides the dispatcher's ``handler_timeout``).
    :ivar max_concurrent: how many calls of the handler may run at once.
    :ivar max_queued: how many calls may wait for a turn beyond those.
    :ivar when_full: at the limit, ``"wait"`` (queue, up to ``max_queued``)
        or ``"error"`` (fail the call at once with ``OverloadedError``).
    :ivar idempotent: the handler may safely run again for an event it has
        already handled: a completion log (see ``IHandlerLedger``) never
        skips it.
    :ivar lifo: start before the handlers of the same priority registered
        earlier (pluggy's order), as every handler of a ``Phase(lifo=True)``
        does; declared events with ``lifo=True`` register their handlers so.
    :raises ValueError: for an impossible value (``times`` below 1, an
        unknown error policy, ``pass_context`` with ``inject``...).
    :raises TypeError: for a value of the wrong type.
    """

    times: int | None = attrs.field(default=None, validator=_check_times)
    priority: int = attrs.field(default=0, validator=_check_priority)
    name: str | None = attrs.field(default=None, validator=_check_name)
    requires: frozenset[str] = attrs.field(default=frozenset(), converter=_requires)
    required_by: frozenset[str] = attrs.field(default=frozenset(), converter=_required_by)
    pass_context: bool = attrs.field(default=False, converter=bool)
    inject: bool = attrs.field(default=False, converter=bool)
    errors: ErrorPolicy | None = attrs.field(default=None, validator=_check_errors)
    threaded: bool = attrs.field(default=False, converter=bool)
    timeout: float | None = attrs.field(default=None, validator=_check_timeout)
    max_concurrent: int | None = attrs.field(default=None, validator=_check_limit)
    max_queued: int = attrs.field(default=100, validator=_check_queue_bound)
    when_full: FullPolicy = attrs.field(default="wait", validator=_check_policy)
    idempotent: bool = attrs.field(default=False, converter=bool)
    lifo: bool = attrs.field(default=False, converter=bool)

    def __attrs_post_init__(self) -> None:
        if self.pass_context and self.inject:
            raise ValueError(
                "pass_context and inject cannot be combined: an injected handler asks for 'context'"
            )

    @property
    def ordered(self) -> bool:
        """
        Whether this handler constrains the order of its phase.
        """
        return bool(self.priority or self.requires or self.required_by or self.lifo)

    @property
    def constrains_order(self) -> bool:
        """
        Whether this handler must wait for others, or others for it.
        """
        return bool(self.requires or self.required_by)

    @property
    def needs_general_loop(self) -> bool:
        """
        Whether calling the handler takes more than ``fn(event)``: a context,
        injected keywords, a thread, a concurrency limit.
        """
        return self.pass_context or self.inject or self.threaded or self.max_concurrent is not None


class HandlerOptionsDict(TypedDict, total=False):
    """
    The keyword options of ``register()``, for ``Unpack``: the fields of
    :class:`HandlerOptions`, which checks them (a test keeps the two alike).
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
    idempotent: bool
    lifo: bool


#: The options of a handler registered without any.
DEFAULT_OPTIONS: Final = HandlerOptions()

#: The names ``register()`` takes as options.
_OPTION_NAMES: Final = frozenset(attrs.fields_dict(HandlerOptions))


def handler_options(options: Mapping[str, object]) -> HandlerOptions:
    """
    ``register()``'s keyword options, checked.

    :raises TypeError: naming each name that is no option (a match-spec
        keyword given as ``add_event_handler`` takes it, say), and for a
        value of the wrong type.
    :raises ValueError: for an impossible value.
    """
    try:
        return HandlerOptions(**options)  # type: ignore[arg-type]
    except TypeError:
        unknown = sorted(options.keys() - _OPTION_NAMES)
        if not unknown:
            raise
    spec = ", ".join(f"{name!r}: {options[name]!r}" for name in unknown)
    raise TypeError(
        f"register() has no option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}: "
        f"match-spec keywords go in match={{{spec}}} "
        "(add_event_handler takes them as keyword arguments); "
        f"its options are {', '.join(map(repr, sorted(_OPTION_NAMES)))}"
    )


@final
@attrs.frozen
class AnyOf:
    """
    A match-spec value that accepts any of several values:
    ``register(fn, "during", match={"role": any_of("admin", "owner")})``.

    :ivar values: the accepted values.
    """

    values: frozenset[object]

    def __repr__(self) -> str:
        return f"any_of({', '.join(sorted(map(repr, self.values)))})"


def any_of(*values: object) -> AnyOf:
    """
    A match-spec value accepting any one of ``values``.

    :raises ValueError: if no value is given.
    :raises TypeError: if a value cannot be hashed.
    """
    if not values:
        raise ValueError("any_of() needs at least one value")
    try:
        return AnyOf(frozenset(values))
    except TypeError:
        raise TypeError(f"any_of() values must be hashable, got {values!r}") from None


def _as_dict(keywords: Mapping[str, object]) -> dict[str, object]:
    if not isinstance(keywords, Mapping):
        raise TypeError(f"MatchSpec keywords must be a mapping, got {keywords!r}")
    return dict(keywords)


def as_predicates(where: Predicate | Iterable[Predicate] | None) -> tuple[Predicate, ...]:
    """
    Predicates given as one callable, an iterable of them, or None.

    :raises TypeError: for something that is not a predicate.
    """
    if where is None:
        return ()
    if callable(where):
        return (where,)
    try:
        predicates = tuple(where)
    except TypeError:
        raise TypeError(f"where must be a predicate or an iterable of predicates, got {where!r}") from None
    for predicate in predicates:
        if not callable(predicate):
            raise TypeError(f"predicate must be callable, got {predicate!r}")
    return predicates


@final
@attrs.frozen
class MatchSpec:
    """
    One alternative of a handler's match-spec: keyword values, and predicates
    that must all accept the event too.  A handler given several runs (once)
    when any one of them matches.

    :ivar keywords: keyword to value, :class:`AnyOf`, or None (wildcard).
    :ivar where: predicates, each called as ``predicate(event, details)``.
    """

    keywords: Mapping[str, object] = attrs.field(factory=dict, converter=_as_dict)
    where: tuple[Predicate, ...] = attrs.field(default=(), converter=as_predicates)


def _check_phase_name(_: object, __: object, name: str) -> None:
    if not isinstance(name, str):
        raise TypeError(f"a phase's name must be a non-empty string, got {type(name).__name__} {name!r}")
    if not name:
        raise ValueError(f"a phase's name must be a non-empty string, got {name!r}")


@final
@attrs.frozen
class Phase:
    """
    A phase declared with options, for ``EventDispatcher(phases=...)``.

    :ivar name: the phase's name.
    :ivar sequential: start each handler only once the one before has
        finished (in priority, then registration, order); by default the
        handlers of a phase run concurrently.
    :ivar lifo: among handlers of the same priority, start the last
        registered first (pluggy's order), so that independently registered
        plugins need not coordinate priorities; by default the first
        registered starts first.
    :raises TypeError: for a name that is not a string.
    :raises ValueError: for an empty name.
    """

    name: str = attrs.field(validator=_check_phase_name)
    sequential: bool = False
    lifo: bool = False
