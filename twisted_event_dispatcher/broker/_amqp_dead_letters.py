# -*- test-case-name: tests.broker.test_amqp -*-
"""
A group's dead letters on RabbitMQ: read by getting the messages of its
dead-letter queue without acknowledging them (closing the channel puts
them all back, in order), replayed by publishing one to the group's queue
and only then acknowledging it.
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any, final

from twisted.internet.defer import Deferred
from zope.interface import implementer

from ._amqp import message_of, publish_confirmed
from ._connection import BrokerConnection
from ._consumer import declare_group
from ._deadletter import DeadLetter, read_dead_letter, replay_message
from ._errors import UnknownDeadLetter
from ._interfaces import IDeadLetters
from ._topology import GroupSettings

if TYPE_CHECKING:
    from pika.adapters.twisted_connection import TwistedChannel

#: The most dead letters one replay looks through for its event id.
MAX_SCAN = 10_000


@final
@implementer(IDeadLetters)
class AmqpDeadLetters:
    """
    The dead letters of one group on RabbitMQ.

    :param connection: the broker connection (started by its owner).
    :param settings: the group.
    :param timeout: seconds to wait for the broker.
    """

    def __init__(self, connection: BrokerConnection, settings: GroupSettings, timeout: float = 10.0) -> None:
        self._connection = connection
        self._settings = settings
        self._timeout = timeout
        self.group = settings.name

    async def _channel(self) -> TwistedChannel:
        connection = await self._connection.when_connected(self._timeout)
        channel = await connection.channel()
        await declare_group(channel, self._settings)
        return channel

    async def _get(self, channel: TwistedChannel) -> Any:
        return await channel.basic_get(self._settings.dead_letter_queue)

    def list(self, limit: int = 100) -> Deferred[list[DeadLetter]]:
        """
        See `IDeadLetters.list`.
        """
        return Deferred.fromCoroutine(self._list(limit))

    async def _list(self, limit: int) -> builtins.list[DeadLetter]:
        channel = await self._channel()
        letters: builtins.list[DeadLetter] = []
        try:
            while len(letters) < limit:
                got = await self._get(channel)
                if got is None:
                    break
                letters.append(read_dead_letter(message_of(got.properties, got.body), self.group))
        finally:
            channel.close()
        return letters

    def replay(self, event_id: str) -> Deferred[None]:
        """
        See `IDeadLetters.replay`.
        """
        return Deferred.fromCoroutine(self._replay(event_id))

    async def _replay(self, event_id: str) -> None:
        channel = await self._channel()
        try:
            await channel.confirm_delivery()
            for _ in range(MAX_SCAN):
                got = await self._get(channel)
                if got is None:
                    break
                if got.properties.message_id == event_id:
                    message = replay_message(message_of(got.properties, got.body))
                    await publish_confirmed(channel, "", self._settings.queue, message, {})
                    channel.basic_ack(got.method.delivery_tag)
                    return
        finally:
            channel.close()
        raise UnknownDeadLetter(event_id, self.group)
