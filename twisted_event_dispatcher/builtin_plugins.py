# -*- test-case-name: tests.service.test_builtin_plugins -*-
"""
Plugins that deployments want, ready to name in a configuration file:

- `EventLogger` logs every event through ``twisted.logger``;
- `JsonLinesWriter` appends every event to a file as one line of JSON,
  flushed at once, with size-capped rotation, and never a partial line.

Both see every event once, in one phase (``after`` unless configured), and
record the event object: for a declared event, its name and arguments.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast

from twisted.internet.interfaces import IReactorTime
from twisted.logger import InvalidLogLevelError, Logger, LogLevel

from ._json import brief, dumps, jsonable
from .plugins import handles

__all__ = [
    "DEFAULT_LOGGED_LENGTH",
    "EVENTS_NAMESPACE",
    "EventLogger",
    "JsonLinesWriter",
]

#: The namespace `EventLogger` logs in, unless configured.
EVENTS_NAMESPACE: Final = "twisted_event_dispatcher.events"

#: The most characters of an event `EventLogger` logs, unless configured.
DEFAULT_LOGGED_LENGTH: Final = 1000

_log = Logger()

F = TypeVar("F", bound=Callable[..., Any])


def _as_method(plugin: object, handler: F) -> F:
    """
    Name a handler made in ``__init__`` as the method it stands for.
    """
    handler.__qualname__ = f"{type(plugin).__qualname__}.{handler.__name__}"
    return handler


def _positive_int(name: str, value: object, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer of at least {minimum}, got {value!r}")
    return value


class EventLogger:
    """
    Log every event through ``twisted.logger``, as JSON, cut at
    ``max_length`` characters.

    :param phase: the phase to log in.
    :param level: the log level's name: ``debug``, ``info``, ``warn``,
        ``error`` or ``critical``.
    :param namespace: the logger's namespace.
    :param max_length: the most characters of an event's JSON logged.
    :raises ValueError: for an unknown level or a length below 1.
    """

    def __init__(
        self,
        phase: str = "after",
        level: str = "info",
        namespace: str = EVENTS_NAMESPACE,
        max_length: int = DEFAULT_LOGGED_LENGTH,
    ) -> None:
        limit = _positive_int("max_length", max_length, 1)
        try:
            self._level = LogLevel.levelWithName(level)
        except InvalidLogLevelError:
            names = [constant.name for constant in LogLevel.iterconstants()]
            raise ValueError(f"level must be one of {names!r}, got {level!r}") from None
        self._log = Logger(namespace=namespace)

        @handles(phase)
        def log_event(event: object) -> None:
            self._log.emit(
                self._level, "Event: {event_json}", event_json=brief(event, limit), dispatched_event=event
            )

        self.log_event = _as_method(self, log_event)


class JsonLinesWriter:
    """
    Append every event to a file, one JSON object per line:
    ``{"time": <seconds since the epoch>, "event": <the event>}``.

    Each line reaches the operating system in one ``write`` as soon as the
    event is handled (and the disk too, with ``fsync``).  When a line would
    take the file past ``max_bytes``, the file is rotated first: ``path``
    becomes ``path.1``, ``path.1`` becomes ``path.2`` and so on, keeping
    ``backups`` old files (with none, the full file is dropped).  A line is
    never split between files; a single line larger than ``max_bytes`` gets a
    file of its own.

    No partial line is left behind: a write that fails half way is cut
    back, and on opening, the remains of a line cut short by a crash are
    removed (and logged).  One writer per file.

    :param path: the file to append to.
    :param phase: the phase to write in.
    :param max_bytes: the size a file may reach before it is rotated.
    :param backups: how many rotated files to keep.
    :param fsync: also force each line to the disk.
    :param clock: where the time comes from; the reactor by default.
    :raises ValueError: for an empty path or a size or count out of range.
    """

    def __init__(
        self,
        path: str,
        phase: str = "after",
        max_bytes: int = 10 * 1024 * 1024,
        backups: int = 3,
        fsync: bool = False,
        clock: IReactorTime | None = None,
    ) -> None:
        if not isinstance(path, str) or not path:
            raise ValueError(f"path must be a non-empty string, got {path!r}")
        self.path = path
        self._max_bytes = _positive_int("max_bytes", max_bytes, 1)
        self._backups = _positive_int("backups", backups, 0)
        self._fsync = bool(fsync)
        if clock is None:
            from twisted.internet import reactor

            clock = cast(IReactorTime, reactor)
        self._clock = clock
        self._fd: int | None = None
        self._size = 0

        @handles(phase)
        def write_event(event: object) -> None:
            self.write(event)

        self.write_event = _as_method(self, write_event)

    def initialize(self) -> None:
        """
        Open the file, removing a partial last line if one is found.
        """
        self._open()

    def close(self) -> None:
        """
        Close the file.
        """
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def write(self, event: object) -> None:
        """
        Append one event as a line, rotating first if the file is full.

        :raises OSError: if the line cannot be written; nothing of it is
            then left in the file.
        """
        line = (dumps({"time": self._clock.seconds(), "event": jsonable(event)}) + "\n").encode("utf-8")
        fd = self._open()
        if self._size and self._size + len(line) > self._max_bytes:
            self._rotate()
            fd = self._open()
        self._append(fd, line)

    def _open(self) -> int:
        if self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            self._size = _cut_partial_line(fd, self.path)
            self._fd = fd
        return self._fd

    def _append(self, fd: int, line: bytes) -> None:
        start = self._size
        written = 0
        try:
            while written < len(line):
                written += os.write(fd, line[written:])
            if self._fsync:
                os.fsync(fd)
        except OSError:
            os.ftruncate(fd, start)
            raise
        self._size = start + written

    def _rotate(self) -> None:
        self.close()
        if self._backups == 0:
            os.remove(self.path)
            return
        for number in range(self._backups - 1, 0, -1):
            older = f"{self.path}.{number}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{number + 1}")
        os.replace(self.path, f"{self.path}.1")


def _cut_partial_line(fd: int, path: str) -> int:
    """
    Remove whatever follows the last newline of an open file.

    :returns: the file's size afterwards.
    """
    size = os.fstat(fd).st_size
    end = size
    while end > 0:
        start = max(0, end - 4096)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            end = start + newline + 1
            break
        end = start
    if end != size:
        os.ftruncate(fd, end)
        _log.warn("{path}: removed {count} bytes of a partial line", path=path, count=size - end)
    return end
