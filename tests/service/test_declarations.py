"""
Declared events: declarations, the registration-time signature check, and
firing with exactly the declared arguments.
"""

from __future__ import annotations

import types

import pytest
from service_helpers import result_of

from twisted_event_dispatcher import DispatcherError, UnhashableValueError, UnknownKeywordError
from twisted_event_dispatcher.declarations import (
    DeclaredDispatcher,
    EventArgumentsError,
    EventCall,
    EventDeclaration,
    SignatureMismatchError,
    UnknownEventError,
    declarations_in,
    declare_event,
)


@declare_event(keywords=["kettle"])
def kettle_on(kettle, power):
    """Called immediately before a kettle is turned on."""


@declare_event
def kettle_off(kettle):
    """Called after a kettle has been turned off."""


def started(*declarations: EventDeclaration, **options) -> DeclaredDispatcher:
    declared = DeclaredDispatcher(declarations or (kettle_on, kettle_off), **options)
    declared.start()
    return declared


def test_declare_event_reads_name_arguments_and_doc_from_the_spec():
    """The spec function's name, parameters and docstring make the declaration."""
    assert kettle_on == EventDeclaration(
        "kettle_on", ("kettle", "power"), ("kettle",), "Called immediately before a kettle is turned on."
    )
    assert kettle_off.keywords == ()


def test_declare_event_refuses_variadic_spec():
    """A spec must name every argument: *args and **kwargs say nothing."""
    with pytest.raises(TypeError, match=r"\['extra'\] are positional-only or variadic"):

        @declare_event
        def vague(kettle, **extra):
            pass


@pytest.mark.parametrize(
    ("arguments", "keywords", "message"),
    [
        (("a", "a"), (), "distinct"),
        (("a", "not valid"), (), "identifiers"),
        (("a",), ("b",), r"keywords \['b'\] of event 'e' are not among its arguments"),
        (("event",), ("event",), "cannot match on 'event'"),
    ],
)
def test_declaration_refuses_bad_names(arguments, keywords, message):
    """Arguments are distinct identifiers; keywords are among them and not 'event'."""
    with pytest.raises(ValueError, match=message):
        EventDeclaration("e", arguments, keywords)


def test_declarations_in_collects_a_modules_declarations_in_order():
    """A hookspec module's declarations are found without listing them."""
    module = types.ModuleType("specs")
    module.first, module.other, module.second = kettle_off, object(), kettle_on
    assert declarations_in(module) == [kettle_off, kettle_on]


def test_dispatcher_keywords_come_from_the_declarations():
    """The dispatcher underneath allows 'event' plus every declared keyword."""
    declared = DeclaredDispatcher([kettle_on, kettle_off], ("only",), handler_errors="fail")
    assert declared.dispatcher.allowed_match_spec_keywords == {"event", "kettle"}
    assert declared.dispatcher.phases == ("only",)


def test_two_declarations_of_one_name_are_refused():
    with pytest.raises(ValueError, match="event 'kettle_on' is declared twice"):
        DeclaredDispatcher([kettle_on, kettle_on])


def test_handlers_get_the_arguments_they_name():
    """Handlers are called with keywords, and may take a subset, as with pluggy."""
    declared = started()
    seen = []
    declared.register(lambda kettle, power: seen.append(("both", kettle, power)), "during", "kettle_on")
    declared.register(lambda power: seen.append(("power", power)), "during", "kettle_on")
    declared.register(lambda **every: seen.append(("all", every)), "during", "kettle_on")
    declared.register(lambda: seen.append("none"), "after", "kettle_on")
    result = result_of(declared.fire("kettle_on", kettle="k1", power=3000))
    assert seen == [
        ("both", "k1", 3000),
        ("power", 3000),
        ("all", {"kettle": "k1", "power": 3000}),
        "none",
    ]
    assert result.event == EventCall("kettle_on", {"kettle": "k1", "power": 3000})
    assert result.details == {"event": "kettle_on", "kettle": "k1"}


def test_handlers_see_only_their_event_and_match():
    """A handler is for one declared event, and may match on its keywords."""
    declared = started()
    seen = []
    declared.register(lambda kettle: seen.append(("off", kettle)), "during", "kettle_off")
    declared.register(
        lambda kettle: seen.append(("k2", kettle)), "during", "kettle_on", match={"kettle": "k2"}
    )
    result_of(declared.fire("kettle_on", kettle="k1", power=1))
    result_of(declared.fire("kettle_on", kettle="k2", power=1))
    result_of(declared.fire("kettle_off", kettle="k1"))
    assert seen == [("k2", "k2"), ("off", "k1")]


def test_handler_requiring_an_undeclared_argument_is_refused_at_registration():
    """The error names the handler, the event and the mismatch."""
    declared = started()

    def boil(kettle, temperature):
        pass

    with pytest.raises(SignatureMismatchError) as raised:
        declared.register(boil, "during", "kettle_off")
    error = raised.value
    assert (error.handler, error.event) == ("boil", "kettle_off")
    assert str(error).startswith(
        "handler boil cannot handle declared event 'kettle_off': "
        "it requires argument 'temperature', which the event does not declare"
    )
    assert isinstance(error, TypeError)
    assert isinstance(error, DispatcherError)
    assert declared.dispatcher.handler_ids() == []


def test_handler_with_a_default_for_an_undeclared_argument_is_accepted():
    """An argument the event does not declare is fine if the handler has a default."""
    declared = started()
    seen = []
    declared.register(lambda kettle, unit="W": seen.append((kettle, unit)), "during", "kettle_off")
    result_of(declared.fire("kettle_off", kettle="k"))
    assert seen == [("k", "W")]


def test_handler_with_positional_only_parameter_is_refused():
    declared = started()

    def by_position(kettle, /):
        pass

    with pytest.raises(SignatureMismatchError, match="'kettle' is positional-only"):
        declared.register(by_position, "during", "kettle_off")


def test_bound_methods_are_checked_without_self():
    declared = started()
    seen = []

    class Kettles:
        def off(self, kettle):
            seen.append(kettle)

    declared.register(Kettles().off, "during", "kettle_off")
    result_of(declared.fire("kettle_off", kettle="k"))
    assert seen == ["k"]


def test_registering_for_an_undeclared_event_is_refused():
    declared = started()
    with pytest.raises(UnknownEventError, match=r"event 'kettle_of' is not declared; declared events are"):
        declared.register(lambda kettle: None, "during", "kettle_of")


def test_match_on_a_keyword_the_event_does_not_declare_is_refused():
    declared = started()
    with pytest.raises(ValueError, match=r"match keywords \['power'\] are not keywords of event 'kettle_on'"):
        declared.register(lambda: None, "during", "kettle_on", match={"power": 1})
    with pytest.raises(ValueError, match="cannot set 'event'"):
        declared.register(lambda: None, "during", "kettle_on", match={"event": "kettle_off"})


def test_use_weakref_is_refused_for_declared_handlers():
    declared = started()
    with pytest.raises(TypeError, match="held strongly"):
        declared.register(lambda: None, "during", "kettle_on", use_weakref=True)


def test_unknown_handler_options_reach_the_dispatcher():
    """Options are passed on: the dispatcher decides which it knows."""
    declared = started()
    with pytest.raises(TypeError, match="no_such_option"):
        declared.register(lambda: None, "during", "kettle_on", no_such_option=1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"kettle": "k"}, r"event 'kettle_on' fired with missing argument\(s\) 'power'$"),
        (
            {"kettle": "k", "power": 1, "colour": "red"},
            r"event 'kettle_on' fired with unexpected argument\(s\) 'colour'$",
        ),
        ({"power": 1, "pot": 2}, r"missing argument\(s\) 'kettle' and unexpected argument\(s\) 'pot'"),
    ],
)
def test_firing_with_missing_or_extra_arguments_is_refused(arguments, message):
    """Firing checks the arguments against the declaration; no handler runs."""
    declared = started()
    seen = []
    declared.register(lambda **every: seen.append(every), "during", "kettle_on")
    with pytest.raises(EventArgumentsError, match=message):
        declared.fire("kettle_on", **arguments)
    assert seen == []


def test_firing_an_undeclared_event_is_refused():
    with pytest.raises(UnknownEventError, match="'kettle_of' is not declared"):
        started().fire("kettle_of")


def test_keyword_values_must_be_hashable():
    """Only keywords are matched, so only they must be hashable."""
    declared = started()
    result_of(declared.fire("kettle_on", kettle="k", power=[1, 2]))
    with pytest.raises(UnhashableValueError, match="'kettle'"):
        declared.fire("kettle_on", kettle=["k"], power=1)


def test_plain_handlers_still_work_on_the_dispatcher_underneath():
    """Plain handlers see the EventCall and may match on the event's name."""
    declared = started()
    seen = []
    declared.dispatcher.register(seen.append, "before", match={"event": "kettle_off"}, use_weakref=False)
    result_of(declared.fire("kettle_off", kettle="k"))
    assert seen == [EventCall("kettle_off", {"kettle": "k"})]
    with pytest.raises(UnknownKeywordError):
        declared.dispatcher.register(seen.append, "before", match={"power": 1})


def test_declared_handler_given_a_plain_event_fails_clearly():
    """Firing a plain event at a declared handler is a handler failure that says what to do."""
    declared = started(handler_errors="fail")
    declared.register(lambda kettle: None, "during", "kettle_off")
    failure = declared.dispatcher.fire_event("not a call", event="kettle_off")
    error = []
    failure.addErrback(error.append)
    assert "fire declared events with DeclaredDispatcher.fire()" in str(error[0].value)


def test_stop_and_running_follow_the_dispatcher_underneath():
    declared = started()
    assert declared.running
    assert result_of(declared.stop()) is None
    assert not declared.running
    assert not declared.dispatcher.running


def test_arguments_of_an_event_call_are_read_only():
    call = EventCall("kettle_off", {"kettle": "k"})
    with pytest.raises(TypeError):
        call.arguments["kettle"] = "other"  # type: ignore[index]


def test_declaration_names_must_be_given_properly():
    with pytest.raises(TypeError, match="not the single string 'ab'"):
        EventDeclaration("e", "ab")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="an event's name must be a non-empty string, got ''"):
        EventDeclaration("", ())


def test_only_declarations_and_callables_are_accepted():
    with pytest.raises(TypeError, match="expected an EventDeclaration, got 'kettle_on'"):
        DeclaredDispatcher(["kettle_on"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="handler must be callable, got 3"):
        started().register(3, "during", "kettle_off")  # type: ignore[arg-type]


def test_a_handler_without_a_readable_signature_gets_every_argument():
    """Builtins such as dict have no signature to check; they are called with every argument."""
    declared = started()
    declared.register(dict, "during", "kettle_off")
    assert result_of(declared.fire("kettle_off", kettle="k")).values == ({"kettle": "k"},)


def test_unregister_removes_a_declared_handler():
    declared = started()
    seen = []
    handler_id = declared.register(lambda kettle: seen.append(kettle), "during", "kettle_off")
    declared.unregister(handler_id)
    result_of(declared.fire("kettle_off", kettle="k"))
    assert seen == []
    assert repr(declared).startswith(
        "<DeclaredDispatcher events=['kettle_off', 'kettle_on'] <EventDispatcher"
    )
