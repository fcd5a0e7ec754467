# -*- test-case-name: tests.service.test_endpoints -*-
"""
Server endpoint strings, read before anything listens: their parts, and
what is wrong with one (an unknown type, an argument its type does not take,
a port out of range...), so that the configuration check refuses it with a
message naming the mistake rather than the start failing later.
"""

from __future__ import annotations

import re
from typing import Final

from twisted.internet.endpoints import serverFromString

__all__ = ["PORTED", "endpoint_parts", "endpoint_problem"]

#: The endpoint types whose first argument (or ``port=``) is a TCP port.
PORTED: Final = ("tcp", "tcp6", "ssl")

#: The largest TCP port.
_MAX_PORT: Final = 65535


def endpoint_parts(endpoint: str) -> list[str]:
    """
    The colon-separated parts of an endpoint string, ``\\:`` unescaped.
    """
    return [part.replace("\\:", ":") for part in re.split(r"(?<!\\):", endpoint)]


def _port(arguments: list[str]) -> str | None:
    named = dict(argument.split("=", 1) for argument in arguments if "=" in argument)
    positional = [argument for argument in arguments if "=" not in argument]
    return named.get("port", positional[0] if positional else None)


def _port_problem(port: str | None) -> str | None:
    if port is None:
        return f"it names no port: expected a port number from 0 to {_MAX_PORT}"
    if not port.strip().lstrip("+-").isdigit():
        return f"its port {port!r} is not a number: expected a port number from 0 to {_MAX_PORT}"
    if not 0 <= int(port) <= _MAX_PORT:
        return f"its port {port.strip()} is out of range: expected a port number from 0 to {_MAX_PORT}"
    return None


def _unreadable(kind: str, error: Exception) -> str:
    """
    What Twisted's refusal of an endpoint string says, in words.
    """
    unknown = re.fullmatch(r"Unknown endpoint type: '(.*)'", str(error))
    if unknown:
        return (
            f"unknown endpoint type {unknown.group(1)!r}: "
            "expected 'tcp', 'tcp6', 'ssl', 'unix' or a type Twisted has a plugin for"
        )
    stray = re.search(r"unexpected keyword argument '(.*)'", str(error))
    if stray:
        return f"{kind!r} endpoints take no argument {stray.group(1)!r}"
    return f"Twisted cannot read it: {type(error).__name__}: {error}"


def endpoint_problem(endpoint: str) -> str | None:
    """
    What is wrong with a server endpoint string (an unknown type, an
    argument its type does not take, a port that is not one), or None if
    nothing that can be told without listening.
    """
    kind, *arguments = endpoint_parts(endpoint)
    if kind in PORTED:
        problem = _port_problem(_port(arguments))
        if problem is not None:
            return problem
    try:
        # Reading the string makes an endpoint object, which only keeps the
        # reactor it is given until it listens: no reactor is needed yet.
        serverFromString(object(), endpoint)
    except Exception as error:
        return _unreadable(kind, error)
    return None
