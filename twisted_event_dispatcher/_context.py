# -*- test-case-name: tests.test_handler_model -*-
"""
What a handler can ask for while an event is dispatched: its context, the
event's namespaces, stopping the event, and follow-up events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, final

import attrs

from ._errors import EventFinishedError

if TYPE_CHECKING:
    from ._registry import HandlerId
    from ._result import FireResult


_NO_VALUE: Any = object()


class StopPropagation(Exception):
    """
    Raised by a handler to stop its event: no handler that has not started
    yet runs, in this phase or a later one.

    Handlers already started in a concurrent phase are not interrupted; the
    fire still waits for them and reports them.

    :ivar value: given, it becomes the fire's L{FireResult.value}, and
        follow-up events not yet dispatched are dropped (and reported);
        not given, follow-up events are still dispatched.
    """

    def __init__(self, value: object = _NO_VALUE) -> None:
        super().__init__(value)
        self.value = value

    @property
    def has_value(self) -> bool:
        """
        Whether a value was given.
        """
        return self.value is not _NO_VALUE


@final
@attrs.frozen
class Updates:
    """
    Returned by a handler that takes a context or injected keywords: values
    to set in the event's local namespace and in the dispatcher's global one.
    """

    local: Mapping[str, object] = attrs.field(factory=dict)
    globals: Mapping[str, object] = attrs.field(factory=dict)


@final
class EventContext:
    """
    What one handler call can see of its event, passed to handlers registered
    with C{pass_context=True} (or injected as C{context}).

    Not thread-safe: a threaded handler should only read it.
    """

    __slots__ = ("_state", "handler_id")

    def __init__(self, state: EventState, handler_id: HandlerId) -> None:
        self._state = state
        self.handler_id = handler_id

    @property
    def event(self) -> object:
        """
        The event being dispatched.
        """
        return self._state.result.event

    @property
    def details(self) -> Mapping[str, object]:
        """
        The details it was fired with (read-only).
        """
        return MappingProxyType(self._state.result.details)

    @property
    def phase(self) -> str:
        """
        The phase this handler runs in.
        """
        return self.handler_id.phase

    @property
    def local(self) -> dict[str, object]:
        """
        The event's namespace, shared by its handlers and discarded with it.
        It starts as a copy of the details.
        """
        return self._state.local_namespace()

    @property
    def globals(self) -> dict[str, object]:
        """
        The dispatcher's namespace, kept for its lifetime.
        """
        return self._state.globals

    @property
    def results(self) -> FireResult:
        """
        What has run so far: the outcomes of earlier phases, and of the
        handlers of this phase that have finished.
        """
        return self._state.result

    def follow_up(self, event: object, /, **details: object) -> None:
        """
        Dispatch C{event} after this one (and its earlier follow-ups) has
        finished; its L{FireResult} joins this one's C{follow_ups}.

        :raises UnknownKeywordError: for a keyword not allowed.
        :raises UnhashableValueError: for a value that cannot be hashed.
        :raises FollowUpDepthError: when follow-ups of follow-ups nest deeper
            than the dispatcher allows.
        :raises EventFinishedError: when the event has finished already.
        """
        self._state.add_follow_up(event, details)

    def stop(self, value: object = _NO_VALUE) -> None:
        """
        Stop the event: raise L{StopPropagation} with C{value}.
        """
        raise StopPropagation(value)


class EventState:
    """
    Per-event state that only the richer features need: the local namespace,
    follow-ups, and how the event was stopped.  Made on first use.
    """

    __slots__ = (
        "depth",
        "dropped",
        "finished",
        "follow_up_results",
        "follow_ups",
        "globals",
        "local",
        "never_started",
        "result",
        "stop",
        "validate",
    )

    def __init__(
        self,
        result: FireResult,
        globals_: dict[str, object],
        depth: int,
        validate: Callable[[object, dict[str, object], int], None],
    ) -> None:
        self.result = result
        self.globals = globals_
        self.depth = depth
        self.validate = validate
        self.local: dict[str, object] | None = None
        self.follow_ups: list[tuple[object, dict[str, object]]] = []
        self.dropped: list[tuple[object, dict[str, object]]] = []
        self.follow_up_results: list[FireResult] = []
        self.never_started: list[HandlerId] = []
        self.finished = False
        self.stop: tuple[HandlerId, StopPropagation] | None = None

    def local_namespace(self) -> dict[str, object]:
        if self.local is None:
            self.local = dict(self.result.details)
        return self.local

    def add_follow_up(self, event: object, details: dict[str, object]) -> None:
        if self.finished:
            raise EventFinishedError(self.result.event, event)
        self.validate(event, details, self.depth + 1)
        self.follow_ups.append((event, details))

    def apply(self, updates: Updates) -> None:
        self.local_namespace().update(updates.local)
        self.globals.update(updates.globals)
