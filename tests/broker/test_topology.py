"""
Bindings made from match-specs: never narrower than the spec (no event a
handler matches is left unrouted), exact where the broker can say it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twisted_event_dispatcher import EventDispatcher, any_of
from twisted_event_dispatcher.broker import GroupConflict, GroupSettings, bindings_for
from twisted_event_dispatcher.broker._conflicts import group_conflict
from twisted_event_dispatcher.broker._groups import group_bindings, warn_long_timeouts
from twisted_event_dispatcher.broker._topology import MAX_BINDINGS, binding_arguments, routes

KEYWORDS = ("a", "b", "c")
values = st.one_of(st.sampled_from(["x", "y", "z"]), st.integers(0, 3), st.booleans())
spec_values = st.one_of(st.none(), values, st.sets(values, min_size=1, max_size=4).map(lambda s: any_of(*s)))
specs = st.dictionaries(st.sampled_from(KEYWORDS), spec_values, max_size=3)
details = st.dictionaries(st.sampled_from(KEYWORDS), values, max_size=3)


def spec_matches(spec, event_details) -> bool:
    """
    The model: a spec matches when every constrained keyword is there with
    an accepted value (the broker compares types, so True is not 1).
    """
    for keyword, value in spec.items():
        if value is None:
            continue
        accepted = value.values if hasattr(value, "values") else {value}
        given_value = event_details.get(keyword, object())
        if not any(type(item) is type(given_value) and item == given_value for item in accepted):
            return False
    return True


@settings(deadline=None)
@given(st.lists(specs, min_size=1, max_size=3), details)
def test_bindings_route_exactly_what_the_specs_match(alternatives, event_details):
    bindings = bindings_for(alternatives)
    routed = any(routes(binding, event_details) for binding in bindings)
    assert routed == any(spec_matches(spec, event_details) for spec in alternatives)


def test_a_spec_the_broker_cannot_express_is_bound_more_broadly():
    """
    Too many any_of combinations drop a keyword; a float is left out.
    """
    wide = {"a": any_of(*range(10)), "b": any_of(*range(10)), "c": "x"}
    bindings = bindings_for([wide])
    assert len(bindings) == 10 <= MAX_BINDINGS  # "a" is left out, "b" and "c" stay
    assert all("a" not in {k: v for k, _, v in binding} for binding in bindings)
    assert any(routes(binding, {"a": 0, "b": 7, "c": "x"}) for binding in bindings)
    assert not any(routes(binding, {"a": 0, "b": 7, "c": "y"}) for binding in bindings)
    assert bindings_for([{"a": 1.5, "b": "x"}]) == frozenset({(("b", "str", "x"),)})
    assert bindings_for([{"a": "x"}, {}]) == frozenset({()})


def test_binding_arguments_are_a_headers_match_all():
    (binding,) = bindings_for([{"a": "x", "b": 2}])
    assert binding_arguments(binding) == {"x-match": "all", "a": "x", "b": 2}


def test_group_bindings_follow_the_dispatcher_s_handlers():
    dispatcher = EventDispatcher(KEYWORDS)
    assert group_bindings(dispatcher) == frozenset()
    handler_id = dispatcher.register(print, "during", match=[{"a": "x"}, {"b": any_of(1, 2)}])
    assert {{k: v for k, _, v in binding}.popitem() for binding in group_bindings(dispatcher)} == {
        ("a", "x"),
        ("b", 1),
        ("b", 2),
    }
    dispatcher.unregister(handler_id)
    assert group_bindings(dispatcher) == frozenset()


def test_handler_timeouts_beyond_the_consumer_timeout_are_warned_about(logs):
    dispatcher = EventDispatcher(KEYWORDS)
    dispatcher.register(print, "during", name="slow", timeout=3600, use_weakref=False)
    dispatcher.register(repr, "during", name="quick", timeout=1, use_weakref=False)
    assert warn_long_timeouts(dispatcher, GroupSettings("g", consumer_timeout=60)) == ["slow"]
    assert any("consumer timeout" in str(event.get("log_format")) for event in logs)
    dispatcher.register(str, "during", name="default", use_weakref=False)
    assert warn_long_timeouts(
        dispatcher, GroupSettings("g", consumer_timeout=5000), default_timeout=7200
    ) == ["default"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": ""}, "name must be"),
        ({"name": "g", "exchange": "a b"}, "exchange must be"),
        ({"name": "g", "prefetch": 0}, "prefetch must be a whole number"),
        ({"name": "g", "delivery_limit": 1.5}, "delivery_limit must be a whole number"),
        ({"name": "g", "retry_delay": -1}, "retry_delay must be a positive number"),
        ({"name": "g", "drain_timeout": 0}, "drain_timeout must be a positive number"),
    ],
)
def test_group_settings_are_checked(arguments, message):
    with pytest.raises(ValueError, match=message):
        GroupSettings(**arguments)


def test_the_queue_is_a_quorum_queue_with_dead_letters_and_a_delivery_limit():
    settings = GroupSettings("orders", delivery_limit=4, single_active_consumer=True)
    assert (settings.queue, settings.dead_letter_exchange, settings.dead_letter_queue) == (
        "events.orders",
        "events.dead-letters",
        "events.orders.dead-letters",
    )
    assert settings.queue_arguments() == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 3,
        "x-dead-letter-exchange": "events.dead-letters",
        "x-dead-letter-routing-key": "orders",
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
        "x-single-active-consumer": True,
    }


@pytest.mark.parametrize(
    ("reply_text", "expected"),
    [
        (
            "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'events.billing' "
            "in vhost '/': received '4' but current is '2'",
            "group 'billing' cannot consume: its queue 'events.billing' exists with delivery_limit=3 "
            "(x-delivery-limit 2), and this group asks for delivery_limit=5; a queue's arguments are fixed "
            "once it exists: start the group with the settings its queue was made with, or drain the queue "
            "and delete it (rabbitmqctl delete_queue events.billing) so that the group makes it again "
            "with the new ones",
        ),
        (
            "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue 'events.billing' "
            "in vhost '/': received the value '4' of type 'signedint' but current is none",
            "exists with delivery_limit=none (x-delivery-limit none), "
            "and this group asks for delivery_limit=5",
        ),
        (
            "PRECONDITION_FAILED - inequivalent arg 'x-single-active-consumer' for queue 'events.billing' "
            "in vhost '/': received 'true' but current is none",
            "exists with x-single-active-consumer none, and this group asks for true",
        ),
        ("PRECONDITION_FAILED - something new", "the broker refused to declare its queues (PRECONDITION"),
    ],
)
def test_a_queue_declared_with_other_arguments_is_explained(reply_text, expected):
    """
    The broker's refusal to declare a group's queue again with other
    arguments names the setting, both values, and what to do.
    """
    conflict = group_conflict(GroupSettings("billing", delivery_limit=5), reply_text)
    assert isinstance(conflict, GroupConflict) and conflict.group == "billing"
    assert expected in str(conflict)
    assert "rabbitmqctl delete_queue events.billing" in str(conflict)
