"""
Broker mode without a broker: `MemoryTransport` routes, delivers,
redelivers and dead-letters events in memory with RabbitMQ's semantics, so
that handlers can be tested on a ``Clock``, with no reactor running.
Also exported by `twisted_event_dispatcher.testing`.
"""

from ._ledger import MemoryCompletionLog
from ._memory import MemoryConsumerGroup, MemoryDeadLetters, MemoryTransport

__all__ = ["MemoryCompletionLog", "MemoryConsumerGroup", "MemoryDeadLetters", "MemoryTransport"]
