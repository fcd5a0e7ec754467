"""
The plugin the service runs in ``benchmarks/http_service.py``: one handler
that does nothing, so that what is measured is the service layer.
"""

from __future__ import annotations

from twisted_event_dispatcher.plugins import handles


class NoOp:
    """
    One no-op handler in the ``during`` phase, for every event.
    """

    @handles("during")
    def noop(self, event):
        return None
