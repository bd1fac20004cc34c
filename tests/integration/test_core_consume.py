"""Consumers, as pika (and py-amqp, for server-generated tags) see them: no-ack and exclusive
consumers, consumer tags, priorities, cancel (by the client and by the server), basic.get,
round-robin dispatch, and what becomes of unacked messages when a consumer is cancelled."""

from __future__ import annotations

import re

import pika
import pytest

from core_helpers import (WAIT, Collector, amqp, bodies, expect_channel_error,  # noqa: F401
                          get_all, pump, pyamqp_connection, queue_counts, settle,
                          wait_message_count)


def publish_n(ch, queue: str, n: int, prefix: str = "m") -> list[bytes]:
    sent = [f"{prefix}{i}".encode() for i in range(n)]
    for b in sent:
        ch.basic_publish("", queue, b)
    return sent


def test_no_ack_consumer_takes_messages_off_the_queue(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    sent = publish_n(ch, q, 5)
    cch = amqp.channel()
    got = Collector()
    cch.basic_consume(q, got, auto_ack=True)
    assert pump(amqp.conn, lambda: len(got.got) == 5)
    assert got.bodies == sent
    assert [d.delivery_tag for d in got.got] == [1, 2, 3, 4, 5]
    assert not any(d.redelivered for d in got.got)
    # Nothing is unacked: closing the channel requeues nothing.
    cch.close()
    settle(amqp.conn, 0.1)
    assert queue_counts(ch, q) == (0, 0)


def test_exclusive_consumer_refuses_a_second_consumer_with_403(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    owner = amqp.channel()
    owner.basic_consume(q, lambda *a: None, exclusive=True)
    other = amqp.channel()
    # RabbitMQ 3.10: "ACCESS_REFUSED - queue '<q>' in vhost '/' in exclusive use"
    expect_channel_error(lambda: other.basic_consume(q, lambda *a: None), 403,
                         "ACCESS_REFUSED", q, "exclusive")
    # Another connection is refused the same way.
    other = amqp.connect().channel()
    expect_channel_error(lambda: other.basic_consume(q, lambda *a: None, exclusive=True), 403,
                         "ACCESS_REFUSED", q)
    assert owner.is_open


def test_exclusive_consume_on_a_queue_that_has_consumers_is_403(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    ch.basic_consume(q, lambda *a: None)
    other = amqp.channel()
    expect_channel_error(lambda: other.basic_consume(q, lambda *a: None, exclusive=True), 403,
                         "ACCESS_REFUSED", q)


def test_exclusive_consumer_cancelled_frees_the_queue(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    tag = ch.basic_consume(q, lambda *a: None, exclusive=True)
    ch.basic_cancel(tag)
    other = amqp.channel()
    other.basic_consume(q, lambda *a: None)
    assert queue_counts(ch, q)[1] == 1


def test_consume_from_missing_queue_is_404(amqp):
    ch = amqp.channel()
    missing = amqp.name("missing")
    expect_channel_error(lambda: ch.basic_consume(missing, lambda *a: None), 404,
                         "NOT_FOUND", missing)


def test_given_consumer_tag_is_used(amqp):
    conn = amqp.connect()
    ch = conn.channel()
    q = amqp.queue(ch)
    got = Collector()
    assert ch.basic_consume(q, got, consumer_tag="my-tag") == "my-tag"
    amqp.channel().basic_publish("", q, b"x")
    assert pump(conn, lambda: got.got)
    assert got.got[0].consumer_tag == "my-tag"
    # The same tag on another channel is a different consumer: fine.
    assert conn.channel().basic_consume(q, got, consumer_tag="my-tag") == "my-tag"



def test_reusing_a_consumer_tag_on_one_channel_is_530(amqp):
    # pika refuses to send a duplicate tag itself; py-amqp (kombu's client) sends it.
    import amqp as pyamqp

    with pyamqp_connection(amqp.port) as conn:
        ch = conn.channel()
        q, _, _ = ch.queue_declare(amqp.name(), exclusive=True)
        assert ch.basic_consume(q, consumer_tag="dup", callback=lambda m: None) == "dup"
        # RabbitMQ 3.10: connection.close 530 "NOT_ALLOWED - attempt to reuse consumer tag
        # 'dup'".
        with pytest.raises(pyamqp.exceptions.NotAllowed) as info:
            ch.basic_consume(q, consumer_tag="dup", callback=lambda m: None)
        assert info.value.reply_code == 530
        assert "NOT_ALLOWED" in info.value.reply_text
        assert "dup" in info.value.reply_text


def test_server_generates_amq_ctag_when_the_tag_is_empty(amqp):
    # pika always makes up its own tag, so use py-amqp (kombu's client), which sends an empty
    # one and reads the server's from consume-ok.
    import amqp as pyamqp

    with pyamqp_connection(amqp.port) as conn:
        ch = conn.channel()
        q, _, _ = ch.queue_declare(amqp.name(), exclusive=True)
        seen = []
        tags = {ch.basic_consume(q, consumer_tag="", callback=seen.append) for _ in range(3)}
        assert len(tags) == 3
        for tag in tags:
            # RabbitMQ 3.10: amq.ctag- and 22 characters of url-safe base64.
            assert re.fullmatch(r"amq\.ctag-[A-Za-z0-9_-]{22}", tag), tag
        ch.basic_publish(pyamqp.Message(b"hi"), exchange="", routing_key=q)
        conn.drain_events(timeout=WAIT)
        assert [m.body for m in seen] == [b"hi"]
        assert seen[0].delivery_info["consumer_tag"] in tags


def test_higher_priority_consumer_gets_messages_first(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    low_ch, high_ch = amqp.channel(), amqp.channel()
    low, high = Collector(), Collector()
    low_ch.basic_consume(q, low, auto_ack=True, arguments={"x-priority": 0})
    high_ch.basic_consume(q, high, auto_ack=True, arguments={"x-priority": 10})
    publish_n(ch, q, 6)
    assert pump(amqp.conn, lambda: len(low.got) + len(high.got) == 6)
    assert len(high.got) == 6 and low.got == []


def test_lower_priority_consumer_gets_messages_while_the_higher_one_is_blocked(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    low_ch, high_ch = amqp.channel(), amqp.channel()
    high_ch.basic_qos(prefetch_count=2)
    low, high = Collector(), Collector()
    high_ch.basic_consume(q, high, arguments={"x-priority": 5})
    low_ch.basic_consume(q, low, auto_ack=True)
    sent = publish_n(ch, q, 6)
    assert pump(amqp.conn, lambda: len(low.got) + len(high.got) == 6)
    # RabbitMQ 3.10: the priority consumer takes m0 and m1 (its prefetch), the rest go on.
    assert high.bodies == sent[:2]
    assert low.bodies == sent[2:]


def test_basic_cancel_stops_deliveries_and_leaves_messages_ready(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    cch = amqp.channel()
    got = Collector()
    tag = cch.basic_consume(q, got, auto_ack=True)
    publish_n(ch, q, 2, "before")
    assert pump(amqp.conn, lambda: len(got.got) == 2)
    cch.basic_cancel(tag)
    after = publish_n(ch, q, 3, "after")
    settle(amqp.conn)
    assert got.bodies == [b"before0", b"before1"]
    assert queue_counts(ch, q) == (3, 0)
    assert bodies(get_all(ch, q)) == after


def test_cancel_of_unknown_tag_succeeds(amqp):
    ch = amqp.channel()
    # RabbitMQ 3.10: cancel-ok for a tag that names no consumer; the channel stays open.
    ch._impl.basic_cancel("no-such-consumer")
    settle(amqp.conn, 0.1)
    assert ch.is_open
    amqp.queue(ch, exclusive=True)


def test_server_cancels_consumer_when_its_queue_is_deleted(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    cch = amqp.channel()
    cancelled = []
    cch.add_on_cancel_callback(lambda frame: cancelled.append(frame.method))
    got = Collector()
    tag = cch.basic_consume(q, got)
    ch.basic_publish("", q, b"one")
    assert pump(amqp.conn, lambda: got.got)
    ch.queue_delete(q)
    assert pump(amqp.conn, lambda: cancelled)
    assert [m.consumer_tag for m in cancelled] == [tag]
    # The channel lives on, and the delivery made before the delete can still be acked.
    assert cch.is_open
    cch.basic_ack(got.got[0].delivery_tag)
    amqp.queue(cch, "other", exclusive=True)  # a round trip: the ack was accepted
    assert cch.is_open


def test_basic_get_and_get_empty(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    assert ch.basic_get(q) == (None, None, None)  # get-empty
    publish_n(ch, q, 3)
    method, props, body = ch.basic_get(q, auto_ack=True)
    assert isinstance(method, pika.spec.Basic.GetOk)
    assert (body, method.message_count, method.redelivered, method.exchange,
            method.routing_key) == (b"m0", 2, False, "", q)
    method, _p, body = ch.basic_get(q, auto_ack=False)
    assert (body, method.message_count) == (b"m1", 1)
    ch.basic_ack(method.delivery_tag)
    method, _p, body = ch.basic_get(q, auto_ack=True)
    assert (body, method.message_count) == (b"m2", 0)
    assert ch.basic_get(q) == (None, None, None)


def test_basic_get_from_missing_queue_is_404(amqp):
    ch = amqp.channel()
    missing = amqp.name("missing")
    expect_channel_error(lambda: ch.basic_get(missing), 404, "NOT_FOUND", missing)


def test_round_robin_among_a_queues_consumers(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    a_ch, b_ch = amqp.channel(), amqp.channel()
    a, b = Collector(), Collector()
    a_ch.basic_consume(q, a, auto_ack=True)
    b_ch.basic_consume(q, b, auto_ack=True)
    sent = publish_n(ch, q, 8)
    assert pump(amqp.conn, lambda: len(a.got) + len(b.got) == 8)
    # RabbitMQ 3.10: strict alternation, starting with the first consumer.
    assert a.bodies == sent[0::2]
    assert b.bodies == sent[1::2]


def test_round_robin_with_prefetch_one_and_acks(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    chans = [amqp.channel() for _ in range(3)]
    cols = [Collector() for _ in chans]
    for c, col in zip(chans, cols):
        c.basic_qos(prefetch_count=1)
        c.basic_consume(q, col)
    publish_n(ch, q, 9)
    total = lambda: sum(len(c.got) for c in cols)  # noqa: E731
    for round_ in range(1, 4):
        assert pump(amqp.conn, lambda: total() == 3 * round_), total()
        settle(amqp.conn, 0.05)
        assert [len(c.got) for c in cols] == [round_] * 3  # one each, per round
        for c, col in zip(chans, cols):
            c.basic_ack(col.got[-1].delivery_tag)
    assert sorted(b for c in cols for b in c.bodies) == sorted(f"m{i}".encode()
                                                               for i in range(9))


def test_unacked_messages_stay_unacked_after_cancel(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    cch = amqp.channel()
    got = Collector()
    tag = cch.basic_consume(q, got)
    publish_n(ch, q, 3)
    assert pump(amqp.conn, lambda: len(got.got) == 3)
    cch.basic_cancel(tag)
    settle(amqp.conn, 0.1)
    # RabbitMQ 3.10: cancel does not requeue; the three stay unacked on the channel.
    assert queue_counts(ch, q) == (0, 0)
    # They can still be acked after the cancel ...
    cch.basic_ack(got.got[0].delivery_tag)
    # ... and the rest come back only when the channel closes, marked redelivered.
    cch.close()
    assert wait_message_count(ch, amqp.conn, q, 2) == 2
    again = get_all(ch, q)
    assert bodies(again) == [b"m1", b"m2"]
    assert all(m.redelivered for m, _p, _b in again)


def test_ack_of_a_no_ack_delivery_is_406(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    got = Collector()
    ch.basic_consume(q, got, auto_ack=True)
    amqp.channel().basic_publish("", q, b"x")
    assert pump(amqp.conn, lambda: got.got)
    # A no-ack delivery has nothing to ack. RabbitMQ 3.10: "PRECONDITION_FAILED - unknown
    # delivery tag 1".
    ch.basic_ack(got.got[0].delivery_tag)
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                         "PRECONDITION_FAILED", "unknown delivery tag 1")
