# -*- test-case-name: tests.test_registry -*-
"""
:class:`HandlerId`, the handle a registration gives back, and how handlers
are named.

The handle is what callers hold and what fire reports name.  It reads what it
shows from the registration it stands for (a record the registry keeps, see
``_registry``), through the small :class:`Registered` protocol, so that this
module needs nothing from the rest of the package but the option types.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import BuiltinFunctionType, FunctionType, MethodType
from typing import Any, Final, Protocol, final

from ._options import HandlerOptions

__all__ = ["Handler", "HandlerId", "Registered", "describe_callable"]

#: What a handler is: any callable.
Handler = Callable[..., Any]


def describe_callable(fn: object) -> str:
    """
    A short, readable name for a handler, for ids and log messages: its
    qualified name without the ``<locals>`` of the function that made it;
    for an object without a name of its own (an instance of a class with
    ``__call__``), its class's qualified name.

    A plain function or method, and an instance of a class whose instances can take
    no name but from their own ``__dict__``, are named without the failed
    look-ups of :func:`_named`: registering is that much cheaper.
    """
    kind = type(fn)
    if kind is FunctionType:
        return _unlocal(fn.__qualname__, fn.__name__)  # type: ignore[attr-defined]
    if kind is MethodType and type(fn.__func__) is FunctionType:  # type: ignore[attr-defined]
        return _unlocal(fn.__func__.__qualname__, fn.__func__.__name__)  # type: ignore[attr-defined]
    if kind in _UNNAMED_INSTANCES:
        own = getattr(fn, "__dict__", None)
        if not own or ("__qualname__" not in own and "__name__" not in own):
            return kind.__qualname__
    elif kind not in _NAMED_INSTANCES and _unnamed_instances(kind):
        if len(_UNNAMED_INSTANCES) >= _CLASSES_KEPT:
            _UNNAMED_INSTANCES.clear()
        _UNNAMED_INSTANCES[kind] = None
    return _named(fn)


def _named(fn: object) -> str:
    """
    :func:`describe_callable` by attribute look-ups alone: right for every
    object, whatever its class.
    """
    qualname = getattr(fn, "__qualname__", None)
    if isinstance(qualname, str):
        return _unlocal(qualname, getattr(fn, "__name__", None))
    name = getattr(fn, "__name__", None)
    if isinstance(name, str):
        return name
    return type(fn).__qualname__


def _unlocal(qualname: str, name: object) -> str:
    """
    ``qualname`` from its last ``<locals>.`` on; ``name`` itself where that
    is the same text, so that no string is made per handler.
    """
    if "<locals>." not in qualname:
        return qualname
    tail = qualname.rpartition("<locals>.")[2]
    return name if name == tail and isinstance(name, str) else tail


#: Classes whose instances, without an own ``__qualname__`` or ``__name__``
#: in their ``__dict__``, are named by the class (see :func:`_unnamed_instances`),
#: and classes known not to be: each class is examined once.  The first is
#: forgotten as a whole once it holds :data:`_CLASSES_KEPT`, so that classes
#: made on the fly are not all kept alive; the second holds only the
#: interpreter's own types.
_UNNAMED_INSTANCES: Final[dict[type, None]] = {}
_NAMED_INSTANCES: Final = frozenset({MethodType, BuiltinFunctionType, type})
_CLASSES_KEPT: Final = 1024

#: What an instance's name could come from besides its own ``__dict__``.
_NAMING: Final = ("__qualname__", "__name__", "__getattr__", "__getattribute__")


def _unnamed_instances(kind: type) -> bool:
    """
    Whether an instance of ``kind`` can find ``__qualname__`` or
    ``__name__`` nowhere but in its own ``__dict__``: no class it inherits
    from (``object`` aside) defines either, nor ``__getattr__`` or
    ``__getattribute__``, and its metaclass is ``type`` itself.
    """
    if type(kind) is not type:
        return False
    return not any(name in vars(base) for base in kind.__mro__[:-1] for name in _NAMING)


class Registered(Protocol):
    """
    What a handle reads of the registration it stands for.
    """

    @property
    def seq(self) -> int: ...

    @property
    def phase(self) -> str: ...

    @property
    def label(self) -> str: ...

    @property
    def options(self) -> HandlerOptions: ...

    def alternatives(self) -> Sequence[Mapping[str, object]]:
        """
        The constrained keywords of each alternative spec, with their values.
        """
        ...

    def handler(self) -> Handler | None:
        """
        The handler, or None once removed or garbage collected.
        """
        ...

    def spec_text(self) -> str:
        """
        The spec as a handle's repr shows it, with a leading space (or empty).
        """
        ...


@final
class HandlerId:
    """
    The id of one handler registration.

    Opaque, hashable, unique for the life of the process, and readable in logs::

        <HandlerId #3 notify_admin during role='user'>

    The spec part shows the keywords the handler constrains; a handler that
    constrains nothing (it sees every event) shows none.  For a handler
    registered with alternatives (``match=[...]``), ``|`` separates them and
    ``*`` stands for an alternative that constrains nothing::

        <HandlerId #4 audit during role='admin' | *>

    Pass the id to ``remove_event_handler`` or ``unregister`` to remove the
    handler.
    """

    __slots__ = ("_registration",)

    def __init__(self, registration: Registered) -> None:
        self._registration = registration

    @property
    def phase(self) -> str:
        """
        The phase the handler was added for.
        """
        return self._registration.phase

    @property
    def match_spec(self) -> dict[str, object]:
        """
        The keywords the handler constrains and their values (wildcards left
        out); for a handler with several alternatives, the first.
        """
        return dict(self._registration.alternatives()[0])

    @property
    def match_specs(self) -> tuple[dict[str, object], ...]:
        """
        Every alternative of the handler's match-spec, each as
        :attr:`match_spec` gives the first (predicates left out): what a
        broker binding must cover for the handler to see all its events.
        """
        return tuple(dict(alternative) for alternative in self._registration.alternatives())

    @property
    def options(self) -> HandlerOptions:
        """
        The handler's options (all defaults for a handler registered without any).
        """
        return self._registration.options

    @property
    def name(self) -> str:
        """
        The name other handlers' ``requires``/``required_by`` refer to, and
        that a completion log records: the ``name`` option, else the label.
        """
        name = self._registration.options.name
        return self._registration.label if name is None else name

    @property
    def label(self) -> str:
        """
        The handler's own name (its qualified name), as shown in logs.
        """
        return self._registration.label

    @property
    def order_key(self) -> tuple[int, int]:
        """
        Sorts handlers by priority (higher first), then registration order.
        """
        return (-self._registration.options.priority, self._registration.seq)

    @property
    def requires(self) -> frozenset[str]:
        """
        Names of the handlers this one starts after.
        """
        return self._registration.options.requires

    @property
    def required_by(self) -> frozenset[str]:
        """
        Names of the handlers that start after this one.
        """
        return self._registration.options.required_by

    def handler(self) -> Handler | None:
        """
        The handler, or None once it is removed or garbage collected.
        """
        return self._registration.handler()

    def __repr__(self) -> str:
        registration = self._registration
        return f"<HandlerId #{registration.seq} {self.name} {registration.phase}{registration.spec_text()}>"
