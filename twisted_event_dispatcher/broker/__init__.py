"""
Broker mode: events through RabbitMQ, at least once, nothing lost, effects once.

- `AmqpTransport` publishes events (persistent, confirmed, ``mandatory``)
  to a headers exchange and runs consumer groups: durable quorum queues
  bound by the match-specs of the handlers each group runs.  A delivery is
  acknowledged after its last phase, retried after a failure, and sent to
  the group's dead letters (`IDeadLetters`) after its delivery limit.
- A completion log (`PostgresCompletionLog`, `MemoryCompletionLog`)
  records which handlers completed for which event, so a redelivery skips
  them.
- `MemoryTransport` (also in `twisted_event_dispatcher.testing`) has the
  same semantics in memory, for tests without a broker.

pika and psycopg are optional (the ``broker`` extra) and imported only when
a connection or a database pool is made.  See ``docs/scaling-out.rst``.
"""

from ._amqp_dead_letters import AmqpDeadLetters
from ._connection import DEFAULT_URL, BrokerConnection
from ._consumer import AmqpConsumerGroup
from ._deadletter import DeadLetter
from ._envelope import Envelope, Message, event_id_time_ms, from_message, new_event_id, seal, to_message
from ._errors import (
    BrokerError,
    BrokerRefused,
    BrokerUnavailable,
    EnvelopeError,
    GroupConflict,
    PublishRejected,
    UnknownDeadLetter,
    UnroutableEvent,
)
from ._interfaces import ICompletionLog, IDeadLetters, IEventPublisher, IEventTransport
from ._ledger import FireLedger, MemoryCompletionLog
from ._memory import MemoryConsumerGroup, MemoryDeadLetters, MemoryTransport
from ._postgres import DEFAULT_DSN, PostgresCompletionLog
from ._publisher import AmqpPublisher
from ._topology import GroupSettings, bindings_for
from ._transport import AmqpTransport

__all__ = [
    "DEFAULT_DSN",
    "DEFAULT_URL",
    "AmqpConsumerGroup",
    "AmqpDeadLetters",
    "AmqpPublisher",
    "AmqpTransport",
    "BrokerConnection",
    "BrokerError",
    "BrokerRefused",
    "BrokerUnavailable",
    "DeadLetter",
    "Envelope",
    "EnvelopeError",
    "FireLedger",
    "GroupConflict",
    "GroupSettings",
    "ICompletionLog",
    "IDeadLetters",
    "IEventPublisher",
    "IEventTransport",
    "MemoryCompletionLog",
    "MemoryConsumerGroup",
    "MemoryDeadLetters",
    "MemoryTransport",
    "Message",
    "PostgresCompletionLog",
    "PublishRejected",
    "UnknownDeadLetter",
    "UnroutableEvent",
    "bindings_for",
    "event_id_time_ms",
    "from_message",
    "new_event_id",
    "seal",
    "to_message",
]
