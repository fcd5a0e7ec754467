"""
The ``twist event-dispatcher`` application plugin: a Twisted dropin, found by
``twisted.plugin`` in any ``twisted/plugins/`` directory on ``sys.path``.
"""

from twisted.application.service import ServiceMaker

event_dispatcher = ServiceMaker(
    "event-dispatcher",
    "twisted_event_dispatcher.service",
    "An event dispatcher with its plugins and an HTTP JSON endpoint.",
    "event-dispatcher",
)
