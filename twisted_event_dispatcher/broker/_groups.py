# -*- test-case-name: tests.broker.test_topology -*-
"""
What a consumer group shares whatever its transport: its bindings, made
from the handlers its dispatcher runs, and the warning about handler
timeouts longer than the broker's consumer timeout.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from twisted.logger import Logger

from ._topology import Binding, bindings_for

if TYPE_CHECKING:
    from .._dispatcher import EventDispatcher
    from ._topology import GroupSettings

_log = Logger()


def group_bindings(dispatcher: EventDispatcher) -> frozenset[Binding]:
    """
    The bindings that route to a group every event one of ``dispatcher``'s
    handlers may match (none at all if it has no handler).
    """
    return bindings_for(spec for handler_id in dispatcher.handler_ids() for spec in handler_id.match_specs)


def warn_long_timeouts(
    dispatcher: EventDispatcher, settings: GroupSettings, default_timeout: float | None = None
) -> list[str]:
    """
    Warn about the handlers whose timeout is longer than the broker's
    consumer timeout: the broker would close the channel under them.

    :param default_timeout: the dispatcher's ``handler_timeout``, for the
        handlers without a timeout of their own.
    :returns: the names of those handlers.
    """
    names = []
    for handler_id in dispatcher.handler_ids():
        timeout = handler_id.options.timeout
        timeout = default_timeout if timeout is None else timeout
        if timeout is not None and timeout > settings.consumer_timeout:
            names.append(handler_id.name)
    if names:
        _log.warn(
            "Group {group}: handler(s) {names} may run longer than the broker's consumer timeout "
            "({timeout:g}s); the broker would then close the channel and redeliver their events",
            group=settings.name,
            names=", ".join(names),
            timeout=settings.consumer_timeout,
        )
    return names
