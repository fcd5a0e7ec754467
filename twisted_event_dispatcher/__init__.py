"""
An event dispatcher for Twisted.

Handlers are added for a phase with a keyword match-spec; ``fire_event(event,
**details)`` runs the matching handlers phase by phase, each phase waiting for
its handlers' Deferreds, and fires with a `FireResult` reporting what ran.
"""

from ._answers import FollowUps
from ._context import EventContext, StopPropagation, Updates
from ._dispatcher import DEFAULT_PHASES, EventDispatcher
from ._errors import (
    DispatcherError,
    DispatcherNotRunning,
    EventFinishedError,
    FireCancelled,
    FollowUpDepthError,
    HandlerFailed,
    HandlerTimedOut,
    InjectionError,
    NotWeakReferenceableError,
    OrderingError,
    OverloadedError,
    UnhashableValueError,
    UnknownHandlerError,
    UnknownKeywordError,
    UnknownPhaseError,
    UnmetRequirementError,
)
from ._handle import HandlerId
from ._introspection import InFlightEvent, PendingHandler
from ._options import AnyOf, HandlerOptions, MatchSpec, Phase, any_of
from ._reports import PhaseCall, PhaseReport
from ._result import FireResult, HandlerOutcome
from ._scope import HandlerScope
from .interfaces import (
    IBackgroundUtility,
    IDispatchMonitor,
    IEventDispatcher,
    IFireMonitor,
    IHandlerLedger,
    IObservableDispatcher,
    IPhaseMonitor,
)

__all__ = [
    "DEFAULT_PHASES",
    "AnyOf",
    "DispatcherError",
    "DispatcherNotRunning",
    "EventContext",
    "EventDispatcher",
    "EventFinishedError",
    "FireCancelled",
    "FireResult",
    "FollowUpDepthError",
    "FollowUps",
    "HandlerFailed",
    "HandlerId",
    "HandlerOptions",
    "HandlerOutcome",
    "HandlerScope",
    "HandlerTimedOut",
    "IBackgroundUtility",
    "IDispatchMonitor",
    "IEventDispatcher",
    "IFireMonitor",
    "IHandlerLedger",
    "IObservableDispatcher",
    "IPhaseMonitor",
    "InFlightEvent",
    "InjectionError",
    "MatchSpec",
    "NotWeakReferenceableError",
    "OrderingError",
    "OverloadedError",
    "PendingHandler",
    "Phase",
    "PhaseCall",
    "PhaseReport",
    "StopPropagation",
    "UnhashableValueError",
    "UnknownHandlerError",
    "UnknownKeywordError",
    "UnknownPhaseError",
    "UnmetRequirementError",
    "Updates",
    "any_of",
]
