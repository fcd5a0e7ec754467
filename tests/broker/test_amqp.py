"""
Broker mode against the real RabbitMQ: confirmed and mandatory publishes,
consumption by a group, the raw-pika contract, poison events and their
dead letters, and a connection cut mid-stream.

Each test uses its own exchange and queues (random names) and deletes them.
"""

from __future__ import annotations

import json
import re
import time

import pika
import pytest
import pytest_twisted
from support import wait_for
from twisted.application.internet import backoffPolicy
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.logger import LogLevel
from twisted.python.failure import Failure

from tests.broker.amqp_support import CuttableProxy, cut_connections, delete_everything
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.broker import (
    AmqpTransport,
    BrokerConnection,
    BrokerRefused,
    BrokerUnavailable,
    GroupConflict,
    GroupSettings,
    MemoryCompletionLog,
    UnroutableEvent,
    _publisher,
    new_event_id,
)


@pytest.fixture
def names(unique):
    return {"exchange": f"ted-{unique}", "connection": f"ted-test-{unique}"}


@pytest.fixture
def amqp(broker_url, names):
    """
    A started AMQP transport on this test's own exchange; what it declared
    is deleted afterwards.
    """
    transport = AmqpTransport(
        broker_url, exchange=names["exchange"], connection_name=names["connection"], publish_timeout=15
    )
    transport.startService()
    yield transport
    pytest_twisted.blockon(transport.stopService())
    delete_everything(broker_url, names["exchange"], ["g", "h"])


def dispatcher_with(*registrations, max_in_flight=None) -> EventDispatcher:
    dispatcher = EventDispatcher(("kind", "user"), max_in_flight=max_in_flight)
    for handler, options in registrations:
        dispatcher.register(handler, "during", use_weakref=False, **options)
    dispatcher.start()
    return dispatcher


async def started_group(amqp, dispatcher, settings, log=None):
    group = amqp.consumer_group(dispatcher, settings, log)
    await wait_for(lambda: group.consuming, what="the group to consume")
    return group


@pytest_twisted.ensureDeferred
async def test_a_publish_with_no_group_bound_fails_as_unroutable(amqp):
    with pytest.raises(UnroutableEvent, match="matches no consumer group"):
        await amqp.publish({"n": 1}, {"kind": "nobody"})


@pytest_twisted.ensureDeferred
async def test_publishes_are_confirmed_and_routed_by_the_handlers_specs(amqp, names):
    """
    The group's bindings come from its handlers' specs: an event a handler
    matches is confirmed; one none matches is unroutable; adding a handler
    binds its spec.
    """
    dispatcher = dispatcher_with((print, {"match": {"kind": "a"}}))
    settings = GroupSettings("g", exchange=names["exchange"])
    group = await started_group(amqp, dispatcher, settings)
    await group.stopService()  # keep the events in the queue: this test only publishes
    event_id = await amqp.publish({"n": 1}, {"kind": "a", "user": "bob"})
    assert len(event_id) == 36
    with pytest.raises(UnroutableEvent):
        await amqp.publish({"n": 2}, {"kind": "b"})
    dispatcher.register(repr, "during", match={"kind": "b"}, use_weakref=False)
    group.startService()
    await wait_for(lambda: group.consuming)
    await group.refresh_bindings()
    assert len(group.bindings) == 2


@pytest_twisted.ensureDeferred
async def test_a_publish_waits_a_bounded_time_for_an_unreachable_broker():
    transport = AmqpTransport("amqp://guest:guest@127.0.0.1:1/%2F", publish_timeout=0.5)
    transport.startService()
    try:
        with pytest.raises(BrokerUnavailable, match=r"not reachable within 0\.5 seconds"):
            await transport.publish({"n": 1})
    finally:
        await transport.stopService()


@pytest.mark.parametrize(
    ("credentials", "vhost", "refusal"),
    [
        ("guest:WRONG", "%2F", r"refused the login; check the user name and password .*\(403 ACCESS_REFUSED"),
        (
            "guest:guest",
            "ted-no-such-vhost",
            r"refused the virtual host; check the vhost .*\(530 NOT_ALLOWED",
        ),
    ],
    ids=["wrong-password", "missing-vhost"],
)
@pytest_twisted.ensureDeferred
async def test_a_refused_login_or_vhost_fails_at_once_saying_so(
    broker_url, names, logs, credentials, vhost, refusal
):
    """
    A broker that refuses the login or the virtual host: publishing and
    listing dead letters fail at once with BrokerRefused, which says what
    was refused; the refusal is logged once however often the connection is
    tried again, and nothing is logged as an unhandled error.
    """
    url = f"amqp://{credentials}@127.0.0.1:5672/{vhost}"
    transport = AmqpTransport(
        url, exchange=names["exchange"], connection_name=names["connection"], publish_timeout=10
    )
    transport.startService()
    started = time.monotonic()
    try:
        with pytest.raises(BrokerRefused, match=refusal):
            await transport.publish({"n": 1}, {"kind": "a"})
        assert time.monotonic() - started < 5  # not publish_timeout
        with pytest.raises(BrokerRefused, match=refusal):
            await transport.dead_letters(GroupSettings("g", exchange=names["exchange"])).list()
        await wait_for(lambda: retries(logs) >= 2, timeout=10, what="two attempts more")
    finally:
        await transport.stopService()
    assert "WRONG" not in str(logs)
    failures = [
        event for event in logs if event.get("log_failure") or "nhandled" in str(event.get("log_format"))
    ]
    assert failures == []
    (logged,) = [event for event in logs if event.get("log_level") in (LogLevel.error, LogLevel.critical)]
    assert re.search(refusal, str(logged["refusal"]))


@pytest_twisted.ensureDeferred
async def test_the_backoff_grows_while_a_connection_cannot_be_set_up(broker_url, names, logs):
    """
    A connection made but never set up (here a listener always fails) is a
    failed attempt: the delay before the next grows until one is set up.
    """
    connection = BrokerConnection(
        broker_url, names["connection"], retry_policy=backoffPolicy(0.1, 10.0, jitter=lambda: 0)
    )
    told = []

    def listener(connected: object) -> None:
        told.append(connected)
        if len(told) < 4:
            raise RuntimeError("cannot set up")

    connection.add_listener(listener)
    connection.startService()
    try:
        await wait_for(lambda: len(told) == 4, what="a 4th connection")
        await connection.when_connected(5)  # set up, at last
    finally:
        await connection.stopService()
    delays = [event["delay"] for event in logs if "Scheduling retry" in str(event.get("log_format"))]
    assert delays == pytest.approx([0.15, 0.225, 0.3375])  # 0.1 * 1.5 ** attempt


def retries(logs: list[dict]) -> int:
    return sum(1 for event in logs if "Scheduling retry" in str(event.get("log_format")))


@pytest_twisted.ensureDeferred
async def test_a_group_runs_the_events_and_acks_them(amqp, names):
    seen = []
    dispatcher = dispatcher_with((seen.append, {"match": {"kind": "a"}}))
    settings = GroupSettings("g", exchange=names["exchange"])
    group = await started_group(amqp, dispatcher, settings, MemoryCompletionLog())
    for number in range(20):
        await amqp.publish({"n": number}, {"kind": "a"})
    await wait_for(lambda: group.processor.counts["acked"] == 20, what="20 acks")
    assert sorted(event["n"] for event in seen) == list(range(20))


def publish_raw(url: str, exchange: str, event_id: str, extra_headers: dict | None = None) -> None:
    """
    What a program in another language does: the documented envelope,
    written with a plain AMQP client and nothing of this package.
    """
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        channel = connection.channel()
        channel.confirm_delivery()
        channel.basic_publish(
            exchange=exchange,
            routing_key="",
            body=json.dumps({"order": 42}).encode(),
            properties=pika.BasicProperties(
                message_id=event_id,
                content_type="application/json",
                delivery_mode=2,
                headers={
                    "kind": "order",
                    "user": "ann",
                    "published-at-ms": 1_700_000_000_000,
                    **(extra_headers or {}),
                },
            ),
            mandatory=True,
        )
    finally:
        connection.close()


@pytest_twisted.ensureDeferred
async def test_an_event_published_by_a_raw_amqp_client_runs_the_handlers(amqp, names, broker_url):
    seen = []

    def record(event, context):
        seen.append((event, context.fire_id, context.attempt))

    dispatcher = dispatcher_with((record, {"match": {"kind": "order"}, "pass_context": True}))
    settings = GroupSettings("g", exchange=names["exchange"])
    await started_group(amqp, dispatcher, settings)
    event_id = new_event_id()
    await deferToThread(publish_raw, broker_url, names["exchange"], event_id)
    await wait_for(lambda: seen, what="the handler")
    assert seen == [({"order": 42}, event_id, 1)]


@pytest_twisted.ensureDeferred
async def test_a_header_name_that_is_not_utf_8_is_dead_lettered_and_the_group_goes_on(
    amqp, names, broker_url
):
    """
    pika reads a header name that is not UTF-8 as bytes: that message is
    not a valid envelope and goes to the dead letters, which list it; the
    events behind it run.
    """
    seen = []
    dispatcher = dispatcher_with((lambda event: seen.append(event), {"match": {"kind": "order"}}))
    settings = GroupSettings("g", exchange=names["exchange"])
    group = await started_group(amqp, dispatcher, settings)
    bad_id = new_event_id()
    await deferToThread(publish_raw, broker_url, names["exchange"], bad_id, {b"\xff\xfe": "x"})
    await deferToThread(publish_raw, broker_url, names["exchange"], new_event_id())
    await wait_for(lambda: group.processor.counts["acked"] == 1, timeout=10, what="the valid event")
    await wait_for(lambda: group.processor.counts["dead-lettered"] == 1, timeout=10, what="the dead letter")
    assert seen == [{"order": 42}] and group.consuming
    (letter,) = await amqp.dead_letters(settings).list()
    assert (letter.event_id, letter.reason, letter.envelope) == (bad_id, "not a valid envelope", None)
    assert "header name b'\\xff\\xfe' is not UTF-8" in letter.failures[0][1]


@pytest_twisted.ensureDeferred
async def test_an_unexpected_error_on_a_delivery_is_logged_and_the_group_goes_on(
    amqp, names, broker_url, monkeypatch, logs
):
    """
    An error no one expected (a bug) while reading a delivery, in the
    envelope reader or before it, is logged; the message goes to the dead
    letters; the group goes on consuming the events behind it.
    """
    from twisted_event_dispatcher.broker import _consumer, _processing

    def failing(real, header):
        def read(message_or_properties, *rest):
            if header in (message_or_properties.headers or {}):
                raise RuntimeError(f"a bug reading {header}")
            return real(message_or_properties, *rest)

        return read

    monkeypatch.setattr(_processing, "from_message", failing(_processing.from_message, "bad-envelope"))
    monkeypatch.setattr(_consumer, "message_of", failing(_consumer.message_of, "bad-properties"))
    seen = []
    dispatcher = dispatcher_with((lambda event: seen.append(event), {"match": {"kind": "order"}}))
    settings = GroupSettings("g", exchange=names["exchange"])
    group = await started_group(amqp, dispatcher, settings)
    bad_envelope, bad_properties = new_event_id(), new_event_id()
    await deferToThread(publish_raw, broker_url, names["exchange"], bad_envelope, {"bad-envelope": 1})
    await deferToThread(publish_raw, broker_url, names["exchange"], bad_properties, {"bad-properties": 1})
    for _ in range(3):
        await deferToThread(publish_raw, broker_url, names["exchange"], new_event_id())
    await wait_for(lambda: group.processor.counts["acked"] == 3, timeout=10, what="the valid events")
    assert seen == [{"order": 42}] * 3 and group.consuming
    await wait_for(lambda: group.processor.counts["dead-lettered"] == 1, timeout=10, what="the dead letter")
    await deferToThread(wait_for_messages, broker_url, settings.dead_letter_queue, 2)
    reasons = {letter.event_id: letter.reason for letter in await amqp.dead_letters(settings).list()}
    assert reasons == {
        bad_envelope: "the consumer failed",
        bad_properties: "the broker dead-lettered it (rejected)",
    }
    logged = [event["log_failure"].getErrorMessage() for event in logs if event.get("log_failure")]
    assert logged == ["a bug reading bad-envelope", "a bug reading bad-properties"]


@pytest_twisted.ensureDeferred
async def test_a_raw_amqp_client_s_arguments_reach_the_handlers(amqp, names, broker_url):
    """
    The documented ``event-arguments`` header, written by hand as JSON text
    with a plain AMQP client: an ``inject`` handler takes the arguments by
    name, unhashable values included.
    """
    seen = []

    def ship(event, lines, user, attempt_note=None):
        seen.append((event, lines, user, attempt_note))

    dispatcher = dispatcher_with((ship, {"match": {"kind": "order"}, "inject": True}))
    await started_group(amqp, dispatcher, GroupSettings("g", exchange=names["exchange"]))
    arguments = {"lines": [{"sku": "A1", "quantity": 2}, [1, [2]]], "attempt_note": {"by": "pika"}}
    await deferToThread(
        publish_raw,
        broker_url,
        names["exchange"],
        new_event_id(),
        {"event-arguments": json.dumps(arguments)},
    )
    await wait_for(lambda: seen, what="the handler")
    assert seen == [({"order": 42}, arguments["lines"], "ann", {"by": "pika"})]


@pytest_twisted.ensureDeferred
async def test_arguments_published_by_the_transport_reach_the_handlers(amqp, names):
    """
    ``publish(..., arguments=...)`` through the real broker: an ``inject``
    handler receives them, a ``pass_context`` one finds them in its context,
    and arguments near the size limit travel too.
    """
    injected, contexts = [], []

    def bill(event, lines, note):
        injected.append((event, lines, note))

    def audit(event, context):
        contexts.append(dict(context.arguments))

    dispatcher = dispatcher_with(
        (bill, {"match": {"kind": "a"}, "inject": True}),
        (audit, {"match": {"kind": "a"}, "pass_context": True}),
    )
    group = await started_group(amqp, dispatcher, GroupSettings("g", exchange=names["exchange"]))
    lines = [{"sku": "A1"}, {"sku": "B2", "tags": ["x", None, 1.5]}]
    await amqp.publish({"n": 1}, {"kind": "a"}, arguments={"lines": lines, "note": None})
    big = "x" * 60_000
    await amqp.publish({"n": 2}, {"kind": "a"}, arguments={"lines": [], "note": big})
    await wait_for(lambda: group.processor.counts["acked"] == 2, what="2 acks")
    assert injected == [({"n": 1}, lines, None), ({"n": 2}, [], big)]
    assert contexts == [{"lines": lines, "note": None}, {"lines": [], "note": big}]


@pytest_twisted.ensureDeferred
async def test_a_poison_event_becomes_a_dead_letter_and_replay_sends_it_back(amqp, names):
    attempts = []

    def poison(event, context):
        attempts.append(context.attempt)
        if event.get("cured") is not True and len(attempts) < 4:
            raise ValueError("cannot digest this")

    dispatcher = dispatcher_with((poison, {"name": "poison", "pass_context": True}))
    settings = GroupSettings("g", exchange=names["exchange"], delivery_limit=3, retry_delay=0.05)
    group = await started_group(amqp, dispatcher, settings)
    event_id = await amqp.publish({"cured": False}, {"kind": "x"})
    await wait_for(lambda: group.processor.counts["dead-lettered"] == 1, what="the dead letter")
    assert attempts == [1, 2, 3]
    letters = amqp.dead_letters(settings)
    (letter,) = await letters.list()
    assert (letter.event_id, letter.reason, letter.attempts) == (event_id, "handlers failed", 3)
    assert letter.failures == (("poison", "ValueError: cannot digest this"),)
    await letters.replay(event_id)
    await wait_for(lambda: group.processor.counts["acked"] == 1, what="the replayed event")
    assert attempts == [1, 2, 3, 1]
    assert await letters.list() == []


@pytest_twisted.ensureDeferred
async def test_a_connection_cut_mid_stream_loses_nothing(amqp, names, logs):
    """
    The broker closes this test's connection while events flow: publishes
    wait for the new connection, consumption resumes, and every event is
    handled (some perhaps twice: at least once).
    """
    seen = set()
    dispatcher = dispatcher_with((lambda event: seen.add(event["n"]), {"name": "count"}))
    settings = GroupSettings("g", exchange=names["exchange"], retry_delay=0.05)
    await started_group(amqp, dispatcher, settings, MemoryCompletionLog())
    connections = amqp.connection.connections
    for number in range(50):
        await amqp.publish({"n": number}, {"kind": "x"})
    assert await cut_connections(names["connection"]) == 1
    published = [amqp.publish({"n": number}, {"kind": "x"}) for number in range(50, 100)]
    for publishing in published:
        await publishing
    await wait_for(lambda: len(seen) == 100, timeout=30, what="all 100 events")
    assert amqp.connection.connections > connections
    lost = [
        str(event["reason"]) for event in logs if "Lost the broker connection" in str(event.get("log_format"))
    ]
    assert lost == ["(320, 'CONNECTION_FORCED - connection cut by a test')"]  # the broker's reason


@pytest.mark.parametrize("abort", [False, True], ids=["closed", "reset"])
@pytest_twisted.ensureDeferred
async def test_publishes_in_flight_when_the_connection_drops_are_sent_again(amqp, names, abort, logs):
    """
    A publisher's TCP connection dies (closed or reset, through a proxy) with
    confirms in flight: each publish is sent again on the next connection,
    with the same event id, or fails with BrokerUnavailable; none fails
    with the connection's own error, and every event confirmed reaches the
    group.  The loss is logged once, not once per publish.

    The proxy holds back what the broker sends once the first 100 publishes
    are confirmed, so the other 1,900 reach the broker but none of their
    confirms comes back before the drop, however fast the broker is.
    """
    seen: set[str] = set()
    dispatcher = dispatcher_with((lambda event, context: seen.add(context.fire_id), {"pass_context": True}))
    await started_group(amqp, dispatcher, GroupSettings("g", exchange=names["exchange"], prefetch=200))
    proxy = CuttableProxy()
    publisher = AmqpTransport(
        proxy.url, exchange=names["exchange"], connection_name=names["connection"] + "-p", publish_timeout=15
    )
    publisher.startService()
    try:
        first = [publisher.publish({"n": number}, {"kind": "x"}) for number in range(100)]
        outcomes: list[object] = [await publishing for publishing in first]
        proxy.hold()
        rest = [publisher.publish({"n": number}, {"kind": "x"}) for number in range(100, 2000)]
        for publishing in rest:
            publishing.addBoth(outcomes.append)
        await wait_for(lambda: proxy.held > 0, what="the broker to confirm some of the rest")
        in_flight = len(first) + len(rest) - len(outcomes)
        dropped = proxy.drop(abort)
        reactor.callLater(0.3, proxy.resume)
        await wait_for(lambda: len(outcomes) == 2000, timeout=30, what="every publish to end")
    finally:
        await publisher.stopService()
        proxy.stop()
    assert (dropped, in_flight) == (1, 1900)
    failed = [outcome for outcome in outcomes if isinstance(outcome, Failure)]
    assert all(failure.check(BrokerUnavailable) for failure in failed), {repr(f.value) for f in failed}
    confirmed = {outcome for outcome in outcomes if isinstance(outcome, str)}
    await wait_for(lambda: seen >= confirmed, timeout=30, what="every confirmed event at the group")
    assert len(confirmed) == 2000 - len(failed) > 100
    assert publisher.connection.connections == 2
    told = [
        str(event["log_format"])
        for event in logs
        if event.get("log_namespace") == _publisher.__name__ and event["log_level"] is not LogLevel.debug
    ]
    assert len(told) == 1 and "sent again on the next connection" in told[0], told[:3]


@pytest_twisted.ensureDeferred
async def test_a_group_whose_queue_exists_with_another_delivery_limit_gives_up_clearly(amqp, names, logs):
    """
    A group restarted with another delivery_limit: the broker refuses to
    declare its queue again.  The group gives up with one error naming the
    setting and both values, and the connection stays (no reconnecting,
    publishing goes on).
    """
    dispatcher = dispatcher_with((print, {"match": {"kind": "a"}}))
    first = await started_group(
        amqp, dispatcher, GroupSettings("g", exchange=names["exchange"], delivery_limit=3)
    )
    await first.stopService()
    connections = amqp.connection.connections
    settings = GroupSettings("g", exchange=names["exchange"], delivery_limit=5)
    group = amqp.consumer_group(dispatcher, settings)
    with pytest.raises(GroupConflict) as raised:
        await group.when_consuming()
    assert (
        "exists with delivery_limit=3 (x-delivery-limit 2), and this group asks for delivery_limit=5"
        in str(raised.value)
    )
    assert group.failure is raised.value and not group.running and not group.consuming
    await deferLater(reactor, 2.0, lambda: None)  # time enough for a reconnection or two, were there any
    assert amqp.connection.connections == connections
    assert len(await amqp.publish({"n": 1}, {"kind": "a"})) == 36
    errors = [event for event in logs if event.get("log_level") in (LogLevel.error, LogLevel.critical)]
    assert [str(event.get("error")) for event in errors] == [str(raised.value)]


def delete_queue(url: str, queue: str) -> None:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        connection.channel().queue_delete(queue)
    finally:
        connection.close()


@pytest_twisted.ensureDeferred
async def test_a_group_whose_queue_is_deleted_declares_it_again_and_consumes(amqp, names, broker_url):
    """
    The broker cancels the consumer of a deleted queue: the group sets
    itself up again on a new connection, queue and bindings included.
    """
    dispatcher = dispatcher_with((print, {"match": {"kind": "a"}}))
    settings = GroupSettings("g", exchange=names["exchange"])
    group = await started_group(amqp, dispatcher, settings)
    connections = amqp.connection.connections
    await deferToThread(delete_queue, broker_url, settings.queue)
    await wait_for(
        lambda: amqp.connection.connections > connections and group.consuming, what="a new consumer"
    )
    await group.stopService()
    assert len(await amqp.publish({"n": 1}, {"kind": "a"})) == 36  # bound again


def ready_messages(url: str, queue: str) -> int:
    connection = pika.BlockingConnection(pika.URLParameters(url))
    try:
        return connection.channel().queue_declare(queue, passive=True).method.message_count
    finally:
        connection.close()


def wait_for_messages(url: str, queue: str, count: int, timeout: float = 10.0) -> None:
    """
    Wait (in a thread) until ``queue`` holds ``count`` ready messages.
    """
    deadline = time.monotonic() + timeout
    while (ready := ready_messages(url, queue)) != count:
        assert time.monotonic() < deadline, f"{queue} holds {ready} messages, not {count}"
        time.sleep(0.05)


@pytest_twisted.ensureDeferred
async def test_a_stopping_group_acknowledges_what_finished_and_returns_the_rest(amqp, names, broker_url):
    """
    Acknowledgements go in batches: on stop, those of the events that
    finished are sent before the channel closes (none comes back), and the
    events still in their phases after the drain time go back to the queue,
    unacknowledged.
    """
    stuck = {1, 4, 5, 8}
    seen = []

    def handler(event):
        seen.append(event["n"])
        return Deferred() if event["n"] in stuck else None

    dispatcher = dispatcher_with((handler, {"match": {"kind": "a"}}))
    settings = GroupSettings("g", exchange=names["exchange"], prefetch=50, drain_timeout=0.2)
    group = await started_group(amqp, dispatcher, settings)
    for number in range(10):
        await amqp.publish({"n": number}, {"kind": "a"})
    await wait_for(lambda: len(seen) == 10, what="10 events in their phases")
    await group.stopService()
    assert group.processor.counts["acked"] == 10 - len(stuck)
    assert await deferToThread(ready_messages, broker_url, settings.queue) == len(stuck)
