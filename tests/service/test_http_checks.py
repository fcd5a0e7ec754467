"""
The request checks and the JSON writing of the service, checked against
simple models: nesting depth, allowed hosts, and the encoder's fast path.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twisted_event_dispatcher._http_answers import ApiError
from twisted_event_dispatcher._http_checks import (
    FireRequest,
    _nests_deeper,
    allowed_hosts,
    parse_fire_request,
)
from twisted_event_dispatcher._json import dumps, jsonable, safe_repr

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)
    ),
    max_leaves=30,
)


def depth(value: object) -> int:
    """The model: how deep arrays and objects nest in a JSON value."""
    if isinstance(value, dict):
        return 1 + max(map(depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth, value), default=0)
    return 0


@given(json_values, st.integers(min_value=1, max_value=6))
def test_nesting_is_measured_as_the_model_does(value, limit):
    assert _nests_deeper([value], limit) == (depth([value]) > limit)


@given(json_values)
def test_events_up_to_the_limit_are_read_and_deeper_ones_refused(event):
    body = json.dumps({"event": event}).encode()
    if depth(event) <= 4:
        assert parse_fire_request(body, max_depth=4) == FireRequest(event, {}, {})
    else:
        with pytest.raises(ApiError) as refused:
            parse_fire_request(body, max_depth=4)
        assert (refused.value.status, refused.value.message) == (
            400,
            "the event nests arrays and objects deeper than 4 levels",
        )


def test_allowed_hosts_are_the_loopback_names_and_the_configured_ones_on_the_port():
    assert allowed_hosts(["api.example", "proxy:443"], 8080, None) == {
        b"localhost:8080",
        b"127.0.0.1:8080",
        b"[::1]:8080",
        b"api.example:8080",
        b"proxy:443",
    }
    assert b"localhost" in allowed_hosts([], 80, None)  # type: ignore[operator]
    assert b"10.0.0.5:8080" in allowed_hosts([], 8080, "10.0.0.5")  # type: ignore[operator]
    assert allowed_hosts(["*"], 8080, None) is None


@given(json_values)
def test_the_fast_encoder_writes_json_values_as_jsonable_does(value):
    assert json.loads(dumps(value)) == json.loads(json.dumps(jsonable(value)))


def test_the_encoder_falls_back_for_what_json_refuses():
    assert json.loads(dumps({1: float("nan"), "s": {3}})) == {"1": "nan", "s": [3]}
    assert dumps("\N{GRINNING FACE}") == '"\N{GRINNING FACE}"'  # not six escaped characters


def test_a_repr_of_a_deep_value_is_bounded_and_never_overflows():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    assert len(safe_repr(deep)) < 100
    assert json.loads(dumps({"value": deep}))  # no RecursionError


@given(json_values, st.sampled_from(["details", "arguments"]))
def test_details_and_arguments_nest_as_deep_as_the_event(value, field):
    """
    The same rule for each field (a value, not the object holding it, is
    measured), and the refusal names the field.
    """
    body = json.dumps({"event": value, field: {"x": value}}).encode()
    if depth(value) <= 4:
        assert getattr(parse_fire_request(body, max_depth=4), field) == {"x": value}
    else:
        with pytest.raises(ApiError) as refused:
            parse_fire_request(json.dumps({"event": 1, field: {"x": value}}).encode(), max_depth=4)
        what = "the detail 'x'" if field == "details" else "the argument 'x'"
        assert refused.value.message == f"{what} nests arrays and objects deeper than 4 levels"


def test_max_depth_two_takes_the_same_value_in_each_field():
    for body in (b'{"event": [[1]]}', b'{"event": 1, "arguments": {"x": [[1]]}}'):
        assert parse_fire_request(body, max_depth=2)
