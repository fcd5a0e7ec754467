# -*- test-case-name: tests.broker.test_postgres -*-
"""
The shared completion log in PostgreSQL, through ``twisted.enterprise.adbapi``
and psycopg (imported by the pool, never at module top).

Why PostgreSQL: a record must outlive a crash, so the store must keep it on
disk, whatever the server's configuration (Redis may keep nothing on disk);
and a handler whose effect lives in the same database can write its effect
and its completion record in one transaction (`run_with_record`), which
closes the window between the two that no other store can close.

Lookups and records made in the same reactor turn go to the database
together, one query each, so the log costs a few round trips per batch of
deliveries rather than per handler.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, TypeVar, cast, final

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore, IReactorTime
from twisted.python.failure import Failure
from zope.interface import implementer

from ._interfaces import ICompletionLog

T = TypeVar("T")

#: The database the tests and examples use.
DEFAULT_DSN: Final = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_TABLE: Final = "event_completions"
_TABLE_NAME: Final = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@final
@implementer(ICompletionLog)
class PostgresCompletionLog:
    """
    A completion log in a PostgreSQL table, shared by every instance of
    every group.

    :param dsn: a libpq connection string or URL.
    :param table: the table (made by `create_table`).
    :param pool_size: the most database connections (and threads) used.
    :param reactor: the reactor; the global one if None.
    """

    def __init__(
        self,
        dsn: str = DEFAULT_DSN,
        table: str = DEFAULT_TABLE,
        *,
        pool_size: int = 4,
        reactor: IReactorCore | None = None,
    ) -> None:
        from twisted.enterprise import adbapi

        if not isinstance(table, str) or not _TABLE_NAME.match(table):
            raise ValueError(f"table must be a lower-case SQL identifier, got {table!r}")
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = cast(IReactorCore, global_reactor)
        self.table = table
        self._clock = cast(IReactorTime, reactor)
        self._pool = adbapi.ConnectionPool(
            "psycopg", dsn, cp_min=1, cp_max=pool_size, cp_reactor=reactor, cp_reconnect=True, cp_noisy=False
        )
        self._lookups: dict[str, list[Deferred[frozenset[str]]]] = {}
        self._records: list[tuple[str, str, Deferred[None]]] = []
        self._flush_call: Any = None

    def create_table(self) -> Deferred[None]:
        """
        Create the table if it does not exist.
        """
        return cast(
            "Deferred[None]",
            self._pool.runOperation(
                f"CREATE TABLE IF NOT EXISTS {self.table} ("
                " event_key text NOT NULL,"
                " handler text NOT NULL,"
                " completed_at timestamptz NOT NULL DEFAULT now(),"
                " PRIMARY KEY (event_key, handler))"
            ),
        )

    def completed(self, key: str) -> Deferred[frozenset[str]]:
        """
        See `ICompletionLog.completed`.
        """
        waiter: Deferred[frozenset[str]] = Deferred()
        self._lookups.setdefault(key, []).append(waiter)
        self._schedule()
        return waiter

    def record(self, key: str, handler: str) -> Deferred[None]:
        """
        See `ICompletionLog.record`.
        """
        waiter: Deferred[None] = Deferred()
        self._records.append((key, handler, waiter))
        self._schedule()
        return waiter

    def _schedule(self) -> None:
        if self._flush_call is None:
            self._flush_call = self._clock.callLater(0, self._flush)

    def _flush(self) -> None:
        self._flush_call = None
        lookups, self._lookups = self._lookups, {}
        records, self._records = self._records, []
        if records:
            self._write(records)
        if lookups:
            self._read(lookups)

    def _write(self, records: list[tuple[str, str, Deferred[None]]]) -> None:
        writing = self._pool.runOperation(
            f"INSERT INTO {self.table} (event_key, handler)"
            " SELECT * FROM unnest(%s::text[], %s::text[]) ON CONFLICT DO NOTHING",
            ([key for key, _, _ in records], [handler for _, handler, _ in records]),
        )

        def tell(outcome: object) -> None:
            for _, _, waiter in records:
                if isinstance(outcome, Failure):
                    waiter.errback(outcome)
                else:
                    waiter.callback(None)

        writing.addBoth(tell)

    def _read(self, lookups: dict[str, list[Deferred[frozenset[str]]]]) -> None:
        reading = self._pool.runQuery(
            f"SELECT event_key, handler FROM {self.table} WHERE event_key = ANY(%s)", (list(lookups),)
        )

        def tell(outcome: object) -> None:
            found: dict[str, set[str]] = {}
            if not isinstance(outcome, Failure):
                for key, handler in cast("list[tuple[str, str]]", outcome):
                    found.setdefault(key, set()).add(handler)
            for key, waiters in lookups.items():
                for waiter in waiters:
                    if isinstance(outcome, Failure):
                        waiter.errback(outcome)
                    else:
                        waiter.callback(frozenset(found.get(key, ())))

        reading.addBoth(tell)

    def run_with_record(self, key: str, handler: str, work: Callable[[Any], T]) -> Deferred[T]:
        """
        Run ``work(cursor)`` in a database transaction (in a thread of the
        pool) that also records ``handler`` as completed for ``key``: the
        effect and its record are committed together, or neither is.

        A handler whose effect lives in this database calls it with its
        event's completion key (``context.fire_id``, or the event's
        idempotency key when events carry one) and its own name
        (``context.handler_id.name``); the dispatcher's own record of it
        afterwards finds the row already there.

        :returns: a Deferred firing with what ``work`` returned, once committed.
        """

        def interaction(cursor: Any) -> T:
            result = work(cursor)
            cursor.execute(
                f"INSERT INTO {self.table} (event_key, handler) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (key, handler),
            )
            return result

        return cast("Deferred[T]", self._pool.runInteraction(interaction))

    def forget_before(self, seconds_ago: float) -> Deferred[int]:
        """
        Delete the records older than ``seconds_ago``: once no redelivery of
        an event can come any more, its records are no longer needed.

        :returns: a Deferred firing with how many were deleted.
        """

        def delete(cursor: Any) -> int:
            cursor.execute(
                f"DELETE FROM {self.table} WHERE completed_at < now() - %s * interval '1 second'",
                (seconds_ago,),
            )
            return int(cursor.rowcount)

        return cast("Deferred[int]", self._pool.runInteraction(delete))

    def close(self) -> None:
        """
        Close the database connections.
        """
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
            self._flush()
        self._pool.close()
