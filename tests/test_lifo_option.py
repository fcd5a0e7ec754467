"""
``register(..., lifo=True)``: a handler that starts before those of its
priority registered earlier, as in a ``Phase(lifo=True)`` (what declared
events with ``lifo=True`` use).
"""

from __future__ import annotations

import pytest

from twisted_event_dispatcher import EventDispatcher, Phase


def calls(dispatcher: EventDispatcher, registrations: list[tuple[str, dict[str, object]]]) -> list[str]:
    seen: list[str] = []
    for name, options in registrations:
        dispatcher.register(lambda event, name=name: seen.append(name), "during", **options)
    dispatcher.start()
    dispatcher.fire_event("ping")
    return seen


@pytest.mark.parametrize("phase", ["during", Phase("during", lifo=True)])
def test_lifo_handlers_start_newest_first_before_the_others_of_their_priority(phase):
    """In a plain phase and in a LIFO phase alike, lifo handlers go newest first; priority still wins."""
    dispatcher = EventDispatcher((), phases=(phase,))
    seen = calls(
        dispatcher,
        [
            ("old", {"lifo": True}),
            ("new", {"lifo": True}),
            ("urgent", {"lifo": True, "priority": 1}),
        ],
    )
    assert seen == ["urgent", "new", "old"]


def test_lifo_handlers_start_before_fifo_handlers_of_the_same_priority():
    """Mixed in one phase: the lifo ones first (newest first), then the others in registration order."""
    dispatcher = EventDispatcher(())
    seen = calls(
        dispatcher,
        [("fifo1", {}), ("lifo1", {"lifo": True}), ("fifo2", {}), ("lifo2", {"lifo": True})],
    )
    assert seen == ["lifo2", "lifo1", "fifo1", "fifo2"]
