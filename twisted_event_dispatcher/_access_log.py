# -*- test-case-name: tests.service.test_access_log -*-
"""
The service's access log: one JSON object a finished request, written
through ``twisted.logger`` or appended to a file, for every request or a
sample of them.

A line is ``{"time": ..., "client": ..., "method": ..., "path": ...,
"status": ..., "bytes": ..., "ms": ...}``: the time the request was
complete (seconds since the epoch), the client's address, the method and
path (the path cut at 512 characters), the status, the bytes of the
answer's body and how long the answer took.
"""

from __future__ import annotations

import io
import json
import random
from collections.abc import Callable
from typing import IO, Final, Protocol

from twisted.internet.interfaces import IAddress, IDelayedCall, IReactorTime
from twisted.logger import Logger

#: The namespace of access lines written through ``twisted.logger``.
ACCESS_NAMESPACE: Final = "twisted_event_dispatcher.access"

#: The longest path an access line shows.
_MAX_PATH: Final = 512

#: Seconds between two flushes of an access log file.
FLUSH_INTERVAL: Final = 1.0


class FinishedRequest(Protocol):
    """
    What the access log reads of a finished request (an ``FinishedRequest``).
    """

    method: bytes
    uri: bytes
    code: int
    sentLength: int  # noqa: N815 (Twisted's name)
    started: float

    def getClientAddress(self) -> IAddress:
        """
        The client's address.
        """


class AccessLog(Protocol):
    """
    Where finished requests are recorded.
    """

    def open(self) -> None:
        """
        Get ready to record: open any file.

        :raises OSError: if the file cannot be opened.
        """

    def record(self, request: FinishedRequest) -> None:
        """
        Record one finished request.
        """

    def close(self) -> None:
        """
        Write what is pending and let go of any file.
        """


def access_line(request: FinishedRequest, now: float) -> str:
    """
    The JSON line of a finished request (without a newline).
    """
    client = request.getClientAddress()
    return json.dumps(
        {
            "time": round(request.started, 3),
            "client": getattr(client, "host", None),
            "method": request.method.decode("latin-1"),
            "path": request.uri[:_MAX_PATH].decode("latin-1"),
            "status": request.code,
            "bytes": request.sentLength,
            "ms": round((now - request.started) * 1000, 3),
        }
    )


class LoggedAccess:
    """
    Access lines as ``twisted.logger`` events at level info in the
    namespace `ACCESS_NAMESPACE`, with the line as ``access_line``.

    :param clock: where the time comes from.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._log = Logger(namespace=ACCESS_NAMESPACE)

    def open(self) -> None:
        pass

    def record(self, request: FinishedRequest) -> None:
        self._log.info("{access_line}", access_line=access_line(request, self._clock.seconds()))

    def close(self) -> None:
        pass


class FileAccess:
    """
    Access lines appended to a file through a buffer, flushed every
    `FLUSH_INTERVAL` seconds and on close, so that no request waits for
    the disk.  A crash loses at most the last second of lines.

    :param path: the file to append to (opened by `open`).
    :param clock: where the time comes from, and the flush timer.
    """

    def __init__(self, path: str, clock: IReactorTime) -> None:
        self.path = path
        self._clock = clock
        self._file: IO[str] = io.StringIO()
        self._flush: IDelayedCall | None = None

    def open(self) -> None:
        self._file = open(self.path, "a", buffering=1 << 16, encoding="utf-8")  # noqa: SIM115

    def record(self, request: FinishedRequest) -> None:
        self._file.write(access_line(request, self._clock.seconds()) + "\n")
        if self._flush is None:
            self._flush = self._clock.callLater(FLUSH_INTERVAL, self._flushed)

    def _flushed(self) -> None:
        self._flush = None
        self._file.flush()

    def close(self) -> None:
        if self._flush is not None and self._flush.active():
            self._flush.cancel()
        self._flush = None
        self._file.close()


class SampledAccess:
    """
    Record a share of the requests, and every answer of 500 or more.

    :param inner: where the recorded requests go.
    :param rate: the share recorded, between 0 (exclusive) and 1.
    :param draw: a random number in [0, 1) per request.
    """

    def __init__(self, inner: AccessLog, rate: float, draw: Callable[[], float] = random.random) -> None:
        self._inner = inner
        self._rate = rate
        self._draw = draw

    def open(self) -> None:
        self._inner.open()

    def record(self, request: FinishedRequest) -> None:
        if request.code >= 500 or self._draw() < self._rate:
            self._inner.record(request)

    def close(self) -> None:
        self._inner.close()


def access_log_for(setting: str, sample: float, clock: IReactorTime) -> AccessLog | None:
    """
    The access log a configuration asks for: ``"off"`` (None), ``"log"``
    (through ``twisted.logger``) or a file's path, sampled if ``sample`` is
    below 1.
    """
    if setting == "off":
        return None
    writer: AccessLog = LoggedAccess(clock) if setting == "log" else FileAccess(setting, clock)
    return writer if sample >= 1 else SampledAccess(writer, sample)
