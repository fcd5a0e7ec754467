# -*- test-case-name: tests.test_handler_model -*-
"""
The richer parts of a handler registration: value alternatives, alternative
specs with predicates, N-times, ordering, context and keyword injection,
error policy and threads.

A plain registration has none of these and costs nothing for them: its
L{HandlerId} carries no L{Special}.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from itertools import product
from typing import Any, Final, Literal, final

import attrs
from twisted.internet.defer import DeferredSemaphore

from ._matching import normalize_spec

#: A predicate: called as C{predicate(event, details)}, true to let the handler run.
Predicate = Callable[[object, Mapping[str, object]], object]

ErrorPolicy = Literal["log", "fail"]
FullPolicy = Literal["wait", "error"]


@final
@attrs.frozen
class AnyOf:
    """
    A match-spec value that accepts any of several values:
    C{register(fn, "during", match={"role": any_of("admin", "owner")})}.

    :ivar values: the accepted values.
    """

    values: frozenset[object]

    def __repr__(self) -> str:
        return f"any_of({', '.join(sorted(map(repr, self.values)))})"


def any_of(*values: object) -> AnyOf:
    """
    A match-spec value accepting any one of C{values}.

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


def _as_predicates(where: Predicate | Iterable[Predicate]) -> tuple[Predicate, ...]:
    predicates = _predicates(where)
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

    :ivar keywords: keyword to value, L{AnyOf}, or None (wildcard).
    :ivar where: predicates, each called as C{predicate(event, details)}.
    """

    keywords: Mapping[str, object] = attrs.field(factory=dict, converter=_as_dict)
    where: tuple[Predicate, ...] = attrs.field(default=(), converter=_as_predicates)


@final
class _Alternative:
    """
    A normalised L{MatchSpec}: each combination of values it accepts, and
    its predicates.
    """

    __slots__ = ("filings", "keywords", "values", "where")

    def __init__(
        self, keywords: tuple[str, ...], values: tuple[frozenset[object], ...], where: tuple[Predicate, ...]
    ) -> None:
        self.keywords = keywords
        self.values = values
        self.where = where
        self.filings = [tuple(combination) for combination in product(*values)]

    def describe(self) -> dict[str, object]:
        """
        The alternative's keywords, as a match-spec would give them.
        """
        return {
            keyword: next(iter(accepted)) if len(accepted) == 1 else AnyOf(accepted)
            for keyword, accepted in zip(self.keywords, self.values, strict=True)
        }

    def accepts(self, event: object, details: Mapping[str, object]) -> bool:
        for keyword, accepted in zip(self.keywords, self.values, strict=True):
            if keyword not in details or details[keyword] not in accepted:
                return False
        return all(predicate(event, details) for predicate in self.where)


def _normalize_alternative(spec: MatchSpec, allowed: frozenset[str]) -> _Alternative:
    plain: dict[str, object] = {}
    choices: dict[str, frozenset[object]] = {}
    for keyword, value in spec.keywords.items():
        if isinstance(value, AnyOf):
            choices[keyword] = value.values
        else:
            plain[keyword] = value
    for keyword in choices:
        plain.setdefault(keyword, None)
    keywords, values = normalize_spec(plain, allowed)
    merged = {keyword: frozenset([value]) for keyword, value in zip(keywords, values, strict=True)}
    merged.update(choices)
    ordered = tuple(sorted(merged))
    for predicate in spec.where:
        if not callable(predicate):
            raise TypeError(f"predicate must be callable, got {predicate!r}")
    return _Alternative(ordered, tuple(merged[keyword] for keyword in ordered), spec.where)


def normalize_match(
    match: Mapping[str, object] | MatchSpec | Sequence[Mapping[str, object] | MatchSpec] | None,
    where: Predicate | Iterable[Predicate] | None,
    allowed: frozenset[str],
) -> list[_Alternative]:
    """
    Turn a C{match} argument (a mapping, a L{MatchSpec}, or a sequence of
    either for alternatives) and handler-wide C{where} predicates into
    normalised alternatives.
    """
    if match is None or isinstance(match, (Mapping, MatchSpec)):
        specs: list[Mapping[str, object] | MatchSpec] = [match or {}]
    else:
        specs = list(match)
        if not specs:
            raise ValueError("match needs at least one alternative")
    common = _predicates(where)
    alternatives = []
    for spec in specs:
        if not isinstance(spec, MatchSpec):
            if not isinstance(spec, Mapping):
                raise TypeError(f"each match alternative must be a mapping or a MatchSpec, got {spec!r}")
            spec = MatchSpec(spec)
        alternatives.append(_normalize_alternative(MatchSpec(spec.keywords, (*spec.where, *common)), allowed))
    return alternatives


def _predicates(where: Predicate | Iterable[Predicate] | None) -> tuple[Predicate, ...]:
    if where is None:
        return ()
    if callable(where):
        return (where,)
    try:
        return tuple(where)
    except TypeError:
        raise TypeError(f"where must be a predicate or an iterable of predicates, got {where!r}") from None


@final
@attrs.frozen
class HandlerOptions:
    """
    The options of one registration beyond phase and match-spec.

    :ivar times: call the handler at most this many times, then remove it.
    :ivar priority: higher starts earlier within its phase (default 0).
    :ivar name: the name other handlers' C{requires}/C{required_by} refer to.
    :ivar requires: names of handlers that must finish before this one starts.
    :ivar required_by: names of handlers that may start only after this one.
    :ivar pass_context: call the handler as C{fn(event, context)}.
    :ivar inject: call the handler with keyword arguments taken, by its
        signature, from the event's namespaces.
    :ivar errors: this handler's failure policy, overriding the dispatcher's.
    :ivar threaded: run the handler in the reactor's thread pool.
    :ivar timeout: seconds the handler may take before it is cancelled and
        reported as timed out (overrides the dispatcher's C{handler_timeout}).
    :ivar max_concurrent: how many calls of the handler may run at once.
    :ivar max_queued: how many calls may wait for a turn beyond those.
    :ivar when_full: at the limit, C{"wait"} (queue, up to C{max_queued})
        or C{"error"} (fail the call at once with L{OverloadedError}).
    """

    times: int | None = None
    priority: int = 0
    name: str | None = None
    requires: frozenset[str] = frozenset()
    required_by: frozenset[str] = frozenset()
    pass_context: bool = False
    inject: bool = False
    errors: ErrorPolicy | None = None
    threaded: bool = False
    timeout: float | None = None
    max_concurrent: int | None = None
    max_queued: int = 100
    when_full: FullPolicy = "wait"

    @property
    def ordered(self) -> bool:
        """
        Whether this handler constrains the order of its phase.
        """
        return bool(self.priority or self.requires or self.required_by)


def _check_names(value: str | Iterable[str], what: str) -> frozenset[str]:
    names = (value,) if isinstance(value, str) else tuple(value)
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what} must name handlers by str, got {name!r}")
    return frozenset(names)


def build_options(
    *,
    times: int | None = None,
    priority: int = 0,
    name: str | None = None,
    requires: str | Iterable[str] = (),
    required_by: str | Iterable[str] = (),
    pass_context: bool = False,
    inject: bool = False,
    errors: ErrorPolicy | None = None,
    threaded: bool = False,
    timeout: float | None = None,
    max_concurrent: int | None = None,
    max_queued: int = 100,
    when_full: FullPolicy = "wait",
) -> HandlerOptions:
    """
    Check registration options and gather them.

    :raises ValueError: for an impossible value (C{times} below 1, an unknown
        error policy, C{pass_context} with C{inject}).
    :raises TypeError: for a value of the wrong type.
    """
    if times is not None and (not isinstance(times, int) or isinstance(times, bool) or times < 1):
        raise ValueError(f"times must be a whole number of at least 1, got {times!r}")
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise TypeError(f"priority must be an int, got {priority!r}")
    if name is not None and not isinstance(name, str):
        raise TypeError(f"name must be a str, got {name!r}")
    if errors not in (None, "log", "fail"):
        raise ValueError(f"errors must be 'log' or 'fail', got {errors!r}")
    if pass_context and inject:
        raise ValueError("pass_context and inject cannot be combined: an injected handler asks for 'context'")
    check_limits(timeout, max_concurrent, max_queued, when_full)
    return HandlerOptions(
        timeout=timeout,
        max_concurrent=max_concurrent,
        max_queued=max_queued,
        when_full=when_full,
        times=times,
        priority=priority,
        name=name,
        requires=_check_names(requires, "requires"),
        required_by=_check_names(required_by, "required_by"),
        pass_context=bool(pass_context),
        inject=bool(inject),
        errors=errors,
        threaded=bool(threaded),
    )


def check_timeout(timeout: float | None) -> None:
    """
    Check a timeout: None, or a number of seconds above 0.

    :raises ValueError: for anything else.
    """
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0
    ):
        raise ValueError(f"timeout must be a number of seconds above 0, got {timeout!r}")


def check_limits(timeout: float | None, limit: int | None, queued: int, when_full: str) -> None:
    """
    Check a timeout and a concurrency limit with its queue and policy.

    :raises ValueError: for a value out of range.
    """
    check_timeout(timeout)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"a concurrency limit must be a whole number of at least 1, got {limit!r}")
    if isinstance(queued, bool) or not isinstance(queued, int) or queued < 0:
        raise ValueError(f"a queue bound must be a whole number >= 0, got {queued!r}")
    if when_full not in ("wait", "error"):
        raise ValueError(f"when_full must be 'wait' or 'error', got {when_full!r}")


DEFAULT_OPTIONS: Final = HandlerOptions()

#: Names an injected handler can always ask for.
INJECTABLE: Final = ("event", "context")


def injected_names(fn: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """
    What an injected handler's signature asks for.

    :returns: the names it accepts, those of them it requires, and whether
        it takes any keyword (C{**kwargs}).
    :raises TypeError: if the signature cannot be read, or takes positional-only
        parameters without defaults (they cannot be given by keyword).
    """
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError) as error:
        raise TypeError(
            f"cannot inject keywords into {fn!r}: its signature is unreadable ({error})"
        ) from None
    accepted: list[str] = []
    required: list[str] = []
    any_keyword = False
    for parameter in signature.parameters.values():
        if parameter.kind is parameter.VAR_KEYWORD:
            any_keyword = True
        elif parameter.kind is parameter.VAR_POSITIONAL:
            continue
        elif parameter.kind is parameter.POSITIONAL_ONLY:
            if parameter.default is parameter.empty:
                raise TypeError(
                    f"cannot inject keywords into {fn!r}: parameter {parameter.name!r} is positional-only"
                )
        else:
            accepted.append(parameter.name)
            if parameter.default is parameter.empty:
                required.append(parameter.name)
    return tuple(accepted), tuple(required), any_keyword


@final
class Special:
    """
    What a registration with options carries: its options, its alternatives
    and where they are filed, its remaining calls, and what injection asks for.
    """

    __slots__ = (
        "accepted",
        "alternatives",
        "any_keyword",
        "filings",
        "limiter",
        "options",
        "remaining",
        "required",
    )

    def __init__(
        self,
        options: HandlerOptions,
        alternatives: list[_Alternative],
        filings: list[tuple[tuple[str, ...], object]],
        fn: Callable[..., Any],
    ) -> None:
        self.options = options
        self.alternatives = alternatives
        self.filings = filings
        self.remaining = options.times
        self.limiter: DeferredSemaphore | None = None
        if options.max_concurrent is not None:
            self.limiter = DeferredSemaphore(options.max_concurrent)
        self.accepted: tuple[str, ...] = ()
        self.required: tuple[str, ...] = ()
        self.any_keyword = False
        if options.inject:
            self.accepted, self.required, self.any_keyword = injected_names(fn)

    @property
    def filters(self) -> bool:
        """
        Whether the index alone cannot decide a match: some alternative has
        predicates.  (Without them, being found by the index means that an
        alternative matched.)
        """
        return any(alternative.where for alternative in self.alternatives)

    def accepts(self, event: object, details: Mapping[str, object]) -> bool:
        """
        Whether any alternative accepts the event (predicates included).
        """
        return any(alternative.accepts(event, details) for alternative in self.alternatives)


@final
@attrs.frozen
class Phase:
    """
    A phase declared with options, for C{EventDispatcher(phases=...)}.

    :ivar name: the phase's name.
    :ivar sequential: start each handler only once the one before has
        finished (in priority, then registration, order); by default the
        handlers of a phase run concurrently.
    """

    name: str
    sequential: bool = False
