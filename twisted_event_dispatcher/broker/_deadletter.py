# -*- test-case-name: tests.broker.test_memory -*-
"""
Dead letters: what a consumer adds to an event it gives up on, how a dead
letter is read back, and what a replay sends.  Pure: no pika, no network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Final, final

import attrs

from ._envelope import Envelope, Message, from_message
from ._errors import EnvelopeError

#: The headers a dead letter carries beside the envelope's.
GROUP: Final = "dead-letter-group"
REASON: Final = "dead-letter-reason"
FAILURES: Final = "dead-letter-failures"
ATTEMPTS: Final = "dead-letter-attempts"
AT: Final = "dead-lettered-at-ms"
_OURS: Final = (GROUP, REASON, FAILURES, ATTEMPTS, AT)

#: Reasons a consumer gives.
HANDLERS_FAILED: Final = "handlers failed"
UNDECODABLE: Final = "not a valid envelope"
CONSUMER_FAILED: Final = "the consumer failed"


def _from_broker(name: object) -> bool:
    """
    Whether a header is the broker's (``x-...``); a name that is not UTF-8
    comes as bytes from pika, and is kept.
    """
    return isinstance(name, str) and name.startswith("x-")


def dead_letter_headers(
    message: Message,
    group: str,
    reason: str,
    failures: Sequence[tuple[str, str]],
    attempts: int,
    now_ms: int,
) -> dict[str, object]:
    """
    The headers of the dead letter of ``message``: its own (less what the
    broker added for the delivery) and the reason.

    :param failures: (handler name, error) pairs.
    """
    headers = {name: value for name, value in message.headers.items() if not _from_broker(name)}
    headers.update(
        {
            GROUP: group,
            REASON: reason,
            FAILURES: json.dumps([{"handler": name, "error": error} for name, error in failures]),
            ATTEMPTS: attempts,
            AT: now_ms,
        }
    )
    return headers


def _broker_reason(headers: Mapping[str, object]) -> str:
    reason = headers.get("x-first-death-reason")
    if isinstance(reason, bytes):
        reason = reason.decode(errors="replace")
    return f"the broker dead-lettered it ({reason})" if reason else "unknown"


def _failures(headers: Mapping[str, object]) -> tuple[tuple[str, str], ...]:
    raw = headers.get(FAILURES)
    if not isinstance(raw, (str, bytes)):
        return ()
    try:
        listed = json.loads(raw)
        return tuple((str(item["handler"]), str(item["error"])) for item in listed)
    except (ValueError, TypeError, KeyError):
        return ((("?", f"unreadable {FAILURES} header: {raw!r}")),)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@final
@attrs.frozen
class DeadLetter:
    """
    An event a group gave up on.

    :ivar event_id: the event's id (the message's id).
    :ivar group: the group that gave up on it.
    :ivar reason: why: ``"handlers failed"``, ``"not a valid envelope"``,
        ``"the consumer failed"`` (an unexpected error before the event
        could be fired: a bug, in the failures), or the broker's reason
        when a consumer died on the last delivery.
    :ivar failures: (handler name, error) pairs of the last delivery.
    :ivar attempts: how many deliveries it had, if known.
    :ivar dead_lettered_at_ms: when, in Unix milliseconds, if known.
    :ivar envelope: the event, or None if its message is not a valid envelope.
    :ivar message: the message as it is kept.
    """

    event_id: str | None
    group: str
    reason: str
    failures: tuple[tuple[str, str], ...]
    attempts: int | None
    dead_lettered_at_ms: int | None
    envelope: Envelope | None
    message: Message

    def as_json(self) -> dict[str, object]:
        """
        The dead letter as JSON values, for the HTTP API.
        """
        envelope = self.envelope
        return {
            "event_id": self.event_id,
            "group": self.group,
            "reason": self.reason,
            "failures": [{"handler": name, "error": error} for name, error in self.failures],
            "attempts": self.attempts,
            "dead_lettered_at_ms": self.dead_lettered_at_ms,
            "event": None if envelope is None else envelope.payload,
            "details": None if envelope is None else dict(envelope.details),
            "arguments": None if envelope is None else dict(envelope.arguments),
        }


def read_dead_letter(message: Message, group: str) -> DeadLetter:
    """
    The dead letter a message of a group's dead-letter queue is.
    """
    headers = message.headers
    reason = headers.get(REASON)
    try:
        envelope: Envelope | None = from_message(message)
    except EnvelopeError:
        envelope = None
    return DeadLetter(
        message.message_id,
        group,
        reason if isinstance(reason, str) else _broker_reason(headers),
        _failures(headers),
        _int(headers.get(ATTEMPTS)),
        _int(headers.get(AT)),
        envelope,
        message,
    )


def replay_message(message: Message) -> Message:
    """
    What a replay sends back to the group's queue: the message as it was
    published, without the dead-letter headers and the broker's.
    """
    headers = {
        name: value for name, value in message.headers.items() if name not in _OURS and not _from_broker(name)
    }
    return attrs.evolve(message, headers=headers)
