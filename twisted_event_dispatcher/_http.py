# -*- test-case-name: tests.service.test_http -*-
"""
The service's HTTP JSON API on ``twisted.web``: fire an event, list handlers
and plugins, a health check, and the API's own OpenAPI document.

Every answer the API gives is a JSON object; every error is
``{"error": "<message>", ...}`` with its status, never a traceback.  The
routes, their methods and their statuses are those of `_openapi.ENDPOINTS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

from . import _openapi
from ._dispatcher import EventDispatcher
from ._http_answers import ApiError, ResultWriter, answer, answer_error, answer_text_later
from ._http_checks import (
    FireRequest,
    RequestChecks,
    allowed_hosts,
    bearer,
    listening_name,
    parse_fire_request,
    read_json_body,
)
from ._http_fire import Firing
from ._result import FireResult
from ._telemetry import Telemetry
from .config import DEFAULT_MAX_DEPTH, DEFAULT_MAX_IN_FLIGHT, DEFAULT_MAX_QUEUED, DEFAULT_TIMEOUT
from .declarations import UnknownEventError
from .plugins import PluginHost

_log = Logger()

#: The content type of the metrics: Prometheus's text format.
METRICS_CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

Route = tuple[bytes, bool, Callable[[Request], object]]
#: Publishes a checked fire request through the broker and answers the request.
Publish = Callable[[Request, FireRequest], object]


class ApiResource(Resource):
    """
    The API: ``POST /events``, ``GET /handlers``, ``GET /plugins``,
    ``GET /health``, ``GET /metrics`` and ``GET /openapi.json``.

    :param host: the plugins and their dispatcher.
    :param token: the bearer token every request but the health check and
        the OpenAPI document must carry, or None.
    :param timeout: seconds before an event's handlers are cancelled, or None.
    :param clock: for the timeout.
    :param expose_errors: whether answers show a failed handler's message.
    :param allowed_hosts: more ``Host`` names to answer to (see
        `allowed_hosts`); the loopback names always are.
    :param allowed_origins: the ``Origin`` values a request may come from.
    :param max_depth: how deep an event or its details may nest.
    :param max_in_flight: how many fires may wait for their handlers at once.
    :param max_queued: how many more fires may wait for a place.
    :param telemetry: the service's metrics and traces; None for neither.
    :param routes: more routes (broker mode's), path to (method, whether a
        token is needed, responder).
    :param publish: answers ``POST /events?delivery=broker`` with the
        checked fire request, or None without a broker.
    :param broker_health: what the health check shows of the broker
        (`BrokerMode.health`), or None without a broker.
    """

    isLeaf = True  # noqa: N815 (Twisted's name)

    def __init__(
        self,
        host: PluginHost,
        *,
        token: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        clock: IReactorTime,
        expose_errors: bool = True,
        allowed_hosts: Iterable[str] = (),
        allowed_origins: Iterable[str] = (),
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_in_flight: int = DEFAULT_MAX_IN_FLIGHT,
        max_queued: int = DEFAULT_MAX_QUEUED,
        telemetry: Telemetry | None = None,
        routes: Mapping[bytes, Route] | None = None,
        publish: Publish | None = None,
        broker_health: Callable[[], Mapping[str, object]] | None = None,
    ) -> None:
        Resource.__init__(self)
        self._host = host
        self.accepting = True
        self._hosts = tuple(allowed_hosts)
        self.checks = RequestChecks(
            frozenset(),  # no Host is right until the service listens
            frozenset(origin.encode("latin-1") for origin in allowed_origins),
            None if token is None else bearer(token),
            max_depth,
        )
        self._writer = ResultWriter(host, expose_errors)
        self._telemetry = telemetry
        self.firing = Firing(
            self._fire_event,
            self._writer,
            timeout,
            clock,
            max_in_flight,
            max_queued,
            around=None if telemetry is None else telemetry.around_fire,
            refused=None if telemetry is None else telemetry.refused,
        )
        if telemetry is not None:
            telemetry.watch_http(self.firing)
        handlers = {
            "fire": self._fire,
            "handlers": self._handlers,
            "plugins": self._plugins,
            "health": self._health,
            "metrics": self._metrics,
            "openapi": self._openapi,
        }
        self._routes: dict[bytes, Route] = {
            endpoint.path.encode(): (endpoint.method.encode(), endpoint.token, handlers[endpoint.name])
            for endpoint in _openapi.ENDPOINTS
        }
        self._routes.update(routes or {})
        self._publish = publish
        self._broker_health = broker_health

    def listening_at(self, port: int | None, address: str | None) -> None:
        """
        The service listens on ``port`` of ``address`` (None for every
        interface): answer to the ``Host`` names that reach it.  Without a
        port (a UNIX socket, which no web page can reach) any ``Host`` is
        answered.
        """
        hosts = None if port is None else allowed_hosts(self._hosts, port, listening_name(address))
        self.checks = attrs.evolve(self.checks, hosts=hosts)

    @property
    def in_flight(self) -> int:
        """
        How many fired events have not been answered yet.
        """
        return self.firing.in_flight

    def when_idle(self) -> Deferred[None]:
        """
        A Deferred firing with None once every fired event has been answered.
        """
        return self.firing.when_idle()

    def render(self, request: Request) -> bytes | int:
        try:
            body = self._route(request)
        except ApiError as error:
            return answer_error(request, error)
        except Exception:
            _log.failure("Answering {method} {path} failed", method=request.method, path=request.path)
            return answer_error(request, ApiError(500, "internal error; see the service's log"))
        if isinstance(body, (bytes, int)):
            return body
        return answer(request, 200, body)

    def _route(self, request: Request) -> object:
        checks = self.checks
        checks.check_sender(request)
        path = request.path
        route = self._routes.get(path)
        if route is None:
            route = self._routes.get(path.rstrip(b"/"))
            if route is None:
                raise _not_found(path, self._routes)
        method, needs_token, respond = route
        if request.method != method and not (method == b"GET" and request.method == b"HEAD"):
            raise ApiError(
                405,
                f"{path.decode('latin-1')} takes {method.decode()}, not {request.method.decode('latin-1')}",
                headers={b"allow": b"GET, HEAD" if method == b"GET" else method},
            )
        if needs_token:
            checks.check_token(request)
        return respond(request)

    def _fire(self, request: Request) -> object:
        if not self.accepting:
            raise ApiError(503, "the service is stopping and accepts no new events")
        delivery = request.args.get(b"delivery", [b"local"])[0]
        if delivery not in (b"local", b"broker") or (delivery == b"broker" and self._publish is None):
            choices = (
                "'local' or 'broker'" if self._publish is not None else "'local' (no [broker] is configured)"
            )
            raise ApiError(400, f"delivery must be {choices}, got {delivery.decode('latin-1')[:100]!r}")
        fire = parse_fire_request(read_json_body(request), self.checks.max_depth)
        if delivery == b"broker" and self._publish is not None:
            return self._publish_fire(request, fire)
        return self.firing.submit(request, fire)

    def _publish_fire(self, request: Request, fire: FireRequest) -> object:
        assert self._publish is not None
        around = None if self._telemetry is None else self._telemetry.around_fire
        if around is None:
            return self._publish(request, fire)
        with around(request):  # the request's trace context: the publish span's parent
            return self._publish(request, fire)

    def _fire_event(self, fire: FireRequest) -> Deferred[FireResult]:
        declared = self._host.declared
        if declared is None:
            if fire.arguments:
                return self._host.dispatcher.fire(fire.event, fire.details, arguments=fire.arguments)
            return self._host.dispatcher.fire_event(fire.event, **fire.details)
        event = fire.event
        if not isinstance(event, str):
            raise UnknownEventError(event, declared.declarations)
        # A declared event's arguments may come as details or as arguments
        # (the same name in both has the same value: the request is checked).
        return declared.fire(event, **{**fire.details, **fire.arguments})

    def _handlers(self, request: Request) -> object:
        return {
            "handlers": [
                {
                    "handler": handler_id.label,
                    "phase": handler_id.phase,
                    "match": handler_id.match_spec,
                    "plugin": self._writer.plugin_name(handler_id),
                }
                for handler_id in self._host.dispatcher.handler_ids()
            ]
        }

    def _plugins(self, request: Request) -> object:
        return {
            "plugins": [
                {
                    "number": info.plugin_id.number,
                    "name": info.plugin_id.name,
                    "source": info.source,
                    "state": info.state,
                    "handlers": [handler_id.label for handler_id in info.handler_ids],
                }
                for info in self._host.plugins()
            ]
        }

    def _health(self, request: Request) -> object:
        state = self._host.state if self.accepting else "stopping"
        failed = [info.plugin_id.name for info in self._host.plugins() if info.state == "failed"]
        body = {
            "status": state,
            "failed_plugins": failed,
            "in_flight": self.in_flight,
            "waiting": _waiting(self._host.dispatcher),
            **(_NO_TELEMETRY if self._telemetry is None else self._telemetry.health()),
            "broker": None if self._broker_health is None else self._broker_health(),
        }
        if state != "running":
            raise ApiError(503, f"the service is {state}", extra=body)
        return body

    def _metrics(self, request: Request) -> object:
        text = None if self._telemetry is None else self._telemetry.metrics_text()
        if text is None:
            raise ApiError(
                404, "metrics are off: set enabled = true in the [metrics] table of the configuration"
            )
        return answer_text_later(request, text, METRICS_CONTENT_TYPE)

    def _openapi(self, request: Request) -> object:
        broker = self._publish is not None
        if self._host.declared is not None:
            return _openapi.document(broker=broker)
        return _openapi.document(sorted(self._host.dispatcher.allowed_match_spec_keywords), broker=broker)


#: What the health check says of metrics and traces when the service has neither.
_NO_TELEMETRY: dict[str, object] = {
    "metrics": {"enabled": False, "path": None},
    "tracing": {"enabled": False, "exporter": None, "to": None},
}


def _not_found(path: bytes, routes: dict[bytes, Any]) -> ApiError:
    known = ", ".join(route.decode() for route in routes)
    shown = path.decode("latin-1")[:200]
    return ApiError(404, f"no such resource {shown!r}; the API has {known}")


def _waiting(dispatcher: EventDispatcher) -> list[dict[str, object]]:
    """
    The events in flight, for the health check: their phase, how long they
    have been in flight and the handlers they wait for; not their payload or
    details (the health check needs no token).
    """
    return [
        {
            "phase": event.phase,
            "seconds": round(event.seconds, 3),
            "handlers": [
                {"handler": pending.handler_id.name, "seconds": round(pending.seconds, 3)}
                for pending in event.pending
            ],
        }
        for event in dispatcher.in_flight()
    ]
