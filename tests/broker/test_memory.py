"""
The in-memory transport: routing, delivery, retries, the delivery limit,
dead letters and replay, crashes and drains, on a Clock.
"""

from __future__ import annotations

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from zope.interface.verify import verifyObject

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.broker import (
    GroupSettings,
    IDeadLetters,
    IEventTransport,
    MemoryCompletionLog,
    MemoryTransport,
    UnknownDeadLetter,
    UnroutableEvent,
)
from twisted_event_dispatcher.testing import failure_of, result_of


def make_dispatcher() -> EventDispatcher:
    dispatcher = EventDispatcher(("kind", "user"))
    dispatcher.start()
    return dispatcher


@pytest.fixture
def transport(clock: Clock) -> MemoryTransport:
    return MemoryTransport(clock)


def test_provides_the_transport_interfaces(transport):
    settings = GroupSettings("g")
    assert verifyObject(IEventTransport, transport)
    assert verifyObject(IDeadLetters, transport.dead_letters(settings))


def test_an_event_no_group_is_bound_to_is_refused(transport):
    """
    With no group bound, or none whose handlers match, publish fails.
    """
    failure = failure_of(transport.publish({"a": 1}, {"kind": "x"}))
    assert failure.check(UnroutableEvent)
    dispatcher = make_dispatcher()
    dispatcher.register(lambda event: None, "during", match={"kind": "y"}, use_weakref=False)
    transport.consumer_group(dispatcher, GroupSettings("g"))
    assert failure_of(transport.publish({}, {"kind": "x"})).check(UnroutableEvent)
    assert isinstance(result_of(transport.publish({}, {"kind": "y"})), str)


def test_a_published_event_runs_its_handlers_and_is_acked(transport):
    seen = []
    dispatcher = make_dispatcher()
    dispatcher.register(seen.append, "during", match={"kind": "greet"}, use_weakref=False)
    group = transport.consumer_group(dispatcher, GroupSettings("g"))
    group.startService()
    event_id = result_of(transport.publish({"name": "bob"}, {"kind": "greet", "user": "bob"}))
    assert seen == [{"name": "bob"}]
    assert group.processor.counts == {"acked": 1, "retried": 0, "dead-lettered": 0}
    assert transport.queued(GroupSettings("g")) == 0
    assert event_id.count("-") == 4


def test_arguments_reach_the_handlers_by_name_and_in_the_context(transport):
    """
    Arguments published with an event reach an ``inject`` handler as
    keyword arguments and a ``pass_context`` one in its context, unhashable
    values included; they are never matched on.
    """
    injected, contexts = [], []
    dispatcher = make_dispatcher()

    def ship(event, lines, note, kind):
        injected.append((event, lines, note, kind))

    dispatcher.register(ship, "during", match={"kind": "order"}, inject=True, use_weakref=False)
    dispatcher.register(
        lambda event, context: contexts.append(dict(context.arguments)),
        "during",
        match={"kind": "order"},
        pass_context=True,
        use_weakref=False,
    )
    group = transport.consumer_group(dispatcher, GroupSettings("g"))
    group.startService()
    lines = [{"sku": "A1", "quantity": 2}, ["nested", {"set": [1, 2]}]]
    result_of(transport.publish({"order": 7}, {"kind": "order"}, arguments={"lines": lines, "note": None}))
    assert injected == [({"order": 7}, lines, None, "order")]
    assert contexts == [{"lines": lines, "note": None}]
    assert group.processor.counts == {"acked": 1, "retried": 0, "dead-lettered": 0}


def test_arguments_stay_with_a_dead_letter_and_its_replay(transport, clock):
    seen: list[object] = []
    calls: list[int] = []
    dispatcher = make_dispatcher()
    dispatcher.register(failing_then(1, calls), "during", pass_context=True, use_weakref=False)
    dispatcher.register(lambda tags: seen.append(tags), "during", inject=True, use_weakref=False)
    settings = GroupSettings("g", delivery_limit=1)
    group = transport.consumer_group(dispatcher, settings)
    group.startService()
    event_id = result_of(transport.publish({}, arguments={"tags": ["a", "b"]}))
    letters = transport.dead_letters(settings)
    (letter,) = result_of(letters.list())
    assert letter.as_json()["arguments"] == {"tags": ["a", "b"]}
    result_of(letters.replay(event_id))
    assert seen == [["a", "b"], ["a", "b"]]


def test_events_published_while_no_consumer_runs_wait_in_the_queue(transport):
    seen = []
    dispatcher = make_dispatcher()
    dispatcher.register(seen.append, "during", use_weakref=False)
    group = transport.consumer_group(dispatcher, GroupSettings("g"))
    for number in range(3):
        result_of(transport.publish(number))
    assert seen == [] and transport.queued(GroupSettings("g")) == 3
    group.startService()
    assert seen == [0, 1, 2]


def failing_then(times: int, calls: list[int]):
    def handler(event, context):
        calls.append(context.attempt)
        if len(calls) <= times:
            raise ValueError(f"failure {len(calls)}")

    return handler


def test_a_failed_event_is_retried_after_the_delay_with_the_next_attempt(transport, clock):
    calls: list[int] = []
    dispatcher = make_dispatcher()
    dispatcher.register(failing_then(1, calls), "during", pass_context=True, use_weakref=False)
    group = transport.consumer_group(dispatcher, GroupSettings("g", retry_delay=2.0))
    group.startService()
    result_of(transport.publish({}))
    assert calls == [1]
    clock.advance(1.9)
    assert calls == [1]
    clock.advance(0.1)
    assert calls == [1, 2]
    assert group.processor.counts == {"acked": 1, "retried": 1, "dead-lettered": 0}


def test_after_the_delivery_limit_the_event_is_a_dead_letter_with_its_reason(transport, clock):
    calls: list[int] = []
    dispatcher = make_dispatcher()
    dispatcher.register(
        failing_then(99, calls), "during", pass_context=True, name="poison", use_weakref=False
    )
    settings = GroupSettings("g", delivery_limit=3, retry_delay=1.0)
    group = transport.consumer_group(dispatcher, settings)
    group.startService()
    event_id = result_of(transport.publish({"bad": True}, {"kind": "x"}))
    clock.pump([1.0] * 5)
    assert calls == [1, 2, 3]
    (letter,) = result_of(transport.dead_letters(settings).list())
    assert (letter.event_id, letter.group, letter.reason, letter.attempts) == (
        event_id,
        "g",
        "handlers failed",
        3,
    )
    assert letter.failures == (("poison", "ValueError: failure 3"),)
    assert letter.envelope is not None and letter.envelope.payload == {"bad": True}
    assert letter.as_json()["details"] == {"kind": "x"}
    assert group.processor.counts["dead-lettered"] == 1


def test_replay_sends_a_dead_letter_back_to_its_group(transport, clock):
    calls: list[int] = []
    dispatcher = make_dispatcher()
    dispatcher.register(failing_then(1, calls), "during", pass_context=True, use_weakref=False)
    settings = GroupSettings("g", delivery_limit=1)
    group = transport.consumer_group(dispatcher, settings)
    group.startService()
    event_id = result_of(transport.publish({}))
    letters = transport.dead_letters(settings)
    assert [letter.event_id for letter in result_of(letters.list())] == [event_id]
    result_of(letters.replay(event_id))
    assert calls == [1, 1]  # a new round of deliveries: attempt 1 again
    assert result_of(letters.list()) == []
    assert failure_of(letters.replay(event_id)).check(UnknownDeadLetter)


def test_an_invalid_message_is_dead_lettered_not_dropped(transport):
    """
    A message that is not a valid envelope (here: a body that is not JSON)
    goes to the dead letters with the reason.
    """
    from twisted_event_dispatcher.broker import Message
    from twisted_event_dispatcher.broker._memory import _Entry

    dispatcher = make_dispatcher()
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    settings = GroupSettings("g")
    group = transport.consumer_group(dispatcher, settings)
    queue = transport._queue(settings)
    queue.ready.append(_Entry(Message("m-1", {}, b"{not json")))
    group.startService()
    (letter,) = result_of(transport.dead_letters(settings).list())
    assert letter.reason == "not a valid envelope" and letter.envelope is None
    assert "not JSON" in letter.failures[0][1]


def test_a_header_name_that_is_not_text_is_dead_lettered_and_kept(transport):
    """
    pika gives a header name that is not UTF-8 as bytes: the message is not
    a valid envelope; its dead letter keeps that header (and drops the
    broker's), lists, and replays without it getting in the way.
    """
    from twisted_event_dispatcher.broker import Message
    from twisted_event_dispatcher.broker._memory import _Entry

    seen = []
    dispatcher = make_dispatcher()
    dispatcher.register(seen.append, "during", use_weakref=False)
    settings = GroupSettings("g")
    group = transport.consumer_group(dispatcher, settings)
    headers = {b"\xff\xfe": "x", "kind": "probe", "x-delivery-count": 0}
    transport._queue(settings).ready.append(_Entry(Message("m-1", headers, b"{}")))
    group.startService()
    letters = transport.dead_letters(settings)
    (letter,) = result_of(letters.list())
    assert (letter.reason, letter.envelope) == ("not a valid envelope", None)
    assert letter.failures == (
        ("(envelope)", "header name b'\\xff\\xfe' is not UTF-8 text: header names must be strings"),
    )
    assert letter.message.headers[b"\xff\xfe"] == "x"
    assert "x-delivery-count" not in letter.message.headers
    assert seen == []
    result_of(letters.replay("m-1"))  # dead-lettered again, as it is still not an envelope
    (again,) = result_of(letters.list())
    assert set(again.message.headers) >= {b"\xff\xfe", "kind"}
    result_of(transport.publish({"n": 1}, {"kind": "probe"}))
    assert seen == [{"n": 1}]


def test_an_unexpected_error_taking_a_delivery_dead_letters_it_and_goes_on(transport, monkeypatch, logs):
    """
    An error no one expected (a bug) while opening a delivery is logged, the
    message goes to the dead letters with the error, and the next delivery
    runs.
    """
    from twisted_event_dispatcher.broker import _processing

    def broken(message):
        if message.headers.get("kind") == "poison":
            raise RuntimeError("a bug in the envelope reader")
        return from_message(message)

    from_message = _processing.from_message
    monkeypatch.setattr(_processing, "from_message", broken)
    seen = []
    dispatcher = make_dispatcher()
    dispatcher.register(seen.append, "during", use_weakref=False)
    settings = GroupSettings("g")
    group = transport.consumer_group(dispatcher, settings)
    group.startService()
    poison_id = result_of(transport.publish({"n": 0}, {"kind": "poison"}))
    result_of(transport.publish({"n": 1}, {"kind": "fine"}))
    assert seen == [{"n": 1}]
    assert group.processor.counts == {"acked": 1, "retried": 0, "dead-lettered": 1}
    (letter,) = result_of(transport.dead_letters(settings).list())
    assert (letter.event_id, letter.reason) == (poison_id, "the consumer failed")
    assert letter.failures == (("(consumer)", "RuntimeError: a bug in the envelope reader"),)
    (logged,) = [event for event in logs if event.get("log_failure") is not None]
    assert logged["log_failure"].check(RuntimeError) and logged["id"] == poison_id


def test_a_crashed_consumer_s_events_go_to_another_with_a_higher_attempt(transport, clock):
    """
    Events a consumer held when it died are redelivered to the other
    consumer of the group, and handlers see attempt 2.
    """
    pending: list[Deferred[None]] = []
    attempts: list[int] = []
    slow, fast = make_dispatcher(), make_dispatcher()

    def hang(event, context):
        attempts.append(context.attempt)
        waiting: Deferred[None] = Deferred()
        pending.append(waiting)
        return waiting

    slow.register(hang, "during", pass_context=True, use_weakref=False)
    fast.register(
        lambda event, context: attempts.append(context.attempt),
        "during",
        pass_context=True,
        use_weakref=False,
    )
    settings = GroupSettings("g", prefetch=1)
    first = transport.consumer_group(slow, settings)
    first.startService()
    result_of(transport.publish({}))
    first.crash()
    second = transport.consumer_group(fast, settings)
    second.startService()
    assert attempts == [1, 2]
    pending[0].callback(None)  # the dead consumer's fire finishing changes nothing
    assert second.processor.counts["acked"] == 1 and transport.queued(settings) == 0


def test_stop_drains_within_the_timeout_then_requeues_the_rest(transport, clock):
    pending: list[Deferred[None]] = []
    dispatcher = make_dispatcher()

    def hang(event):
        waiting: Deferred[None] = Deferred()
        pending.append(waiting)
        return waiting

    dispatcher.register(hang, "during", use_weakref=False)
    settings = GroupSettings("g", prefetch=2, drain_timeout=5.0)
    group = transport.consumer_group(dispatcher, settings)
    group.startService()
    for number in range(3):
        result_of(transport.publish(number))
    assert len(pending) == 2 and transport.queued(settings) == 1
    stopped = group.stopService()
    pending[0].callback(None)
    assert not stopped.called
    clock.advance(5)
    assert result_of(stopped) is None
    assert transport.queued(settings) == 2  # the unfinished one went back, with the never-delivered one
    assert group.processor.counts["acked"] == 1


def test_the_completion_log_skips_handlers_that_completed_before_a_crash(transport, clock):
    log = MemoryCompletionLog()
    effects: list[str] = []
    gate: list[Deferred[None]] = []
    dispatcher = make_dispatcher()
    dispatcher.register(lambda event: effects.append("before"), "before", name="audit", use_weakref=False)

    def slow(event):
        waiting: Deferred[None] = Deferred()
        gate.append(waiting)
        return waiting.addCallback(lambda _: effects.append("during"))

    dispatcher.register(slow, "during", name="mail", use_weakref=False)
    settings = GroupSettings("g")
    first = transport.consumer_group(dispatcher, settings, log)
    first.startService()
    result_of(transport.publish({}))
    assert effects == ["before"]
    first.crash()
    second = transport.consumer_group(dispatcher, settings, log)
    second.startService()
    gate[1].callback(None)
    assert effects == ["before", "during"]  # audit was skipped on attempt 2
    assert second.processor.counts["acked"] == 1


def test_a_consumer_dying_on_the_last_delivery_leaves_the_broker_s_dead_letter(transport):
    """
    When the consumer dies holding the event's last delivery, the broker's
    own delivery limit dead-letters it, with the broker's reason.
    """
    dispatcher = make_dispatcher()
    dispatcher.register(lambda event: Deferred(), "during", use_weakref=False)
    settings = GroupSettings("g", delivery_limit=1)
    group = transport.consumer_group(dispatcher, settings)
    group.startService()
    event_id = result_of(transport.publish({}))
    group.crash()
    (letter,) = result_of(transport.dead_letters(settings).list())
    assert (letter.event_id, letter.reason) == (event_id, "the broker dead-lettered it (delivery_limit)")
    assert transport.queued(settings) == 0


def test_a_group_must_name_the_transport_s_exchange(transport):
    with pytest.raises(ValueError, match="names exchange 'other'; this transport's is 'events'"):
        transport.consumer_group(make_dispatcher(), GroupSettings("g", exchange="other"))
