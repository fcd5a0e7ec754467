"""
Tests for handler registrations: ids, removal and weak references.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

import pytest
from support import failure_of, result_of

from twisted_event_dispatcher import (
    EventDispatcher,
    HandlerId,
    NotWeakReferenceableError,
    UnhashableValueError,
    UnknownHandlerError,
    UnknownKeywordError,
)
from twisted_event_dispatcher._matching import SpecIndex


class Subscriber:
    """
    A dummy object whose bound method is a handler.
    """

    def __init__(self, calls: list[object]) -> None:
        self.calls = calls

    def user_created(self, event: object) -> None:
        self.calls.append(event)


class SlottedCallable:
    """
    A callable that cannot be weakly referenced (no __weakref__ slot).
    """

    __slots__ = ()

    def __call__(self, event: object) -> None:
        pass


# Ids


def test_ids_are_unique_hashable_and_readable(dispatcher: EventDispatcher) -> None:
    def notify_admin(event: object) -> None:
        pass

    other = EventDispatcher(("role",))
    first = result_of(dispatcher.add_event_handler(notify_admin, "during", role="admin"))
    second = dispatcher.register(notify_admin, "after")
    third = other.register(notify_admin, "during", match={"role": "admin"})
    assert len({first, second, third}) == 3
    assert first == first and first != second
    assert isinstance(first, HandlerId)
    assert "notify_admin" in repr(first) and "during" in repr(first) and "role='admin'" in repr(first)
    assert first.phase == "during" and first.match_spec == {"role": "admin"}
    assert first.label == "notify_admin"
    assert first.handler() is notify_admin


def test_ids_are_never_reused(dispatcher: EventDispatcher) -> None:
    """
    Unlike id(), an id is not handed out again after its handler is removed.
    """

    def handler(event: object) -> None:
        pass

    seen = set()
    for _ in range(50):
        handler_id = dispatcher.register(handler, "during")
        assert handler_id not in seen
        seen.add(handler_id)
        dispatcher.unregister(handler_id)
        del handler_id
        gc.collect()


def test_multi_keyword_spec_is_shown_in_the_id(dispatcher: EventDispatcher) -> None:
    handler_id = dispatcher.register(print, "during", match={"user": "bob", "role": "admin"})
    assert handler_id.match_spec == {"user": "bob", "role": "admin"}
    assert repr(handler_id).endswith("during role='admin' user='bob'>")


def test_a_refused_spec_of_several_keywords_takes_no_id(dispatcher: EventDispatcher) -> None:
    """
    A spec of several keywords is refused for an unknown keyword before an
    unhashable value, names its first unhashable value, and takes no id:
    the registrations around it are numbered one after the other.
    """
    before = dispatcher.register(print, "during")
    with pytest.raises(UnknownKeywordError):
        dispatcher.register(print, "during", match={"user": ["bob"], "rolle": "admin"})
    with pytest.raises(UnhashableValueError, match="'role' in match-spec must be hashable"):
        dispatcher.register(print, "during", match={"role": ["admin"], "user": ["bob"]})
    after = dispatcher.register(print, "during")
    assert after.order_key[1] == before.order_key[1] + 1


def test_a_plain_handler_meets_and_unmeets_a_requirement(dispatcher: EventDispatcher) -> None:
    """
    A plain registration (no options) tells the phase it changed while the
    phase has requirements to check: one that names it is met from the
    next fire, and unmet again once it is removed.
    """
    calls: list[str] = []

    def later(event: object) -> None:
        calls.append("later")

    waits = dispatcher.register(lambda event: calls.append("waits"), "during", requires={"later"})
    assert dispatcher.unmet_requirements() == {waits: frozenset({"later"})}
    plain = result_of(dispatcher.add_event_handler(later, "during"))
    assert dispatcher.unmet_requirements() == {}
    dispatcher.unregister(plain)
    assert dispatcher.unmet_requirements() == {waits: frozenset({"later"})}
    dispatcher.fire_event("e")
    plain = dispatcher.register(later, "during")
    dispatcher.fire_event("e")
    dispatcher.unregister(plain)
    dispatcher.fire_event("e")
    assert calls == ["waits", "later", "waits", "waits"]


def test_removed_handler_is_not_called(dispatcher: EventDispatcher) -> None:
    calls: list[object] = []
    handler_id = dispatcher.register(calls.append, "during", use_weakref=False)
    assert result_of(dispatcher.remove_event_handler(handler_id)) is None
    dispatcher.fire_event("e")
    assert calls == []
    assert handler_id.handler() is None
    assert dispatcher.handler_ids() == []


@pytest.mark.parametrize("stranger", ["not an id", 42, None])
def test_removing_something_that_is_not_an_id_names_it(dispatcher: EventDispatcher, stranger: Any) -> None:
    with pytest.raises(UnknownHandlerError) as raised:
        dispatcher.unregister(stranger)
    assert isinstance(raised.value, LookupError)
    assert repr(stranger) in str(raised.value)


def test_removing_twice_fails_naming_the_id(dispatcher: EventDispatcher) -> None:
    handler_id = dispatcher.register(print, "during")
    dispatcher.unregister(handler_id)
    failure = failure_of(dispatcher.remove_event_handler(handler_id))
    assert failure.check(UnknownHandlerError)
    assert repr(handler_id) in failure.getErrorMessage()
    with pytest.raises(LookupError):
        dispatcher.unregister(handler_id)


def test_removing_an_id_of_another_dispatcher_fails(dispatcher: EventDispatcher) -> None:
    other = EventDispatcher(("user", "role", "event_type"))
    handler_id = other.register(print, "during", match={"role": "admin"})
    dispatcher.register(print, "during", match={"role": "admin"})
    with pytest.raises(UnknownHandlerError):
        dispatcher.unregister(handler_id)
    other.unregister(handler_id)


@pytest.mark.parametrize(
    "options",
    [{}, {"priority": 1}, {"times": 2}],
    ids=["plain (unregister's own road)", "with priority", "with times"],
)
def test_unregister_refuses_an_id_removed_or_of_another_dispatcher(
    dispatcher: EventDispatcher, options: dict[str, Any]
) -> None:
    """
    A plain registration is unfiled by unregister itself, one with options
    by the registry's general removal: both refuse the same ids.
    """
    other = EventDispatcher(("user", "role", "event_type"))
    foreign = other.register(print, "during", match={"role": "admin"}, **options)
    dispatcher.register(print, "during", match={"role": "admin"}, **options)
    with pytest.raises(UnknownHandlerError):
        dispatcher.unregister(foreign)
    assert other.handler_ids() == [foreign]
    mine = dispatcher.register(print, "during", match={"role": "user"}, **options)
    dispatcher.unregister(mine)
    with pytest.raises(UnknownHandlerError):
        dispatcher.unregister(mine)
    assert mine not in dispatcher.handler_ids()
    assert len(dispatcher.handler_ids()) == 1


def test_handler_ids_lists_registrations_in_order(dispatcher: EventDispatcher) -> None:
    after = dispatcher.register(print, "after")
    during = dispatcher.register(print, "during", match={"role": "admin"})
    before = dispatcher.register(print, "before")
    wild = dispatcher.register(repr, "during")
    assert dispatcher.handler_ids() == [before, during, wild, after]
    assert dispatcher.handler_ids("during") == [during, wild]


# Weak references


def test_collected_function_disappears(dispatcher: EventDispatcher, logs: list[dict[str, Any]]) -> None:
    calls: list[object] = []

    def handler(event: object) -> None:
        calls.append(event)

    handler_id = dispatcher.register(handler, "during", use_weakref=True)
    dispatcher.fire_event("first")
    del handler
    gc.collect()
    dispatcher.fire_event("second")
    assert calls == ["first"]
    assert dispatcher.handler_ids() == []
    with pytest.raises(UnknownHandlerError):
        dispatcher.unregister(handler_id)
    assert any(event.get("handler_id") is handler_id for event in logs)


def test_collection_in_another_thread_leaves_the_index_to_the_dispatcher(
    dispatcher: EventDispatcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """
    The last reference to a handler may be dropped in any thread (or at any
    garbage collection); the index is only ever changed by the dispatcher's
    own calls, in the thread that makes them.
    """
    changed_in: list[str] = []

    def spied(name: str) -> None:
        original = getattr(SpecIndex, name)

        def spy(index: SpecIndex[Any], *args: Any) -> bool:
            changed_in.append(threading.current_thread().name)
            return bool(original(index, *args))

        monkeypatch.setattr(SpecIndex, name, spy)

    spied("remove")  # a registration filed several times
    spied("remove_one")  # a plain one
    box: list[Any] = [Subscriber([])]
    dispatcher.register(box[0].user_created, "during")

    def drop() -> None:
        box.clear()
        gc.collect()

    worker = threading.Thread(target=drop, name="worker")
    worker.start()
    worker.join()
    assert changed_in == []
    assert dispatcher.handler_ids() == []
    assert changed_in == [threading.current_thread().name]


def test_collected_instance_removes_its_bound_method(dispatcher: EventDispatcher) -> None:
    calls: list[object] = []
    subscriber = Subscriber(calls)
    dispatcher.register(subscriber.user_created, "during", match={"event_type": "user_created"})
    dispatcher.fire_event("first", event_type="user_created")
    del subscriber
    gc.collect()
    dispatcher.fire_event("second", event_type="user_created")
    assert calls == ["first"]
    assert dispatcher.handler_ids() == []


def test_strongly_held_handler_survives(dispatcher: EventDispatcher) -> None:
    calls: list[object] = []
    dispatcher.register(lambda event: calls.append(event), "during", use_weakref=False)
    gc.collect()
    dispatcher.fire_event("e")
    assert calls == ["e"]


def test_callable_without_weak_references_is_refused_with_advice(dispatcher: EventDispatcher) -> None:
    with pytest.raises(NotWeakReferenceableError) as raised:
        dispatcher.register(SlottedCallable(), "during", use_weakref=True)
    assert isinstance(raised.value, TypeError)
    assert "use_weakref=False" in str(raised.value)
    assert dispatcher.handler_ids() == []
    dispatcher.register(SlottedCallable(), "during", use_weakref=False)


def test_bound_builtin_method_is_held_through_its_owner(dispatcher: EventDispatcher) -> None:
    """
    ``owner.method`` of a builtin type is a new object at each access: the
    owner is what is weakly held, so the registration lives as long as it.
    """

    class Seen(set[object]):
        pass

    seen = Seen()
    dispatcher.register(seen.add, "during", use_weakref=True)
    gc.collect()
    dispatcher.fire_event("e")
    assert seen == {"e"}
    del seen
    gc.collect()
    assert dispatcher.handler_ids() == []


def test_bound_builtin_method_of_an_unreferenceable_owner_is_refused(dispatcher: EventDispatcher) -> None:
    calls: list[object] = []
    with pytest.raises(NotWeakReferenceableError, match="use_weakref=False"):
        dispatcher.register(calls.append, "during", use_weakref=True)


def test_handler_collected_mid_dispatch_is_not_called(dispatcher: EventDispatcher) -> None:
    """
    A handler whose instance dies while an event is in flight is not started
    in a later phase.
    """
    calls: list[object] = []
    holder = [Subscriber(calls)]
    dispatcher.register(lambda event: holder.clear(), "before", use_weakref=False)
    dispatcher.register(holder[0].user_created, "after")
    dispatcher.fire_event("e")
    assert calls == []


def test_match_specs_lists_every_alternative(dispatcher):
    """
    match_specs gives each alternative of a handler's spec (match_spec only
    the first); a plain handler has its one spec.
    """
    from twisted_event_dispatcher import any_of

    def handler(event):
        return None

    plain = dispatcher.register(handler, "during", match={"user": "bob"})
    several = dispatcher.register(
        handler, "during", match=[{"user": "bob"}, {"role": any_of("admin", "owner")}]
    )
    assert plain.match_specs == ({"user": "bob"},)
    assert several.match_specs[0] == {"user": "bob"}
    assert several.match_specs[1]["role"].values == frozenset({"admin", "owner"})
    assert len(several.match_specs) == 2
