# -*- test-case-name: tests.test_exports -*-
"""
The errors of broker mode, for the broker's modules: they are defined with
the package's other errors (``twisted_event_dispatcher._errors``) and
exported by ``twisted_event_dispatcher.broker``.
"""

from __future__ import annotations

from .._errors import (
    BrokerError,
    BrokerRefused,
    BrokerUnavailable,
    EnvelopeError,
    GroupConflict,
    PublishRejected,
    UnknownDeadLetter,
    UnroutableEvent,
)

__all__ = [
    "BrokerError",
    "BrokerRefused",
    "BrokerUnavailable",
    "EnvelopeError",
    "GroupConflict",
    "PublishRejected",
    "UnknownDeadLetter",
    "UnroutableEvent",
]
