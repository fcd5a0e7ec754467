"""
The envelope: what goes in comes out, ids sort by time, and what cannot
travel is refused with a message naming it.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twisted_event_dispatcher.broker import (
    EnvelopeError,
    MemoryTransport,
    Message,
    event_id_time_ms,
    from_message,
    new_event_id,
    seal,
    to_message,
)

keywords = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True).filter(
    lambda word: word not in ("traceparent", "tracestate")
)
detail_values = st.one_of(st.text(max_size=20), st.integers(-(2**63), 2**63 - 1), st.booleans())
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(deadline=None)
@given(
    payload=json_values,
    details=st.dictionaries(keywords, detail_values, max_size=5),
    key=st.none() | st.text(min_size=1, max_size=30),
    arguments=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
)
def test_an_envelope_survives_the_trip(payload, details, key, arguments):
    arguments = {name: value for name, value in arguments.items() if name not in details}
    envelope = seal(
        payload,
        details,
        idempotency_key=key,
        trace_context={"traceparent": "00-ab-cd-01"},
        arguments=arguments,
    )
    assert from_message(to_message(envelope)) == envelope
    assert envelope.arguments == arguments


def test_arguments_travel_as_one_json_header_and_only_when_given():
    """
    Arguments (any JSON values, unhashable ones included) travel as the
    ``event-arguments`` header, JSON text; an event without arguments has
    no such header, as before, and reads back with none.
    """
    envelope = seal({"n": 1}, {"kind": "order"}, arguments={"lines": [{"sku": "A1"}], "note": None})
    message = to_message(envelope)
    assert message.headers["event-arguments"] == '{"lines":[{"sku":"A1"}],"note":null}'
    assert message.body == b'{"n":1}'
    assert from_message(message).arguments == {"lines": [{"sku": "A1"}], "note": None}
    plain = to_message(seal({"n": 1}, {"kind": "order"}, arguments={}))
    assert "event-arguments" not in plain.headers
    assert from_message(plain).arguments == {}


@pytest.mark.parametrize(
    ("detail", "argument"), [("a", "b"), (1, True), (True, 1), (1, "1"), (1, 1.0), ("a", {"a"})]
)
def test_an_argument_named_like_a_detail_must_have_its_value(detail, argument):
    assert seal({}, {"kind": detail}, arguments={"kind": detail}).arguments == {"kind": detail}
    with pytest.raises(EnvelopeError, match=r"'kind' is given as a detail .* with different values"):
        seal({}, {"kind": detail}, arguments={"kind": argument})


def test_arguments_that_cannot_travel_are_refused_before_publishing():
    with pytest.raises(EnvelopeError, match="arguments must be JSON values"):
        seal({}, arguments={"when": object()})
    with pytest.raises(EnvelopeError, match="arguments must be a mapping"):
        seal({}, arguments=[("a", 1)])  # type: ignore[arg-type]
    with pytest.raises(EnvelopeError, match="argument names must be strings"):
        seal({}, arguments={1: "a"})  # type: ignore[dict-item]
    with pytest.raises(EnvelopeError, match=r"more than the 65536 an envelope's headers can carry"):
        seal({}, arguments={"blob": "x" * 65536})
    assert seal({}, arguments={"blob": "x" * 65000}).arguments["blob"] == "x" * 65000
    with pytest.raises(EnvelopeError, match="arguments must be JSON values"):
        MemoryTransport().publish({}, arguments={"ratio": float("nan")})


def test_ids_made_later_sort_later_and_carry_their_time():
    """
    More ids than the counter holds in one millisecond still sort in order
    (they borrow the next millisecond); a later time sorts later.
    """
    from twisted_event_dispatcher.broker._envelope import _UuidSeven

    make = _UuidSeven()
    ids = [make(1_700_000_000_000) for _ in range(5000)] + [make(1_700_000_000_001 + 10)]
    assert new_event_id() > ids[-1]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    assert event_id_time_ms(ids[0]) == 1_700_000_000_000
    assert event_id_time_ms(ids[-1]) >= 1_700_000_000_011
    with pytest.raises(EnvelopeError, match="not a UUID version 7"):
        event_id_time_ms("not-an-id")


@pytest.mark.parametrize(
    ("details", "message"),
    [
        ({"price": 1.5}, "values are str, int, bool, not float"),
        ({"user": None}, "not NoneType"),
        ({"bad-key": 1}, "keywords are Python identifiers"),
        ({"traceparent": "x"}, "keywords are Python identifiers other than"),
    ],
)
def test_details_that_cannot_travel_are_refused(details, message):
    with pytest.raises(EnvelopeError, match=message):
        seal({}, details)


def test_a_payload_that_is_not_json_is_refused():
    with pytest.raises(EnvelopeError, match="JSON values"):
        to_message(seal(object()))
    with pytest.raises(EnvelopeError, match="JSON values"):
        MemoryTransport().publish(float("nan"))


def test_idempotency_keys_and_trace_context_are_checked():
    with pytest.raises(EnvelopeError, match="idempotency key"):
        seal({}, idempotency_key="")
    with pytest.raises(EnvelopeError, match="trace context"):
        seal({}, trace_context={"baggage": "x"})
    assert seal({}, idempotency_key="k-1").completion_key == "k-1"
    plain = seal({})
    assert plain.completion_key == plain.event_id


def test_a_message_from_elsewhere_is_read_by_the_documented_rules():
    """
    Headers that are identifiers are details; the broker's x- headers and
    the envelope's own hyphenated ones are not; floats from other clients
    are accepted; bytes header values from some clients are read as text.
    """
    message = Message(
        "id-1",
        {
            "kind": "order",
            "amount": 2.5,
            "x-delivery-count": 3,
            "idempotency-key": b"k",
            "published-at-ms": 7,
        },
        b'{"n": 1}',
        timestamp=5,
    )
    envelope = from_message(message)
    assert envelope.details == {"kind": "order", "amount": 2.5}
    assert (envelope.idempotency_key, envelope.published_at_ms, envelope.payload) == ("k", 7, {"n": 1})
    assert from_message(Message("id-2", {}, b"1", timestamp=5)).published_at_ms == 5000
    with_arguments = Message("id-3", {"kind": "order", "event-arguments": b'{"tags": ["a"]}'}, b"{}")
    assert from_message(with_arguments).arguments == {"tags": ["a"]}
    assert from_message(with_arguments).details == {"kind": "order"}


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (Message(None, {}, b"{}"), "no message_id"),
        (Message("i", {}, b"{", None), "not JSON"),
        (Message("i", {}, b"{}", None, "text/plain"), "content_type"),
        (Message("i", {"kind": [1]}, b"{}"), "cannot travel"),
        (Message("i", {"published-at-ms": "soon"}, b"{}"), "must be an integer"),
        (Message("i", {"event-arguments": "{"}, b"{}"), "'event-arguments' is not JSON"),
        (Message("i", {"event-arguments": "[1]"}, b"{}"), "must be a JSON object"),
        (Message("i", {"event-arguments": 3}, b"{}"), "must be a JSON object as UTF-8 text"),
        (Message("i", {"kind": "a", "event-arguments": '{"kind": "b"}'}, b"{}"), "different values"),
        (Message("i", {}, b"[" * 100_000), "not JSON"),
        # pika gives a header name that is not UTF-8 as bytes
        (Message("i", {b"\xff\xfe": "x", "kind": "a"}, b"{}"), r"header name b'\\xff\\xfe' is not UTF-8"),
        (Message("i", {"kind": "a", b"\xff": 1}, b"{}"), r"header name b'\\xff' is not UTF-8"),
    ],
)
def test_invalid_messages_are_refused_with_the_reason(message, error):
    with pytest.raises(EnvelopeError, match=error):
        from_message(message)


@pytest.mark.parametrize(
    "body",
    [
        '{"n":"é"}'.encode(),
        '\ufeff{"n":"é"}'.encode(),  # a byte-order mark, as json.loads reads it
        '{"n":"é"}'.encode("utf-16"),  # another encoding json.loads recognises
    ],
)
def test_a_body_reads_as_json_loads_reads_it(body):
    envelope = from_message(Message("i", {}, body))
    assert envelope.payload == json.loads(body) == {"n": "é"}


def test_a_body_that_is_not_utf_8_is_refused():
    with pytest.raises(EnvelopeError, match="not JSON in UTF-8"):
        from_message(Message("i", {}, b'{"n":"\xff"}'))
