"""
An event dispatcher for Twisted.

Handlers are added for a phase with a keyword match-spec; C{fire_event(event,
**details)} runs the matching handlers phase by phase, each phase waiting for
its handlers' Deferreds, and fires with a L{FireResult} reporting what ran.
"""

from ._dispatcher import DEFAULT_PHASES, EventDispatcher
from ._errors import (
    DispatcherError,
    DispatcherNotRunning,
    HandlerFailed,
    NotWeakReferenceableError,
    UnhashableValueError,
    UnknownHandlerError,
    UnknownKeywordError,
    UnknownPhaseError,
)
from ._registry import HandlerId
from ._result import FireResult, HandlerOutcome
from .interfaces import IBackgroundUtility, IEventDispatcher

__all__ = [
    "DEFAULT_PHASES",
    "DispatcherError",
    "DispatcherNotRunning",
    "EventDispatcher",
    "FireResult",
    "HandlerFailed",
    "HandlerId",
    "HandlerOutcome",
    "IBackgroundUtility",
    "IEventDispatcher",
    "NotWeakReferenceableError",
    "UnhashableValueError",
    "UnknownHandlerError",
    "UnknownKeywordError",
    "UnknownPhaseError",
]
