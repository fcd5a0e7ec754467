# -*- test-case-name: tests.service.test_http_security -*-
"""
The checks a request passes before the API acts on it: the ``Host`` it
names, the ``Origin`` it comes from, its bearer token, the type of its body,
and the shape of a fired event.

Each check raises `ApiError` with the answer a refused request gets.
"""

from __future__ import annotations

import hmac
import json
import math
from collections.abc import Iterable
from typing import IO, Final, cast

import attrs
from twisted.web.server import Request

from ._http_answers import ApiError
from ._http_site import ApiRequest
from ._json import same_json_value

#: The names of the loopback interface a local client may use in ``Host``.
LOOPBACK_NAMES: Final = ("localhost", "127.0.0.1", "[::1]")

#: The media type of request bodies.
JSON_TYPE: Final = b"application/json"


def allowed_hosts(names: Iterable[str], port: int, listening: str | None) -> frozenset[bytes] | None:
    """
    The ``Host`` values a request may carry: the loopback names, the address
    the service listens on and the configured ``names``, each with the port
    (and without it on port 80).  A configured name with a port is taken as
    it is; ``"*"`` allows any host (None).
    """
    configured = list(names)
    if "*" in configured:
        return None
    hosts: set[str] = set()
    for name in (*LOOPBACK_NAMES, *([listening] if listening else []), *configured):
        if name.endswith("]") or ":" not in name:  # a name or [IPv6], without a port
            hosts.add(f"{name}:{port}")
            if port == 80:
                hosts.add(name)
        else:
            hosts.add(name)
    return frozenset(host.lower().encode("idna") for host in hosts)


def _bracketed(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def listening_name(host: str | None) -> str | None:
    """
    How a client names the address the service listens on: None for every
    interface, an IPv6 address in brackets.
    """
    if host is None or host in ("0.0.0.0", "::", ""):
        return None
    return _bracketed(host)


#: The length of ``bearer `` in ``Authorization``.
_SCHEME: Final = len(b"bearer ")


def bearer(token: str) -> bytes:
    """
    The ``Authorization`` value `RequestChecks.check_token` wants for
    ``token``, its scheme in lower case.
    """
    return b"bearer " + token.encode()


@attrs.frozen
class RequestChecks:
    """
    The checks of one service's requests.

    :ivar hosts: the ``Host`` values allowed, or None for any.
    :ivar origins: the ``Origin`` values allowed (requests without one are
        allowed too).
    :ivar token: the ``Authorization`` value required, its scheme in lower
        case (``bearer <token>``, see `bearer`), or None.
    :ivar max_depth: how deep an event or its details may nest.
    """

    hosts: frozenset[bytes] | None
    origins: frozenset[bytes] = frozenset()
    token: bytes | None = None
    max_depth: int = 32

    def check_sender(self, request: Request) -> None:
        """
        Refuse a request that names a host the service does not answer to
        (421), or that comes from an origin not allowed (403).
        """
        hosts = self.hosts
        if hosts is not None:
            host = request.getHeader(b"host")
            if host is None or host.lower() not in hosts:
                raise _misdirected(host)
        origin = request.getHeader(b"origin")
        if origin is not None and origin not in self.origins:
            shown = origin.decode("latin-1")[:200]
            raise ApiError(403, f"requests from origin {shown!r} are not allowed (server.allowed_origins)")

    def check_token(self, request: Request) -> None:
        """
        Refuse a request without the bearer token, if one is required (401).
        """
        if self.token is None:
            return
        given = request.getHeader(b"authorization") or b""
        # The scheme is case-insensitive (RFC 7235), the token is not.
        if not hmac.compare_digest(given[:_SCHEME].lower() + given[_SCHEME:], self.token):
            raise ApiError(
                401,
                "a valid bearer token is required: Authorization: Bearer <token>",
                headers={b"www-authenticate": b'Bearer realm="event-dispatcher"'},
            )


def _misdirected(host: bytes | None) -> ApiError:
    if host is None:
        return ApiError(421, "a Host header naming this service is required")
    shown = host.decode("latin-1")[:200]
    return ApiError(
        421, f"this service does not answer to host {shown!r}; add it to server.allowed_hosts to allow it"
    )


def check_json_body(request: Request) -> None:
    """
    Refuse a body that is not declared ``application/json`` (415).
    """
    declared = request.getHeader(b"content-type")
    if declared is None or declared.split(b";", 1)[0].strip().lower() != JSON_TYPE:
        shown = "none" if declared is None else repr(declared.decode("latin-1")[:200])
        raise ApiError(
            415,
            f"the body must be JSON, sent with Content-Type: application/json; the Content-Type was {shown}",
        )


def read_json_body(request: Request) -> bytes:
    """
    The body of a request that must send JSON.

    :raises ApiError: 415 unless it is declared ``application/json``, 413
        if it is larger than the site's ``max_body``.
    """
    check_json_body(request)
    if getattr(request, "too_large", False):
        raise ApiError(413, f"request body is larger than {cast(ApiRequest, request)._limit()} bytes")
    return cast(IO[bytes], request.content).read()


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    """
    A JSON number with a fraction or an exponent, refused (as ``Infinity``
    is) if it is too large for a float and would be read as infinity.
    """
    value = float(text)
    if value in (math.inf, -math.inf):
        shown = text if len(text) <= 40 else f"{text[:40]}..."
        raise ValueError(
            f"{shown} is too large for a number: it would be Infinity, which is not a JSON value"
        )
    return value


def _nests_deeper(value: object, limit: int) -> bool:
    """
    Whether arrays and objects nest more than ``limit`` levels deep in ``value``.
    """
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = (
            cast(dict[str, object], item).values() if isinstance(item, dict) else cast(list[object], item)
        )
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


@attrs.frozen
class FireRequest:
    """
    What ``POST /events`` asks for.

    :ivar event: the event, any JSON value.
    :ivar details: keyword to value, matched on.
    :ivar arguments: name to any JSON value, handed to the handlers (as
        keyword arguments, or in the event's namespace) and never matched on.
    """

    event: object
    details: dict[str, object] = attrs.field(factory=dict)
    arguments: dict[str, object] = attrs.field(factory=dict)


#: The fields a fire request may have.
_FIELDS: Final = ("event", "details", "arguments")


def _object_field(payload: dict[str, object], name: str, what: str) -> dict[str, object]:
    value = payload.get(name, {})
    if not isinstance(value, dict):
        raise ApiError(400, f'"{name}" must be a JSON object of {what} to value, got {value!r}'[:300])
    return cast(dict[str, object], value)


def parse_fire_request(body: bytes, max_depth: int = 32) -> FireRequest:
    """
    Read ``{"event": ..., "details": {...}, "arguments": {...}}`` from a
    request body (``details`` and ``arguments`` are optional).

    :param max_depth: how deep the event, the details' and the arguments'
        values may nest arrays and objects.
    :raises ApiError: 400 if the body is not such a JSON object, nests too
        deep, or gives a name as a detail and as an argument with different
        values.
    """
    try:
        payload = json.loads(body, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ApiError(400, f"the event nests arrays and objects deeper than {max_depth} levels") from None
    except ValueError as error:
        raise ApiError(400, f"request body is not valid JSON: {error}") from None
    if not isinstance(payload, dict) or "event" not in payload:
        raise ApiError(400, 'expected a JSON object {"event": ..., "details": {...}, "arguments": {...}}')
    if len(payload) > 1 and payload.keys() - set(_FIELDS):
        unknown = sorted(payload.keys() - set(_FIELDS))
        raise ApiError(400, f'unknown field(s) {unknown!r}; expected only "event", "details" and "arguments"')
    details = _object_field(payload, "details", "keyword")
    arguments = _object_field(payload, "arguments", "name")
    if body.count(b"[") + body.count(b"{") > max_depth:
        _check_depth(payload["event"], details, arguments, max_depth)
    _check_no_clash(details, arguments)
    return FireRequest(payload["event"], details, arguments)


def _check_depth(
    event: object, details: dict[str, object], arguments: dict[str, object], max_depth: int
) -> None:
    """
    Refuse an event, a detail or an argument whose value nests arrays and
    objects deeper than ``max_depth``, naming it: the same rule for each.
    """
    fields = [
        ("the event", event),
        *((f"the detail {name[:100]!r}", value) for name, value in details.items()),
        *((f"the argument {name[:100]!r}", value) for name, value in arguments.items()),
    ]
    for what, value in fields:
        if isinstance(value, (dict, list)) and _nests_deeper(value, max_depth):
            raise ApiError(400, f"{what} nests arrays and objects deeper than {max_depth} levels")


def _check_no_clash(details: dict[str, object], arguments: dict[str, object]) -> None:
    """
    Refuse a name given as a detail and as an argument with different values.
    """
    clashes = sorted(
        name
        for name in arguments.keys() & details.keys()
        if not same_json_value(details[name], arguments[name])
    )
    if clashes:
        name = clashes[0]
        raise ApiError(
            400,
            f"{name[:100]!r} is given as a detail ({_shown(details[name])}) and as an argument "
            f"({_shown(arguments[name])}) with different values: give it once, or give both the same value",
            extra={"conflicting": clashes},
        )


def _shown(value: object) -> str:
    text = json.dumps(value)
    return text if len(text) <= 100 else f"{text[:100]}..."
