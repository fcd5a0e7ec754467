# -*- test-case-name: tests.broker.test_service -*-
"""
The service's HTTP routes for broker mode: ``POST /events?delivery=broker``
publishes through the broker (202 with the event id once the broker has
confirmed it; 503 when the broker cannot be reached), ``GET /dead-letters``
lists the group's dead letters and ``POST /dead-letters/replay`` replays one.

Each answers its request itself once the broker has answered.  Their
paths, methods and statuses are those of `_openapi.BROKER_ENDPOINTS`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Final, cast

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

from .._http_answers import ApiError, answer, answer_error
from .._http_checks import FireRequest, read_json_body
from .._openapi import BROKER_ENDPOINTS, MAX_DEAD_LETTERS
from ._deadletter import DeadLetter
from ._errors import BrokerUnavailable, EnvelopeError, PublishRejected, UnknownDeadLetter, UnroutableEvent
from ._service import BrokerMode

#: The most dead letters one request lists.
MAX_LIST: Final = MAX_DEAD_LETTERS

#: (method, whether a token is needed, responder), as the API routes.
Route = tuple[bytes, bool, Callable[[Request], object]]

_log = Logger()


def _answer_when_done(request: Request, pending: Deferred[tuple[int, object]]) -> int:
    """
    Answer ``request`` with the ``(status, body)`` ``pending`` fires with, or
    with the `ApiError` it fails with.
    """
    gone: list[bool] = []
    request.notifyFinish().addErrback(lambda _: gone.append(True))

    def write(outcome: object) -> None:
        if isinstance(outcome, Failure):
            if outcome.check(ApiError):
                payload = answer_error(request, cast(ApiError, outcome.value))
            else:
                _log.failure("Answering {path} failed", outcome, path=request.path)
                payload = answer_error(request, ApiError(500, "internal error; see the service's log"))
        else:
            status, body = cast("tuple[int, object]", outcome)
            payload = answer(request, status, body)
        if not gone:
            request.write(payload)
            request.finish()

    pending.addBoth(write)
    return NOT_DONE_YET


def _accepted(event_id: str) -> tuple[int, object]:
    return 202, {"event_id": event_id, "delivery": "broker"}


def _listed(letters: list[DeadLetter]) -> tuple[int, object]:
    return 200, {"dead_letters": [letter.as_json() for letter in letters]}


def _replayed(_: None, event_id: str) -> tuple[int, object]:
    return 200, {"replayed": event_id}


def _publish_failed(failure: Failure) -> Failure:
    if failure.check(BrokerUnavailable, PublishRejected):
        raise ApiError(503, failure.getErrorMessage(), headers={b"retry-after": b"1"})
    if failure.check(UnroutableEvent):
        raise ApiError(422, failure.getErrorMessage())
    return failure


def publish_route(mode: BrokerMode) -> Callable[[Request, FireRequest], object]:
    """
    ``POST /events?delivery=broker``, once the API has checked the request:
    the event, its details and its arguments go into the envelope.
    """

    def publish(request: Request, fire: FireRequest) -> object:
        try:
            publishing = mode.publish(fire.event, fire.details, fire.arguments)
        except EnvelopeError as error:
            raise ApiError(422, str(error)) from None
        return _answer_when_done(request, publishing.addCallback(_accepted).addErrback(_publish_failed))

    return publish


def _limit(request: Request) -> int:
    given = request.args.get(b"limit", [b"100"])[0]
    digits = given.isdigit() and len(given.lstrip(b"0")) <= 9  # digits only: not "+1" or "1_0"
    limit = int(given) if digits else 0
    if not 1 <= limit <= MAX_LIST:
        shown = given.decode("latin-1")[:100]
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_LIST}, got {shown!r}")
    return limit


def _event_id(request: Request) -> str:
    try:
        payload = json.loads(read_json_body(request))
    except RecursionError:
        raise ApiError(400, "request body nests arrays and objects too deep") from None
    except ValueError as error:
        raise ApiError(400, f"request body is not valid JSON: {error}") from None
    event_id = payload.get("event_id") if isinstance(payload, dict) and set(payload) == {"event_id"} else None
    if not isinstance(event_id, str):
        raise ApiError(400, 'expected a JSON object {"event_id": "<the dead letter\'s event id>"}')
    return event_id


def _replay_failed(failure: Failure) -> Failure:
    if failure.check(UnknownDeadLetter):
        raise ApiError(404, failure.getErrorMessage())
    if failure.check(BrokerUnavailable):
        raise ApiError(503, failure.getErrorMessage(), headers={b"retry-after": b"1"})
    return failure


def dead_letter_routes(mode: BrokerMode) -> Mapping[bytes, Route]:
    """
    ``GET /dead-letters[?limit=N]`` and ``POST /dead-letters/replay``, both
    behind the service's token.
    """

    def listed(request: Request) -> object:
        listing = mode.dead_letters(_limit(request))
        return _answer_when_done(request, listing.addCallback(_listed).addErrback(_replay_failed))

    def replay(request: Request) -> object:
        event_id = _event_id(request)
        try:
            replaying = mode.replay(event_id)
        except LookupError as error:
            raise ApiError(404, str(error)) from None
        return _answer_when_done(
            request, replaying.addCallback(_replayed, event_id).addErrback(_replay_failed)
        )

    responders = {"dead_letters": listed, "replay": replay}
    return {
        endpoint.path.encode(): (endpoint.method.encode(), endpoint.token, responders[endpoint.name])
        for endpoint in BROKER_ENDPOINTS
    }
