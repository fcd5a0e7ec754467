"""
Broker mode in the service: the [broker] table, and the console script
publishing through the broker, consuming as a group, listing and replaying
dead letters over HTTP, and answering 503 when the broker cannot be reached.
"""

from __future__ import annotations

import json
import re
import textwrap

import pika
import pytest
import pytest_twisted
from pika.exceptions import ConnectionClosedByBroker
from support import wait_for
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from tests.broker.amqp_support import delete_everything
from tests.service.running import RunningService
from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher.broker import GroupSettings
from twisted_event_dispatcher.broker._conflicts import group_conflict
from twisted_event_dispatcher.broker._service import BrokerMode
from twisted_event_dispatcher.config import ConfigError, load_config, parse_config


def config(text: str):
    return parse_config(textwrap.dedent(text), "app.toml")


def test_the_embedded_default_runs_in_one_process():
    assert load_config().broker is None


def test_the_broker_table_is_read_with_its_group():
    settings = config(
        """
        [broker]
        url = "amqp://guest:guest@127.0.0.1:5672/%2F"
        exchange = "shop"
        completion_log = "postgresql://postgres@127.0.0.1:5432/test"
        [broker.group]
        name = "billing"
        prefetch = 8
        delivery_limit = 3
        retry_delay = 0.5
        single_active_consumer = true
        """
    ).broker
    assert settings.url.startswith("amqp://") and settings.exchange == "shop"
    assert settings.completion_log == "postgresql://postgres@127.0.0.1:5432/test"
    assert settings.group == GroupSettings(
        "billing", "shop", prefetch=8, delivery_limit=3, retry_delay=0.5, single_active_consumer=True
    )


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[broker]\nexchange = 'x'", "app.toml: broker.url: expected the broker's AMQP URL"),
        ("[broker]\nurl = 'http://x'", "app.toml: broker.url: the broker URL must look like amqp://"),
        ("[broker]\nurl = 'amqp://h'\nqueue = 1", "app.toml: broker.queue: unknown key"),
        (
            "[broker]\nurl = 'amqp://h'\ncompletion_log = 'redis://x'",
            "broker.completion_log: expected 'memory'",
        ),
        (
            "[broker]\nurl = 'amqp://h'\n[broker.group]\nname = 'g'\nprefetch = 0",
            "broker.group.prefetch: expected",
        ),
        (
            "[broker]\nurl = 'amqp://h'\n[broker.group]\nprefetch = 2",
            "broker.group.name: expected the group's",
        ),
        ("[broker]\nurl = 'amqp://h'\npublish_timeout = -1", "broker.publish_timeout: expected a positive"),
    ],
)
def test_mistakes_in_the_broker_table_name_the_key(table, message):
    with pytest.raises(ConfigError) as raised:
        config(table)
    assert message in str(raised.value)


#: A broker no one listens at, with a password /health must not show.
UNREACHABLE = "amqp://guest:s3cret@127.0.0.1:1/%2F"


def broker_mode(table: str, reactor: object | None = None) -> BrokerMode:
    settings = config(f"[broker]\nurl = '{UNREACHABLE}'\n{table}").broker
    return BrokerMode(settings, EventDispatcher(["event_type"]), reactor=reactor or MemoryReactorClock())


def health(url: str = "amqp://guest:***@127.0.0.1:1/%2F", **changed: object) -> dict[str, object]:
    return {"url": url, "connected": False, "group": None, "consuming": False, "error": None, **changed}


def test_the_health_of_broker_mode_without_a_group_shows_the_url_without_its_password():
    mode = broker_mode("")
    assert mode.health() == health()
    mode.startService()
    try:
        assert mode.health() == health()
    finally:
        mode.stopService()


def test_a_group_that_gave_up_on_its_queue_says_why_in_the_health():
    """
    A group not connected yet shows its name, not consuming and no error;
    once it gave up (its queue exists with another delivery_limit), the
    GroupConflict's message is the error.
    """
    mode = broker_mode("completion_log = 'memory'\n[broker.group]\nname = 'g'\ndelivery_limit = 5")
    mode.startService()
    try:
        assert mode.health() == health(group="g")
        assert mode.group is not None and mode.settings.group is not None
        conflict = group_conflict(
            mode.settings.group,
            "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'events.g' "
            "in vhost '/': received '4' but current is '2'",
        )
        mode.group._give_up(conflict)
        assert mode.health() == health(group="g", error=str(conflict))
        assert "exists with delivery_limit=3" in str(conflict)
    finally:
        mode.stopService()


def test_a_refused_login_is_the_error_in_the_health_without_the_password():
    mode = broker_mode("")
    mode.startService()
    try:
        refused = ConnectionClosedByBroker(403, "ACCESS_REFUSED - Login was refused")
        mode.transport.connection._not_opened(refused)
        error = mode.health()["error"]
        assert isinstance(error, str) and "refused the login" in error and "403 ACCESS_REFUSED" in error
        assert "s3cret" not in json.dumps(mode.health())
    finally:
        mode.stopService()


@pytest_twisted.ensureDeferred
async def test_a_completion_log_whose_table_cannot_be_made_is_the_error_in_the_health():
    """
    The group never consumes when its completion log's table cannot be made
    (PostgreSQL unreachable here): the health says so, without the
    database's password.
    """
    from twisted.internet import reactor

    table = "completion_log = 'postgresql://postgres:s3cret@127.0.0.1:1/test'\n[broker.group]\nname = 'g'"
    mode = broker_mode(table, reactor)
    mode.startService()
    try:
        await wait_for(lambda: mode.health()["error"] is not None, what="the table to fail")
        error = mode.health()["error"]
        assert isinstance(error, str) and error.startswith(
            "the completion log's table cannot be made, so the group does not consume: "
        )
        assert mode.health() == health(group="g", error=error) and mode.group is None
        assert "s3cret" not in error and "\n" not in error
    finally:
        await mode.stopService()


def test_a_table_failure_quoting_the_database_password_is_shown_without_it():
    mode = broker_mode("completion_log = 'postgresql://postgres:s3cret@127.0.0.1:1/test'")
    mode._no_table(Failure(ValueError('invalid percent-encoded token: "s3cret"')))
    assert mode.health()["error"] == (
        "the completion log's table cannot be made, so the group does not consume: "
        'invalid percent-encoded token: "***"'
    )


def call(service: RunningService, method: str, path: str, body: object = None) -> tuple[int, dict]:
    answer = service.request(method, path, body)
    return answer.status, answer.json


def stop(service: RunningService) -> int:
    """
    SIGTERM, the exit status, and the subprocess cleaned up whatever happens.
    """
    try:
        return service.stop()
    finally:
        service.close()


SERVICE = """
[dispatcher]
keywords = ["event_type"]
[server]
endpoint = "tcp:0:interface=127.0.0.1"
max_body = 200000
[plugins.log]
path = "twisted_event_dispatcher.builtin_plugins:EventLogger"
[plugins.lines]
path = "line_plugins:Lines"
[broker]
url = "{url}"
exchange = "{exchange}"
publish_timeout = {timeout}
"""


#: A plugin whose handler takes an event's arguments by name, and logs them.
LINES_PLUGIN = """
import json

from twisted.logger import Logger

from twisted_event_dispatcher.plugins import handles

log = Logger()


class Lines:
    @handles("during", match={"event_type": "order"}, inject=True)
    def count(self, event, lines=None, note=None):
        log.info("lines: {text}", text=json.dumps({"lines": lines, "note": note}, sort_keys=True))
"""


def running(tmp_path, text: str) -> RunningService:
    (tmp_path / "line_plugins.py").write_text(LINES_PLUGIN)
    return RunningService(tmp_path, text)


def test_publishing_without_a_reachable_broker_is_a_503_and_a_bad_delivery_a_400(tmp_path):
    service = running(
        tmp_path, SERVICE.format(url="amqp://guest:guest@127.0.0.1:1/%2F", exchange="x", timeout=0.5)
    )
    try:
        event = {"event": {"order": 1}, "details": {"event_type": "order"}}
        status, answer = call(service, "POST", "/events?delivery=broker", event)
        assert (status, answer["error"]) == (503, answer["error"])
        assert "not reachable within 0.5 seconds" in answer["error"]
        with_arguments = {**event, "arguments": {"lines": [1, 2]}}
        status, answer = call(service, "POST", "/events?delivery=broker", with_arguments)
        assert status == 503 and "not reachable within 0.5 seconds" in answer["error"]
        too_big = {**event, "arguments": {"blob": "x" * 40_000, "more": "y" * 30_000}}
        status, answer = call(service, "POST", "/events?delivery=broker", too_big)
        assert status == 422 and "more than the 65536 an envelope's headers can carry" in answer["error"]
        clash = {**event, "arguments": {"event_type": 1}}
        status, answer = call(service, "POST", "/events?delivery=broker", clash)
        assert status == 400 and answer["conflicting"] == ["event_type"]
        status, answer = call(service, "POST", "/events?delivery=pigeon", event)
        assert status == 400 and "delivery must be 'local' or 'broker'" in answer["error"]
        status, answer = call(service, "POST", "/events", event)
        assert status == 200 and answer["succeeded"]  # in this process, as before
    finally:
        assert stop(service) == 0


def test_an_event_no_group_runs_is_refused_with_a_422(tmp_path, broker_url, unique):
    exchange = f"ted-svc-{unique}"
    service = running(tmp_path, SERVICE.format(url=broker_url, exchange=exchange, timeout=5))
    try:
        status, answer = call(
            service, "POST", "/events?delivery=broker", {"event": {}, "details": {"event_type": "order"}}
        )
        assert status == 422 and "matches no consumer group" in answer["error"]
        status, answer = call(service, "GET", "/dead-letters")
        assert (status, answer) == (200, {"dead_letters": []})
        status, answer = call(service, "POST", "/dead-letters/replay", {"event_id": "x"})
        assert status == 404 and "no consumer group" in answer["error"]
    finally:
        assert stop(service) == 0
        delete_everything(broker_url, exchange, [])


def test_the_service_publishes_consumes_and_replays_through_the_broker(tmp_path, broker_url, unique):
    exchange = f"ted-svc-{unique}"
    text = SERVICE.format(url=broker_url, exchange=exchange, timeout=5) + textwrap.dedent(
        """
        completion_log = "memory"
        [broker.group]
        name = "g"
        """
    )
    service = running(tmp_path, text)
    try:
        service.lines.wait_for(r"Group g consuming ted-svc-.*\.g \(1 binding\(s\)\)")
        status, answer = call(
            service,
            "POST",
            "/events?delivery=broker",
            {"event": {"order": 7}, "details": {"event_type": "order"}},
        )
        assert status == 202 and answer["delivery"] == "broker" and len(answer["event_id"]) == 36
        status, answer = call(service, "GET", "/health")
        assert (status, answer["status"], answer["broker"]) == (
            200,
            "running",
            {
                "url": "amqp://guest:***@127.0.0.1:5672/%2F",
                "connected": True,
                "group": "g",
                "consuming": True,
                "error": None,
            },
        )
        service.lines.wait_for(r'Event: \{"order": 7\}')
        lines = [{"sku": "A1", "quantity": 2}, ["gift", {"wrap": True}]]
        status, answer = call(
            service,
            "POST",
            "/events?delivery=broker",
            {"event": {"order": 8}, "details": {"event_type": "order"}, "arguments": {"lines": lines}},
        )
        assert status == 202
        logged = json.dumps({"lines": lines, "note": None}, sort_keys=True)
        service.lines.wait_for("lines: " + re.escape(logged))
        status, answer = call(service, "GET", "/dead-letters?limit=5")
        assert (status, answer) == (200, {"dead_letters": []})
        status, answer = call(service, "POST", "/dead-letters/replay", {"event_id": "0190-not-there"})
        assert status == 404 and "no dead letter" in answer["error"]
    finally:
        assert stop(service) == 0
        delete_everything(broker_url, exchange, ["g"])


def test_a_group_whose_queue_has_another_delivery_limit_says_so_in_the_health(tmp_path, broker_url, unique):
    """
    The group's queue exists with x-delivery-limit 2 (delivery_limit = 3) and
    the service's group asks for 5: /health stays 200 and running (the
    service still publishes), and its broker part shows the group not
    consuming, with the error naming delivery_limit.
    """
    exchange = f"ted-svc-{unique}"
    made = GroupSettings("g", exchange=exchange, delivery_limit=3)
    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        connection.channel().queue_declare(made.queue, durable=True, arguments=made.queue_arguments())
    finally:
        connection.close()
    text = SERVICE.format(url=broker_url, exchange=exchange, timeout=5) + textwrap.dedent(
        """
        [broker.group]
        name = "g"
        delivery_limit = 5
        """
    )
    try:
        service = running(tmp_path, text)
        try:
            service.lines.wait_for("group 'g' cannot consume")
            event = {"event": {"order": 1}, "details": {"event_type": "order"}}
            status, answer = call(service, "POST", "/events?delivery=broker", event)
            assert status == 422 and "matches no consumer group" in answer["error"]  # published, unbound
            status, answer = call(service, "GET", "/health")
            assert (status, answer["status"]) == (200, "running")
            broker = answer["broker"]
            assert broker == {**broker, "connected": True, "group": "g", "consuming": False}
            assert (
                "exists with delivery_limit=3 (x-delivery-limit 2), and this group asks for delivery_limit=5"
                in (broker["error"])
            )
            assert "guest:guest" not in json.dumps(answer)
        finally:
            assert stop(service) == 0
    finally:
        delete_everything(broker_url, exchange, ["g"])
