# -*- test-case-name: tests.broker.test_service -*-
"""
How the service takes broker mode in: built from the configuration,
started once the plugins run, and its HTTP routes handed to the API.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._http import dead_letter_routes, publish_route
from ._observing import BrokerObserver
from ._service import BrokerMode

if TYPE_CHECKING:
    from ..config import Config
    from ..plugins import PluginHost

__all__ = ["BrokerMode", "broker_api", "build_broker", "start_when_running"]


def build_broker(
    config: Config, host: PluginHost, reactor: object | None = None, observer: BrokerObserver | None = None
) -> BrokerMode | None:
    """
    Broker mode as ``[broker]`` describes it, or None without one.

    :param observer: told what the broker does (metrics, traces); or None.
    """
    if config.broker is None:
        return None
    return BrokerMode(
        config.broker,
        host.dispatcher,
        handler_timeout=config.dispatcher.handler_timeout,
        reactor=reactor,
        observer=observer,
    )


def broker_api(mode: BrokerMode | None) -> dict[str, Any]:
    """
    The keyword arguments that give the API resource broker mode's routes,
    and its part of the health check.
    """
    if mode is None:
        return {}
    return {"routes": dead_letter_routes(mode), "publish": publish_route(mode), "broker_health": mode.health}


def start_when_running(host: PluginHost, mode: BrokerMode | None) -> None:
    """
    Start broker mode once the plugins run, so that the group consumes
    only when every handler is there (and not if the host was stopped).
    """
    if mode is None:
        return

    def start(_: object) -> None:
        if host.running and not mode.running:
            mode.startService()

    host.when_started().addCallback(start)
