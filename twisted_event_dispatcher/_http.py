# -*- test-case-name: tests.service.test_http -*-
"""
The service's HTTP JSON API on C{twisted.web}: fire an event, list handlers
and plugins, and a health check.

Every answer is JSON; every error is ``{"error": "<message>"}`` with its
status, never a traceback.
"""

from __future__ import annotations

import hmac
import io
import json
from collections.abc import Callable, Mapping
from typing import IO, Any, Final, cast

from twisted.internet.defer import Deferred, TimeoutError, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site

from ._dispatcher import EventDispatcher
from ._errors import DispatcherNotRunning, HandlerFailed, UnhashableValueError, UnknownKeywordError
from ._json import dumps, jsonable
from ._registry import HandlerId
from ._result import FireResult
from .declarations import EventArgumentsError, UnknownEventError
from .plugins import PluginHost

#: Errors in what the client sent that JSON could not catch: 422.
_UNPROCESSABLE: Final = (UnknownKeywordError, UnhashableValueError, UnknownEventError, EventArgumentsError)

#: What a route returns when it answers the request itself.
_ANSWERED_LATER: Final = object()

_log = Logger()


class ApiError(Exception):
    """
    An answer other than 200, with its message.
    """

    def __init__(self, status: int, message: str, /, **extra: object) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra


class LimitedRequest(Request):
    """
    A request that keeps no more of its body than its site's C{max_body}.

    Past the limit the rest of the body is read and dropped, and the request
    is marked C{too_large}.
    """

    too_large = False

    def _limit(self) -> int:
        site: ApiSite = cast(Any, self.channel).site
        return site.max_body

    def gotLength(self, length: int | None) -> None:
        if length is not None and length > self._limit():
            self._refuse_body()
        else:
            Request.gotLength(self, length)

    def handleContentChunk(self, data: bytes) -> None:
        if not self.too_large and cast(IO[bytes], self.content).tell() + len(data) > self._limit():
            self._refuse_body()
        if not self.too_large:
            Request.handleContentChunk(self, data)

    def _refuse_body(self) -> None:
        self.too_large = True
        if self.content is not None:
            self.content.close()
        self.content = io.BytesIO()


class ApiSite(Site):
    """
    The site of the API: L{LimitedRequest}s, and no tracebacks.

    :ivar max_body: the largest request body kept, in bytes.
    """

    displayTracebacks = False  # noqa: N815 (Twisted's name)
    noisy = False

    def __init__(self, resource: Resource, max_body: int, reactor: IReactorTime) -> None:
        Site.__init__(self, resource, requestFactory=LimitedRequest, reactor=reactor)
        self.max_body = max_body


class ConnectionTracker(WrappingFactory[ProtocolWrapper]):
    """
    Keep track of the site's connections, to close them gently on stop.
    """

    noisy = False

    def __init__(self, wrapped: ApiSite) -> None:
        super().__init__(wrapped)  # type: ignore[no-untyped-call]
        self._emptied: list[Deferred[None]] = []

    def unregisterProtocol(self, protocol: object) -> None:
        super().unregisterProtocol(protocol)  # type: ignore[no-untyped-call]
        if not self.protocols:
            emptied, self._emptied = self._emptied, []
            for waiter in emptied:
                waiter.callback(None)

    def close_all(self, clock: IReactorTime, grace: float) -> Deferred[None]:
        """
        Close every connection once its pending output is written; abort the
        ones still open after C{grace} seconds.

        :returns: a Deferred firing with None once no connection is left.
        """
        if not self.protocols:
            return succeed(None)
        for protocol in list(self.protocols):
            protocol.transport.loseConnection()
        emptied: Deferred[None] = Deferred()
        self._emptied.append(emptied)
        timer = clock.callLater(grace, self._abort_all)
        emptied.addBoth(_cancelling(timer))
        return emptied

    def _abort_all(self) -> None:
        for protocol in list(self.protocols):
            protocol.transport.abortConnection()


def _cancelling(timer: IDelayedCall) -> Callable[[object], object]:
    def cancel(result: object) -> object:
        if timer.active():
            timer.cancel()
        return result

    return cancel


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def parse_fire_request(body: bytes) -> tuple[object, dict[str, object]]:
    """
    Read ``{"event": ..., "details": {...}}`` from a request body.

    :raises ApiError: 400 if the body is not such a JSON object.
    """
    try:
        payload = json.loads(body, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as error:
        raise ApiError(400, f"request body is not valid JSON: {error}") from None
    if not isinstance(payload, dict) or "event" not in payload:
        raise ApiError(400, 'expected a JSON object {"event": ..., "details": {...}}')
    unknown = sorted(payload.keys() - {"event", "details"})
    if unknown:
        raise ApiError(400, f'unknown field(s) {unknown!r}; expected only "event" and "details"')
    details = payload.get("details", {})
    if not isinstance(details, dict):
        raise ApiError(400, f'"details" must be a JSON object of keyword to value, got {details!r}')
    return payload["event"], details


def result_body(result: FireResult, host: PluginHost) -> dict[str, object]:
    """
    A L{FireResult} as JSON: the event, its details, and each handler that ran.
    """
    return {
        "event": jsonable(result.event),
        "details": jsonable(result.details),
        "succeeded": result.succeeded,
        "handlers": [
            {
                "handler": outcome.handler_id.label,
                "phase": outcome.phase,
                "plugin": _plugin_name(host, outcome.handler_id),
                "succeeded": outcome.succeeded,
                "value": jsonable(outcome.value),
                "error": None if outcome.failure is None else outcome.failure.getErrorMessage(),
            }
            for outcome in result
        ],
    }


def _plugin_name(host: PluginHost, handler_id: HandlerId) -> str | None:
    plugin_id = host.plugin_of(handler_id)
    return None if plugin_id is None else plugin_id.name


def _failure_answer(failure: Failure, host: PluginHost, timeout: float | None) -> ApiError:
    if failure.check(DispatcherNotRunning):
        return ApiError(503, "the dispatcher is not running; try again later")
    if failure.check(TimeoutError):
        return ApiError(
            504, f"the event's handlers did not finish within {timeout} seconds and were cancelled"
        )
    if failure.check(HandlerFailed):
        error = cast(HandlerFailed, failure.value)
        return ApiError(500, str(error), result=result_body(error.result, host))
    _log.failure("Firing an event failed unexpectedly", failure)
    return ApiError(500, "internal error; see the service's log")


class ApiResource(Resource):
    """
    The API: ``POST /events``, ``GET /handlers``, ``GET /plugins`` and
    ``GET /health``.

    :param host: the plugins and their dispatcher.
    :param token: the bearer token every request but the health check must
        carry, or None.
    :param timeout: seconds before an event's handlers are cancelled, or None.
    :param clock: for the timeout.
    :param routes: more routes, path to (method, route); a route may return
        a Deferred firing with ``(status, body)`` (broker mode's).
    :param publish: the route of ``POST /events?delivery=broker``, or None.
    """

    isLeaf = True  # noqa: N815 (Twisted's name)

    def __init__(
        self,
        host: PluginHost,
        *,
        token: str | None,
        timeout: float | None,
        clock: IReactorTime,
        routes: Mapping[bytes, tuple[bytes, Callable[[Request], object]]] | None = None,
        publish: Callable[[Request], object] | None = None,
    ) -> None:
        Resource.__init__(self)
        self._host = host
        self._token = None if token is None else f"Bearer {token}".encode()
        self._timeout = timeout
        self._clock = clock
        self.accepting = True
        self._in_flight: set[Deferred[None]] = set()
        self._idle: list[Deferred[None]] = []
        self._routes: Mapping[bytes, tuple[bytes, Callable[[Request], object]]] = {
            b"/events": (b"POST", self._fire),
            b"/handlers": (b"GET", self._handlers),
            b"/plugins": (b"GET", self._plugins),
            b"/health": (b"GET", self._health),
            **(routes or {}),
        }
        self._publish = publish

    @property
    def in_flight(self) -> int:
        """
        How many fired events have not been answered yet.
        """
        return len(self._in_flight)

    def when_idle(self) -> Deferred[None]:
        """
        A Deferred firing with None once every fired event has been answered.
        """
        if not self._in_flight:
            return succeed(None)
        idle: Deferred[None] = Deferred()
        self._idle.append(idle)
        return idle

    def render(self, request: Request) -> bytes | int:
        try:
            body = self._route(request)
        except ApiError as error:
            return _answer_error(request, error)
        except Exception:
            _log.failure("Answering {method} {path} failed", method=request.method, path=request.path)
            return _answer_error(request, ApiError(500, "internal error; see the service's log"))
        if body is _ANSWERED_LATER:
            return NOT_DONE_YET
        if isinstance(body, Deferred):
            self._track(Deferred.fromCoroutine(_answer_later(body, request, _watch_disconnection(request))))
            return NOT_DONE_YET
        return _answer(request, 200, body)

    def _route(self, request: Request) -> object:
        path = request.path.rstrip(b"/") or b"/"
        route = self._routes.get(path)
        if route is None:
            known = ", ".join(route.decode() for route in self._routes)
            raise ApiError(404, f"no such resource {path.decode('latin-1')!r}; the API has {known}")
        method, answer = route
        if request.method not in (method, b"HEAD" if method == b"GET" else method):
            request.setHeader(b"allow", method)
            given = request.method.decode("latin-1")
            raise ApiError(405, f"{path.decode()} takes {method.decode()}, not {given}")
        if path != b"/health":
            self._authorize(request)
        if getattr(request, "too_large", False):
            raise ApiError(413, f"request body is larger than {cast(LimitedRequest, request)._limit()} bytes")
        return answer(request)

    def _authorize(self, request: Request) -> None:
        if self._token is None:
            return
        given = request.getHeader(b"authorization") or b""
        if not hmac.compare_digest(given, self._token):
            request.setHeader(b"www-authenticate", b'Bearer realm="event-dispatcher"')
            raise ApiError(401, "a valid bearer token is required: Authorization: Bearer <token>")

    def _fire(self, request: Request) -> object:
        if not self.accepting:
            raise ApiError(503, "the service is stopping and accepts no new events")
        delivery = request.args.get(b"delivery", [b"local"])[0]
        if delivery == b"broker" and self._publish is not None:
            return self._publish(request)
        if delivery != b"local":
            choices = (
                "'local' or 'broker'" if self._publish is not None else "'local' (no [broker] is configured)"
            )
            raise ApiError(400, f"delivery must be {choices}, got {delivery.decode('latin-1')!r}")
        event, details = parse_fire_request(cast(IO[bytes], request.content).read())
        try:
            fired = self._fire_event(event, details)
        except _UNPROCESSABLE as error:
            raise ApiError(422, str(error)) from None
        if self._timeout is not None:
            fired.addTimeout(self._timeout, self._clock)
        answering = Deferred.fromCoroutine(
            self._answer_when_fired(fired, request, _watch_disconnection(request))
        )
        self._track(answering)
        return _ANSWERED_LATER

    def _track(self, answering: Deferred[None]) -> None:
        self._in_flight.add(answering)
        answering.addBoth(self._answered, answering)

    def _fire_event(self, event: object, details: dict[str, object]) -> Deferred[FireResult]:
        declared = self._host.declared
        if declared is None:
            return self._host.dispatcher.fire_event(event, **details)
        if not isinstance(event, str):
            raise UnknownEventError(event, declared.declarations)
        return declared.fire(event, **details)

    async def _answer_when_fired(
        self, fired: Deferred[FireResult], request: Request, gone: list[bool]
    ) -> None:
        try:
            result = await fired
            payload = _answer(request, 200, result_body(result, self._host))
        except Exception:
            payload = _answer_error(request, _failure_answer(Failure(), self._host, self._timeout))
        if not gone:
            request.write(payload)
            request.finish()

    def _answered(self, outcome: object, answering: Deferred[None]) -> None:
        if isinstance(outcome, Failure):
            _log.failure("Answering a fired event failed", outcome)
        self._in_flight.discard(answering)
        if not self._in_flight:
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)

    def _handlers(self, request: Request) -> object:
        return {
            "handlers": [
                {
                    "handler": handler_id.label,
                    "phase": handler_id.phase,
                    "match": jsonable(handler_id.match_spec),
                    "plugin": _plugin_name(self._host, handler_id),
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
        }
        if state != "running":
            raise ApiError(503, f"the service is {state}", **body)
        return body


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


async def _answer_later(pending: Deferred[Any], request: Request, gone: list[bool]) -> None:
    """
    Answer with what a route's Deferred fires with: ``(status, body)``.
    """
    try:
        status, body = await pending
        payload = _answer(request, status, body)
    except ApiError as error:
        payload = _answer_error(request, error)
    except Exception:
        _log.failure("Answering {method} {path} failed", method=request.method, path=request.path)
        payload = _answer_error(request, ApiError(500, "internal error; see the service's log"))
    if not gone:
        request.write(payload)
        request.finish()


def _watch_disconnection(request: Request) -> list[bool]:
    """
    A list that gets an item if the client goes away before its answer.
    """
    gone: list[bool] = []
    request.notifyFinish().addErrback(lambda _: gone.append(True))
    return gone


def _answer(request: Request, status: int, body: object) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"content-type", b"application/json")
    request.setHeader(b"cache-control", b"no-store")
    return (dumps(body) + "\n").encode("utf-8")


def _answer_error(request: Request, error: ApiError) -> bytes:
    return _answer(request, error.status, {"error": error.message, **error.extra})
