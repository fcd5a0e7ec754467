# -*- test-case-name: tests.test_testing -*-
"""
Helpers for testing code that uses a dispatcher, without a running reactor.

- `result_of`, `failure_of` and `assert_not_fired` read a Deferred that
  should (or should not) have fired already.
- `RecordingDispatcher` is a real `EventDispatcher` that also records every
  event fired at it, with assertions about what was fired.
- `ControlledHandler` is a handler whose calls each return a Deferred the
  test fires by hand; `DelayedHandler` fires its calls itself, after a delay
  on a clock (such as ``twisted.internet.task.Clock``).

Every assertion raises ``AssertionError``, which pytest and trial both report
as a test failure, with a message saying what was found instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any, Final, TypeVar, final

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.python.failure import Failure

from ._admission import NestedPolicy
from ._dispatcher import EventDispatcher
from ._registry import Registry
from ._result import FireResult
from ._run import RunSettings
from ._runner import Runner
from .broker.testing import MemoryCompletionLog, MemoryTransport
from .interfaces import IHandlerLedger

__all__ = [
    "ControlledHandler",
    "DelayedHandler",
    "FiredEvent",
    "HandlerCall",
    "MemoryCompletionLog",
    "MemoryTransport",
    "RecordingDispatcher",
    "assert_not_fired",
    "failure_of",
    "result_of",
]

_T = TypeVar("_T")


class _AnyEvent:
    """
    The default of the ``event`` argument of the assertions: any event at all.
    """

    def __repr__(self) -> str:
        return "<any event>"


_ANY_EVENT: Final = _AnyEvent()


# Reading Deferreds


def _has_result(deferred: Deferred[Any]) -> bool:
    """
    Whether ``deferred`` has a final result: it was called and is not waiting
    on another Deferred.
    """
    return deferred.called and not deferred.paused


def _take_result(deferred: Deferred[Any]) -> object:
    """
    The final result of ``deferred``, which must have one.

    A success result stays in the Deferred; a Failure is consumed, so that it
    is not reported again as an "Unhandled error in Deferred".
    """
    box: list[object] = []

    def look(outcome: object) -> object:
        box.append(outcome)
        return None if isinstance(outcome, Failure) else outcome

    deferred.addBoth(look)
    return box[0]


def _no_result_yet(expected: str, described: str) -> AssertionError:
    return AssertionError(f"expected {expected} from {described}, but it has no result yet")


def result_of(deferred: Deferred[_T]) -> _T:
    """
    The result of a Deferred that has already succeeded.

    The result stays in the Deferred, so it can be read again or given
    further callbacks.

    :param deferred: a Deferred that has fired with a success result.
    :returns: that result.
    :raises AssertionError: if ``deferred`` has no result yet, or failed (its
        Failure is then consumed, and its traceback is in the message).
    """
    described = repr(deferred)
    if not _has_result(deferred):
        raise _no_result_yet("a success result", described)
    outcome = _take_result(deferred)
    if isinstance(outcome, Failure):
        raise AssertionError(
            f"expected a success result from {described}, but it failed:\n{outcome.getTraceback()}"
        )
    return outcome  # type: ignore[return-value]


def failure_of(deferred: Deferred[Any], *expected: type[BaseException]) -> Failure:
    """
    The Failure of a Deferred that has already failed.

    The Failure is consumed: the Deferred's result becomes None, and no
    "Unhandled error in Deferred" is reported for it.

    :param deferred: a Deferred that has failed.
    :param expected: if given, the Failure must wrap an instance of one of
        these exception types.
    :returns: the `Failure`.
    :raises AssertionError: if ``deferred`` has no result yet, succeeded, or
        failed with an exception of none of the ``expected`` types.
    """
    described = repr(deferred)
    if not _has_result(deferred):
        raise _no_result_yet("a failure", described)
    outcome = _take_result(deferred)
    if not isinstance(outcome, Failure):
        raise AssertionError(f"expected a failure from {described}, but it succeeded with {outcome!r}")
    if expected and not outcome.check(*expected):
        wanted = " or ".join(kind.__qualname__ for kind in expected)
        raise AssertionError(
            f"expected a failure of type {wanted} from {described}, "
            f"but it failed with {type(outcome.value).__qualname__}:\n{outcome.getTraceback()}"
        )
    return outcome


def assert_not_fired(deferred: Deferred[Any]) -> None:
    """
    Assert that a Deferred has no result yet.

    When it has none, it is left untouched.

    :raises AssertionError: if ``deferred`` has a result, which the message
        shows (a Failure is consumed, and its traceback is in the message).
    """
    described = repr(deferred)
    if not _has_result(deferred):
        return
    outcome = _take_result(deferred)
    if isinstance(outcome, Failure):
        found = f"it failed:\n{outcome.getTraceback()}"
    else:
        found = f"it succeeded with {outcome!r}"
    raise AssertionError(f"expected {described} to have no result yet, but {found}")


# Recording what is fired


def _describe(event: object, details: Mapping[str, object]) -> str:
    """
    An event and its details as a readable line, for assertion messages.
    """
    shown = "any event" if event is _ANY_EVENT else repr(event)
    if not details:
        return shown
    return f"{shown} with " + ", ".join(f"{keyword}={value!r}" for keyword, value in details.items())


@final
@attrs.frozen(unsafe_hash=False)
class FiredEvent:
    """
    One fire that a `RecordingDispatcher` recorded: a call of ``fire_event``
    or ``fire``, or a follow-up event dispatched.

    :ivar event: the event fired.
    :ivar details: the keyword details it was fired with (a copy).
    """

    event: object
    details: Mapping[str, object]

    def matches(self, event: object = _ANY_EVENT, /, **details: object) -> bool:
        """
        Whether this fire was of ``event`` (any event, if not given) with each
        of the given ``details``.

        Details not given are not compared, as with a handler's match-spec.
        Expected values are compared with ``==`` on the left, so
        ``unittest.mock.ANY`` matches any value.

        :param event: the event expected, compared with ``==``.
        :param details: keyword to expected value; the keyword must have
            been fired.
        """
        if event is not _ANY_EVENT and event != self.event:
            return False
        fired = self.details
        return all(keyword in fired and value == fired[keyword] for keyword, value in details.items())


@final
class _RecordingRunner(Runner):
    """
    A runner that records each follow-up event as it is dispatched: the one
    seam every follow-up passes, and no other fire.
    """

    __slots__ = ("_record",)

    def __init__(self, registry: Registry, settings: RunSettings, record: list[FiredEvent]) -> None:
        super().__init__(registry, settings)
        self._record = record

    def follow_up(
        self, event: object, details: dict[str, object], depth: int, cause: FireResult
    ) -> Deferred[FireResult]:
        self._record.append(FiredEvent(event, dict(details)))
        return super().follow_up(event, details, depth, cause)


class RecordingDispatcher(EventDispatcher):
    """
    An `EventDispatcher` that records every event fired at it.

    It is a real dispatcher, made with the same arguments: fired events still
    go to the handlers registered with it (register none to only record), and
    fires are checked and refused exactly as usual.  Every call of
    ``fire_event`` or ``fire`` that is not refused at once (with
    ``UnknownKeywordError`` or ``UnhashableValueError``) is recorded, in call order, even when the
    dispatcher is not running and the fire fails with
    ``DispatcherNotRunning``: the record is what the code under test asked for.
    So is every follow-up event (``context.follow_up`` or ``FollowUps``), a
    fire of its own, as it is dispatched; one dropped before (see
    ``FireResult.dropped_follow_ups``) was never fired, and is not recorded.

    The assertions compare events like `FiredEvent.matches`: the event is
    given positionally, as to ``fire_event``, and details not given are not
    compared.  Their keywords must be ones the dispatcher allows, so that a
    misspelt keyword is a clear error rather than a test that cannot pass.
    """

    @cached_property
    def _recorded_fires(self) -> list[FiredEvent]:
        # Made on first use, so that the constructor stays EventDispatcher's own.
        return []

    def _make_runner(self, registry: Registry, settings: RunSettings) -> Runner:
        return _RecordingRunner(registry, settings, self._recorded_fires)

    def fire(
        self,
        event: object,
        details: Mapping[str, object] | None = None,
        /,
        *,
        nested: NestedPolicy | None = None,
        arguments: Mapping[str, object] | None = None,
        first_result: bool = False,
        fire_id: str | None = None,
        attempt: int = 1,
        ledger: IHandlerLedger | None = None,
    ) -> Deferred[FireResult]:
        """
        Record the event, then fire it as `EventDispatcher.fire` does.
        Every fire goes through here, ``fire_event``'s included.
        """
        record = self._recorded_fires
        # Record it before any event its handlers fire, once it was accepted.
        position = len(record)
        fired = super().fire(
            event,
            details,
            nested=nested,
            arguments=arguments,
            first_result=first_result,
            fire_id=fire_id,
            attempt=attempt,
            ledger=ledger,
        )
        record.insert(position, FiredEvent(event, dict(details or {})))
        return fired

    @property
    def fired(self) -> tuple[FiredEvent, ...]:
        """
        Every event fired since the dispatcher was made or last cleared, in
        the order ``fire_event`` was called (a follow-up event, in the order
        it was dispatched).
        """
        return tuple(self._recorded_fires)

    def clear(self) -> None:
        """
        Forget the events fired so far.
        """
        self._recorded_fires.clear()

    def assert_fired(self, event: object = _ANY_EVENT, /, **details: object) -> tuple[FiredEvent, ...]:
        """
        Assert that ``event`` (any event, if not given) was fired with the
        given ``details``, at least once.

        :returns: the matching fires, in order.
        :raises AssertionError: if none matches; the message lists what was fired.
        :raises TypeError: for a keyword the dispatcher does not allow.
        """
        matching = self._matching("assert_fired", event, details)
        if not matching:
            raise AssertionError(f"no fired event matches {_describe(event, details)}; {self._listing()}")
        return matching

    def assert_fired_once_with(self, event: object = _ANY_EVENT, /, **details: object) -> FiredEvent:
        """
        Assert that exactly one fired event matches ``event`` (any event, if
        not given) and the given ``details``.  Other events may have been fired.

        :returns: the matching fire.
        :raises AssertionError: if none or several match; the message lists
            what was fired.
        :raises TypeError: for a keyword the dispatcher does not allow.
        """
        matching = self._matching("assert_fired_once_with", event, details)
        if len(matching) != 1:
            raise AssertionError(
                f"expected exactly one fired event matching {_describe(event, details)}, "
                f"found {len(matching)}; {self._listing()}"
            )
        return matching[0]

    def assert_not_fired(self, event: object = _ANY_EVENT, /, **details: object) -> None:
        """
        Assert that no fired event matches ``event`` (any event, if not given)
        and the given ``details``.  With no arguments: that nothing was fired.

        :raises AssertionError: if one matches; the message lists what was fired.
        :raises TypeError: for a keyword the dispatcher does not allow.
        """
        matching = self._matching("assert_not_fired", event, details)
        if matching:
            raise AssertionError(
                f"expected no fired event matching {_describe(event, details)}, "
                f"found {len(matching)}; {self._listing()}"
            )

    def _matching(self, caller: str, event: object, details: dict[str, object]) -> tuple[FiredEvent, ...]:
        unknown = sorted(details.keys() - self.allowed_match_spec_keywords)
        if unknown:
            hint = "; give the event itself positionally" if "event" in unknown else ""
            raise TypeError(
                f"{caller}() got keyword(s) {unknown!r} that this dispatcher does not allow; "
                f"allowed keywords are {sorted(self.allowed_match_spec_keywords)!r}{hint}"
            )
        return tuple(fired for fired in self._recorded_fires if fired.matches(event, **details))

    def _listing(self) -> str:
        record = self._recorded_fires
        if not record:
            return "nothing was fired"
        lines = [
            f"  {number}. {_describe(fired.event, fired.details)}" for number, fired in enumerate(record, 1)
        ]
        return f"fired ({len(record)}):\n" + "\n".join(lines)


# Handlers the test drives


@final
class HandlerCall:
    """
    One call of a `ControlledHandler`: the event it was called with, and the
    Deferred it returned, which the test finishes with `succeed` or `fail`.

    Cancelling the Deferred (as the dispatcher may) makes it fail with
    ``CancelledError``; `succeed` and `fail` then do nothing, like a handler
    finishing work that nobody waits for any more.

    :ivar event: the event the handler was called with.
    :ivar deferred: the Deferred the handler returned for it.
    :ivar cancelled: whether ``deferred`` was cancelled.
    """

    def __init__(self, label: str, number: int, event: object) -> None:
        self.event = event
        self.cancelled = False
        self.deferred: Deferred[object] = Deferred(self._cancel)
        self._name = f"#{number} of {label!r}"
        self._state = "pending"
        self._timer: IDelayedCall | None = None

    @property
    def pending(self) -> bool:
        """
        True until the call succeeds, fails or is cancelled.
        """
        return not self.deferred.called

    def succeed(self, value: object = None) -> None:
        """
        Finish the call: its Deferred fires with ``value``.

        :raises AssertionError: if the call has already succeeded or failed.
        """
        if self._finishing():
            self._state = f"succeeded with {value!r}"
            self.deferred.callback(value)

    def fail(self, reason: BaseException) -> None:
        """
        Finish the call with a failure: its Deferred fails with ``reason``.

        :raises AssertionError: if the call has already succeeded or failed.
        """
        if self._finishing():
            self._state = f"failed with {reason!r}"
            self.deferred.errback(Failure(reason))

    def _finishing(self) -> bool:
        """
        Whether the call may finish now; raise if it already has.
        """
        if self.cancelled:
            return False
        if not self.pending:
            raise AssertionError(f"{self!r} cannot finish again")
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        return True

    def _finish_later(self, clock: IReactorTime, seconds: float, value: object) -> None:
        self._timer = clock.callLater(seconds, self.succeed, value)

    def _cancel(self, deferred: Deferred[object]) -> None:
        self.cancelled = True
        self._state = "cancelled"
        if self._timer is not None and self._timer.active():
            self._timer.cancel()

    def __repr__(self) -> str:
        return f"<HandlerCall {self._name} with {self.event!r}: {self._state}>"


class ControlledHandler:
    """
    A handler whose every call returns a new, unfired Deferred, which the
    test finishes by hand: so the test decides when each handler, and so each
    phase, is done.

    Register it like any handler, and keep a reference to it: a dispatcher
    holds handlers by weak reference unless told otherwise.

    :param name: the handler's name, shown in its calls and, through its
        ``__name__``, in the dispatcher's handler ids and logs.
    """

    def __init__(self, name: str = "controlled") -> None:
        self.__name__ = name
        self._calls: list[HandlerCall] = []

    def __call__(self, event: object) -> Deferred[object]:
        """
        Be called with ``event``, as a dispatcher calls its handlers.

        :returns: the new call's unfired Deferred.
        """
        call = HandlerCall(self.__name__, len(self._calls) + 1, event)
        self._calls.append(call)
        return call.deferred

    @property
    def calls(self) -> tuple[HandlerCall, ...]:
        """
        Every call so far, oldest first.
        """
        return tuple(self._calls)

    @property
    def events(self) -> tuple[object, ...]:
        """
        The events the handler was called with, in call order.
        """
        return tuple(call.event for call in self._calls)

    @property
    def pending(self) -> tuple[HandlerCall, ...]:
        """
        The calls that have not finished (nor been cancelled) yet, oldest first.
        """
        return tuple(call for call in self._calls if call.pending)

    def succeed(self, value: object = None) -> HandlerCall:
        """
        Finish the oldest pending call with ``value``.

        :returns: the call finished.
        :raises AssertionError: if no call is pending.
        """
        call = self._oldest_pending("succeed")
        call.succeed(value)
        return call

    def fail(self, reason: BaseException) -> HandlerCall:
        """
        Finish the oldest pending call with a failure, ``reason``.

        :returns: the call finished.
        :raises AssertionError: if no call is pending.
        """
        call = self._oldest_pending("fail")
        call.fail(reason)
        return call

    def _oldest_pending(self, verb: str) -> HandlerCall:
        for call in self._calls:
            if call.pending:
                return call
        raise AssertionError(
            f"{self.__name__!r} has no pending call to {verb}: "
            f"it was called {len(self._calls)} time(s): {self._calls!r}"
        )

    def __repr__(self) -> str:
        counts = f"{len(self._calls)} call(s), {len(self.pending)} pending"
        return f"<{type(self).__name__} {self.__name__!r}: {counts}>"


class DelayedHandler(ControlledHandler):
    """
    A `ControlledHandler` whose calls each succeed by themselves, with
    ``value``, ``seconds`` after they were made, on ``clock``.

    Use it with a ``twisted.internet.task.Clock`` and ``clock.advance()`` to
    test what happens while handlers take time.  A call can still be finished
    early by hand; cancelling it cancels its timer too.

    :param clock: the clock whose time the calls take.
    :param seconds: how long each call takes.
    :param value: what each call succeeds with.
    :param name: as for `ControlledHandler`.
    """

    def __init__(
        self, clock: IReactorTime, seconds: float, value: object = None, name: str = "delayed"
    ) -> None:
        super().__init__(name)
        self._clock = clock
        self._seconds = seconds
        self._value = value

    def __call__(self, event: object) -> Deferred[object]:
        """
        Be called with ``event``; the call succeeds by itself once its time
        has passed on the clock.
        """
        deferred = super().__call__(event)
        self._calls[-1]._finish_later(self._clock, self._seconds, self._value)
        return deferred
