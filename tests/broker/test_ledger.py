"""
The ledger one fire sees: what completed before, and the records of what
completes now, waited for before the event is acknowledged.
"""

from __future__ import annotations

from twisted.internet.defer import Deferred, fail
from zope.interface import implementer
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.broker import FireLedger, ICompletionLog, MemoryCompletionLog
from twisted_event_dispatcher.testing import result_of


def handler_ids(*names):
    dispatcher = EventDispatcher(())
    return [dispatcher.register(print, "during", name=name, use_weakref=False) for name in names]


@implementer(ICompletionLog)
class SlowLog:
    """A completion log whose writes the test completes (or fails) by hand."""

    def __init__(self):
        self.writes: list[tuple[str, str, Deferred[None]]] = []

    def completed(self, key):
        return fail(AssertionError("not asked in these tests"))

    def record(self, key, handler):
        writing: Deferred[None] = Deferred()
        self.writes.append((key, handler, writing))
        return writing


def test_the_memory_log_keeps_what_completed_per_key():
    log = MemoryCompletionLog()
    assert verifyObject(ICompletionLog, log)
    result_of(log.record("e1", "mail"))
    result_of(log.record("e1", "mail"))
    assert result_of(log.completed("e1")) == frozenset({"mail"})
    assert result_of(log.completed("e2")) == frozenset()
    log.forget("e1")
    assert result_of(log.completed("e1")) == frozenset()


def test_a_ledger_answers_from_what_was_read_and_records_by_name():
    mail, audit = handler_ids("mail", "audit")
    log = MemoryCompletionLog()
    ledger = FireLedger("e1", frozenset({"mail"}), log)
    assert (ledger.completed(mail), ledger.completed(audit)) == (True, False)
    ledger.record(audit)
    assert not ledger.pending  # the memory log wrote it at once
    assert result_of(log.completed("e1")) == frozenset({"audit"})


def test_a_ledger_waits_for_slow_writes_and_keeps_the_failed_ones():
    mail, audit = handler_ids("mail", "audit")
    log = SlowLog()
    ledger = FireLedger("e1", frozenset(), log)
    ledger.record(mail)
    ledger.record(audit)
    assert ledger.pending
    written = ledger.written()
    log.writes[0][2].callback(None)
    assert not written.called
    log.writes[1][2].errback(ConnectionError("database gone"))
    assert written.called and not ledger.pending
    assert [(name, failure.getErrorMessage()) for name, failure in ledger.failed_writes] == [
        ("audit", "database gone")
    ]
