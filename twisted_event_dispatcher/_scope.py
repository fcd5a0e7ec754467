# -*- test-case-name: tests.test_handler_model -*-
"""
Scoped registration: handlers that are removed together when a block exits.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Protocol, Unpack, final

from ._errors import UnknownHandlerError
from ._handle import Handler, HandlerId
from ._options import HandlerOptionsDict, Predicate
from ._specs import Match

__all__ = ["HandlerScope", "RegisterArguments"]


class RegisterArguments(HandlerOptionsDict, total=False):
    """
    Every keyword argument of ``EventDispatcher.register``, for callers that
    pass them on (:meth:`HandlerScope.register`).
    """

    match: Match | None
    where: Predicate | Iterable[Predicate] | None
    use_weakref: bool | None


class _Registering(Protocol):
    """
    What a scope registers with: a dispatcher.
    """

    def register(
        self, listen_fn: Handler, phase: str, /, **arguments: Unpack[RegisterArguments]
    ) -> HandlerId: ...

    def unregister(self, handler_id: HandlerId) -> None: ...


@final
class HandlerScope:
    """
    Handlers registered through a scope are removed when it exits (or when
    :meth:`close` is called), whether the block succeeded or not::

        with dispatcher.scoped() as scope:
            scope.register(record, "during", match={"user": "bob"})
            ...   # fire events; record sees bob's
        # record is gone

    It also works as ``async with``.
    """

    def __init__(self, dispatcher: _Registering) -> None:
        self._dispatcher = dispatcher
        self._ids: list[HandlerId] = []

    def register(
        self, listen_fn: Handler, phase: str, /, **arguments: Unpack[RegisterArguments]
    ) -> HandlerId:
        """
        Register a handler for the life of the scope; the arguments are those
        of ``EventDispatcher.register``.
        """
        handler_id = self._dispatcher.register(listen_fn, phase, **arguments)
        self._ids.append(handler_id)
        return handler_id

    @property
    def handler_ids(self) -> tuple[HandlerId, ...]:
        """
        The ids registered through this scope, in order.
        """
        return tuple(self._ids)

    def close(self) -> None:
        """
        Remove every handler of the scope still registered (those removed
        already, by hand, by ``times`` or by garbage collection, are skipped).
        """
        ids, self._ids = self._ids, []
        for handler_id in ids:
            try:
                self._dispatcher.unregister(handler_id)
            except UnknownHandlerError:
                continue

    def __enter__(self) -> HandlerScope:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    async def __aenter__(self) -> HandlerScope:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
