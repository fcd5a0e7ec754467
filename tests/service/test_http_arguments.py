"""
``POST /events`` with ``arguments``: values of any JSON type that reach the
handlers (as keyword arguments, or in the event's namespace) without being
matched on, for plain and declared events; and declared events'
``first_result`` and ``lifo`` over HTTP.  In process over loopback (treq),
and against the console script in a subprocess.
"""

from __future__ import annotations

import json

import pytest
import pytest_twisted
from hypothesis import given, settings
from hypothesis import strategies as st
from running import RunningService
from test_http import Server, start_service

from twisted_event_dispatcher import EventDispatcher
from twisted_event_dispatcher._http_answers import ApiError
from twisted_event_dispatcher._http_checks import FireRequest, parse_fire_request
from twisted_event_dispatcher.declarations import DeclaredDispatcher, EventDeclaration
from twisted_event_dispatcher.plugins import PluginHost, handles


class Orders:
    """Handlers that take a fire's arguments by name, and one that matches on a user."""

    @handles("during", match={"event_type": "order"}, inject=True)
    def take(self, event, event_type, items, note=None):
        return {"event": event, "event_type": event_type, "items": items, "note": note}

    @handles("after", match={"user": "bob"})
    def for_bob(self, event):
        return "bob's"


def orders_host() -> PluginHost:
    host = PluginHost(EventDispatcher(["event_type", "user"]))
    host.add_plugin(Orders())
    return host


@pytest_twisted.async_yield_fixture
async def orders():
    service = start_service(orders_host())
    await service.host.when_started()
    yield Server(service)
    await service.stopService()


@pytest_twisted.ensureDeferred
async def test_arguments_reach_handlers_by_name_and_are_never_matched_on(orders):
    """Unhashable values, and names no match-spec may use, reach the handler; 'user' matches nothing."""
    arguments = {"items": [{"sku": "a", "n": 2}, ["b"]], "note": {"gift": True}, "user": "bob"}
    response, answer = await orders.fire(
        {"event": {"order": 7}, "details": {"event_type": "order"}, "arguments": arguments}
    )
    assert response.code == 200
    assert [handler["handler"] for handler in answer["handlers"]] == ["Orders.take"]
    assert answer["handlers"][0]["value"] == {
        "event": {"order": 7},
        "event_type": "order",
        "items": [{"sku": "a", "n": 2}, ["b"]],
        "note": {"gift": True},
    }
    assert (answer["details"], answer["arguments"]) == ({"event_type": "order"}, arguments)


@pytest_twisted.ensureDeferred
async def test_a_name_given_as_detail_and_argument_needs_one_value(orders):
    """The same value twice is accepted; different values are a 400 naming the name."""
    response, answer = await orders.fire(
        {"event": 1, "details": {"event_type": "order"}, "arguments": {"event_type": "order", "items": []}}
    )
    assert (response.code, answer["handlers"][0]["value"]["items"]) == (200, [])
    response, answer = await orders.fire(
        {"event": 1, "details": {"event_type": "order"}, "arguments": {"event_type": "refund", "items": []}}
    )
    assert response.code == 400
    assert answer["error"].startswith(
        '\'event_type\' is given as a detail ("order") and as an argument ("refund") with different values'
    )
    assert answer["conflicting"] == ["event_type"]


class Kettles:
    """Handlers of a declared event, which take its arguments by name."""

    @handles("during", event="kettle_on")
    def on(self, kettle, schedule):
        return {"kettle": kettle, "schedule": schedule}

    @handles("during", event="kettle_on", match={"kettle": "k2"})
    def only_k2(self, kettle):
        return "k2"


@pytest_twisted.ensureDeferred
async def test_declared_arguments_may_come_as_details_or_arguments():
    """Details and arguments together are the declared event's arguments; keywords are still matched on."""
    declared = DeclaredDispatcher([EventDeclaration("kettle_on", ("kettle", "schedule"), ("kettle",))])
    host = PluginHost(declared)
    host.add_plugin(Kettles())
    service = start_service(host)
    try:
        await host.when_started()
        server = Server(service)
        schedule = [{"at": "07:00"}, {"at": "19:00"}]
        for payload in (
            {"event": "kettle_on", "details": {"kettle": "k1"}, "arguments": {"schedule": schedule}},
            {"event": "kettle_on", "arguments": {"kettle": "k1", "schedule": schedule}},
        ):
            response, answer = await server.fire(payload)
            assert response.code == 200
            assert [(h["handler"], h["value"]) for h in answer["handlers"]] == [
                ("Kettles.on", {"kettle": "k1", "schedule": schedule})
            ]
            assert answer["event"] == {
                "name": "kettle_on",
                "arguments": {"kettle": "k1", "schedule": schedule},
            }
            assert answer["details"] == {"event": "kettle_on", "kettle": "k1"}
        response, answer = await server.fire({"event": "kettle_on", "arguments": {"kettle": "k1"}})
        assert response.code == 422 and "missing argument" in answer["error"]
    finally:
        await service.stopService()


# What parse_fire_request reads

json_scalars = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8,
)
names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=3)


@settings(deadline=None)
@given(st.dictionaries(names, json_scalars, max_size=3), st.dictionaries(names, json_values, max_size=3))
def test_arguments_are_read_beside_details_or_refused_on_a_clash(details, arguments):
    """Whatever the values, a request is read as it was sent, unless a name has two different values."""
    body = json.dumps({"event": None, "details": details, "arguments": arguments}).encode()
    clashing = sorted(
        name
        for name in details.keys() & arguments.keys()
        if json.dumps(details[name]) != json.dumps(arguments[name], sort_keys=True)
    )
    if not clashing:
        assert parse_fire_request(body) == FireRequest(None, details, arguments)
        return
    with pytest.raises(ApiError) as refused:
        parse_fire_request(body)
    assert refused.value.status == 400
    assert refused.value.extra == {"conflicting": clashing}
    assert refused.value.message.startswith(f"{clashing[0]!r} is given as a detail")


# The console script, with declared events configured first_result and lifo

PLUGINS = """
from twisted_event_dispatcher.plugins import handles


class Early:
    @handles("during", event="pick")
    def early(self, tags):
        return "early saw " + ",".join(tags)


class Late:
    @handles("during", event="pick")
    def late(self, tags):
        return "late saw " + ",".join(tags)


class Abstains:
    @handles("during", event="pick")
    def abstains(self, tags):
        return None


class Orders:
    @handles("during", match={"event_type": "order"}, inject=True)
    def take(self, event_type, items):
        return {"event_type": event_type, "items": items}
"""

SERVICE = """
[events.pick]
arguments = ["tags", "kind"]
keywords = ["kind"]
first_result = true
lifo = true

[server]
endpoint = "tcp:0:interface=127.0.0.1"

[plugins.early]
path = "pick_plugins:Early"

[plugins.late]
path = "pick_plugins:Late"

[plugins.abstains]
path = "pick_plugins:Abstains"
"""

PLAIN_SERVICE = """
[dispatcher]
keywords = ["event_type"]

[server]
endpoint = "tcp:0:interface=127.0.0.1"

[plugins.orders]
path = "pick_plugins:Orders"
"""


def running(tmp_path, config: str) -> RunningService:
    (tmp_path / "pick_plugins.py").write_text(PLUGINS)
    return RunningService(tmp_path, config)


def test_the_service_calls_a_first_result_lifo_event_newest_first_until_an_answer(tmp_path):
    """The last plugin abstains, the one before answers, the first is never called."""
    service = running(tmp_path, SERVICE)
    try:
        answer = service.request(
            "POST", "/events", {"event": "pick", "details": {"kind": "x"}, "arguments": {"tags": ["a", "b"]}}
        )
        assert answer.status == 200, answer
        assert [(h["handler"], h["value"]) for h in answer.json["handlers"]] == [
            ("Abstains.abstains", None),
            ("Late.late", "late saw a,b"),
        ]
        assert service.stop() == 0
    finally:
        service.close()
    assert "Traceback" not in service.log()


def test_the_service_hands_arguments_to_plain_handlers_and_refuses_a_clash(tmp_path):
    """Over real sockets: unhashable arguments reach an injected handler; a clash is a JSON 400."""
    service = running(tmp_path, PLAIN_SERVICE)
    try:
        items = [{"sku": "a"}, ["nested", ["list"]]]
        answer = service.request(
            "POST",
            "/events",
            {"event": {}, "details": {"event_type": "order"}, "arguments": {"items": items}},
        )
        assert answer.status == 200, answer
        assert answer.json["handlers"][0]["value"] == {"event_type": "order", "items": items}
        answer = service.request(
            "POST",
            "/events",
            {"event": {}, "details": {"event_type": "order"}, "arguments": {"event_type": 1, "items": []}},
        )
        assert answer.status == 400 and answer.headers["content-type"] == "application/json"
        assert "'event_type' is given as a detail" in answer.json["error"]
        assert answer.json["conflicting"] == ["event_type"]
        assert service.stop() == 0
    finally:
        service.close()
