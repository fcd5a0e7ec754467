"""
Property tests of the handler model against small reference models: the
start order within a phase, alternative match-specs with predicates, N-times
handlers with events in flight, and the fast dispatch loop against the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import result_of
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock, deferLater
from twisted.logger import ILogObserver, LogEvent, globalLogPublisher
from twisted.python.failure import Failure
from zope.interface import implementer

from twisted_event_dispatcher import (
    AnyOf,
    EventContext,
    EventDispatcher,
    FireResult,
    HandlerFailed,
    HandlerId,
    HandlerOutcome,
    IFireMonitor,
    IHandlerLedger,
    IPhaseMonitor,
    MatchSpec,
    OrderingError,
    Phase,
    PhaseReport,
    StopPropagation,
    any_of,
)

# Ordering -------------------------------------------------------------------

NAMES = ("a", "b", "c", "d", "e")


def unique_label(fn: Callable[..., Any], label: str) -> Callable[..., Any]:
    """
    Give a test handler its own label (the name ordering sees when it has no
    ``name`` option), instead of the shared label of its closure.
    """
    fn.__name__ = fn.__qualname__ = label
    return fn


@st.composite
def acyclic_handlers(draw: st.DrawFn) -> list[dict[str, Any]]:
    """
    Handlers of one phase whose constraints cannot form a cycle: names are
    ranked, and each handler only requires names ranked below its own and is
    only required by names ranked above it.  An unnamed handler sits between
    two ranks.
    """
    rank = {name: 2 * position + 1 for position, name in enumerate(draw(st.permutations(NAMES)))}
    handlers = []
    for number in range(draw(st.integers(min_value=1, max_value=8))):
        name = draw(st.none() | st.sampled_from(NAMES))
        own = rank[name] if name is not None else 2 * draw(st.integers(0, len(NAMES)))
        requires = draw(st.frozensets(st.sampled_from(NAMES), max_size=3))
        required_by = draw(st.frozensets(st.sampled_from(NAMES), max_size=3))
        handlers.append(
            {
                "number": number,
                "name": name,
                "priority": draw(st.integers(min_value=-2, max_value=2)),
                "requires": frozenset(other for other in requires if rank[other] < own),
                "required_by": frozenset(other for other in required_by if rank[other] > own),
                "matches": draw(st.integers(0, 5)) > 0,
                "delay": draw(st.none() | st.integers(min_value=0, max_value=3)),
            }
        )
    return handlers


def name_of(handler: Mapping[str, Any]) -> str:
    return handler["name"] if handler["name"] is not None else f"h{handler['number']}"


def model_predecessors(handlers: Sequence[Mapping[str, Any]]) -> dict[int, set[int]]:
    """
    For each handler (by number), the handlers that must finish before it
    starts: those it requires by name, and those that name it in ``required_by``.
    """
    return {
        h["number"]: {
            other["number"]
            for other in handlers
            if other is not h and (name_of(other) in h["requires"] or name_of(h) in other["required_by"])
        }
        for h in handlers
    }


def model_start_order(handlers: Sequence[Mapping[str, Any]]) -> list[int]:
    """
    The reference order: repeatedly start, among the handlers whose required
    handlers have all started, the one with the highest priority, then the
    earliest registered.
    """
    before = model_predecessors(handlers)
    started: list[int] = []
    by_number = {h["number"]: h for h in handlers}
    while len(started) < len(handlers):
        free = [n for n in by_number if n not in started and before[n].issubset(started)]
        started.append(min(free, key=lambda n: (-by_number[n]["priority"], n)))
    return started


def register_ordered(
    dispatcher: EventDispatcher, handler: Mapping[str, Any], fn: Callable[..., Any]
) -> HandlerId:
    options: dict[str, Any] = {}
    if handler["name"] is not None:
        options["name"] = handler["name"]
    for option in ("priority", "requires", "required_by"):
        if handler[option]:
            options[option] = handler[option]
    kind = "fired" if handler["matches"] else "other"
    return dispatcher.register(fn, "during", match={"kind": kind}, use_weakref=False, **options)


@settings(deadline=None, max_examples=300)
@given(handlers=acyclic_handlers(), sequential=st.booleans())
def test_start_order_follows_priorities_and_constraints(
    handlers: list[dict[str, Any]], sequential: bool
) -> None:
    """
    Within a phase, each matching handler starts once, only after every
    matching handler it requires has finished; a handler never starts while
    one that is free to start too ranks before it (higher priority, then
    earlier registration).  When every handler answers at once, or the phase
    is sequential (each handler finishing before the next starts), the start
    order is exactly the model's.
    """
    clock = Clock()
    dispatcher = EventDispatcher(("kind",), ("before", Phase("during", sequential=sequential), "after"))
    dispatcher.start()
    log: list[tuple[str, int]] = []

    def make(number: int, delay: int | None) -> Callable[[object], object]:
        def finish() -> int:
            log.append(("finish", number))
            return number

        def handler(event: object) -> object:
            log.append(("start", number))
            if delay is None:
                return finish()
            return deferLater(clock, delay, finish)

        return unique_label(handler, f"h{number}")

    for handler in handlers:
        register_ordered(dispatcher, handler, make(handler["number"], handler["delay"]))
    fired = dispatcher.fire_event("event", kind="fired")
    clock.pump([1] * 30)
    result = result_of(fired)

    matching = [h for h in handlers if h["matches"]]
    starts = [number for what, number in log if what == "start"]
    assert sorted(starts) == [h["number"] for h in matching]
    assert list(result.values) == starts
    at = {entry: index for index, entry in enumerate(log)}
    before = model_predecessors(matching)
    key = {h["number"]: (-h["priority"], h["number"]) for h in matching}
    for number in starts:
        assert all(at[("finish", required)] < at[("start", number)] for required in before[number])
        free_then = [
            other
            for other in starts
            if at[("start", other)] > at[("start", number)]
            and all(at[("finish", required)] < at[("start", number)] for required in before[other])
        ]
        assert all(key[other] > key[number] for other in free_then)
    if sequential or all(h["delay"] is None for h in matching):
        assert starts == model_start_order(matching)
    if sequential:
        for earlier, later in pairwise(starts):
            assert at[("finish", earlier)] < at[("start", later)]


def closes_a_cycle(handlers: Sequence[Mapping[str, Any]]) -> bool:
    """
    Whether the constraints among ``handlers`` form a cycle.  Handlers are the
    nodes: a name stands for every other handler that bears it, and a handler
    naming itself constrains nothing.
    """
    following: dict[int, set[int]] = {h["number"]: set() for h in handlers}
    for handler in handlers:
        for other in handlers:
            if other is handler:
                continue
            if name_of(other) in handler["requires"]:
                following[other["number"]].add(handler["number"])
            if name_of(other) in handler["required_by"]:
                following[handler["number"]].add(other["number"])
    for start in following:
        seen: set[int] = set()
        frontier = set(following[start])
        while frontier:
            if start in frontier:
                return True
            seen |= frontier
            frontier = {t for n in frontier for t in following[n]} - seen
    return False


ANY_HANDLER = st.fixed_dictionaries(
    {
        "name": st.none() | st.sampled_from(NAMES),
        "priority": st.integers(min_value=-1, max_value=1),
        "requires": st.frozensets(st.sampled_from(NAMES), max_size=2),
        "required_by": st.frozensets(st.sampled_from(NAMES), max_size=2),
        "matches": st.just(True),
    }
)


@settings(deadline=None, max_examples=300)
@given(handlers=st.lists(ANY_HANDLER, min_size=1, max_size=8))
def test_a_cycle_is_refused_at_registration_and_registers_nothing(handlers: list[dict[str, Any]]) -> None:
    """
    A registration whose constraints would close a cycle among the names of
    its phase raises OrderingError and leaves the dispatcher as it was; the
    handlers accepted still start in the model's order.
    """
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    started: list[int] = []
    accepted: list[dict[str, Any]] = []
    for number, handler in enumerate(handlers):
        handler = {**handler, "number": number}
        fn = unique_label(lambda event, number=number: started.append(number), f"h{number}")
        before = dispatcher.handler_ids()
        if closes_a_cycle([*accepted, handler]):
            with pytest.raises(OrderingError):
                register_ordered(dispatcher, handler, fn)
            assert dispatcher.handler_ids() == before
        else:
            register_ordered(dispatcher, handler, fn)
            accepted.append(handler)
    result_of(dispatcher.fire_event("event", kind="fired"))
    assert started == model_start_order(accepted)


# Alternatives ---------------------------------------------------------------

KEYWORDS = ("kind", "user", "role")
VALUE = st.sampled_from(["a", "b", 1])
SPEC_VALUE = st.none() | VALUE | st.lists(VALUE, min_size=1, max_size=3).map(lambda vs: any_of(*vs))
# A predicate: (keyword or None for the event, accepted values).  It accepts
# when that detail (or the event) is among the values.
PREDICATE = st.tuples(st.none() | st.sampled_from(KEYWORDS), st.frozensets(VALUE, max_size=3))
ALTERNATIVE = st.tuples(
    st.dictionaries(st.sampled_from(KEYWORDS), SPEC_VALUE, max_size=3), st.lists(PREDICATE, max_size=2)
)
HANDLER_SPEC = st.tuples(
    st.lists(ALTERNATIVE, min_size=1, max_size=3), st.lists(PREDICATE, max_size=1), st.booleans()
)


def keywords_match(spec: Mapping[str, Any], details: Mapping[str, Any]) -> bool:
    for keyword, value in spec.items():
        if value is None:
            continue
        accepted = value.values if isinstance(value, AnyOf) else {value}
        if keyword not in details or details[keyword] not in accepted:
            return False
    return True


def predicate_accepts(
    predicate: tuple[str | None, frozenset[Any]], event: object, details: Mapping[str, Any]
) -> bool:
    keyword, accepted = predicate
    if keyword is None:
        return event in accepted
    return keyword in details and details[keyword] in accepted


def model_runs(
    alternatives: list[tuple[dict[str, Any], list[Any]]],
    common: list[Any],
    event: object,
    details: Mapping[str, Any],
) -> bool:
    return any(
        keywords_match(spec, details) and all(predicate_accepts(p, event, details) for p in [*where, *common])
        for spec, where in alternatives
    )


@settings(deadline=None, max_examples=300)
@given(
    handlers=st.lists(HANDLER_SPEC, min_size=1, max_size=6),
    fires=st.lists(st.tuples(VALUE, st.dictionaries(st.sampled_from(KEYWORDS), VALUE)), max_size=6),
)
def test_a_handler_runs_once_when_any_alternative_matches(
    handlers: list[tuple[list[tuple[dict[str, Any], list[Any]]], list[Any], bool]],
    fires: list[tuple[Any, dict[str, Any]]],
) -> None:
    """
    A handler with alternative specs (values, any_of sets, predicates per
    alternative and for the whole handler) runs exactly once for an event
    that any alternative accepts, and not at all otherwise; a predicate is
    only asked about an event whose details its alternative's keywords match.
    """
    dispatcher = EventDispatcher(KEYWORDS)
    dispatcher.start()
    calls: list[tuple[int, object]] = []
    asked: list[tuple[int, int | None, object]] = []

    def make_predicate(number: int, alternative: int | None, predicate: Any) -> Any:
        def check(event: object, details: Mapping[str, Any]) -> bool:
            asked.append((number, alternative, event))
            return predicate_accepts(predicate, event, details)

        return check

    for number, (alternatives, common, as_mappings) in enumerate(handlers):
        specs: list[Any] = []
        for position, (spec, where) in enumerate(alternatives):
            predicates = [make_predicate(number, position, p) for p in where]
            specs.append(spec if as_mappings and not predicates else MatchSpec(spec, where=predicates))
        dispatcher.register(
            lambda event, number=number: calls.append((number, event)),
            "during",
            match=specs,
            where=[make_predicate(number, None, p) for p in common],
            use_weakref=False,
        )

    for event, details in fires:
        calls.clear()
        asked.clear()
        result_of(dispatcher.fire_event(event, **details))
        expected = [
            (number, event)
            for number, (alternatives, common, _) in enumerate(handlers)
            if model_runs(alternatives, common, event, details)
        ]
        assert calls == expected
        for number, alternative, _ in asked:
            specs_of = handlers[number][0]
            if alternative is None:
                assert any(keywords_match(spec, details) for spec, _ in specs_of)
            else:
                assert keywords_match(specs_of[alternative][0], details)


# N-times under concurrency --------------------------------------------------


@settings(deadline=None, max_examples=300)
@given(
    times=st.integers(min_value=1, max_value=4),
    mode=st.sampled_from(["sequential", "requires", "free"]),
    handler_waits=st.booleans(),
    actions=st.lists(st.integers(min_value=0, max_value=20), max_size=20),
)
def test_n_times_handler_never_runs_more_than_n_times(
    times: int, mode: str, handler_waits: bool, actions: list[int]
) -> None:
    """
    With several events in flight, whose Deferreds fire in any order, a
    handler registered with ``times=N`` is called min(N, events) times, never
    more; its registration is there during its calls before the Nth and gone
    as the Nth starts.
    """
    phases = ("before", Phase("during", sequential=mode == "sequential"), "after")
    dispatcher = EventDispatcher(("kind",), phases)
    dispatcher.start()
    pending: list[Deferred[None]] = []
    registered_at_call: list[bool] = []

    def blocker(event: object) -> Deferred[None]:
        pending.append(Deferred())
        return pending[-1]

    def limited(event: object) -> Deferred[None] | None:
        registered_at_call.append(limited_id in dispatcher.handler_ids())
        if handler_waits:
            pending.append(Deferred())
            return pending[-1]
        return None

    if mode == "requires":
        dispatcher.register(blocker, "during", name="blocker", use_weakref=False)
        limited_id = dispatcher.register(
            limited, "during", times=times, requires="blocker", use_weakref=False
        )
    else:
        dispatcher.register(blocker, "during", use_weakref=False)
        limited_id = dispatcher.register(limited, "during", times=times, use_weakref=False)

    fired: list[Deferred[FireResult]] = []
    for action in actions:
        if action == 0 or not pending:
            fired.append(dispatcher.fire_event(len(fired), kind="x"))
        else:
            pending.pop(action % len(pending)).callback(None)
        assert len(registered_at_call) <= times
    while pending:
        pending.pop(0).callback(None)
        assert len(registered_at_call) <= times

    assert len(registered_at_call) == min(times, len(fired))
    assert registered_at_call == [call < times for call in range(1, len(registered_at_call) + 1)]
    results = [result_of(deferred) for deferred in fired]
    ran = [outcome for result in results for outcome in result if outcome.handler_id is limited_id]
    assert len(ran) == len(registered_at_call)
    assert all(result.succeeded for result in results)


# The fast loop and the engine -----------------------------------------------

BEHAVIOURS = (
    "value",
    "none",
    "raise",
    "later",
    "fail-later",
    "coroutine",
    "stop",
    "stop-with-value",
    "arguments",
)
#: What a handler is registered with besides its spec: nothing, a ``where=``
#: predicate (that accepts, refuses, reads the details, or raises), ``times=``,
#: or both.
GATES = (None, "where-yes", "where-no", "where-user-a", "where-raise", "times-1", "times-2", "where-times")
PLAIN_HANDLER = st.tuples(
    st.sampled_from(["before", "during", "after"]),
    st.dictionaries(st.sampled_from(("kind", "user")), st.sampled_from(["a", "b"]), max_size=2),
    st.sampled_from(BEHAVIOURS),
    st.integers(min_value=0, max_value=3),
    st.sampled_from(GATES),
)


def plain_handler(number: int, behaviour: str, delay: int, clock: Clock) -> Callable[[object], object]:
    """
    A handler without options that answers ``number`` in the way ``behaviour`` says.
    """

    def broken() -> object:
        raise ValueError(f"handler {number} broke")

    def later(event: object) -> object:
        if behaviour == "fail-later":
            return deferLater(clock, delay, broken)
        return deferLater(clock, delay, lambda: number)

    async def coroutine(event: object) -> object:
        await deferLater(clock, delay, lambda: None)
        return number

    def handler(event: object) -> object:
        if behaviour == "raise":
            return broken()
        if behaviour == "stop":
            raise StopPropagation()
        if behaviour == "stop-with-value":
            raise StopPropagation(f"stopped by {number}")
        if behaviour == "none":
            return None
        return number

    def arguments(event: object, context: EventContext) -> object:
        return (number, dict(context.arguments))

    chosen = {"later": later, "fail-later": later, "coroutine": coroutine, "arguments": arguments}.get(
        behaviour, handler
    )
    return unique_label(chosen, f"plain{number}")


def gate_options(gate: str | None) -> dict[str, Any]:
    """
    The registration options a handler's gate (see ``GATES``) stands for.
    """

    def refuses(event: object, details: Mapping[str, object]) -> bool:
        return False

    def user_a(event: object, details: Mapping[str, object]) -> bool:
        return details.get("user") == "a"

    def broken(event: object, details: Mapping[str, object]) -> bool:
        raise ValueError("the predicate broke")

    options: dict[str, dict[str, Any]] = {
        "where-yes": {"where": lambda event, details: True},
        "where-no": {"where": refuses},
        "where-user-a": {"where": user_a},
        "where-raise": {"where": broken},
        "times-1": {"times": 1},
        "times-2": {"times": 2},
        "where-times": {"where": user_a, "times": 1},
    }
    return {} if gate is None else options[gate]


@implementer(IFireMonitor)
class HookRecorder:
    """
    A monitor that writes down every hook it is told, in terms that two
    dispatchers can share (handler numbers, values, failure messages).
    """

    def __init__(self, numbers: Mapping[HandlerId, int]) -> None:
        self.numbers = numbers
        self.heard: list[tuple[object, ...]] = []

    def fire_started(self, fire: FireResult) -> None:
        self.heard.append(("fire_started", fire.event))

    def phase_started(self, fire: FireResult, phase: str) -> None:
        self.heard.append(("phase_started", fire.event, phase))

    def handler_started(self, fire: FireResult, handler_id: HandlerId) -> None:
        self.heard.append(("handler_started", fire.event, self.numbers[handler_id]))

    def handler_finished(
        self, fire: FireResult, handler_id: HandlerId, outcome: HandlerOutcome, seconds: float
    ) -> None:
        assert outcome.handler_id is handler_id
        failure = None if outcome.failure is None else outcome.failure.getErrorMessage()
        told = (self.numbers[handler_id], outcome.phase, outcome.value, failure, outcome.status, seconds)
        self.heard.append(("handler_finished", fire.event, *told))

    def phase_finished(self, fire: FireResult, phase: str, seconds: float) -> None:
        self.heard.append(("phase_finished", fire.event, phase, seconds))

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        told = None if failure is None else described(failure, self.numbers)
        self.heard.append(("fire_finished", fire.event, told, seconds))


@implementer(IPhaseMonitor)
class ReportRecorder:
    """
    A phase monitor that writes down every report it is told, in the same
    shareable terms as :class:`HookRecorder`, into the same list.
    """

    def __init__(self, numbers: Mapping[HandlerId, int], heard: list[tuple[object, ...]]) -> None:
        self.numbers = numbers
        self.heard = heard

    def fire_started(self, fire: FireResult) -> None:
        self.heard.append(("report: fire_started", fire.event))

    def phase_ended(self, fire: FireResult, report: PhaseReport) -> None:
        calls = [
            (
                self.numbers[handler_id],
                outcome.value,
                None if outcome.failure is None else outcome.failure.getErrorMessage(),
                outcome.status,
                offset,
                seconds,
            )
            for handler_id, outcome, offset, seconds in report.calls
        ]
        self.heard.append(
            ("report: phase_ended", fire.event, report.phase, report.offset, report.seconds, calls)
        )

    def fire_finished(self, fire: FireResult, failure: Failure | None, seconds: float) -> None:
        told = None if failure is None else described(failure, self.numbers)
        self.heard.append(("report: fire_finished", fire.event, told, seconds))


def described(outcome: object, numbers: Mapping[HandlerId, int]) -> object:
    """
    A fire's outcome in terms that two dispatchers can share: handler
    numbers, values, and failure messages.
    """
    if isinstance(outcome, Failure):
        error = outcome.value
        assert isinstance(error, HandlerFailed), outcome.getTraceback()
        return ("failed", [(numbers[h], f.getErrorMessage()) for h, f in error.failures])
    assert isinstance(outcome, FireResult)
    ran = [
        (numbers[o.handler_id], o.phase, o.value, None if o.failure is None else o.failure.getErrorMessage())
        for o in outcome
    ]
    stopper = None if outcome.stopped_by is None else numbers[outcome.stopped_by]
    return ("done", ran, stopper, outcome.value)


@implementer(ILogObserver)
class FailuresLogged:
    """
    A log observer counting the log events that carry a failure.
    """

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, event: LogEvent) -> None:
        if "log_failure" in event:
            self.count += 1


@implementer(IHandlerLedger)
class Forgetful:
    """
    A ledger that remembers nothing: a fire given it runs in the general
    loop from its start, and no handler is skipped.
    """

    def completed(self, handler_id: HandlerId) -> bool:
        return False

    def record(self, handler_id: HandlerId) -> None:
        pass


def dispatch_all(
    handlers: list[tuple[str, dict[str, str], str, int, str | None]],
    events: list[dict[str, str]],
    handler_errors: str,
    general: bool,
    arguments: dict[str, int] | None = None,
    first_result: bool = False,
    monitored: bool = False,
) -> tuple[list[object], int, list[tuple[object, ...]]]:
    """
    Register ``handlers`` on a new dispatcher, fire ``events`` one after
    another without waiting, run the clock, and describe every outcome;
    also count the handler failures logged, and (``monitored``) what a
    monitor was told.  With ``general``, each fire is given a ledger, which
    makes the general loop run it from its start; each is given
    ``arguments`` and ``first_result`` either way (a handler behaving as
    "arguments" is called with a context, and answers them).
    """
    clock = Clock()
    dispatcher = EventDispatcher(
        ("kind", "user"),
        ("before", "during", "after", "spare"),
        handler_errors=handler_errors,  # type: ignore[arg-type]
        clock=clock,
    )
    dispatcher.start()
    dispatcher.register(lambda event: None, "spare", match={"kind": "never"}, times=2, use_weakref=False)
    numbers: dict[HandlerId, int] = {}
    for number, (phase, spec, behaviour, delay, gate) in enumerate(handlers):
        fn = plain_handler(number, behaviour, delay, clock)
        with_context = behaviour == "arguments"
        options = gate_options(gate)
        registered = dispatcher.register(
            fn, phase, match=spec, use_weakref=False, pass_context=with_context, **options
        )
        numbers[registered] = number
    recorder = HookRecorder(numbers)
    if monitored:
        dispatcher.add_monitor(recorder)
        dispatcher.add_monitor(ReportRecorder(numbers, recorder.heard))
    logged = FailuresLogged()
    globalLogPublisher.addObserver(logged)
    options: dict[str, Any] = {"arguments": arguments, "first_result": first_result}
    try:
        fired = [
            dispatcher.fire(number, details, ledger=Forgetful(), **options)
            if general
            else dispatcher.fire(number, details, **options)
            if arguments or first_result
            else dispatcher.fire_event(number, **details)
            for number, details in enumerate(events)
        ]
        clock.pump([1] * 20)
    finally:
        globalLogPublisher.removeObserver(logged)
    outcomes: list[object] = []
    for deferred in fired:
        deferred.addBoth(outcomes.append)
    assert len(outcomes) == len(fired)
    return [described(outcome, numbers) for outcome in outcomes], logged.count, recorder.heard


@settings(deadline=None, max_examples=300)
@given(
    handlers=st.lists(PLAIN_HANDLER, max_size=8),
    events=st.lists(
        st.dictionaries(st.sampled_from(("kind", "user")), st.sampled_from(["a", "b"])),
        min_size=1,
        max_size=3,
    ),
    handler_errors=st.sampled_from(["log", "fail"]),
    arguments=st.one_of(
        st.none(), st.dictionaries(st.sampled_from(("a", "b")), st.integers(0, 2), min_size=1)
    ),
    first_result=st.booleans(),
    monitored=st.booleans(),
)
def test_the_fast_loop_and_the_engine_agree(
    handlers: list[tuple[str, dict[str, str], str, int, str | None]],
    events: list[dict[str, str]],
    handler_errors: str,
    arguments: dict[str, int] | None,
    first_result: bool,
    monitored: bool,
) -> None:
    """
    Handlers give the same outcomes, in the same order, and a monitor is
    told the same hooks with the same arguments (durations included; a
    phase monitor, the same reports with the same calls),
    whether the tight loop runs the fire (handing it to the general loop
    when it must) or the general loop runs it all: with or without per-fire
    arguments and ``first_result``, for handlers with ``where=`` predicates
    (refusing, accepting or raising) and ``times=``.  (A handler with
    options, in a phase no event reaches, does not change which loop runs a fire.)
    """
    given: dict[str, Any] = {"arguments": arguments, "first_result": first_result, "monitored": monitored}
    tight = dispatch_all(handlers, events, handler_errors, general=False, **given)
    general = dispatch_all(handlers, events, handler_errors, general=True, **given)
    assert tight == general
    assert bool(tight[2]) is monitored


def test_which_fires_enter_the_tight_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """
    The premise of the test above: a fire given a ledger never enters the
    tight loop; a plain fire does, and so does one given a fire id,
    arguments or ``first_result``.
    """
    from twisted_event_dispatcher._runner import Runner

    entered: list[object] = []
    tight = Runner.fire_event

    def spy(runner: Runner, event: object, *options: Any, **details: object) -> Any:
        entered.append(event)
        return tight(runner, event, *options, **details)

    monkeypatch.setattr(Runner, "fire_event", spy)
    dispatcher = EventDispatcher(("kind",))
    dispatcher.start()
    dispatcher.register(lambda event: None, "during", use_weakref=False)
    assert result_of(dispatcher.fire("ledger", {"kind": "x"}, ledger=Forgetful())).values == (None,)
    assert result_of(dispatcher.fire_event("plain", kind="x")).values == (None,)
    assert result_of(dispatcher.fire("id", {"kind": "x"}, fire_id="an-id")).fire_id == "an-id"
    assert result_of(dispatcher.fire("arguments", {"kind": "x"}, arguments={"a": [1]})).arguments == {
        "a": [1]
    }
    assert result_of(dispatcher.fire("first", {"kind": "x"}, first_result=True)).values == (None,)
    assert entered == ["plain", "id", "arguments", "first"]
