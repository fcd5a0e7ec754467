# -*- test-case-name: tests.test_registry -*-
"""
Handler registrations: the ids handed out for them, and how handlers are held.

A L{HandlerId} is both the opaque id a caller gets back and the record the
dispatcher keeps, so a registration costs one small object (plus a weak
reference when the handler is held weakly).
"""

from __future__ import annotations

import itertools
import weakref
from collections.abc import Callable
from types import BuiltinMethodType, FunctionType, MethodType, ModuleType
from typing import Any, Final, final

from ._errors import NotWeakReferenceableError
from ._options import DEFAULT_OPTIONS, HandlerOptions, Special

Handler = Callable[..., Any]

#: One counter for the whole process, so that ids are never reused, not even
#: across dispatchers.
_sequence: Final = itertools.count(1)


def describe_callable(fn: object) -> str:
    """
    A short, readable name for a handler, for ids and log messages.
    """
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(qualname, str):
        if "<locals>." not in qualname:
            return qualname
        name = getattr(fn, "__name__", None)
        tail = qualname.rpartition("<locals>.")[2]
        # Reuse the existing string where it is the same: no allocation per handler.
        return name if name == tail and isinstance(name, str) else tail
    name = getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    return type(fn).__qualname__


@final
class HandlerId:
    """
    The id of one handler registration.

    Opaque, hashable, unique for the life of the process, and readable in logs::

        <HandlerId #3 notify_admin during role='user'>

    Pass it to C{remove_event_handler} to remove the handler.
    """

    __slots__ = ("_fn", "_key", "_keywords", "_label", "_phase", "_ref", "_seq", "_special")

    _seq: int
    _phase: str
    _keywords: tuple[str, ...]
    _key: object
    _label: str
    _fn: Handler | None
    _ref: Callable[[], Handler | None] | None
    #: The options of a registration that has any, else None.
    _special: Special | None

    def __init__(self, phase: str, keywords: tuple[str, ...], key: object, label: str) -> None:
        self._seq = next(_sequence)
        self._phase = phase
        self._keywords = keywords
        self._key = key
        self._label = label
        self._fn = None
        self._ref = None
        self._special = None

    @property
    def phase(self) -> str:
        """
        The phase the handler was added for.
        """
        return self._phase

    @property
    def match_spec(self) -> dict[str, object]:
        """
        The keywords the handler constrains and their values (wildcards left
        out); for a handler with several alternatives, the first.
        """
        if self._special is not None:
            return self._special.alternatives[0].describe()
        return dict(zip(self._keywords, self._values(), strict=True))

    @property
    def match_specs(self) -> tuple[dict[str, object], ...]:
        """
        Every alternative of the handler's match-spec, each as
        L{match_spec} gives the first (predicates left out): what a broker
        binding must cover for the handler to see all its events.
        """
        if self._special is not None:
            return tuple(alternative.describe() for alternative in self._special.alternatives)
        return (self.match_spec,)

    @property
    def options(self) -> HandlerOptions:
        """
        The handler's options (all defaults for a plain handler).
        """
        return DEFAULT_OPTIONS if self._special is None else self._special.options

    @property
    def name(self) -> str:
        """
        The name other handlers' C{requires}/C{required_by} refer to: the
        C{name} option, else the handler's label.
        """
        special = self._special
        if special is not None and special.options.name is not None:
            return special.options.name
        return self._label

    @property
    def order_key(self) -> tuple[int, int]:
        """
        Sorts handlers by priority (higher first), then registration order.
        """
        special = self._special
        return (0 if special is None else -special.options.priority, self._seq)

    @property
    def requires(self) -> frozenset[str]:
        """
        Names of the handlers this one starts after.
        """
        return frozenset() if self._special is None else self._special.options.requires

    @property
    def required_by(self) -> frozenset[str]:
        """
        Names of the handlers that start after this one.
        """
        return frozenset() if self._special is None else self._special.options.required_by

    def _values(self) -> tuple[object, ...]:
        if len(self._keywords) == 1:
            return (self._key,)
        return self._key  # type: ignore[return-value]

    @property
    def label(self) -> str:
        """
        The handler's name, as shown in logs.
        """
        return self._label

    def handler(self) -> Handler | None:
        """
        The handler, or None once it is removed or garbage collected.
        """
        if self._fn is not None:
            return self._fn
        if self._ref is not None:
            return self._ref()
        return None

    def _release(self) -> None:
        self._fn = None
        self._ref = None

    def __repr__(self) -> str:
        if self._special is not None:
            described = " | ".join(
                " ".join(f"{k}={v!r}" for k, v in alternative.describe().items()) or "*"
                for alternative in self._special.alternatives
            )
            return f"<HandlerId #{self._seq} {self.name} {self._phase} {described}>"
        spec = "".join(
            f" {keyword}={value!r}" for keyword, value in zip(self._keywords, self._values(), strict=True)
        )
        return f"<HandlerId #{self._seq} {self._label} {self._phase}{spec}>"


class _HandlerRef(weakref.ref):  # type: ignore[type-arg]
    """
    A weak reference to a plain handler that knows its registration.
    """

    __slots__ = ("handler_id",)
    handler_id: HandlerId


class _MethodRef(weakref.WeakMethod):  # type: ignore[type-arg]
    """
    A weak reference to a bound-method handler that knows its registration.
    """

    __slots__ = ("handler_id",)
    handler_id: HandlerId


class _BuiltinMethodRef(weakref.ref):  # type: ignore[type-arg]
    """
    A weak reference to a bound builtin method (such as C{some_set.add}).

    The bound method object is made anew at each attribute access, so it is
    its owner that is weakly held, and the method looked up again on call.
    """

    __slots__ = ("handler_id", "method_name")
    handler_id: HandlerId
    method_name: str

    def __call__(self) -> Handler | None:
        owner = super().__call__()
        return None if owner is None else getattr(owner, self.method_name)


#: A weak reference that knows the registration it belongs to.
HandlerRef = _HandlerRef | _MethodRef | _BuiltinMethodRef


def _bound_builtin_owner(fn: Handler) -> object | None:
    """
    The object a builtin method is bound to, or None if C{fn} is not one.
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


def hold(
    handler_id: HandlerId,
    fn: Handler,
    use_weakref: bool,
    collected: Callable[[HandlerRef], None],
) -> None:
    """
    Make C{handler_id} hold C{fn}, strongly or weakly.

    When held weakly, C{collected} is called with the weak reference (whose
    C{handler_id} attribute names the registration) once C{fn}, or for a bound
    method its instance, is garbage collected.  One C{collected} callable is
    shared by every registration, so a weak registration costs no closure.

    :raises NotWeakReferenceableError: if C{fn} cannot be weakly referenced.
    """
    if not use_weakref:
        handler_id._fn = fn
        return
    try:
        ref = _weak_ref(fn, collected)
    except TypeError:
        raise NotWeakReferenceableError(fn) from None
    ref.handler_id = handler_id
    handler_id._ref = ref
