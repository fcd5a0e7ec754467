# -*- test-case-name: tests.broker.test_envelope -*-
"""
The envelope: how an event travels through the broker, in a form that a
program in any language can write and read (``docs/scaling-out.rst`` has the
specification).

- the event id is the AMQP ``message_id``, a UUID version 7 (time-sortable);
- each match detail is a message header of the same name, whose value is a
  string, an integer or a boolean;
- the payload is the body, JSON in UTF-8 (``content_type`` ``application/json``);
- the headers ``published-at-ms``, ``idempotency-key``, ``traceparent`` and
  ``tracestate`` carry the time of publishing, the caller's idempotency key
  and the W3C trace context;
- the optional header ``event-arguments`` carries the event's arguments
  (never matched on): a JSON object, as text.

This module is pure: it neither imports pika nor touches the network.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Final, final

import attrs

from .._json import same_json_value
from ._errors import EnvelopeError

#: The content type of every envelope's body.
CONTENT_TYPE: Final = "application/json"
#: The headers the envelope reserves: none of them can be a match detail.
PUBLISHED_AT: Final = "published-at-ms"
IDEMPOTENCY_KEY: Final = "idempotency-key"
ARGUMENTS: Final = "event-arguments"
TRACE_HEADERS: Final = ("traceparent", "tracestate")
#: The longest idempotency key accepted (AMQP short strings are 255 bytes).
MAX_KEY_LENGTH: Final = 200
#: The largest ``event-arguments`` header, in bytes of UTF-8 JSON: the
#: headers travel in one AMQP frame, which RabbitMQ caps at 128 KiB.
MAX_ARGUMENTS_BYTES: Final = 64 * 1024

#: The Python types a detail may have to travel as a header (pika cannot
#: encode floats; they are accepted when a message from elsewhere has them).
_SENT_TYPES: Final = (str, int, bool)
_RECEIVED_TYPES: Final = (str, int, bool, float)
#: One encoder for every body (json.dumps with options makes one per call).
_ENCODER: Final = json.JSONEncoder(allow_nan=False, separators=(",", ":"), ensure_ascii=False)
#: One decoder for every body.
_DECODER: Final = json.JSONDecoder()


class _UuidSeven:
    """
    Time-ordered UUIDs (RFC 9562, version 7): 48 bits of Unix milliseconds,
    then a 12-bit counter that keeps ids made in the same millisecond in
    order, then 62 random bits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0
        self._counter = 0

    def __call__(self, now_ms: int | None = None) -> str:
        with self._lock:
            ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
            if ms <= self._last_ms:
                ms, self._counter = self._last_ms, self._counter + 1
                if self._counter > 0xFFF:  # 4096 ids in one millisecond: borrow the next
                    ms, self._counter = ms + 1, 0
            else:
                self._counter = 0
            self._last_ms = ms
            counter = self._counter
        tail = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
        value = (ms << 80) | (0x7 << 76) | (counter << 64) | (0b10 << 62) | tail
        text = f"{value:032x}"
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


#: A new event id: ``new_event_id()``.  Ids made later sort after earlier ones.
new_event_id: Final = _UuidSeven()


def event_id_time_ms(event_id: str) -> int:
    """
    The Unix time, in milliseconds, at which a UUIDv7 event id was made.

    :raises EnvelopeError: if ``event_id`` is not a UUID version 7.
    """
    digits = event_id.replace("-", "")
    if len(digits) != 32 or digits[12] != "7":
        raise EnvelopeError(f"event id {event_id!r} is not a UUID version 7")
    try:
        return int(digits[:12], 16)
    except ValueError:
        raise EnvelopeError(f"event id {event_id!r} is not a UUID version 7") from None


def _check_details(details: Mapping[str, object], allowed: tuple[type, ...]) -> dict[str, object]:
    if type(details) is dict:  # the usual details, at once: plain keywords and values
        for keyword, value in details.items():
            if type(value) not in allowed or type(keyword) is not str or not keyword.isidentifier():
                break
            if keyword in TRACE_HEADERS:
                break
        else:
            return dict(details)
    if not isinstance(details, Mapping):
        raise EnvelopeError(f"details must be a mapping of keyword to value, got {details!r}")
    checked: dict[str, object] = {}
    for keyword, value in details.items():
        if not isinstance(keyword, str) or not keyword.isidentifier() or keyword in TRACE_HEADERS:
            raise EnvelopeError(
                f"detail keyword {keyword!r} cannot travel as a header: keywords are Python "
                f"identifiers other than {TRACE_HEADERS!r}"
            )
        if not isinstance(value, allowed):
            names = ", ".join(kind.__name__ for kind in allowed)
            raise EnvelopeError(
                f"detail {keyword}={value!r} cannot travel as a header: "
                f"values are {names}, not {type(value).__name__}"
            )
        checked[keyword] = value
    return checked


def _check_key(key: object) -> str | None:
    if key is None:
        return None
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise EnvelopeError(
            f"idempotency key must be a non-empty string of at most {MAX_KEY_LENGTH} characters, got {key!r}"
        )
    return key


def _check_trace(trace: Mapping[str, str] | None) -> dict[str, str]:
    if not trace:
        return {}
    unknown = sorted(set(trace) - set(TRACE_HEADERS))
    if unknown or not all(isinstance(value, str) for value in trace.values()):
        raise EnvelopeError(
            f"trace context must map {' and/or '.join(TRACE_HEADERS)} to strings, got {dict(trace)!r}"
        )
    return dict(trace)


def _check_arguments(
    arguments: Mapping[str, object] | None, details: Mapping[str, object]
) -> dict[str, object]:
    """
    An event's arguments, checked: a mapping of names (str) to JSON values,
    none of them a detail with another value.
    """
    if not arguments:
        return {}
    if not isinstance(arguments, Mapping):
        raise EnvelopeError(f"arguments must be a mapping of names to JSON values, got {arguments!r}"[:300])
    checked = dict(arguments)
    for name, value in checked.items():
        if not isinstance(name, str):
            raise EnvelopeError(f"argument names must be strings, got {type(name).__name__} {name!r}"[:300])
        if name in details and not same_json_value(details[name], value):
            raise EnvelopeError(
                f"{name[:100]!r} is given as a detail ({details[name]!r}) and as an argument "
                f"({value!r}) with different values: give it once, or give both the same value"[:500]
            )
    return checked


def _encode_arguments(arguments: Mapping[str, object]) -> str:
    try:
        text = _ENCODER.encode(arguments)
    except (TypeError, ValueError, RecursionError) as error:
        raise EnvelopeError(f"the arguments must be JSON values: {error}") from None
    size = len(text.encode())
    if size > MAX_ARGUMENTS_BYTES:
        raise EnvelopeError(
            f"the arguments take {size} bytes of JSON, more than the {MAX_ARGUMENTS_BYTES} an envelope's "
            "headers can carry: put large values in the event itself"
        )
    return text


def _decode_arguments(value: object, details: Mapping[str, object]) -> dict[str, object]:
    text = _text(value)
    if not isinstance(text, str):
        raise EnvelopeError(f"header {ARGUMENTS!r} must be a JSON object as UTF-8 text, got {value!r}"[:300])
    try:
        arguments = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise EnvelopeError(f"header {ARGUMENTS!r} is not JSON: {error}") from None
    if not isinstance(arguments, dict):
        raise EnvelopeError(f"header {ARGUMENTS!r} must be a JSON object, got {text[:100]!r}")
    return _check_arguments(arguments, details)


@final
@attrs.frozen
class Message:
    """
    An envelope as the broker carries it, whatever the client library.

    :ivar message_id: the AMQP ``message_id`` property: the event id.
    :ivar headers: the AMQP headers.
    :ivar body: the body, JSON in UTF-8.
    :ivar timestamp: the AMQP ``timestamp`` property, in whole seconds.
    :ivar content_type: the AMQP ``content_type`` property.
    """

    message_id: str | None
    headers: Mapping[str, object]
    body: bytes
    timestamp: int | None = None
    content_type: str | None = CONTENT_TYPE


@final
@attrs.frozen
class Envelope:
    """
    One event on its way through the broker.

    :ivar event_id: the event's unique id (a UUID version 7 when this
        package made it).
    :ivar payload: the event itself: any JSON value.
    :ivar details: the match details, keyword to str, int or bool.
    :ivar published_at_ms: Unix milliseconds at which it was published, if known.
    :ivar idempotency_key: the caller's key: two events with the same key
        are one as far as the completion log goes.
    :ivar trace_context: ``traceparent`` / ``tracestate`` to continue a trace.
    :ivar arguments: name to JSON value, handed to the handlers beside the
        payload (as `EventDispatcher.fire`'s ``arguments``), never matched on.
    """

    event_id: str
    payload: object
    details: Mapping[str, object] = attrs.field(factory=dict)
    published_at_ms: int | None = None
    idempotency_key: str | None = None
    trace_context: Mapping[str, str] = attrs.field(factory=dict)
    arguments: Mapping[str, object] = attrs.field(factory=dict)

    @property
    def completion_key(self) -> str:
        """
        What the completion log files this event's handlers under: the
        idempotency key if the caller gave one, else the event id.
        """
        return self.idempotency_key if self.idempotency_key is not None else self.event_id


def seal(
    payload: object,
    details: Mapping[str, object] | None = None,
    *,
    idempotency_key: str | None = None,
    trace_context: Mapping[str, str] | None = None,
    event_id: str | None = None,
    now_ms: int | None = None,
    arguments: Mapping[str, object] | None = None,
) -> Envelope:
    """
    A new envelope for an event about to be published, its details, key,
    trace context and arguments checked so that they can travel (the
    payload is checked when `to_message` encodes it).

    :param arguments: name to JSON value, handed to the handlers and never
        matched on; a name that is also a detail has the same value there.
    :raises EnvelopeError: for a detail, key, trace context or arguments
        that cannot travel.
    """
    checked = _check_details(details, _SENT_TYPES) if details else {}
    ms = time.time_ns() // 1_000_000 if now_ms is None else now_ms
    new_id = event_id if event_id is not None else new_event_id(ms)
    if arguments is None and idempotency_key is None and not trace_context:
        return Envelope(new_id, payload, checked, ms)  # the usual event, checked already
    given = _check_arguments(arguments, checked)
    if given:
        _encode_arguments(given)  # refused now rather than when published
    return Envelope(
        new_id, payload, checked, ms, _check_key(idempotency_key), _check_trace(trace_context), given
    )


def encode_body(payload: object) -> bytes:
    """
    The JSON body of a payload.

    :raises EnvelopeError: if the payload is not made of JSON values.
    """
    try:
        return _ENCODER.encode(payload).encode()
    except (TypeError, ValueError) as error:
        raise EnvelopeError(f"the payload must be made of JSON values: {error}") from None


def to_message(envelope: Envelope) -> Message:
    """
    The message that carries ``envelope``.

    :raises EnvelopeError: if the payload is not made of JSON values.
    """
    headers: dict[str, object] = dict(envelope.details)
    if envelope.published_at_ms is not None:
        headers[PUBLISHED_AT] = envelope.published_at_ms
    if envelope.idempotency_key is not None:
        headers[IDEMPOTENCY_KEY] = envelope.idempotency_key
    if envelope.trace_context:
        headers.update(envelope.trace_context)
    if envelope.arguments:
        headers[ARGUMENTS] = _encode_arguments(envelope.arguments)
    timestamp = None if envelope.published_at_ms is None else envelope.published_at_ms // 1000
    return Message(envelope.event_id, headers, encode_body(envelope.payload), timestamp)


def _optional_int(headers: Mapping[str, object], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise EnvelopeError(f"header {name!r} must be an integer, got {value!r}")
    return value


def from_message(message: Message) -> Envelope:
    """
    The envelope a message carries.

    :raises EnvelopeError: naming what is wrong, if it is not a valid envelope.
    """
    if not isinstance(message.message_id, str) or not message.message_id:
        raise EnvelopeError("the message has no message_id: every event needs its id there")
    if message.content_type not in (None, CONTENT_TYPE):
        raise EnvelopeError(f"content_type must be {CONTENT_TYPE!r}, got {message.content_type!r}")
    headers = message.headers or {}
    details = {}
    try:
        for name, value in headers.items():
            if name.isidentifier() and name not in TRACE_HEADERS:
                if type(value) not in _RECEIVED_TYPES:  # exact types first: the usual case, at once
                    _check_details({name: value}, _RECEIVED_TYPES)
                details[name] = value
    except AttributeError:  # a name that is not text: no cost to the usual headers
        raise _unreadable_name(headers) from None
    published = _optional_int(headers, PUBLISHED_AT)
    if published is None and message.timestamp is not None:
        published = message.timestamp * 1000
    payload = _decode_body(message.body)
    reserved = len(headers) - len(details)
    if reserved == 0 or (reserved == 1 and published is not None and PUBLISHED_AT in headers):
        # The usual envelope: no key, trace context or arguments to read.
        return Envelope(message.message_id, payload, details, published)
    trace = {name: _text(headers[name]) for name in TRACE_HEADERS if name in headers}
    arguments = headers.get(ARGUMENTS)
    return Envelope(
        message.message_id,
        payload,
        details,
        published,
        _check_key(_text(headers.get(IDEMPOTENCY_KEY))),
        _check_trace(trace),  # type: ignore[arg-type]
        {} if arguments is None else _decode_arguments(arguments, details),
    )


def _unreadable_name(names: Iterable[object]) -> EnvelopeError:
    """
    The error for headers with a name that is not text (pika gives a name
    that is not UTF-8 as bytes).
    """
    name = next((name for name in names if not isinstance(name, str)), "?")
    return EnvelopeError(f"header name {name!r} is not UTF-8 text: header names must be strings"[:300])


def _decode_body(body: bytes) -> object:
    """
    The payload in a body of JSON in UTF-8.

    :raises EnvelopeError: if it is not.
    """
    if type(body) is bytes:
        try:  # the usual body, without json.loads's detection of encodings
            return _DECODER.decode(body.decode())
        except (ValueError, RecursionError):
            pass  # json.loads says what is wrong, or reads what only it can (a BOM)
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:
        raise EnvelopeError(f"the body is not JSON in UTF-8: {error}") from None


def _text(value: object) -> object:
    """
    Header strings as str, whether the client library gave str or bytes.
    """
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError:
            return value
    return value
