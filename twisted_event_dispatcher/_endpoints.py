# -*- test-case-name: tests.service.test_config -*-
"""
Server endpoint strings, read before anything listens: their parts, and
what is wrong with one (a port out of range...), so that the configuration
check refuses it with a message rather than the start failing later.
"""

from __future__ import annotations

import re
from typing import Final

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


def endpoint_problem(endpoint: str) -> str | None:
    """
    What is wrong with a server endpoint string, or None if nothing that can
    be told without listening.
    """
    kind, *arguments = endpoint_parts(endpoint)
    if kind not in PORTED:
        return None
    port = _port(arguments)
    if port is not None and port.strip().lstrip("+-").isdigit() and not 0 <= int(port) <= _MAX_PORT:
        return f"its port {port.strip()} is out of range: expected a port number from 0 to {_MAX_PORT}"
    return None
