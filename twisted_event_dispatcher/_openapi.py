# -*- test-case-name: tests.service.test_openapi -*-
"""
The HTTP API's contract: its endpoints (which the resource routes by) and
the OpenAPI 3.1 document made from them, served at ``/openapi.json`` and
kept in ``docs/openapi.json``.
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
    """

    name: str
    path: str
    method: str
    token: bool
    summary: str
    answers: dict[str, tuple[str, str]]


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


ENDPOINTS: Final = (
    Endpoint(
        "fire",
        "/events",
        "POST",
        True,
        "Fire an event; answer once every phase has run.",
        {
            "200": (
                "The event was dispatched (handlers may have failed, with handler_errors = log).",
                "Result",
            ),
            "400": (
                "The body is not JSON, not a fire request, or nests too deep; or it gives a name "
                "as a detail and as an argument with different values (named in conflicting).",
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
        "required": ["status", "failed_plugins", "in_flight", "waiting", "metrics", "tracing"],
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


def _operation(endpoint: Endpoint) -> dict[str, object]:
    answers = {status: _response(*answer, status) for status, answer in endpoint.answers.items()}
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
    if endpoint.method == "POST":
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref("FireRequest")}},
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


def document(keywords: Sequence[str] | None = None) -> dict[str, object]:
    """
    The OpenAPI 3.1 document of the API.

    :param keywords: the keywords of the service's plain dispatcher, which
        then narrow what ``details`` may hold; None for any service (the
        document ``docs/openapi.json`` keeps).
    """
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "twisted_event_dispatcher service",
            "version": package_version(),
            "description": "Fire events at an event dispatcher and inspect it; see docs/service.rst.",
        },
        "paths": {endpoint.path: {endpoint.method.lower(): _operation(endpoint)} for endpoint in ENDPOINTS},
        "components": {
            "schemas": SCHEMAS if keywords is None else _with_keywords(keywords),
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
