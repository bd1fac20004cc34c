"""Acknowledgements and prefetch, as pika sees them: ack / nack / reject with multiple and
requeue, the redelivered flag, where requeued messages go, basic.recover, basic.qos per
consumer and per channel, delivery-tag errors, and requeue when a channel or connection
closes.

Where a test depends on ordering or accounting that the AMQP spec leaves open, it pins what
RabbitMQ 3.10 does, and says so in a comment.
"""

from __future__ import annotations

import pytest

from core_helpers import (Collector, amqp, bodies, expect_channel_error,  # noqa: F401
                          get_all, pump, queue_counts, settle, wait_message_count)


def publish_n(ch, queue: str, n: int, prefix: str = "m") -> list[bytes]:
    sent = [f"{prefix}{i}".encode() for i in range(n)]
    for b in sent:
        ch.basic_publish("", queue, b)
    return sent


def get_unacked(ch, queue: str, n: int) -> list:
    """n basic.get without auto-ack; returns their methods (for the delivery tags)."""
    out = []
    for _ in range(n):
        method, _p, body = ch.basic_get(queue, auto_ack=False)
        assert method is not None, f"queue {queue} ran out after {len(out)}"
        out.append((method, body))
    return out


def consume_unacked(amqp, ch, queue: str, n: int) -> Collector:
    got = Collector()
    ch.basic_consume(queue, got)
    assert pump(amqp.conn, lambda: len(got.got) >= n), f"got {len(got.got)} of {n}"
    return got


def requeued_after_close(amqp, ch, queue: str, want: int) -> list:
    """Closes ch, waits for `want` messages to be ready in queue, and reads them back."""
    ch.close()
    probe = amqp.channel()
    assert wait_message_count(probe, amqp.conn, queue, want) == want
    return get_all(probe, queue)


# -------------------------------------------------------------------------------------------
# ack


def test_ack_single_and_multiple(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 5)
    cch = amqp.channel()
    got = consume_unacked(amqp, cch, q, 5)
    tags = [d.delivery_tag for d in got.got]
    assert tags == [1, 2, 3, 4, 5]
    cch.basic_ack(2)                 # m1
    cch.basic_ack(4, multiple=True)  # m0, m2, m3 (m1 is already acked)
    back = requeued_after_close(amqp, cch, q, 1)
    assert bodies(back) == [b"m4"]
    assert back[0][0].redelivered


def test_ack_multiple_with_tag_zero_acks_all_outstanding(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 4)
    cch = amqp.channel()
    consume_unacked(amqp, cch, q, 4)
    cch.basic_ack(0, multiple=True)
    # RabbitMQ 3.10: nothing left to requeue.
    cch.close()
    settle(amqp.conn, 0.1)
    assert queue_counts(ch, q) == (0, 0)


def test_ack_of_a_basic_get_message(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 2)
    (m0, b0), (m1, b1) = get_unacked(ch, q, 2)
    assert (b0, b1) == (b"m0", b"m1")
    ch.basic_ack(m1.delivery_tag)
    back = requeued_after_close(amqp, ch, q, 1)
    assert bodies(back) == [b"m0"]


# -------------------------------------------------------------------------------------------
# nack and reject


def test_nack_multiple_with_requeue_puts_messages_back_in_order(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 5)
    got = get_unacked(ch, q, 5)
    ch.basic_nack(got[2][0].delivery_tag, multiple=True, requeue=True)  # m0, m1, m2
    again = get_all(ch, q, auto_ack=False)
    assert bodies(again) == [b"m0", b"m1", b"m2"]
    assert all(m.redelivered for m, _p, _b in again)
    # Their new deliveries have new tags; m3 and m4 are still unacked under their old ones.
    assert [m.delivery_tag for m, _p, _b in again] == [6, 7, 8]
    for tag in (6, 7, 8):  # one by one: a multiple ack of 8 would take 4 and 5 too
        ch.basic_ack(tag)
    back = requeued_after_close(amqp, ch, q, 2)
    assert bodies(back) == [b"m3", b"m4"]


def test_nack_and_reject_without_requeue_discard(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 4)
    got = get_unacked(ch, q, 4)
    ch.basic_reject(got[0][0].delivery_tag, requeue=False)              # m0
    ch.basic_nack(got[2][0].delivery_tag, multiple=True, requeue=False)  # m1, m2
    ch.basic_nack(got[3][0].delivery_tag, requeue=False)                # m3
    settle(amqp.conn, 0.1)
    ch.close()
    probe = amqp.channel()
    settle(amqp.conn, 0.1)
    assert queue_counts(probe, q) == (0, 0)


def test_reject_with_requeue_redelivers_with_the_flag(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 2)
    (m0, b0), = get_unacked(ch, q, 1)
    assert not m0.redelivered
    ch.basic_reject(m0.delivery_tag, requeue=True)
    again = get_all(ch, q)
    assert bodies(again) == [b"m0", b"m1"]
    assert [m.redelivered for m, _p, _b in again] == [True, False]


def test_requeued_messages_go_back_to_their_original_position(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 6)
    got = get_unacked(ch, q, 3)  # m0, m1, m2 out; m3, m4, m5 ready
    tag = {body: m.delivery_tag for m, body in got}
    # Requeue in an order that tells the strategies apart: to the head (m2, m0, m1, ...) or
    # to the tail (..., m5, m1, m0, m2) would both differ from the original order.
    ch.basic_reject(tag[b"m1"], requeue=True)
    ch.basic_reject(tag[b"m0"], requeue=True)
    ch.basic_reject(tag[b"m2"], requeue=True)
    # RabbitMQ 3.10: requeued messages return to where they were, m0..m5 in publish order.
    again = get_all(ch, q)
    assert bodies(again) == [b"m0", b"m1", b"m2", b"m3", b"m4", b"m5"]
    assert [m.redelivered for m, _p, _b in again] == [True] * 3 + [False] * 3


def test_requeue_among_later_messages_keeps_publish_order(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 5)
    got = get_unacked(ch, q, 4)   # m0..m3 out, m4 ready
    ch.basic_ack(got[0][0].delivery_tag)                   # m0 done
    ch.basic_nack(got[3][0].delivery_tag, requeue=True)    # m3 back
    ch.basic_nack(got[1][0].delivery_tag, requeue=True)    # m1 back
    # RabbitMQ 3.10: m1, m3, m4 (publish order), with m2 still unacked.
    again = get_all(ch, q, auto_ack=False)
    assert bodies(again) == [b"m1", b"m3", b"m4"]
    back = requeued_after_close(amqp, ch, q, 4)
    # Closing requeues m2 and the three just fetched, again in publish order.
    assert bodies(back) == [b"m1", b"m2", b"m3", b"m4"]
    assert all(m.redelivered for m, _p, _b in back)


def test_nack_requeue_to_a_consumer_redelivers_with_the_flag(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=2)
    got = Collector()
    cch.basic_consume(q, got)
    publish_n(ch, q, 3)
    assert pump(amqp.conn, lambda: len(got.got) == 2)
    cch.basic_nack(got.got[1].delivery_tag, multiple=True, requeue=True)
    assert pump(amqp.conn, lambda: len(got.got) == 4)
    settle(amqp.conn, 0.1)
    # RabbitMQ 3.10: m0 and m1 come back first (original position, ahead of m2).
    assert got.bodies == [b"m0", b"m1", b"m0", b"m1"]
    assert [d.redelivered for d in got.got] == [False, False, True, True]


# -------------------------------------------------------------------------------------------
# basic.recover


def test_basic_recover_requeue_redelivers_all_unacked(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 3)
    cch = amqp.channel()
    got = consume_unacked(amqp, cch, q, 3)
    cch.basic_ack(got.got[1].delivery_tag)  # m1 done
    cch.basic_recover(requeue=True)
    assert pump(amqp.conn, lambda: len(got.got) == 5)
    settle(amqp.conn, 0.1)
    assert got.bodies[3:] == [b"m0", b"m2"]
    assert all(d.redelivered for d in got.got[3:])
    cch.basic_ack(got.got[4].delivery_tag, multiple=True)
    cch.close()
    settle(amqp.conn, 0.1)
    assert queue_counts(ch, q) == (0, 0)


# -------------------------------------------------------------------------------------------
# basic.qos


def two_queues_with_messages(amqp, ch, n: int) -> tuple[str, str]:
    qa, qb = amqp.queue(ch, "a"), amqp.queue(ch, "b")
    publish_n(ch, qa, n, "a")
    publish_n(ch, qb, n, "b")
    return qa, qb


def test_qos_prefetch_count_limits_each_consumer(amqp):
    ch = amqp.publisher()
    qa, qb = two_queues_with_messages(amqp, ch, 5)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=2)  # global=False: each new consumer may have 2 unacked
    a, b = Collector(), Collector()
    cch.basic_consume(qa, a)
    cch.basic_consume(qb, b)
    assert pump(amqp.conn, lambda: len(a.got) == 2 and len(b.got) == 2)
    settle(amqp.conn)
    # RabbitMQ 3.10: 2 each, 4 in all.
    assert (len(a.got), len(b.got)) == (2, 2)

    cch.basic_ack(a.got[0].delivery_tag)
    assert pump(amqp.conn, lambda: len(a.got) == 3)
    settle(amqp.conn)
    assert (len(a.got), len(b.got)) == (3, 2)
    assert a.bodies == [b"a0", b"a1", b"a2"]


def test_qos_global_limits_the_channel(amqp):
    ch = amqp.publisher()
    qa, qb = two_queues_with_messages(amqp, ch, 5)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=3, global_qos=True)  # shared by all consumers
    a, b = Collector(), Collector()
    cch.basic_consume(qa, a)
    cch.basic_consume(qb, b)
    assert pump(amqp.conn, lambda: len(a.got) + len(b.got) == 3)
    settle(amqp.conn)
    # RabbitMQ 3.10: 3 in all across both consumers.
    assert len(a.got) + len(b.got) == 3

    first = (a.got + b.got)[0]
    cch.basic_ack(first.delivery_tag)
    assert pump(amqp.conn, lambda: len(a.got) + len(b.got) == 4)
    settle(amqp.conn)
    assert len(a.got) + len(b.got) == 4


def test_qos_per_consumer_and_global_together(amqp):
    ch = amqp.publisher()
    qa, qb = two_queues_with_messages(amqp, ch, 5)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=2)                   # each consumer: 2
    cch.basic_qos(prefetch_count=3, global_qos=True)  # the channel: 3
    a, b = Collector(), Collector()
    cch.basic_consume(qa, a)
    assert pump(amqp.conn, lambda: len(a.got) == 2)
    cch.basic_consume(qb, b)
    assert pump(amqp.conn, lambda: len(b.got) == 1)
    settle(amqp.conn)
    # RabbitMQ 3.10: a is held at 2 by its own limit, b at 1 by the channel's.
    assert (len(a.got), len(b.got)) == (2, 1)


def test_qos_global_false_applies_to_consumers_created_after_it(amqp):
    ch = amqp.publisher()
    qa, qb = two_queues_with_messages(amqp, ch, 5)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=1)
    a, b = Collector(), Collector()
    cch.basic_consume(qa, a)
    assert pump(amqp.conn, lambda: len(a.got) == 1)
    cch.basic_qos(prefetch_count=3)
    cch.basic_consume(qb, b)
    assert pump(amqp.conn, lambda: len(b.got) == 3)
    settle(amqp.conn)
    # RabbitMQ 3.10: the first consumer keeps the limit it was created with (1); the new
    # one gets 3.
    assert (len(a.got), len(b.got)) == (1, 3)


def test_qos_global_raised_lets_more_through(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 5)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=1, global_qos=True)
    got = Collector()
    cch.basic_consume(q, got)
    assert pump(amqp.conn, lambda: len(got.got) == 1)
    settle(amqp.conn)
    assert len(got.got) == 1
    cch.basic_qos(prefetch_count=3, global_qos=True)
    assert pump(amqp.conn, lambda: len(got.got) == 3)
    settle(amqp.conn)
    # RabbitMQ 3.10: raising the channel limit sends two more at once, to the consumer that
    # already exists.
    assert got.bodies == [b"m0", b"m1", b"m2"]


def test_qos_zero_means_no_limit(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 20)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=0)
    got = consume_unacked(amqp, cch, q, 20)
    assert len(got.got) == 20


def test_prefetch_does_not_hold_back_no_ack_consumers(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 6)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=1)
    got = Collector()
    cch.basic_consume(q, got, auto_ack=True)
    assert pump(amqp.conn, lambda: len(got.got) == 6)


@pytest.mark.parametrize("global_qos", [False, True])
def test_basic_get_is_outside_the_prefetch_limit(amqp, global_qos):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 5)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=1, global_qos=global_qos)
    get_unacked(cch, q, 1)  # m0, unacked, from basic.get
    got = Collector()
    cch.basic_consume(q, got)
    assert pump(amqp.conn, lambda: got.got)
    settle(amqp.conn)
    # RabbitMQ 3.10: the unacked basic.get message does not use the consumer's (or the
    # channel's) credit, and basic.get still works while the consumer is at its limit.
    assert got.bodies == [b"m1"]
    (m, body), = get_unacked(cch, q, 1)
    assert body == b"m2"
    settle(amqp.conn, 0.1)
    assert got.bodies == [b"m1"]


def test_reject_and_nack_free_prefetch_credit(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 4)
    cch = amqp.channel()
    cch.basic_qos(prefetch_count=1)
    got = Collector()
    cch.basic_consume(q, got)
    assert pump(amqp.conn, lambda: len(got.got) == 1)
    cch.basic_reject(got.got[0].delivery_tag, requeue=False)
    assert pump(amqp.conn, lambda: len(got.got) == 2)
    cch.basic_nack(got.got[1].delivery_tag, requeue=False)
    assert pump(amqp.conn, lambda: len(got.got) == 3)
    settle(amqp.conn)
    assert got.bodies == [b"m0", b"m1", b"m2"]


# -------------------------------------------------------------------------------------------
# Delivery-tag errors


def test_unknown_delivery_tag_is_406(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    ch.basic_ack(99)
    # RabbitMQ 3.10: "PRECONDITION_FAILED - unknown delivery tag 99"
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                         "PRECONDITION_FAILED", "unknown delivery tag 99")


def test_repeated_ack_is_406(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 1)
    (m, _b), = get_unacked(ch, q, 1)
    ch.basic_ack(m.delivery_tag)
    ch.basic_ack(m.delivery_tag)
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                         "PRECONDITION_FAILED", f"unknown delivery tag {m.delivery_tag}")


def test_unknown_tag_in_nack_and_reject_is_406(amqp):
    for send in (lambda ch: ch.basic_nack(7), lambda ch: ch.basic_reject(7),
                 lambda ch: ch.basic_nack(7, multiple=True)):
        ch = amqp.channel()
        q = amqp.queue(ch)
        send(ch)
        expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                             "PRECONDITION_FAILED", "unknown delivery tag 7")


def test_delivery_tags_belong_to_their_channel(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 1)
    (m, _b), = get_unacked(ch, q, 1)
    other = amqp.channel()
    other.basic_ack(m.delivery_tag)
    expect_channel_error(lambda: other.queue_declare(q, passive=True), 406,
                         "PRECONDITION_FAILED", "unknown delivery tag")
    # The message is still unacked on its own channel, which can ack it.
    ch.basic_ack(m.delivery_tag)
    ch.close()
    probe = amqp.channel()
    settle(amqp.conn, 0.1)
    assert queue_counts(probe, q) == (0, 0)


def test_a_406_requeues_the_channels_unacked_messages(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 2)
    get_unacked(ch, q, 2)
    ch.basic_ack(42)
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406, "unknown delivery")
    probe = amqp.channel()
    assert wait_message_count(probe, amqp.conn, q, 2) == 2
    assert bodies(get_all(probe, q)) == [b"m0", b"m1"]


# -------------------------------------------------------------------------------------------
# Requeue on close


def test_unacked_messages_are_requeued_when_the_channel_closes(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 5)
    cch = amqp.channel()
    got = consume_unacked(amqp, cch, q, 5)
    cch.basic_ack(got.got[1].delivery_tag)
    cch.basic_ack(got.got[3].delivery_tag)
    back = requeued_after_close(amqp, cch, q, 3)
    # RabbitMQ 3.10: back in publish order, all flagged redelivered.
    assert bodies(back) == [b"m0", b"m2", b"m4"]
    assert all(m.redelivered for m, _p, _b in back)


def test_unacked_messages_are_requeued_when_the_connection_closes(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    publish_n(ch, q, 3)
    other = amqp.connect()
    och = other.channel()
    got = Collector()
    och.basic_consume(q, got)
    assert pump(other, lambda: len(got.got) == 3)
    och.basic_ack(got.got[0].delivery_tag)
    other.close()
    assert wait_message_count(ch, amqp.conn, q, 2) == 2
    back = get_all(ch, q)
    assert bodies(back) == [b"m1", b"m2"]
    assert all(m.redelivered for m, _p, _b in back)


def test_requeued_on_close_go_to_another_consumer(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    first = amqp.channel()
    got1 = Collector()
    first.basic_consume(q, got1)
    publish_n(ch, q, 2)
    assert pump(amqp.conn, lambda: len(got1.got) == 2)
    second = amqp.channel()
    got2 = Collector()
    second.basic_consume(q, got2)
    first.close()
    assert pump(amqp.conn, lambda: len(got2.got) == 2)
    assert got2.bodies == [b"m0", b"m1"]
    assert all(d.redelivered for d in got2.got)
