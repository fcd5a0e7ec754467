"""
Batched acknowledgements (`AckBatcher`): a delivery is never acknowledged
before it finished, a run of finished deliveries goes in one
``multiple=True`` acknowledgement, nothing waits longer than the delay, and
negative acknowledgements go at once.
"""

from __future__ import annotations

from twisted.internet.task import Clock

from twisted_event_dispatcher.broker._acks import ACK_DELAY, AckBatcher


class RecordingChannel:
    """
    The channel operations the batcher uses, recorded in order.
    """

    def __init__(self) -> None:
        self.is_open = True
        self.sent: list[tuple[str, int, bool]] = []

    def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        self.sent.append(("ack", delivery_tag, multiple))

    def basic_nack(self, delivery_tag: int, requeue: bool = True) -> None:
        self.sent.append(("nack" if requeue else "reject", delivery_tag, False))


def acknowledged(sent: list[tuple[str, int, bool]], delivered: list[int]) -> set[int]:
    """
    The tags the broker counts as acknowledged after ``sent`` (``multiple``
    covers every tag up to its own that was not settled yet).
    """
    settled: set[int] = set()
    acked: set[int] = set()
    for kind, tag, multiple in sent:
        covered = [t for t in delivered if t <= tag and t not in settled] if multiple else [tag]
        settled.update(covered)
        if kind == "ack":
            acked.update(covered)
    return acked


def batcher(batch: int = 4) -> tuple[AckBatcher, RecordingChannel, Clock]:
    channel, clock = RecordingChannel(), Clock()
    acks = AckBatcher(channel, clock, batch)  # type: ignore[arg-type]
    for tag in range(1, 11):
        acks.delivered(tag)
    return acks, channel, clock


def test_a_full_batch_of_finished_deliveries_goes_in_one_multiple_ack():
    acks, channel, _ = batcher(batch=4)
    for tag in (1, 2, 3):
        acks.finished(tag)
    assert channel.sent == []
    acks.finished(4)
    assert channel.sent == [("ack", 4, True)]
    assert acknowledged(channel.sent, list(range(1, 11))) == {1, 2, 3, 4}


def test_a_delivery_in_flight_below_finished_ones_is_never_covered_by_an_ack():
    acks, channel, clock = batcher(batch=4)
    for tag in (1, 3, 4, 5):  # 2 is still in its phases
        acks.finished(tag)
    assert 2 not in acknowledged(channel.sent, list(range(1, 11)))
    assert acknowledged(channel.sent, list(range(1, 11))) == {1, 3, 4, 5}
    assert ("ack", 1, True) in channel.sent
    assert not any(multiple and tag >= 2 for _, tag, multiple in channel.sent)
    clock.advance(ACK_DELAY * 10)
    assert 2 not in acknowledged(channel.sent, list(range(1, 11)))
    acks.finished(2)
    acks.finished(6)
    clock.advance(ACK_DELAY)
    assert acknowledged(channel.sent, list(range(1, 11))) == {1, 2, 3, 4, 5, 6}


def test_finished_deliveries_are_acknowledged_once_the_delay_is_over():
    acks, channel, clock = batcher(batch=50)
    acks.finished(1)
    acks.finished(2)
    clock.advance(ACK_DELAY * 0.9)
    assert channel.sent == []
    assert acks.waiting == 2
    clock.advance(ACK_DELAY * 0.1)
    assert channel.sent == [("ack", 2, True)]
    assert acks.waiting == 0
    assert clock.getDelayedCalls() == []


def test_a_flush_on_demand_sends_what_finished_and_cancels_the_timer():
    acks, channel, clock = batcher(batch=50)
    acks.finished(1)
    acks.flush()
    assert channel.sent == [("ack", 1, True)]
    assert clock.getDelayedCalls() == []
    acks.flush()
    assert channel.sent == [("ack", 1, True)]


def test_a_requeue_is_sent_at_once_and_does_not_hold_the_run_back():
    acks, channel, _ = batcher(batch=3)
    acks.finished(1)
    acks.requeue(2)
    assert channel.sent == [("nack", 2, False)]
    acks.finished(3)
    acks.finished(4)
    assert channel.sent == [("nack", 2, False), ("ack", 4, True)]
    assert acknowledged(channel.sent, list(range(1, 11))) == {1, 3, 4}


def test_on_shutdown_only_processed_deliveries_are_acknowledged():
    """
    As a group stops: the events that finished are acknowledged, the ones
    still in flight when the drain time ran out were sent back, and no
    acknowledgement covers them.
    """
    acks, channel, _ = batcher(batch=50)
    for tag in (1, 2, 4, 7):
        acks.finished(tag)
    for tag in (3, 5, 6, 8, 9, 10):  # the processor's requeue_all
        acks.requeue(tag)
    acks.flush()
    assert acknowledged(channel.sent, list(range(1, 11))) == {1, 2, 4, 7}
    assert [tag for kind, tag, _ in channel.sent if kind == "nack"] == [3, 5, 6, 8, 9, 10]


def test_nothing_is_sent_on_a_closed_channel():
    acks, channel, clock = batcher(batch=50)
    acks.finished(1)
    channel.is_open = False
    clock.advance(ACK_DELAY)
    assert channel.sent == []
    assert acks.waiting == 0


def test_discarding_forgets_the_finished_and_stops_the_timer():
    acks, channel, clock = batcher(batch=50)
    acks.finished(1)
    acks.discard()
    assert clock.getDelayedCalls() == []
    assert acks.waiting == 0
    acks.flush()
    assert channel.sent == []


def test_a_batch_of_one_acknowledges_each_delivery_at_once():
    acks, channel, clock = batcher(batch=0)  # a prefetch of 1 halved: at least 1
    acks.finished(1)
    assert channel.sent == [("ack", 1, True)]
    assert clock.getDelayedCalls() == []


def test_a_rejected_delivery_goes_at_once_and_holds_no_batch_back():
    """
    A delivery the consumer could not even read is rejected (no requeue:
    the broker dead-letters it) at once, and the deliveries after it are
    still acknowledged together with those before it.
    """
    acks, channel, _ = batcher(batch=4)
    acks.finished(1)
    acks.reject(2)
    assert channel.sent == [("reject", 2, False)]
    for tag in (3, 4, 5):
        acks.finished(tag)
    assert channel.sent == [("reject", 2, False), ("ack", 5, True)]
