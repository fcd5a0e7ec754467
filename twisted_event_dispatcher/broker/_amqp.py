# -*- test-case-name: tests.broker.test_amqp -*-
"""
The envelope in pika's terms, and the few channel operations every AMQP
part shares.  pika is imported inside the functions, never at module top.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from ._envelope import CONTENT_TYPE, Message
from ._errors import PublishRejected, UnroutableEvent

if TYPE_CHECKING:
    from pika.adapters.twisted_connection import TwistedChannel

#: Persistent messages: written to disk (and replicated) by the broker.
PERSISTENT: Final = 2


def properties_of(message: Message, headers: Mapping[str, object] | None = None) -> Any:
    """
    The pika ``BasicProperties`` of a message: persistent, JSON, with its id.

    :param headers: the headers to send (as they are: pika only reads
        them), or None for a copy of the message's.
    """
    from pika.spec import BasicProperties

    return BasicProperties(
        message_id=message.message_id,
        headers=dict(message.headers) if headers is None else headers,
        timestamp=message.timestamp,
        content_type=message.content_type or CONTENT_TYPE,
        content_encoding="utf-8",
        delivery_mode=PERSISTENT,
    )


def message_of(properties: Any, body: bytes) -> Message:
    """
    The message pika delivered.
    """
    return Message(
        properties.message_id,
        properties.headers or {},  # pika makes a new dict for each message
        body,
        properties.timestamp,
        properties.content_type,
    )


def publish_confirmed(
    channel: TwistedChannel,
    exchange: str,
    routing_key: str,
    message: Message,
    details: Mapping[str, object],
    headers: dict[str, object] | None = None,
) -> Deferred[None]:
    """
    Publish ``message`` (mandatory, persistent) on a channel in confirm mode.

    :returns: a Deferred firing once the broker confirms it; failing with
        `UnroutableEvent` if nothing was bound to receive it, with
        `PublishRejected` if the broker refused it, or with pika's error if
        the channel closed first.
    """
    confirming: Deferred[Any] = channel.basic_publish(
        exchange, routing_key, message.body, properties_of(message, headers), mandatory=True
    )
    return confirming.addCallbacks(
        _confirmed, not_confirmed, errbackArgs=(message.message_id or "?", details)
    )


def _confirmed(frame: object) -> None:
    return None


def not_confirmed(failure: Failure, event_id: str, details: Mapping[str, object]) -> Failure:
    """
    Why a publish was not confirmed: `UnroutableEvent` if nothing was bound
    to receive it, `PublishRejected` if the broker refused it, else pika's
    error (the channel closed first, say).
    """
    from pika.exceptions import NackError, UnroutableError

    if failure.check(UnroutableError):
        return Failure(UnroutableEvent(event_id, dict(details)))
    if failure.check(NackError):
        return Failure(PublishRejected(event_id, "the broker answered with a negative confirm"))
    return failure


async def declare_exchange(channel: TwistedChannel, exchange: str, kind: str) -> None:
    """
    Declare a durable exchange (declaring it again is harmless).
    """
    await channel.exchange_declare(exchange=exchange, exchange_type=kind, durable=True)
