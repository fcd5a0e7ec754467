# -*- test-case-name: tests.service.test_openapi -*-
"""
The HTTP API's contract: its endpoints (which the resource routes by) and
the OpenAPI 3.1 document made from them, served at ``/openapi.json`` and
kept in ``docs/openapi.json``.

The routes of broker mode (`BROKER_ENDPOINTS`, and ``delivery=broker`` on
``POST /events``) are in the document a broker-mode service serves and in
the one ``docs/`` keeps (marked as broker mode's), not in the one a service
without ``[broker]`` serves: each service's document lists exactly what it
answers.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Final, final

import attrs

#: The statuses any endpoint may answer, besides its own.
SENDER_REFUSED: Final = {
    "403": "The request came from an ``Origin`` that is not allowed.",
    "405": "The path takes another method (see ``Allow``).",
    "421": "The ``Host`` header does not name this service.",
}

#: The statuses of an endpoint that needs the bearer token.
TOKEN_REFUSED: Final = {"401": "A token is configured, and the request lacks it or has a wrong one."}


@final
@attrs.frozen
class Endpoint:
    """
    One path of the API.

    :ivar name: what the resource calls its answer.
    :ivar path: the path.
    :ivar method: the one method it takes (``GET`` also takes ``HEAD``).
    :ivar token: whether it needs the bearer token, when one is configured.
    :ivar summary: what it does.
    :ivar answers: each status it may answer with (besides those of
        `SENDER_REFUSED` and, with ``token``, `TOKEN_REFUSED`), and what it
        means, and the schema of its body.
    :ivar request: the schema of its request body, if it takes one.
    :ivar parameters: its query parameters, as OpenAPI parameter objects.
    """

    name: str
    path: str
    method: str
    token: bool
    summary: str
    answers: dict[str, tuple[str, str]]
    request: str | None = None
    parameters: tuple[dict[str, object], ...] = ()


#: ``POST /events``'s choice of delivery, as a broker-mode service takes it.
DELIVERY: Final[dict[str, object]] = {
    "name": "delivery",
    "in": "query",
    "required": False,
    "description": (
        "local: fire the event in this process and answer with its result; broker (broker mode "
        "only, with a [broker] table): publish it through the broker and answer 202 with its id "
        "once the broker has confirmed it. Any other value is a 400."
    ),
    "schema": {"enum": ["local", "broker"], "default": "local"},
}

#: The most dead letters one ``GET /dead-letters`` lists.
MAX_DEAD_LETTERS: Final = 1000

#: What broker mode adds to ``POST /events`` (``delivery=broker``): new
#: statuses, and more meanings of the statuses it shares with local delivery.
BROKER_FIRE_ANSWERS: Final = {
    "202": (
        "delivery=broker: the broker has confirmed the event, stored for at least one consumer group.",
        "Accepted",
    ),
    "422": (
        "delivery=broker: no consumer group runs a handler for its details, or its details "
        "or arguments cannot travel in the envelope (see docs/scaling-out.rst).",
        "Error",
    ),
    "503": (
        "delivery=broker: the broker could not be reached within publish_timeout, or did not "
        "confirm the event.",
        "Error",
    ),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ENDPOINTS: Final = (
    Endpoint(
        "fire",
        "/events",
        "POST",
        True,
        "Fire an event; answer once every phase has run. Or, with ``?delivery=broker`` (broker mode "
        "only), publish it through the broker and answer 202 once the broker has confirmed it.",
        {
            "200": (
                "The event was dispatched (handlers may have failed, with handler_errors = log).",
                "Result",
            ),
            "400": (
                "The body is not JSON, not a fire request, or nests too deep; or it gives a name "
                "as a detail and as an argument with different values (named in conflicting); or "
                "delivery is not one of the values this service takes.",
                "Error",
            ),
            "413": ("The body is larger than server.max_body.", "Error"),
            "415": ("The body is not sent as application/json.", "Error"),
            "422": (
                "An unknown keyword, an unmatchable detail, an undeclared event, bad arguments.",
                "Error",
            ),
            "500": ("A handler failed with handler_errors = fail, or an unexpected error.", "Error"),
            "503": ("Not running yet, stopping, too many events in flight, or cancelled by a stop.", "Error"),
            "504": ("The handlers did not finish within default_timeout and were cancelled.", "Cancelled"),
        },
        request="FireRequest",
        parameters=(DELIVERY,),
    ),
    Endpoint(
        "handlers",
        "/handlers",
        "GET",
        True,
        "The handlers, phase by phase.",
        {"200": ("The handlers.", "Handlers")},
    ),
    Endpoint(
        "plugins",
        "/plugins",
        "GET",
        True,
        "The plugins, in the order they were added.",
        {"200": ("The plugins.", "Plugins")},
    ),
    Endpoint(
        "health",
        "/health",
        "GET",
        False,
        "Whether the service is running, and what the events in flight wait for.",
        {
            "200": ("Every plugin is started (or has failed).", "Health"),
            "503": ("The service is starting or stopping.", "HealthError"),
        },
    ),
    Endpoint(
        "metrics",
        "/metrics",
        "GET",
        True,
        "The service's metrics, in Prometheus's text format.",
        {
            "200": ("The metrics (see docs/operating.rst).", "PrometheusText"),
            "404": ("Metrics are off: the [metrics] table does not enable them.", "Error"),
        },
    ),
    Endpoint(
        "openapi",
        "/openapi.json",
        "GET",
        False,
        "This document.",
        {"200": ("The OpenAPI document of the API.", "Document")},
    ),
)

#: The routes of broker mode: a service with a ``[broker]`` table serves them.
BROKER_ENDPOINTS: Final = (
    Endpoint(
        "dead_letters",
        "/dead-letters",
        "GET",
        True,
        "Broker mode only: the dead letters of this instance's consumer group, oldest first "
        f"(``?limit=N``, 1 to {MAX_DEAD_LETTERS}, 100 by default); none without a group.",
        {
            "200": ("The dead letters.", "DeadLetters"),
            "400": (f"limit is not a whole number from 1 to {MAX_DEAD_LETTERS}.", "Error"),
            "500": ("An unexpected error.", "Error"),
            "503": ("The broker could not be reached.", "Error"),
        },
        parameters=(
            {
                "name": "limit",
                "in": "query",
                "required": False,
                "description": "The most dead letters to list.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_DEAD_LETTERS, "default": 100},
            },
        ),
    ),
    Endpoint(
        "replay",
        "/dead-letters/replay",
        "POST",
        True,
        "Broker mode only: send one dead letter of this instance's consumer group back to the "
        "group, for a new round of deliveries.",
        {
            "200": ("The dead letter is back in the group's queue.", "Replayed"),
            "400": ('The body is not JSON, or not {"event_id": "<id>"}.', "Error"),
            "404": ("The group has no dead letter with that id, or this service runs no group.", "Error"),
            "413": ("The body is larger than server.max_body.", "Error"),
            "415": ("The body is not sent as application/json.", "Error"),
            "500": ("An unexpected error.", "Error"),
            "503": ("The broker could not be reached.", "Error"),
        },
        request="ReplayRequest",
    ),
)

_JSON_VALUE: Final = {"description": "Any JSON value."}

#: The one answer that is not JSON: its schema's name, and its media type.
TEXT_ANSWERS: Final = {"PrometheusText": "text/plain"}
PLUGIN_STATES: Final = ["added", "initializing", "initialized", "starting", "started", "failed", "closed"]
_SCALAR: Final = {"type": ["string", "number", "boolean", "null"]}
_STRINGS: Final = {"type": "array", "items": {"type": "string"}}


#: A fire request's arguments: names to any JSON values, never matched on.
_ARGUMENTS: Final = {
    "type": "object",
    "additionalProperties": _JSON_VALUE,
    "description": (
        "Handed to the handlers (as keyword arguments, or in the event's namespace) and never matched "
        "on: any JSON values. A name also given in details must have the same value there."
    ),
}


def _fire_request(details: dict[str, object]) -> dict[str, object]:
    return {
        "type": "object",
        "required": ["event"],
        "properties": {"event": _JSON_VALUE, "details": details, "arguments": _ARGUMENTS},
        "additionalProperties": False,
    }


SCHEMAS: Final[dict[str, object]] = {
    "FireRequest": _fire_request({"type": "object", "additionalProperties": _JSON_VALUE}),
    "Outcome": {
        "type": "object",
        "required": ["handler", "phase", "plugin", "succeeded", "value", "error"],
        "properties": {
            "handler": {"type": "string"},
            "phase": {"type": "string"},
            "plugin": {"type": ["string", "null"]},
            "succeeded": {"type": "boolean"},
            "value": _JSON_VALUE,
            "error": {"type": ["string", "null"]},
        },
    },
    "Result": {
        "type": "object",
        "required": ["event", "details", "arguments", "succeeded", "handlers"],
        "properties": {
            "event": _JSON_VALUE,
            "details": {"type": "object"},
            "arguments": {"type": "object"},
            "succeeded": {"type": "boolean"},
            "handlers": {"type": "array", "items": _ref("Outcome")},
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {"type": "string"},
            "conflicting": _STRINGS,
            "result": _ref("Result"),
            "cancelled": _STRINGS,
            "never_started": _STRINGS,
        },
    },
    "Cancelled": {
        "type": "object",
        "required": ["error", "cancelled", "never_started"],
        "properties": {"error": {"type": "string"}, "cancelled": _STRINGS, "never_started": _STRINGS},
    },
    "Handlers": {
        "type": "object",
        "required": ["handlers"],
        "properties": {
            "handlers": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["handler", "phase", "match", "plugin"],
                    "properties": {
                        "handler": {"type": "string"},
                        "phase": {"type": "string"},
                        "match": {"type": "object", "additionalProperties": _SCALAR},
                        "plugin": {"type": ["string", "null"]},
                    },
                },
            }
        },
    },
    "Plugins": {
        "type": "object",
        "required": ["plugins"],
        "properties": {
            "plugins": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["number", "name", "source", "state", "handlers"],
                    "properties": {
                        "number": {"type": "integer"},
                        "name": {"type": "string"},
                        "source": {"type": ["string", "null"]},
                        "state": {
                            "enum": [
                                "added",
                                "initializing",
                                "initialized",
                                "starting",
                                "started",
                                "failed",
                                "closed",
                            ]
                        },
                        "handlers": _STRINGS,
                    },
                },
            }
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "failed_plugins", "in_flight", "waiting", "metrics", "tracing", "broker"],
        "properties": {
            "metrics": {
                "type": "object",
                "required": ["enabled", "path"],
                "properties": {"enabled": {"type": "boolean"}, "path": {"type": ["string", "null"]}},
            },
            "tracing": {
                "type": "object",
                "required": ["enabled", "exporter", "to"],
                "properties": {
                    "enabled": {"type": "boolean"},
                    "exporter": {"enum": ["otlp", "file", None]},
                    "to": {"type": ["string", "null"]},
                },
            },
            "broker": {
                "type": ["object", "null"],
                "description": "Broker mode's state; null without a [broker] table. A group or connection "
                "that gave up for good says why in error, and the status stays running (the service "
                "still publishes and fires events in this process).",
                "required": ["url", "connected", "group", "consuming", "error"],
                "properties": {
                    "url": {"type": "string", "description": "The broker's URL, without its password."},
                    "connected": {"type": "boolean"},
                    "group": {"type": ["string", "null"], "description": "null without [broker.group]."},
                    "consuming": {"type": "boolean"},
                    "error": {
                        "type": ["string", "null"],
                        "description": "Why the connection or the group gave up: a refused login or "
                        "virtual host, a queue that exists with other arguments, a completion log whose "
                        "table cannot be made; null when none did.",
                    },
                },
            },
            "status": {"enum": ["running", "starting", "stopping", "stopped"]},
            "failed_plugins": _STRINGS,
            "in_flight": {"type": "integer", "minimum": 0},
            "waiting": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["phase", "seconds", "handlers"],
                    "properties": {
                        "phase": {"type": ["string", "null"]},
                        "seconds": {"type": "number"},
                        "handlers": {
                            "type": "array",
                            "items": {
                                "type": "object",
                                "required": ["handler", "seconds"],
                                "properties": {"handler": {"type": "string"}, "seconds": {"type": "number"}},
                            },
                        },
                    },
                },
            },
        },
    },
    "HealthError": {
        "allOf": [
            _ref("Health"),
            {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
        ]
    },
    "Document": {"type": "object", "required": ["openapi", "paths"]},
}

_NULLABLE_INT: Final = {"type": ["integer", "null"]}

#: The schemas broker mode's answers and requests add.
BROKER_SCHEMAS: Final[dict[str, object]] = {
    "Accepted": {
        "type": "object",
        "required": ["event_id", "delivery"],
        "properties": {
            "event_id": {"type": "string", "description": "The event's id (a UUID version 7)."},
            "delivery": {"enum": ["broker"]},
        },
    },
    "DeadLetter": {
        "type": "object",
        "required": [
            "event_id",
            "group",
            "reason",
            "failures",
            "attempts",
            "dead_lettered_at_ms",
            "event",
            "details",
            "arguments",
        ],
        "properties": {
            "event_id": {"type": ["string", "null"], "description": "The message's id, if it has one."},
            "group": {"type": "string"},
            "reason": {"type": "string", "description": "Why it was dead-lettered."},
            "failures": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["handler", "error"],
                    "properties": {"handler": {"type": "string"}, "error": {"type": "string"}},
                },
            },
            "attempts": _NULLABLE_INT,
            "dead_lettered_at_ms": _NULLABLE_INT,
            "event": {"description": "The payload; null if the message is not a valid envelope."},
            "details": {"type": ["object", "null"]},
            "arguments": {"type": ["object", "null"]},
        },
    },
    "DeadLetters": {
        "type": "object",
        "required": ["dead_letters"],
        "properties": {"dead_letters": {"type": "array", "items": _ref("DeadLetter")}},
    },
    "ReplayRequest": {
        "type": "object",
        "required": ["event_id"],
        "properties": {"event_id": {"type": "string", "description": "The dead letter's event id."}},
        "additionalProperties": False,
    },
    "Replayed": {
        "type": "object",
        "required": ["replayed"],
        "properties": {"replayed": {"type": "string", "description": "The event id replayed."}},
    },
}


def package_version() -> str:
    """
    The installed package's version, or ``"unknown"`` if it is not installed.
    """
    try:
        return version("twisted_event_dispatcher")
    except PackageNotFoundError:
        return "unknown"


def _response(description: str, schema: str, status: str) -> dict[str, object]:
    media = TEXT_ANSWERS.get(schema)
    content = (
        {"application/json": {"schema": _ref(schema)}}
        if media is None
        else {media: {"schema": {"type": "string"}}}
    )
    described: dict[str, object] = {"description": description, "content": content}
    if status == "503":
        described["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before trying again.",
                "schema": {"type": "string"},
            }
        }
    return described


def _with_broker_answers(answers: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """
    ``POST /events``'s answers in broker mode: its own, and those of
    ``delivery=broker`` (a shared status's meanings joined).
    """
    joined = dict(answers)
    for status, (description, schema) in BROKER_FIRE_ANSWERS.items():
        own = joined.get(status)
        joined[status] = (description, schema) if own is None else (f"{own[0]} Or, {description}", own[1])
    return joined


def _local_only(parameter: dict[str, object]) -> dict[str, object]:
    """
    The ``delivery`` parameter of a service without a broker: only ``local``.
    """
    return {
        **parameter,
        "description": "local: fire the event in this process (this service has no [broker]); any other "
        "value is a 400.",
        "schema": {"enum": ["local"], "default": "local"},
    }


def _operation(endpoint: Endpoint, broker: bool) -> dict[str, object]:
    given = _with_broker_answers(endpoint.answers) if broker and endpoint.name == "fire" else endpoint.answers
    answers = {status: _response(*answer, status) for status, answer in given.items()}
    refusals = {**SENDER_REFUSED, **(TOKEN_REFUSED if endpoint.token else {})}
    for status, description in refusals.items():
        answers.setdefault(status, _response(description, "Error", status))
    operation: dict[str, object] = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "responses": dict(sorted(answers.items())),
    }
    if endpoint.token:
        operation["security"] = [{}, {"bearer": []}]
    if endpoint.parameters:
        operation["parameters"] = [
            parameter if broker or parameter is not DELIVERY else _local_only(parameter)
            for parameter in endpoint.parameters
        ]
    if endpoint.request is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(endpoint.request)}},
        }
    return operation


def _with_keywords(keywords: Sequence[str]) -> dict[str, object]:
    """
    The schemas of a service whose dispatcher takes these keywords: a fire
    request's ``details`` may name only them, with scalar values.
    """
    details = {
        "type": "object",
        "properties": dict.fromkeys(keywords, _SCALAR),
        "additionalProperties": False,
    }
    return {**SCHEMAS, "FireRequest": _fire_request(details)}


def endpoints(broker: bool) -> tuple[Endpoint, ...]:
    """
    The endpoints of a service with (``broker``) or without broker mode.
    """
    return ENDPOINTS + BROKER_ENDPOINTS if broker else ENDPOINTS


def document(keywords: Sequence[str] | None = None, *, broker: bool = True) -> dict[str, object]:
    """
    The OpenAPI 3.1 document of the API.

    :param keywords: the keywords of the service's plain dispatcher, which
        then narrow what ``details`` may hold; None for any service (the
        document ``docs/openapi.json`` keeps).
    :param broker: whether the service runs in broker mode (a ``[broker]``
        table): its routes and ``delivery=broker`` are in the document
        only then.  ``docs/openapi.json`` has them.
    """
    schemas = SCHEMAS if keywords is None else _with_keywords(keywords)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "twisted_event_dispatcher service",
            "version": package_version(),
            "description": "Fire events at an event dispatcher and inspect it; see docs/service.rst.",
        },
        "paths": {
            endpoint.path: {endpoint.method.lower(): _operation(endpoint, broker)}
            for endpoint in endpoints(broker)
        },
        "components": {
            "schemas": {**schemas, **BROKER_SCHEMAS} if broker else schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def document_text() -> str:
    """
    The document as ``docs/openapi.json`` keeps it: indented JSON.
    """
    return json.dumps(document(), indent=2) + "\n"


if __name__ == "__main__":  # python -m twisted_event_dispatcher._openapi > docs/openapi.json
    sys.stdout.write(document_text())
