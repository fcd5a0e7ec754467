# -*- test-case-name: tests.test_handler_model -*-
"""
What a handler can ask for while an event is dispatched: its context, the
event's namespaces, stopping the event, and follow-up events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, final

import attrs

from ._errors import EventFinishedError
from ._handle import HandlerId
from ._result import FireResult

__all__ = ["EventContext", "EventState", "StopPropagation", "Updates"]

_NO_VALUE: Any = object()


class StopPropagation(Exception):
    """
    Raised by a handler to stop its event: no handler that has not started
    yet runs, in this phase or a later one.

    Handlers already started in a concurrent phase are not interrupted; the
    fire still waits for them and reports them.

    :ivar value: given, it becomes the fire's ``FireResult.value``, and
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


# Shown where users import it from, in tracebacks and reprs, as the errors are.
StopPropagation.__module__ = "twisted_event_dispatcher"


@final
@attrs.frozen
class Updates:
    """
    Returned by a handler that takes a context or injected keywords: values
    to set in the event's local namespace and in the dispatcher's global one.
    """

    local: Mapping[str, object] = attrs.field(factory=dict)
    globals: Mapping[str, object] = attrs.field(factory=dict)


#: Checks a follow-up before it is queued: ``(event, details, depth)``.
FollowUpCheck = Callable[[object, dict[str, object], int], None]


@final
class EventState:
    """
    Per-event state that only the richer features need: the local namespace,
    the follow-ups waiting to be dispatched, and whether the event is over.
    Made on first use by the fire's run.
    """

    __slots__ = ("arguments", "check", "depth", "finished", "follow_ups", "globals", "local", "result")

    def __init__(
        self,
        result: FireResult,
        globals_: dict[str, object],
        depth: int,
        check: FollowUpCheck,
        arguments: Mapping[str, object] | None = None,
    ) -> None:
        self.result = result
        self.globals = globals_
        self.depth = depth
        self.check = check
        self.arguments = arguments
        self.local: dict[str, object] | None = None
        self.follow_ups: list[tuple[object, dict[str, object]]] = []
        self.finished = False

    def local_namespace(self) -> dict[str, object]:
        """
        The event's namespace, made from the details and the fire's
        arguments on first use.
        """
        if self.local is None:
            self.local = dict(self.result.details)
            if self.arguments:
                self.local.update(self.arguments)
        return self.local

    def add_follow_up(self, event: object, details: dict[str, object]) -> None:
        """
        Queue a follow-up event.

        :raises EventFinishedError: when the event is over.
        """
        if self.finished:
            raise EventFinishedError(self.result.event, event)
        self.check(event, details, self.depth + 1)
        self.follow_ups.append((event, details))

    def drop_follow_ups(self) -> None:
        """
        The queued follow-ups will not be dispatched: report them as dropped.
        """
        if self.follow_ups:
            self.result.extras.dropped.extend(self.follow_ups)
            self.follow_ups.clear()

    def apply(self, updates: Updates) -> None:
        """
        Apply what a handler returned to the namespaces.
        """
        self.local_namespace().update(updates.local)
        self.globals.update(updates.globals)


@final
class EventContext:
    """
    What one handler call can see of its event, passed to handlers registered
    with ``pass_context=True`` (or injected as ``context``).

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
    def fire_id(self) -> str:
        """
        The fire's id (the broker's event id, for an event that came
        through the broker).
        """
        return self._state.result.fire_id

    @property
    def attempt(self) -> int:
        """
        Which delivery of the event this is: 1, unless the broker delivers
        it again after a failure.
        """
        return self._state.result.attempt

    @property
    def arguments(self) -> Mapping[str, object]:
        """
        The arguments the event was fired with besides its details (read-only).
        """
        return MappingProxyType(dict(self._state.arguments or {}))

    @property
    def local(self) -> dict[str, object]:
        """
        The event's namespace, shared by its handlers and discarded with it.
        It starts as a copy of the details and the fire's arguments.
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
        Dispatch ``event`` after this one (and its earlier follow-ups) has
        finished; its ``FireResult`` joins this one's ``follow_ups``.

        :raises UnknownKeywordError: for a keyword not allowed.
        :raises UnhashableValueError: for a value that cannot be hashed.
        :raises FollowUpDepthError: when follow-ups of follow-ups nest deeper
            than the dispatcher allows.
        :raises EventFinishedError: when the event has finished already.
        """
        self._state.add_follow_up(event, details)

    def stop(self, value: object = _NO_VALUE) -> None:
        """
        Stop the event: raise :class:`StopPropagation` with ``value``.
        """
        raise StopPropagation(value)
