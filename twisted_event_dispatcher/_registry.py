# -*- test-case-name: tests.test_registry -*-
"""
The registrations of one dispatcher: what each handler is, how it is held,
where it is filed, and in what order the handlers of a phase start.

A registration is two objects: the :class:`~._handle.HandlerId` handed to
the caller, and the :class:`Registration` record kept here.  The record
holds the handler (strongly, or by a weak reference that reports its
collection), where it is filed in its phase's index, and, for a handler
registered with options, a :class:`Tuned` with what calling it needs.

The run (``_run``) reads registrations; it changes them only through
:meth:`Registry.admit_call` (which counts ``times``) and :meth:`Registry.purge`.
"""

from __future__ import annotations

import itertools
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import BuiltinMethodType, FunctionType, MethodType, ModuleType
from typing import Any, Final, final

from twisted.logger import Logger

from ._errors import NotWeakReferenceableError, UnknownHandlerError, UnknownPhaseError
from ._handle import Handler, HandlerId, describe_callable
from ._limiter import Limiter
from ._matching import Filing, Residual, check_hashable, normalize_spec, plain_constraints
from ._options import DEFAULT_OPTIONS, AnyOf, HandlerOptions, Phase, Predicate
from ._ordering import check_acyclic
from ._phases import PhaseHandlers, Plan
from ._specs import Alternative, Alternatives, Match, choose_filings, normalize_match
from ._text import brief
from .interfaces import IHandlerLedger

__all__ = [
    "CALL",
    "DONE",
    "PASS",
    "Handler",
    "HandlerId",
    "PhaseHandlers",
    "Plan",
    "Registration",
    "Registry",
    "Tuned",
    "check_handler",
    "describe_callable",
    "injected_names",
]

_log = Logger()
_new: Final = object.__new__

#: One counter for the whole process, so that ids are never reused, not even
#: across dispatchers.
_sequence: Final = itertools.count(1)

#: How many start orders a phase remembers (one per set of matching handlers).
_PLANS_KEPT: Final = 256

#: What :meth:`Registry.admit_call` answers.
CALL: Final = 0
PASS: Final = 1
DONE: Final = 2


def injected_names(fn: Callable[..., Any]) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
    """
    What a handler called with injected keywords asks for.

    :returns: the names it accepts, those of them it requires, and whether
        it takes any keyword (``**kwargs``).
    :raises TypeError: if the signature cannot be read, or takes positional-only
        parameters without defaults (they cannot be given by keyword).
    """
    import inspect

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
class Tuned:
    """
    What a registration tuned by options carries beyond a plain one: the
    options, the alternative specs and where each is filed, the calls left
    (``times``), the concurrency limit, what injection asks for, and the
    handler itself.

    :ivar gated: whether each call must first pass :meth:`Registry.admit_call`
        (predicates to ask, or ``times`` to count).
    :ivar needs_general_loop: whether calling it takes more than ``fn(event)``
        (a context, injected keywords, a thread or a concurrency limit): only
        the general loop of a run does that.
    """

    __slots__ = (
        "accepted",
        "alternatives",
        "any_keyword",
        "filings",
        "fn",
        "gated",
        "limiter",
        "needs_general_loop",
        "options",
        "predicates",
        "ref",
        "remaining",
        "required",
    )

    def __init__(
        self,
        options: HandlerOptions,
        alternatives: list[Alternative],
        filings: list[Filing],
        fn: Handler,
    ) -> None:
        self.options = options
        self.alternatives = alternatives
        self.filings = filings
        # The handler, held here rather than by the registration, so that the
        # tight loop (which reads the registration's) never takes it for a
        # plain one.
        self.fn: Handler | None = None
        self.ref: Callable[[], Handler | None] | None = None
        self.remaining = options.times
        self.predicates = any(alternative.where for alternative in alternatives)
        self.gated = self.predicates or options.times is not None
        self.needs_general_loop = options.needs_general_loop
        self.limiter: Limiter | None = None
        self.accepted: tuple[str, ...] = ()
        self.required: tuple[str, ...] = ()
        self.any_keyword = False
        if options.inject:
            self.accepted, self.required, self.any_keyword = injected_names(fn)

    def accepts(self, event: object, details: Mapping[str, object]) -> bool:
        """
        Whether some alternative accepts the event, predicates included.  With
        one alternative, the index has checked its keywords already: only its
        predicates are asked.
        """
        alternatives = self.alternatives
        if len(alternatives) == 1:
            for predicate in alternatives[0].where:  # noqa: SIM110 (no generator made per call)
                if not predicate(event, details):
                    return False
            return True
        for alternative in alternatives:  # noqa: SIM110 (no generator made per call)
            if alternative.accepts(event, details):
                return True
        return False

    def handler(self) -> Handler | None:
        """
        The handler, or None once removed or garbage collected.
        """
        if self.fn is not None:
            return self.fn
        if self.ref is not None:
            return self.ref()
        return None


def _spec_text(alternatives: Sequence[Mapping[str, object]]) -> str:
    if len(alternatives) == 1 and not alternatives[0]:
        return ""  # constrains nothing: no spec part, with options or without
    return " " + " | ".join(
        " ".join(f"{keyword}={brief(value)}" for keyword, value in alternative.items()) or "*"
        for alternative in alternatives
    )


@final
class Registration:
    """
    The record of one registration (see the module docstring).

    A plain registration (no options, one spec of plain values) holds its
    handler in ``fn`` (strongly) or ``ref`` (weakly), and is filed under
    ``keyword``/``value`` (``keyword`` None: among the wildcards); ``rest``
    holds its whole spec as a dict, its probe last (see
    ``SpecIndex.placement``), when it constrains more than that one keyword.

    A registration with options has a :class:`Tuned`, which holds its
    handler: its ``fn`` and ``ref`` stay None.  Both are None too once a
    registration is removed.
    """

    __slots__ = ("fn", "id", "keyword", "label", "phase", "ref", "rest", "seq", "tuned", "value")

    def __init__(self, phase: str, label: str, keyword: str | None = None, value: object = None) -> None:
        self.seq = next(_sequence)
        self.phase = phase
        self.label = label
        # HandlerId(self), without a call of its __init__ (one per registration).
        handle = self.id = _new(HandlerId)
        handle._registration = self
        self.fn: Handler | None = None
        self.ref: Callable[[], Handler | None] | None = None
        self.keyword = keyword
        self.value = value
        self.rest: Residual = None
        self.tuned: Tuned | None = None

    @property
    def options(self) -> HandlerOptions:
        return DEFAULT_OPTIONS if self.tuned is None else self.tuned.options

    @property
    def name(self) -> str:
        name = self.options.name
        return self.label if name is None else name

    @property
    def order_key(self) -> tuple[int, int]:
        return (-self.options.priority, self.seq)

    @property
    def requires(self) -> frozenset[str]:
        return self.options.requires

    @property
    def required_by(self) -> frozenset[str]:
        return self.options.required_by

    def alternatives(self) -> list[dict[str, object]]:
        if self.tuned is not None:
            return [alternative.describe() for alternative in self.tuned.alternatives]
        if type(self.rest) is dict:  # the whole spec, its probe last
            return [dict(sorted(self.rest.items()))]
        return [{} if self.keyword is None else {self.keyword: self.value}]

    def spec_text(self) -> str:
        return _spec_text(self.alternatives())

    def handler(self) -> Handler | None:
        if self.tuned is not None:
            return self.tuned.handler()
        if self.fn is not None:
            return self.fn
        if self.ref is not None:
            return self.ref()
        return None

    def holds(self, ref: object) -> bool:
        """
        Whether ``ref`` is the weak reference this registration holds its handler by.
        """
        holder = self if self.tuned is None else self.tuned
        return holder.ref is ref

    def release(self) -> None:
        """
        Drop the handler: the registration is gone.
        """
        holder = self if self.tuned is None else self.tuned
        holder.fn = None
        holder.ref = None


# Holding handlers


class _HandlerRef(weakref.ref):  # type: ignore[type-arg]
    """
    A weak reference to a plain handler that knows its registration.
    """

    __slots__ = ("registration",)
    registration: Registration


class _MethodRef(weakref.WeakMethod):  # type: ignore[type-arg]
    """
    A weak reference to a bound-method handler that knows its registration.
    """

    __slots__ = ("registration",)
    registration: Registration


class _BuiltinMethodRef(weakref.ref):  # type: ignore[type-arg]
    """
    A weak reference to a bound builtin method (such as ``some_set.add``).

    The bound method object is made anew at each attribute access, so it is
    its owner that is weakly held, and the method looked up again on call.
    """

    __slots__ = ("method_name", "registration")
    registration: Registration
    method_name: str

    def __call__(self) -> Handler | None:
        owner = super().__call__()
        return None if owner is None else getattr(owner, self.method_name)


#: A weak reference that knows the registration it belongs to.
HandlerRef = _HandlerRef | _MethodRef | _BuiltinMethodRef


def _bound_builtin_owner(fn: Handler) -> object | None:
    """
    The object a builtin method is bound to, or None if ``fn`` is not one.
    """
    if not isinstance(fn, BuiltinMethodType):
        return None
    owner = fn.__self__
    return None if owner is None or isinstance(owner, ModuleType) else owner


def _weak_ref(fn: Handler, collected: Callable[[HandlerRef], None]) -> HandlerRef:
    if type(fn) is FunctionType:  # the usual handler, told apart at once
        return _HandlerRef(fn, collected)
    if isinstance(fn, MethodType):
        return _MethodRef(fn, collected)
    owner = _bound_builtin_owner(fn)
    if owner is None:
        return _HandlerRef(fn, collected)
    ref = _BuiltinMethodRef(owner, collected)
    ref.method_name = fn.__name__
    return ref


def _hold(
    registration: Registration,
    fn: Handler,
    use_weakref: bool | None,
    collected: Callable[[HandlerRef], None],
) -> None:
    """
    Make ``registration`` (or its :class:`Tuned`) hold ``fn``, strongly or weakly.

    When held weakly, ``collected`` is called with the weak reference (whose
    ``registration`` attribute names the registration) once ``fn``, or for a
    bound method its instance, is garbage collected.  One ``collected``
    callable is shared by every registration, so a weak one costs no closure.

    :raises NotWeakReferenceableError: if ``fn`` cannot be weakly referenced.
    """
    holder = registration if registration.tuned is None else registration.tuned
    if use_weakref is None:  # the default: a bound method lasts as long as its object
        use_weakref = type(fn) is MethodType
    if not use_weakref:
        holder.fn = fn
        return
    try:
        ref = _weak_ref(fn, collected)
    except TypeError:
        raise NotWeakReferenceableError(fn) from None
    ref.registration = registration
    holder.ref = ref


def check_handler(fn: object) -> None:
    """
    :raises TypeError: if ``fn`` cannot be a handler (it is not callable).
    """
    if not callable(fn):
        raise TypeError(f"handler must be callable, got {fn!r}")


def _check_phases(phases: Sequence[str | Phase]) -> tuple[Phase, ...]:
    if isinstance(phases, str | bytes):
        raise TypeError(f"phases must be a sequence of names, not the single string {phases!r}")
    if not isinstance(phases, Iterable):
        raise TypeError(f"phases must be a sequence of names, got {type(phases).__name__} {phases!r}")
    given = tuple(phases)
    for name in given:
        if not isinstance(name, str | Phase):
            raise TypeError(f"phases must be strings, got {type(name).__name__} {name!r}")
        if not name:
            raise ValueError(f"phases must be non-empty strings, got {name!r}")
    declared = tuple(phase if isinstance(phase, Phase) else Phase(phase) for phase in given)
    names = [phase.name for phase in declared]
    if not names:
        raise ValueError("phases must name at least one phase")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"phases must be distinct, got {repeated!r} more than once")
    return declared


def _wildcards(match: Match | None) -> bool | None:
    """
    None if ``match`` is not one mapping of plain values (it has alternatives,
    or an :class:`AnyOf`); else whether some value is None (a wildcard).
    """
    if match is None:
        return False
    if type(match) is not dict and not isinstance(match, Mapping):  # dict first: Mapping is an ABC
        return None
    wildcards = False
    for value in match.values():  # a plain loop: cheaper than any scan in C made per call
        if value is None:
            wildcards = True
        elif type(value) is AnyOf:
            return None
    return wildcards


def _plain_value(value: object) -> bool:
    """
    Whether ``value`` may be filed as it is: hashable, and neither None (a
    wildcard) nor :class:`AnyOf`.
    """
    if value is None or type(value) is AnyOf:
        return False
    try:
        hash(value)
    except TypeError:
        return False
    return True


@final
class Registry:
    """
    Every registration of one dispatcher, by phase.

    :param allowed: the keywords specs may constrain.
    :param phases: the phases, in the order they run.
    :ivar live: the phases that have handlers, in order: all a fire visits.
    :ivar last_seq: the ``seq`` of the newest registration; a fire skips
        registrations newer than the one when it began.
    """

    def __init__(self, allowed: frozenset[str], phases: Sequence[str | Phase]) -> None:
        self.allowed = allowed
        self.phases = tuple(
            PhaseHandlers[Registration](phase, at) for at, phase in enumerate(_check_phases(phases))
        )
        self.names = tuple(phase.name for phase in self.phases)
        self._by_name = {phase.name: phase for phase in self.phases}
        self.live: tuple[PhaseHandlers[Registration], ...] = ()
        self.last_seq = 0
        # Weak references whose handler was garbage collected.  The weakref
        # callback only appends here (atomic, and safe in any thread or in the
        # middle of an index update); the registry purges them itself.
        self.dead: deque[HandlerRef] = deque()

    def phase(self, name: str) -> PhaseHandlers[Registration]:
        """
        :raises UnknownPhaseError: for a phase this registry does not have.
        """
        try:
            phase = self._by_name.get(name)
        except TypeError:  # unhashable
            phase = None
        if phase is None:
            raise UnknownPhaseError(name, self.names)
        return phase

    # Adding

    def register(
        self,
        fn: Handler,
        phase_name: str,
        match: Match | None,
        where: Predicate | Iterable[Predicate] | None,
        use_weakref: bool | None,
        options: HandlerOptions | None,
    ) -> HandlerId:
        """
        Register ``fn``, once :func:`check_handler` has passed it; see
        ``EventDispatcher.register`` for the arguments.
        """
        phase = self.phase(phase_name)
        if self.dead:
            self.purge()
        wildcards = None if options is not None or where is not None else _wildcards(match)
        if wildcards is not None:
            registration = self._plain(fn, phase, match, wildcards)  # type: ignore[arg-type]
        else:
            registration = self._tuned(fn, phase, match, where, options or DEFAULT_OPTIONS)
        _hold(registration, fn, use_weakref, self.dead.append)
        self._file(phase, registration)
        return registration.id

    def add(
        self, fn: Handler, phase_name: str, spec: dict[str, object], use_weakref: bool | None
    ) -> HandlerId:
        """
        :meth:`register` ``fn`` with a match-spec and no options, as
        ``add_event_handler`` does.

        The usual shape takes a shorter road, filed here without a further
        call: the phase exists, ``fn`` is callable and held strongly (not a
        bound method, which is held weakly by default), and ``spec``
        constrains one allowed keyword to a hashable value, neither None (a
        wildcard) nor :class:`AnyOf`.  Anything else, and every error, goes
        by :func:`check_handler` and :meth:`register`.
        """
        phase = self._by_name.get(phase_name) if type(phase_name) is str else None
        if phase is not None and len(spec) == 1 and use_weakref is None and not self.dead:
            (keyword,) = spec
            value = spec[keyword]
            if (
                keyword in self.allowed
                and (type(value) is str or _plain_value(value))
                and type(fn) is not MethodType
                and callable(fn)
            ):
                registration = Registration(phase_name, describe_callable(fn), keyword, value)
                if phase.referenced and registration.label in phase.referenced:
                    self._check_order(phase, registration)
                registration.fn = fn
                # _file()'s plain branch, without the call (keep both alike).
                index = phase.index
                index.add_one(registration, keyword, value)
                if phase.keeps:
                    phase.changed()
                self.last_seq = registration.seq
                if index.size == 1:
                    self._refresh_live()
                return registration.id
        check_handler(fn)
        return self.register(fn, phase_name, spec, None, use_weakref, None)

    def _plain(
        self,
        fn: Handler,
        phase: PhaseHandlers[Registration],
        match: Mapping[str, object] | None,
        wildcards: bool,
    ) -> Registration:
        if match is not None and len(match) > 1:
            match = plain_constraints(match, self.allowed, wildcards)  # first: a refused spec takes no id
            if len(match) > 1:
                return self._placed(fn, phase, match)
        keywords, values = normalize_spec(match or {}, self.allowed)
        registration = Registration(phase.name, describe_callable(fn))
        if keywords:
            registration.keyword = keywords[0]
            registration.value = values[0]
        if registration.label in phase.referenced:
            self._check_order(phase, registration)
        return registration

    def _placed(
        self, fn: Handler, phase: PhaseHandlers[Registration], constraints: Mapping[str, object]
    ) -> Registration:
        """
        A registration that constrains several keywords, filed under its most
        selective pair, with its constraints as its residual: a dict (no
        tuple per pair, nothing for the garbage collector to track), its
        probe last (see ``SpecIndex.placement``).  A copy of a dict is a
        copy of its table, cheaper than filling a new one pair by pair.
        """
        try:
            (keyword, value), (probe, expected) = phase.index.placement(constraints)
        except TypeError:  # an unhashable value: named as normalize_spec names it
            check_hashable(constraints, "match-spec")
            raise
        registration = Registration(phase.name, describe_callable(fn), keyword, value)
        rest = registration.rest = {**constraints}
        del rest[probe]
        rest[probe] = expected
        if registration.label in phase.referenced:
            self._check_order(phase, registration)
        return registration

    def _tuned(
        self,
        fn: Handler,
        phase: PhaseHandlers[Registration],
        match: Match | None,
        where: Predicate | Iterable[Predicate] | None,
        options: HandlerOptions,
    ) -> Registration:
        alternatives = normalize_match(match, where, self.allowed)
        filings: list[Filing] = []
        for alternative in alternatives:
            for filing in choose_filings(alternative, phase.index):  # type: ignore[arg-type]
                if filing not in filings:
                    filings.append(filing)
        if None in filings:  # an alternative that constrains nothing: a wildcard
            filings = [None]
        registration = Registration(phase.name, describe_callable(fn))
        tuned = registration.tuned = Tuned(options, alternatives, filings, fn)
        if len(alternatives) > 1:
            registration.rest = Alternatives(alternatives)
        elif filings != [None]:  # the keyword it is filed under needs no second look
            filed = filings[0][0]  # type: ignore[index]
            rest = tuple(constraint for constraint in alternatives[0].constraints if constraint[0] != filed)
            registration.rest = rest or None
        if options.max_concurrent is not None:
            tuned.limiter = Limiter(
                options.max_concurrent, options.max_queued, options.when_full, registration.id
            )
        if options.ordered or registration.name in phase.referenced:
            self._check_order(phase, registration)
        return registration

    def _check_order(self, phase: PhaseHandlers[Registration], new: Registration) -> None:
        """
        Refuse ``new`` if its constraints close a cycle among the phase's
        handlers (a scan of the phase, made only for handlers with constraints).
        """
        check_acyclic([*phase.index.items(), new], phase.name)

    def _file(self, phase: PhaseHandlers[Registration], registration: Registration) -> None:
        tuned = registration.tuned
        if tuned is None:  # default options: one filing, and order nothing (as add() files it)
            phase.index.add_one(registration, registration.keyword, registration.value)
            if phase.keeps:
                phase.changed()
        else:
            phase.index.add(registration, tuned.filings)
            phase.added(registration)
        self.last_seq = registration.seq
        if phase.index.size == 1:
            self._refresh_live()

    # Removing

    def unregister(self, handler_id: HandlerId) -> None:
        """
        Remove a registration at once.

        :raises UnknownHandlerError: if ``handler_id`` is not registered here.
        """
        if self.dead:
            self.purge()
        registration = handler_id._registration if isinstance(handler_id, HandlerId) else None
        if isinstance(registration, Registration):
            if registration.tuned is not None:
                if self.remove(registration):
                    return
            else:  # remove()'s plain branch, without the call: the usual removal (keep both alike)
                phase = self._by_name.get(registration.phase)
                if phase is not None:
                    index = phase.index
                    if index.remove_one(registration, registration.keyword, registration.value):
                        if phase.keeps:
                            phase.changed()
                        registration.fn = registration.ref = None
                        if not index.size:
                            self._refresh_live()
                        return
        raise UnknownHandlerError(handler_id)

    def remove(self, registration: Registration) -> bool:
        """
        Remove a registration if it is filed here; return whether it was.
        """
        phase = self._by_name.get(registration.phase)
        if phase is None:
            return False
        tuned = registration.tuned
        if tuned is None:  # default options: one filing, and ordered nothing (as unregister() unfiles it)
            if not phase.index.remove_one(registration, registration.keyword, registration.value):
                return False
            if phase.keeps:
                phase.changed()
            registration.fn = registration.ref = None
        else:
            if not phase.index.remove(registration, tuned.filings):
                return False
            phase.removed(registration)
            registration.release()
        if not phase.index.size:
            self._refresh_live()
        return True

    def purge(self) -> None:
        """
        Forget the registrations whose weakly held handler was garbage collected.
        """
        dead = self.dead
        while dead:
            ref = dead.popleft()
            registration = ref.registration
            if registration.holds(ref) and self.remove(registration):
                _log.info(
                    "Removed {handler_id!r}: its handler was garbage collected "
                    "(pass use_weakref=False to keep a handler alive)",
                    handler_id=registration.id,
                )

    def _refresh_live(self) -> None:
        self.live = tuple(phase for phase in self.phases if phase.index.size)

    # Calling

    def admit_call(
        self,
        registration: Registration,
        event: object,
        details: Mapping[str, object],
        ledger: IHandlerLedger | None = None,
    ) -> int:
        """
        Whether a handler found for this event is called: :data:`CALL`; not
        when its predicates refuse the event (:data:`PASS`); not when the
        fire's ledger says it already completed for it (:data:`DONE`).  A
        call counts against ``times`` here (see :meth:`count_call`), unless
        the handler has a concurrency limit: then the call counts when it
        gets its place and starts.  A predicate's exception propagates, as
        the handler's own would.
        """
        tuned = registration.tuned
        if tuned is not None and tuned.predicates and not tuned.accepts(event, details):
            return PASS
        if ledger is not None and not registration.options.idempotent and ledger.completed(registration.id):
            return DONE
        if tuned is not None and tuned.limiter is None:  # a limited call counts as it starts
            self.count_call(registration)
        return CALL

    def count_call(self, registration: Registration) -> None:
        """
        A call of a handler with ``times`` starts: count it, and remove the
        registration as its last call starts.
        """
        tuned = registration.tuned
        if tuned is not None and tuned.remaining is not None:
            tuned.remaining -= 1
            if not tuned.remaining:
                self.remove(registration)

    # Reading

    def unmet_requirements(self, phase_name: str | None = None) -> dict[HandlerId, frozenset[str]]:
        """
        Each handler whose ``requires``/``required_by`` names a handler not
        registered in its phase, with those names.

        :raises UnknownPhaseError: for a phase this registry does not have.
        """
        if self.dead:
            self.purge()
        phases = self.phases if phase_name is None else (self.phase(phase_name),)
        return {registration.id: names for phase in phases for registration, names in phase.unmet().items()}

    def handler_ids(self, phase_name: str | None = None) -> list[HandlerId]:
        """
        The ids of the registered handlers, in registration order.

        :raises UnknownPhaseError: for a phase this registry does not have.
        """
        if self.dead:
            self.purge()
        phases = self.phases if phase_name is None else (self.phase(phase_name),)
        return [registration.id for phase in phases for registration in phase.index.items()]
