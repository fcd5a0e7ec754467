# -*- test-case-name: tests.service.test_http -*-
"""
What the API answers: errors as ``{"error": "<message>", ...}`` with their
status, and fire results as JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Final

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

from ._json import dumps
from ._registry import HandlerId
from ._result import FireResult
from .plugins import PluginHost

#: The reason phrase of every status (Twisted knows no 421 nor 422).
_PHRASES: Final = {status.value: status.phrase.encode("ascii") for status in HTTPStatus}

#: How many handlers' descriptions a `ResultWriter` keeps at most.
_CACHED_HANDLERS: Final = 4096

#: What a client refused for a while (a 503) is told to wait, in seconds.
RETRY_AFTER: Final = {b"retry-after": b"1"}

_log = Logger()


class ApiError(Exception):
    """
    An answer other than 200, with its message.

    :ivar status: the HTTP status.
    :ivar message: the ``error`` of the JSON body.
    :ivar headers: more headers of the answer; every 503 has `RETRY_AFTER`
        unless it gives its own ``retry-after``.
    :ivar extra: more fields of the JSON body.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: Mapping[bytes, bytes] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = {**RETRY_AFTER, **(headers or {})} if status == 503 else headers or {}
        self.extra = extra or {}


def answer(request: Request, status: int, body: object) -> bytes:
    """
    Set the status and headers of a JSON answer, and return its body.
    """
    request.setResponseCode(status, _PHRASES.get(status))
    headers = request.responseHeaders
    headers.setRawHeaders(b"content-type", [b"application/json"])
    headers.setRawHeaders(b"cache-control", [b"no-store"])
    return (dumps(body) + "\n").encode("utf-8")


def answer_error(request: Request, error: ApiError) -> bytes:
    """
    Set the status and headers of an error's answer, and return its body.
    """
    for name, value in error.headers.items():
        request.setHeader(name, value)
    return answer(request, error.status, {"error": error.message, **error.extra})


def answer_text_later(request: Request, text: Deferred[bytes], content_type: bytes) -> int:
    """
    Answer with ``text`` once it is made (a 500 if making it fails), unless
    the client has gone by then.

    :returns: ``NOT_DONE_YET``, for the resource to return.
    """
    gone: list[Failure] = []
    request.notifyFinish().addErrback(gone.append)

    def write(body: bytes) -> None:
        if gone:
            return
        request.setResponseCode(200, _PHRASES[200])
        request.setHeader(b"content-type", content_type)
        request.setHeader(b"cache-control", b"no-store")
        _send(request, body)

    def failed(failure: Failure) -> None:
        _log.failure("Making the answer to {path} failed", failure, path=request.path)
        if not gone:
            _send(request, answer_error(request, ApiError(500, "internal error; see the service's log")))

    def unwritten(failure: Failure) -> None:
        _log.failure("Writing the answer to {path} failed", failure, path=request.path)

    text.addCallbacks(write, failed).addErrback(unwritten)
    return NOT_DONE_YET


def _send(request: Request, body: bytes) -> None:
    request.setHeader(b"content-length", b"%d" % len(body))
    request.write(body)
    request.finish()


def handler_error(failure: Failure, expose: bool) -> str:
    """
    What an answer says of a failed handler: its exception's message when
    errors are exposed, else only the exception's type.
    """
    if expose:
        return failure.getErrorMessage()
    return f"{type(failure.value).__name__} (the message is in the service's log)"


class ResultWriter:
    """
    Fire results as JSON bodies, each handler's name, phase and plugin
    worked out once.

    :param host: the plugins, to name each handler's plugin.
    :param expose_errors: whether a failed handler's message is shown, or
        only its exception's type.
    """

    def __init__(self, host: PluginHost, expose_errors: bool) -> None:
        self._host = host
        self.expose_errors = expose_errors
        self._described: dict[HandlerId, tuple[str, str, str | None]] = {}

    def plugin_name(self, handler_id: HandlerId) -> str | None:
        """
        The name of the plugin a handler belongs to, or None.
        """
        plugin_id = self._host.plugin_of(handler_id)
        return None if plugin_id is None else plugin_id.name

    def _describe(self, handler_id: HandlerId) -> tuple[str, str, str | None]:
        described = self._described.get(handler_id)
        if described is None:
            if len(self._described) >= _CACHED_HANDLERS:
                self._described.clear()
            described = (handler_id.label, handler_id.phase, self.plugin_name(handler_id))
            self._described[handler_id] = described
        return described

    def body(self, result: FireResult) -> dict[str, object]:
        """
        A `FireResult` as JSON: the event, its details and arguments, and
        each handler that ran.
        """
        handlers = []
        for outcome in result:
            label, phase, plugin = self._describe(outcome.handler_id)
            failure = outcome.failure
            handlers.append(
                {
                    "handler": label,
                    "phase": phase,
                    "plugin": plugin,
                    "succeeded": failure is None,
                    "value": outcome.value,
                    "error": None if failure is None else handler_error(failure, self.expose_errors),
                }
            )
        return {
            "event": result.event,
            "details": result.details,
            "arguments": result.arguments,
            "succeeded": result.succeeded,
            "handlers": handlers,
        }
