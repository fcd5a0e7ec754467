# -*- test-case-name: tests.test_handler_properties -*-
"""
The handlers of one phase (:class:`PhaseHandlers`): their index, and the
order they start in (:class:`Plan`), worked out once per set of matching
handlers and kept until the phase's registrations change.

Handlers start by priority (higher first), then registration order (or the
newest first, in a ``lifo`` phase; ``lifo`` handlers start newest first,
before the others of their priority), except that a handler starts only
after the handlers it requires.  A requirement that names no handler of the phase
is *unmet*: the phase knows which, so that a fire can say so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Final, Generic, Protocol, TypeVar, final

from ._matching import Residual, SpecIndex
from ._options import HandlerOptions, Phase
from ._ordering import order

__all__ = ["PhaseHandlers", "Phased", "Plan"]

#: How many start orders a phase remembers (one per set of matching handlers).
_PLANS_KEPT: Final = 256


class Phased(Protocol):
    """
    What a phase needs of a registration.
    """

    @property
    def seq(self) -> int: ...

    @property
    def rest(self) -> Residual: ...

    @property
    def name(self) -> str: ...

    @property
    def options(self) -> HandlerOptions: ...

    @property
    def requires(self) -> frozenset[str]: ...

    @property
    def required_by(self) -> frozenset[str]: ...

    @property
    def order_key(self) -> tuple[int, int]: ...


R = TypeVar("R", bound=Phased)


@final
class Plan(Generic[R]):
    """
    The start order of a phase's matching handlers.

    :ivar handlers: the handlers, in the order they may start.
    :ivar before: for each (by position in ``handlers``), the positions of
        those that must finish before it starts; None when no handler waits
        for another.
    :ivar unmet: each handler whose ``requires``/``required_by`` names no
        handler of the phase, with those names.
    """

    __slots__ = ("before", "handlers", "unmet")

    def __init__(
        self,
        handlers: Sequence[R],
        before: list[frozenset[int]] | None,
        unmet: Mapping[R, frozenset[str]] | None = None,
    ) -> None:
        self.handlers = handlers
        self.before = before
        self.unmet = unmet or {}


def _fifo(registration: Phased) -> tuple[int, int]:
    if registration.options.lifo:
        return _lifo(registration)
    return registration.order_key


def _lifo(registration: Phased) -> tuple[int, int]:
    priority, seq = registration.order_key
    return (priority, -seq)


@final
class PhaseHandlers(Generic[R]):
    """
    The handlers of one phase: their index, and what ordering them needs.

    :ivar ordered: whether the index's order (registration order) is not
        the start order: a ``lifo`` phase, or some handler has a priority or
        an order constraint (those are in ``ordering``).
    :ivar constrained: how many have ``requires``/``required_by``.
    :ivar rank: sorts handlers in start order, constraints aside.
    :ivar has_unmet: whether some handler's requirement is unmet (see
        :meth:`unmet`).
    :ivar keeps: whether the phase keeps anything a change of its
        registrations makes stale (start orders, warnings, requirements to
        check): while it does not, :meth:`changed` has nothing to do, and
        the registry does not call it.
    """

    __slots__ = (
        "_plans",
        "_unmet",
        "constrained",
        "has_unmet",
        "index",
        "keeps",
        "lifo",
        "name",
        "ordered",
        "ordering",
        "position",
        "rank",
        "referenced",
        "sequential",
        "warned",
    )

    def __init__(self, phase: Phase, position: int) -> None:
        self.name = phase.name
        self.position = position
        self.sequential = phase.sequential
        self.lifo = phase.lifo
        self.rank: Callable[[Phased], tuple[int, int]] = _lifo if phase.lifo else _fifo
        self.index: SpecIndex[R] = SpecIndex()
        self.ordering: set[R] = set()
        self.ordered = phase.lifo
        self.constrained = 0
        # The names order constraints refer to: a handler bearing one may
        # close a cycle, even without constraints of its own.
        self.referenced: frozenset[str] = frozenset()
        self._plans: dict[tuple[R, ...], Plan[R]] = {}
        self._unmet: dict[R, frozenset[str]] = {}
        self.has_unmet = False
        self.keeps = False
        #: The unmet requirements a fire has warned about since the last change.
        self.warned: set[tuple[R, frozenset[str]]] = set()

    def lookup(self, details: Mapping[str, object]) -> Sequence[R]:
        """
        The handlers whose keywords match ``details``, in registration order.
        """
        return self.index.lookup(details)

    def plan(self, handlers: Sequence[R]) -> Plan[R]:
        """
        The start order of ``handlers`` (found by :meth:`lookup`).  Worked
        out once per set of handlers, until the phase's registrations change.
        """
        key = tuple(handlers)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) >= _PLANS_KEPT:
                self._plans.clear()
            plan = self._plans[key] = self._make_plan(key)
            self.keeps = True
        return plan

    def start_order(self, handlers: Sequence[R]) -> Plan[R]:
        """
        How ``handlers`` start: :meth:`plan` when the phase orders them, or
        simply in registration order.
        """
        if self.ordered and (len(handlers) > 1 or self.has_unmet):
            return self.plan(handlers)
        return Plan(handlers, None)

    def _make_plan(self, handlers: tuple[R, ...]) -> Plan[R]:
        unmet = {handler: self._unmet[handler] for handler in handlers if handler in self._unmet}
        if not self.constrained:
            return Plan(sorted(handlers, key=self.rank), None, unmet)
        positions, before = order(handlers, self.rank)  # type: ignore[arg-type]
        at = {position: place for place, position in enumerate(positions)}
        ordered = [handlers[position] for position in positions]
        waits = [frozenset(at[b] for b in before[position]) for position in positions]
        return Plan(ordered, waits if any(waits) else None, unmet)

    def added(self, registration: R) -> None:
        """
        ``registration`` was filed in the index.
        """
        options = registration.options
        if options.ordered:
            self.ordering.add(registration)
            self.ordered = True
            if options.constrains_order:
                self.constrained += 1
                self.referenced = self.referenced | options.requires | options.required_by
        self.changed()

    def removed(self, registration: R) -> None:
        """
        ``registration`` was taken out of the index.
        """
        if registration in self.ordering:
            self.ordering.discard(registration)
            self.ordered = self.lifo or bool(self.ordering)
            if registration.options.constrains_order:
                self.constrained -= 1
                self.referenced = frozenset(
                    name for other in self.ordering for name in other.requires | other.required_by
                )
        self.changed()

    def changed(self) -> None:
        """
        The phase's registrations changed: forget the start orders, and see
        again which requirements are unmet.  All :meth:`added` and
        :meth:`removed` do for a registration with the default options,
        and only while the phase :attr:`keeps` something.
        """
        if self._plans:
            self._plans.clear()
        if self.warned:
            self.warned.clear()
        if self.constrained or self._unmet:
            names = {registration.name for registration in self.index.items()}
            self._unmet = {}
            for registration in self.ordering:
                missing = (registration.requires | registration.required_by) - names
                if missing:
                    self._unmet[registration] = frozenset(missing)
            self.has_unmet = bool(self._unmet)
        # Warnings are only ever made about unmet requirements: none kept without them.
        self.keeps = bool(self.constrained or self._unmet)

    def unmet(self) -> Mapping[R, frozenset[str]]:
        """
        Each handler whose ``requires``/``required_by`` names a handler that
        is not registered in this phase, with those names.
        """
        return dict(self._unmet)
