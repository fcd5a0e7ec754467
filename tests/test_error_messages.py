"""
Bad input to the dispatcher's public API gets an error that names the
argument and what is wrong with the value given, whatever the dispatcher's
configuration.
"""

from __future__ import annotations

from typing import Any

import pytest
from twisted.internet.task import Clock

from twisted_event_dispatcher import EventDispatcher, HandlerOptions, Phase, UnknownKeywordError
from twisted_event_dispatcher.testing import RecordingDispatcher


def handler(event: object) -> None:
    pass


@pytest.fixture
def dispatcher() -> EventDispatcher:
    dispatcher = EventDispatcher(("role",), clock=Clock())
    dispatcher.start()
    return dispatcher


# register(match=...)


@pytest.mark.parametrize(
    ("match", "message"),
    [
        ("role", r"not the single string 'role'"),
        (b"role", r"not the single string b'role'"),
        (5, r"got int 5"),
    ],
)
def test_a_match_that_is_no_mapping_nor_sequence_is_named(
    dispatcher: EventDispatcher, match: object, message: str
) -> None:
    with pytest.raises(
        TypeError, match=f"^match must be a mapping, a MatchSpec or a sequence of them, {message}$"
    ):
        dispatcher.register(handler, "during", match=match)  # type: ignore[arg-type]
    assert dispatcher.handler_ids() == []


def test_a_bad_alternative_in_a_sequence_is_named(dispatcher: EventDispatcher) -> None:
    with pytest.raises(
        TypeError, match=r"^each match alternative must be a mapping or a MatchSpec, got 'role'$"
    ):
        dispatcher.register(handler, "during", match=[{"role": "a"}, "role"])  # type: ignore[list-item]


# register(requires=..., required_by=...)


@pytest.mark.parametrize("option", ["requires", "required_by"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (5, r"must be a handler name or an iterable of handler names, got int 5"),
        (None, r"must be a handler name or an iterable of handler names, got NoneType None"),
        (b"prep", r"must name handlers by str, got bytes b'prep'"),
        (["prep", 3], r"must name handlers by str, got int 3"),
    ],
)
def test_bad_order_constraints_are_named(
    dispatcher: EventDispatcher, option: str, value: object, message: str
) -> None:
    with pytest.raises(TypeError, match=f"^{option} {message}$"):
        dispatcher.register(handler, "during", **{option: value})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=f"^{option} {message}$"):
        HandlerOptions(**{option: value})  # type: ignore[arg-type]


def test_one_string_is_one_handler_name() -> None:
    """
    The documented short form: ``requires="prep"`` names one handler, not
    the handlers 'p', 'r', 'e' and 'p'.
    """
    options = HandlerOptions(requires="prep", required_by="publish")
    assert options.requires == frozenset({"prep"})
    assert options.required_by == frozenset({"publish"})


# register(**options)


def test_a_match_spec_keyword_given_to_register_is_named(dispatcher: EventDispatcher) -> None:
    with pytest.raises(
        TypeError,
        match=(
            r"^register\(\) has no option 'role': match-spec keywords go in "
            r"match=\{'role': 'admin'\} \(add_event_handler takes them as keyword arguments\); "
            r"its options are 'errors', 'idempotent', "
        ),
    ):
        dispatcher.register(handler, "during", role="admin")  # type: ignore[call-arg]
    assert dispatcher.handler_ids() == []


def test_several_unknown_options_are_all_named(dispatcher: EventDispatcher) -> None:
    with pytest.raises(TypeError, match=r"has no options 'role', 'user': .* match=\{'role': 1, 'user': 2\}"):
        dispatcher.register(handler, "during", user=2, role=1, priority=3)  # type: ignore[call-arg]


def test_a_bad_value_of_a_known_option_keeps_its_own_message(dispatcher: EventDispatcher) -> None:
    with pytest.raises(TypeError, match=r"^priority must be an int, got 'high'$"):
        dispatcher.register(handler, "during", priority="high")  # type: ignore[arg-type]


# fire(details)


def _dispatchers() -> list[Any]:
    return [
        pytest.param({}, id="plain"),
        pytest.param({"max_in_flight": 2}, id="max_in_flight"),
        pytest.param({"nested": "queue"}, id="nested-queue"),
    ]


@pytest.mark.parametrize("configuration", _dispatchers())
@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="no-options"),
        pytest.param({"fire_id": "f-1"}, id="fire_id"),
        pytest.param({"arguments": {"x": 1}}, id="arguments"),
        pytest.param({"nested": "immediate"}, id="nested"),
    ],
)
@pytest.mark.parametrize("recording", [False, True], ids=["dispatcher", "recording"])
def test_a_detail_keyword_that_is_no_string_gets_the_same_error_everywhere(
    configuration: dict[str, Any], options: dict[str, Any], recording: bool
) -> None:
    make = RecordingDispatcher if recording else EventDispatcher
    dispatcher = make(("role",), clock=Clock(), **configuration)
    dispatcher.start()
    with pytest.raises(UnknownKeywordError, match=r"^unknown keyword\(s\) 1 in fired event details; "):
        dispatcher.fire("e", {1: "x"}, **options)  # type: ignore[dict-item]
    with pytest.raises(UnknownKeywordError, match=r"^unknown keyword\(s\) 1, 'zz' in fired event details; "):
        dispatcher.fire("e", {"zz": "y", 1: "x"}, **options)  # type: ignore[dict-item]


@pytest.mark.parametrize("configuration", _dispatchers())
@pytest.mark.parametrize(
    ("options", "message"),
    [
        pytest.param({"arguments": {2: "y"}}, r"^argument names must be strings, got int 2$", id="arguments"),
        pytest.param(
            {"ledger": "ledger"}, r"^ledger must provide IHandlerLedger, got 'ledger'$", id="ledger"
        ),
    ],
)
def test_bad_options_are_named_before_the_details_on_every_road(
    configuration: dict[str, Any], options: dict[str, Any], message: str
) -> None:
    """
    As before, the arguments and options of a fire are checked before its
    details: their errors stand when the details have a bad keyword too.
    """
    dispatcher = EventDispatcher(("role",), clock=Clock(), **configuration)
    dispatcher.start()
    for details in ({1: "x"}, {"unknown": "x"}):
        with pytest.raises(TypeError, match=message):
            dispatcher.fire("e", details, **options)  # type: ignore[arg-type]


def test_a_detail_keyword_that_is_no_string_is_refused_by_a_stopped_dispatcher_too() -> None:
    dispatcher = EventDispatcher(("role",), clock=Clock())
    with pytest.raises(UnknownKeywordError, match=r"^unknown keyword\(s\) 1 in fired event details; "):
        dispatcher.fire("e", {1: "x"})  # type: ignore[dict-item]


@pytest.mark.parametrize("configuration", _dispatchers())
@pytest.mark.parametrize(
    ("details", "shown"),
    [("role", "str 'role'"), ([("role", "admin")], r"list \[\('role', 'admin'\)\]"), (5, "int 5")],
)
def test_details_that_are_no_mapping_are_named(
    configuration: dict[str, Any], details: object, shown: str
) -> None:
    dispatcher = EventDispatcher(("role",), clock=Clock(), **configuration)
    dispatcher.start()
    with pytest.raises(TypeError, match=f"^details must be a mapping of keywords to values, got {shown}$"):
        dispatcher.fire("e", details)  # type: ignore[arg-type]


# EventDispatcher(allowed_match_spec_keywords, phases)


@pytest.mark.parametrize("phases", [None, 5])
def test_phases_that_are_no_sequence_are_named(phases: object) -> None:
    with pytest.raises(
        TypeError, match=f"^phases must be a sequence of names, got {type(phases).__name__} {phases!r}$"
    ):
        EventDispatcher(("k",), phases=phases)  # type: ignore[arg-type]


@pytest.mark.parametrize("keywords", [None, 5])
def test_keywords_that_are_no_sequence_are_named(keywords: object) -> None:
    with pytest.raises(
        TypeError,
        match=(
            "^allowed_match_spec_keywords must be a sequence of names, "
            f"got {type(keywords).__name__} {keywords!r}$"
        ),
    ):
        EventDispatcher(keywords)  # type: ignore[arg-type]


def test_an_empty_phase_name_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^phases must be non-empty strings, got ''$"):
        EventDispatcher(("k",), phases=["before", ""])
    with pytest.raises(ValueError, match=r"^a phase's name must be a non-empty string, got ''$"):
        Phase("")


def test_a_phase_name_that_is_no_string_is_refused() -> None:
    with pytest.raises(TypeError, match=r"^phases must be strings, got int 3$"):
        EventDispatcher(("k",), phases=["before", 3])  # type: ignore[list-item]
    with pytest.raises(TypeError, match=r"^a phase's name must be a non-empty string, got int 3$"):
        Phase(3)  # type: ignore[arg-type]
