# -*- test-case-name: tests.broker.test_service -*-
"""
The service's HTTP routes for broker mode: ``POST /events?delivery=broker``
publishes through the broker (202 with the event id once the broker has
confirmed it; 503 when the broker cannot be reached), ``GET /dead-letters``
lists the group's dead letters and ``POST /dead-letters/replay`` replays one.

Each route returns a Deferred firing with ``(status, body)``, which the API
resource answers with.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import IO, Final, cast

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure
from twisted.web.server import Request

from .._http import ApiError, parse_fire_request
from ._deadletter import DeadLetter
from ._errors import BrokerUnavailable, EnvelopeError, PublishRejected, UnknownDeadLetter, UnroutableEvent
from ._service import BrokerMode

#: The most dead letters one request lists.
MAX_LIST: Final = 1000

Route = Callable[[Request], object]


def _accepted(event_id: str) -> tuple[int, object]:
    return 202, {"event_id": event_id, "delivery": "broker"}


def _listed(letters: list[DeadLetter]) -> tuple[int, object]:
    return 200, {"dead_letters": [letter.as_json() for letter in letters]}


def _replayed(_: None, event_id: str) -> tuple[int, object]:
    return 200, {"replayed": event_id}


def _publish_failed(failure: Failure) -> Failure:
    if failure.check(BrokerUnavailable, PublishRejected):
        raise ApiError(503, failure.getErrorMessage())
    if failure.check(UnroutableEvent):
        raise ApiError(422, failure.getErrorMessage())
    return failure


def publish_route(mode: BrokerMode) -> Route:
    """
    ``POST /events?delivery=broker``: the same body as a local fire.
    """

    def publish(request: Request) -> Deferred[tuple[int, object]]:
        event, details = parse_fire_request(cast(IO[bytes], request.content).read())
        try:
            publishing = mode.publish(event, details)
        except EnvelopeError as error:
            raise ApiError(422, str(error)) from None
        return publishing.addCallback(_accepted).addErrback(_publish_failed)

    return publish


def _limit(request: Request) -> int:
    given = request.args.get(b"limit", [b"100"])[0]
    try:
        limit = int(given)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIST:
        raise ApiError(
            400, f"limit must be a whole number from 1 to {MAX_LIST}, got {given.decode('latin-1')!r}"
        )
    return limit


def _event_id(request: Request) -> str:
    try:
        payload = json.loads(cast(IO[bytes], request.content).read())
    except ValueError as error:
        raise ApiError(400, f"request body is not valid JSON: {error}") from None
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("event_id"), str)
        or set(payload) != {"event_id"}
    ):
        raise ApiError(400, 'expected a JSON object {"event_id": "<the dead letter\'s event id>"}')
    return cast(str, payload["event_id"])


def _replay_failed(failure: Failure) -> Failure:
    if failure.check(UnknownDeadLetter):
        raise ApiError(404, failure.getErrorMessage())
    if failure.check(BrokerUnavailable):
        raise ApiError(503, failure.getErrorMessage())
    return failure


def dead_letter_routes(mode: BrokerMode) -> Mapping[bytes, tuple[bytes, Route]]:
    """
    ``GET /dead-letters[?limit=N]`` and ``POST /dead-letters/replay``.
    """

    def listed(request: Request) -> Deferred[tuple[int, object]]:
        listing = mode.dead_letters(_limit(request))
        return listing.addCallback(_listed).addErrback(_replay_failed)

    def replay(request: Request) -> Deferred[tuple[int, object]]:
        event_id = _event_id(request)
        try:
            replaying = mode.replay(event_id)
        except LookupError as error:
            raise ApiError(404, str(error)) from None
        return replaying.addCallback(_replayed, event_id).addErrback(_replay_failed)

    return {b"/dead-letters": (b"GET", listed), b"/dead-letters/replay": (b"POST", replay)}
