"""
Property tests: the dispatcher against a brute-force model of matching and
phase order, under random handler sets, specs, delays and failures.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from support import result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater

from twisted_event_dispatcher import EventDispatcher

KEYWORDS = ("kind", "user")
VALUES = st.sampled_from(["a", "b", 1])
PHASE_NAMES = st.lists(st.sampled_from(["p", "q", "r", "s", "t"]), min_size=1, max_size=4, unique=True)
# A handler: (phase position, spec, delay or None for synchronous, fails).
HANDLER = st.tuples(
    st.integers(min_value=0, max_value=3),
    st.dictionaries(st.sampled_from(KEYWORDS), VALUES | st.none(), max_size=2),
    st.none() | st.integers(min_value=0, max_value=3),
    st.booleans(),
)


def model_matches(spec: dict[str, Any], details: dict[str, Any]) -> bool:
    return all(key in details and details[key] == value for key, value in spec.items() if value is not None)


@settings(deadline=None, max_examples=200)
@given(
    phases=PHASE_NAMES,
    handlers=st.lists(HANDLER, max_size=12),
    details=st.dictionaries(st.sampled_from(KEYWORDS), VALUES, max_size=2),
)
def test_dispatch_agrees_with_the_model(
    phases: list[str], handlers: list[tuple[int, dict[str, Any], int | None, bool]], details: dict[str, Any]
) -> None:
    """
    Exactly the matching handlers run; phases run in order, each starting only
    after every handler of the phase before has finished; within a phase
    handlers start in registration order; failures are recorded, not raised.
    """
    clock = Clock()
    dispatcher = EventDispatcher(KEYWORDS, phases)
    dispatcher.start()
    log: list[tuple[str, int, float]] = []
    expected: list[int] = []

    def make(number: int, delay: int | None, fails: bool) -> Any:
        def finish() -> int:
            log.append(("finish", number, clock.seconds()))
            if fails:
                raise RuntimeError(number)
            return number

        def handler(event: object) -> Deferred[int] | int:
            log.append(("start", number, clock.seconds()))
            if delay is None:
                return finish()
            return deferLater(clock, delay, finish)

        return handler

    for number, (position, spec, delay, fails) in enumerate(handlers):
        phase = phases[position % len(phases)]
        dispatcher.register(make(number, delay, fails), phase, match=spec, use_weakref=False)
    for position in range(len(phases)):
        for number, (where, spec, _, _) in enumerate(handlers):
            if where % len(phases) == position and model_matches(spec, details):
                expected.append(number)

    fired = dispatcher.fire_event("event", **details)
    clock.pump([1] * 20)
    result = result_of(fired)

    starts = [number for what, number, _ in log if what == "start"]
    assert starts == expected
    assert [outcome.handler_id.phase for outcome in result] == [
        phases[handlers[number][0] % len(phases)] for number in expected
    ]
    failed = {number for number in expected if handlers[number][3]}
    assert len(result.failures) == len(failed)
    assert sorted(v for v in result.values if isinstance(v, int)) == sorted(set(expected) - failed)
    finish_time = {number: when for what, number, when in log if what == "finish"}
    start_time = {number: when for what, number, when in log if what == "start"}
    for earlier in expected:
        for later in expected:
            before = handlers[earlier][0] % len(phases) < handlers[later][0] % len(phases)
            if before:
                assert finish_time[earlier] <= start_time[later]
