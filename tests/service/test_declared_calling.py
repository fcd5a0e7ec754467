"""
How a declared event calls its handlers: its arguments that are not
keywords are never matched on (so they may have any value), and a
declaration may ask for pluggy's ``firstresult`` and LIFO order; checked
against a reference model too.
"""

from __future__ import annotations

import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from service_helpers import result_of
from twisted.internet.defer import Deferred

from twisted_event_dispatcher.config import ConfigError, parse_config
from twisted_event_dispatcher.declarations import (
    DeclaredDispatcher,
    EventCall,
    EventDeclaration,
    declare_event,
)


@declare_event(keywords=["kind"], first_result=True, lifo=True)
def pick(kind, tags):
    """Choose something for ``tags``: the newest plugin that has an opinion wins."""


def started(*declarations: EventDeclaration) -> DeclaredDispatcher:
    declared = DeclaredDispatcher(declarations)
    declared.start()
    return declared


def test_declare_event_takes_first_result_and_lifo():
    """The decorator form records both choices; by default neither is made."""
    assert (pick.first_result, pick.lifo) == (True, True)
    assert EventDeclaration("e", ("a",)).first_result is False
    assert EventDeclaration("e", ("a",)).lifo is False
    with pytest.raises(TypeError, match="'first_result' must be <class 'bool'>"):
        EventDeclaration("e", ("a",), first_result="yes")


def test_arguments_that_are_not_keywords_are_never_matched_on():
    """Unhashable values pass: they travel in the EventCall, and only the keywords are details."""
    declared = started(EventDeclaration("ship", ("order", "lines"), ("order",)))
    got = []
    declared.register(lambda lines: got.append(lines), "during", "ship")
    lines = [{"sku": "a"}, ["b"]]
    result = result_of(declared.fire("ship", order=7, lines=lines))
    assert got == [lines]
    assert result.details == {"event": "ship", "order": 7}
    assert result.event == EventCall("ship", {"order": 7, "lines": lines})


def test_first_result_stops_at_the_first_answer_in_the_phases_order():
    """Handlers run one at a time; the first answer other than None ends the fire, later phases too."""
    declared = started(EventDeclaration("choose", ("tags",), first_result=True))
    called = []

    def answering(name, value):
        def handler(tags):
            called.append(name)
            return value

        return handler

    declared.register(answering("none", None), "before", "choose")
    declared.register(answering("first", "a"), "during", "choose")
    declared.register(answering("second", "b"), "during", "choose")
    declared.register(answering("later", "c"), "after", "choose")
    result = result_of(declared.fire("choose", tags=[]))
    assert called == ["none", "first"]
    assert result.first_result() == "a"


def test_first_result_waits_for_an_answer_before_starting_the_next():
    """A handler answering later (a Deferred) is waited for before the next starts."""
    declared = started(EventDeclaration("choose", ("tags",), first_result=True))
    later: Deferred[object] = Deferred()
    called = []
    declared.register(lambda tags: later, "during", "choose")
    declared.register(lambda tags: called.append("second") or "b", "during", "choose")
    fired = declared.fire("choose", tags=[])
    assert called == [] and not fired.called
    later.callback(None)
    assert called == ["second"]
    assert result_of(fired).first_result() == "b"


def test_lifo_calls_the_last_registered_first_within_a_priority():
    """Priorities still come first; among equals the newest starts first; other events keep FIFO."""
    declared = started(EventDeclaration("stacked", ("x",), lifo=True), EventDeclaration("queued", ("x",)))
    order = []
    for name in ("a", "b", "c"):
        declared.register(lambda x, name=name: order.append(name), "during", "stacked")
        declared.register(lambda x, name=name: order.append(name), "during", "queued")
    declared.register(lambda x: order.append("urgent"), "during", "stacked", priority=5)
    result_of(declared.fire("stacked", x=1))
    result_of(declared.fire("queued", x=1))
    assert order == ["urgent", "c", "b", "a", "a", "b", "c"]


def test_the_events_table_takes_first_result_and_lifo():
    """[events.NAME] first_result and lifo are booleans, refused otherwise with the key named."""
    settings_ = parse_config(
        textwrap.dedent(
            """
            [events.pick]
            arguments = ["tags"]
            first_result = true
            lifo = true
            """
        ),
        "app.toml",
    )
    (declaration,) = settings_.events
    assert (declaration.first_result, declaration.lifo) == (True, True)
    with pytest.raises(ConfigError, match=r"events\.pick\.lifo: expected true or false"):
        parse_config("[events.pick]\narguments = ['tags']\nlifo = 'yes'", "app.toml")


# The reference model: pluggy's calling convention, worked out by hand.

handlers = st.lists(
    st.tuples(
        st.sampled_from(["during", "after"]), st.integers(-1, 1), st.one_of(st.none(), st.integers(0, 9))
    ),
    max_size=8,
)


def expected_calls(
    registered: list[tuple[str, int, int | None]], first_result: bool, lifo: bool
) -> tuple[list[int], object]:
    """
    Which handlers (by registration index) are called, in order, and the
    first answer: phase by phase, higher priority first, then registration
    order (reversed with ``lifo``); with ``first_result``, nothing after the
    first answer other than None.
    """
    calls: list[int] = []
    for phase in ("during", "after"):
        indexes = [i for i, (where, _, _) in enumerate(registered) if where == phase]
        indexes.sort(key=lambda i: (-registered[i][1], -i if lifo else i))
        for index in indexes:
            calls.append(index)
            answer = registered[index][2]
            if first_result and answer is not None:
                return calls, answer
    answers = [registered[i][2] for i in calls if registered[i][2] is not None]
    return calls, answers[0] if answers else None


@settings(deadline=None)
@given(handlers, st.booleans(), st.booleans())
def test_declared_events_call_handlers_as_the_model_says(registered, first_result, lifo):
    """Whatever the priorities and answers, the calls and the first answer are the model's."""
    declared = DeclaredDispatcher(
        [EventDeclaration("hook", ("x",), first_result=first_result, lifo=lifo)], phases=("during", "after")
    )
    declared.start()
    calls: list[int] = []
    for index, (phase, priority, answer) in enumerate(registered):

        def handler(x, index=index, answer=answer):
            calls.append(index)
            return answer

        declared.register(handler, phase, "hook", priority=priority)
    result = result_of(declared.fire("hook", x=object()))
    assert (calls, result.first_result()) == expected_calls(registered, first_result, lifo)
