"""
The shared completion log in the real PostgreSQL: records survive,
lookups and records are batched, an effect and its record commit together.
"""

from __future__ import annotations

import pytest
import pytest_twisted
from twisted.internet import reactor
from zope.interface.verify import verifyObject

from twisted_event_dispatcher.broker import ICompletionLog, PostgresCompletionLog


@pytest.fixture
def log(postgres_dsn, unique):
    table = "completions_" + unique.replace("-", "_").lower()
    completion_log = PostgresCompletionLog(postgres_dsn, table, reactor=reactor)
    pytest_twisted.blockon(completion_log.create_table())
    yield completion_log
    pytest_twisted.blockon(completion_log._pool.runOperation(f"DROP TABLE IF EXISTS {table}"))
    completion_log.close()


@pytest_twisted.ensureDeferred
async def test_records_are_read_back_per_event(log):
    assert verifyObject(ICompletionLog, log)
    await log.record("e1", "mail")
    await log.record("e1", "mail")  # twice is once
    await log.record("e1", "audit")
    await log.record("e2", "mail")
    assert await log.completed("e1") == frozenset({"mail", "audit"})
    assert await log.completed("e3") == frozenset()


@pytest_twisted.ensureDeferred
async def test_lookups_and_records_of_one_turn_are_one_query_each(log):
    """
    Many records and lookups started in the same reactor turn all answer.
    """
    from twisted.internet.defer import gatherResults

    await gatherResults([log.record(f"e{number}", "h") for number in range(200)])
    found = await gatherResults([log.completed(f"e{number}") for number in range(0, 400, 2)])
    assert found == [frozenset({"h"})] * 100 + [frozenset()] * 100


@pytest_twisted.ensureDeferred
async def test_an_effect_and_its_record_commit_together_or_not_at_all(log):
    table = log.table

    def effect(cursor):
        cursor.execute(f"SELECT count(*) FROM {table}")
        return cursor.fetchone()[0]

    assert await log.run_with_record("e1", "pay", effect) == 0
    assert await log.completed("e1") == frozenset({"pay"})

    def failing(cursor):
        cursor.execute(f"INSERT INTO {table} (event_key, handler) VALUES ('side', 'effect')")
        raise RuntimeError("the effect failed")

    with pytest.raises(RuntimeError, match="the effect failed"):
        await log.run_with_record("e2", "pay", failing)
    assert await log.completed("e2") == frozenset()
    assert await log.completed("side") == frozenset()  # rolled back with it


@pytest_twisted.ensureDeferred
async def test_old_records_can_be_forgotten(log):
    await log.record("old", "h")
    assert await log.forget_before(3600) == 0
    assert await log.forget_before(0) == 1
    assert await log.completed("old") == frozenset()
