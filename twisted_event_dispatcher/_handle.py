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
from types import FunctionType, MethodType
from typing import Any, Protocol, final

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

    A plain function, or a method of one, is named from its own attributes
    at once; anything else by look-ups that may fail.  Never by reading an
    instance's ``__dict__``: in CPython that makes the dict its attributes
    are kept in, and every attribute the handler then reads or writes as
    it runs costs more.
    """
    kind = type(fn)
    if kind is FunctionType:
        return _unlocal(fn.__qualname__, fn.__name__)  # type: ignore[attr-defined]
    if kind is MethodType and type(fn.__func__) is FunctionType:  # type: ignore[attr-defined]
        return _unlocal(fn.__func__.__qualname__, fn.__func__.__name__)  # type: ignore[attr-defined]
    # An instance usually has neither name: "is not None" answers that
    # before isinstance, which costs more when it fails.
    qualname = getattr(fn, "__qualname__", None)
    if qualname is not None and isinstance(qualname, str):
        return _unlocal(qualname, getattr(fn, "__name__", None))
    name = getattr(fn, "__name__", None)
    if name is not None and isinstance(name, str):
        return name
    return kind.__qualname__


def _unlocal(qualname: str, name: object) -> str:
    """
    ``qualname`` from its last ``<locals>.`` on; ``name`` itself where that
    is the same text, so that no string is made per handler.
    """
    if "<locals>." not in qualname:
        return qualname
    tail = qualname.rpartition("<locals>.")[2]
    return name if name == tail and isinstance(name, str) else tail


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
