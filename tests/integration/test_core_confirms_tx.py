"""Publisher confirms and transactions, as pika sees them.

The blocking pika channel waits for the confirm of each publish, so it never sees a multiple
ack. To watch the confirm stream itself, some tests open a channel on the connection's
asynchronous implementation (BlockingConnection._impl, a pika SelectConnection) and record
every basic.ack / basic.nack / basic.return frame, in arrival order, while the blocking
connection's process_data_events drives the I/O.
"""

from __future__ import annotations

import pika
import pika.exceptions
import pytest

from core_helpers import (Collector, amqp, bodies, expect_channel_error,  # noqa: F401
                          get_all, pump, queue_counts, settle, wait_message_count)


def open_async_channel(amqp, conn: pika.BlockingConnection):
    """A pika.channel.Channel on conn's implementation. It is closed at teardown, before the
    connection: BlockingConnection.close() cannot close channels it did not open."""
    box = []
    conn._impl.channel(on_open_callback=box.append)
    assert pump(conn, lambda: box), "channel.open-ok never came"
    ch = box[0]

    def close():
        if ch.is_open:
            ch.close()
            pump(conn, lambda: ch.is_closed)

    amqp.add_finalizer(close)
    return ch


class ConfirmLog:
    """Selects confirms on an async channel and records acks, nacks and returns in order."""

    def __init__(self, conn, ch):
        self.events: list[tuple] = []
        selected = []
        ch.add_on_return_callback(
            lambda _c, method, _p, body: self.events.append(("return", method.reply_code,
                                                             body)))
        ch.confirm_delivery(ack_nack_callback=self._on_confirm, callback=selected.append)
        assert pump(conn, lambda: selected), "confirm.select-ok never came"

    def _on_confirm(self, frame):
        m = frame.method
        kind = "ack" if isinstance(m, pika.spec.Basic.Ack) else "nack"
        self.events.append((kind, m.delivery_tag, m.multiple))

    def confirmed_tags(self) -> list[int]:
        """Every delivery tag the acks cover, expanding multiple acks, in order."""
        tags, last = [], 0
        for kind, tag, multiple in (e for e in self.events if e[0] == "ack"):
            tags.extend(range(last + 1, tag + 1) if multiple else [tag])
            last = max(last, tag)
        return tags


# -------------------------------------------------------------------------------------------
# Confirms


def test_confirm_select_then_every_publish_is_acked(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch)
    ch.confirm_delivery()
    for i in range(10):
        ch.basic_publish("", q, str(i).encode())  # raises NackError / UnroutableError if not
    assert queue_counts(ch, q) == (10, 0)


def test_confirms_cover_each_delivery_tag_once_possibly_with_multiple(amqp):
    conn = amqp.connect()
    q = amqp.queue(conn.channel())
    ch = open_async_channel(amqp, conn)
    log = ConfirmLog(conn, ch)
    n = 200
    for i in range(n):
        ch.basic_publish("", q, str(i).encode())
    assert pump(conn, lambda: len(set(log.confirmed_tags())) == n), log.events[-3:]
    settle(conn, 0.1)
    tags = log.confirmed_tags()
    # Each tag confirmed exactly once, in order; a broker may batch them with multiple=True.
    assert tags == list(range(1, n + 1))
    assert all(e[0] == "ack" for e in log.events)
    acked_tags = [e[1] for e in log.events]
    assert acked_tags == sorted(acked_tags)
    assert queue_counts(conn.channel(), q) == (n, 0)


def test_unroutable_mandatory_message_is_confirmed_after_its_return(amqp):
    conn = amqp.connect()
    ch = open_async_channel(amqp, conn)
    log = ConfirmLog(conn, ch)
    x = amqp.exchange(conn.channel(), "x", "direct")
    ch.basic_publish(x, "nowhere", b"bounced", mandatory=True)
    ch.basic_publish(x, "nowhere", b"dropped")  # not mandatory: just acked
    assert pump(conn, lambda: len([e for e in log.events if e[0] == "ack"]) >= 1
                and log.confirmed_tags()[-1:] == [2])
    settle(conn, 0.1)
    # RabbitMQ 3.10: basic.return first, then the ack for tag 1, then tag 2.
    returns = [e for e in log.events if e[0] == "return"]
    assert returns == [("return", 312, b"bounced")]
    assert log.events.index(returns[0]) < next(
        i for i, e in enumerate(log.events) if e[0] == "ack")
    assert log.confirmed_tags() == [1, 2]


def test_blocking_confirm_reports_unroutable_mandatory_message(amqp):
    ch = amqp.channel()
    ch.confirm_delivery()
    x = amqp.exchange(ch, "x", "direct")
    # pika raises UnroutableError when the basic.return precedes the message's ack.
    with pytest.raises(pika.exceptions.UnroutableError) as info:
        ch.basic_publish(x, "nowhere", b"bounced", mandatory=True)
    (returned,) = info.value.messages
    assert returned.method.reply_code == 312 and returned.body == b"bounced"
    ch.basic_publish(x, "nowhere", b"fine")  # not mandatory: no error


def test_confirms_on_a_routed_message_with_a_consumer(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch)
    got = Collector()
    amqp.channel().basic_consume(q, got, auto_ack=True)
    ch.confirm_delivery()
    ch.basic_publish("", q, b"seen")
    assert pump(amqp.conn, lambda: got.got)
    assert got.bodies == [b"seen"]


def test_confirm_and_tx_modes_exclude_each_other(amqp):
    ch = amqp.channel()
    ch.tx_select()
    # RabbitMQ 3.10: "PRECONDITION_FAILED - cannot switch from tx to confirm mode"
    expect_channel_error(ch.confirm_delivery, 406, "PRECONDITION_FAILED", "confirm")
    ch = amqp.channel()
    ch.confirm_delivery()
    # RabbitMQ 3.10: "PRECONDITION_FAILED - cannot switch from confirm to tx mode"
    expect_channel_error(ch.tx_select, 406, "PRECONDITION_FAILED", "tx")


# -------------------------------------------------------------------------------------------
# Transactions


def test_tx_publishes_are_invisible_until_commit(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch)
    tx = amqp.channel()
    tx.tx_select()
    for i in range(3):
        tx.basic_publish("", q, f"t{i}".encode())
    settle(amqp.conn, 0.1)
    assert queue_counts(ch, q) == (0, 0)
    assert ch.basic_get(q) == (None, None, None)
    tx.tx_commit()
    assert wait_message_count(ch, amqp.conn, q, 3) == 3
    assert bodies(get_all(ch, q)) == [b"t0", b"t1", b"t2"]


def test_tx_rollback_discards_publishes(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch)
    tx = amqp.channel()
    tx.tx_select()
    tx.basic_publish("", q, b"discarded-1")
    tx.basic_publish("", q, b"discarded-2")
    tx.tx_rollback()
    tx.basic_publish("", q, b"kept")
    tx.tx_commit()
    assert wait_message_count(ch, amqp.conn, q, 1) == 1
    assert bodies(get_all(ch, q)) == [b"kept"]
    # The channel stays transactional after a commit: this one is held back too.
    tx.basic_publish("", q, b"next")
    settle(amqp.conn, 0.1)
    assert queue_counts(ch, q) == (0, 0)
    tx.tx_commit()
    assert wait_message_count(ch, amqp.conn, q, 1) == 1


def test_tx_acks_are_applied_at_commit(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    for i in range(3):
        ch.basic_publish("", q, f"m{i}".encode())
    tx = amqp.channel()
    tx.tx_select()
    got = [tx.basic_get(q, auto_ack=False) for _ in range(3)]
    assert [b for _m, _p, b in got] == [b"m0", b"m1", b"m2"]
    tx.basic_ack(got[0][0].delivery_tag)
    tx.tx_rollback()  # RabbitMQ 3.10: the ack is forgotten, m0 stays unacked
    tx.basic_ack(got[1][0].delivery_tag)
    tx.basic_ack(got[2][0].delivery_tag)
    tx.tx_commit()    # m1 and m2 are acked now
    tx.close()
    assert wait_message_count(ch, amqp.conn, q, 1) == 1
    back = get_all(ch, q)
    assert bodies(back) == [b"m0"]
    assert back[0][0].redelivered


def test_tx_acks_are_not_applied_before_commit(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    ch.basic_publish("", q, b"m0")
    ch.basic_publish("", q, b"m1")
    tx = amqp.channel()
    tx.tx_select()
    tx.basic_get(q)
    m1, _p, _b = tx.basic_get(q)
    tx.basic_ack(m1.delivery_tag, multiple=True)
    # Closing without a commit discards the pending ack: both come back.
    tx.close()
    assert wait_message_count(ch, amqp.conn, q, 2) == 2
    assert bodies(get_all(ch, q)) == [b"m0", b"m1"]


def test_tx_nack_with_requeue_applies_at_commit(amqp):
    ch = amqp.publisher()
    q = amqp.queue(ch)
    ch.basic_publish("", q, b"m0")
    tx = amqp.channel()
    tx.tx_select()
    m0, _p, _b = tx.basic_get(q)
    tx.basic_nack(m0.delivery_tag, requeue=True)
    settle(amqp.conn, 0.1)
    assert queue_counts(ch, q) == (0, 0)  # not yet
    tx.tx_commit()
    assert wait_message_count(ch, amqp.conn, q, 1) == 1
    (m, _p, body), = get_all(ch, q)
    assert body == b"m0" and m.redelivered


def test_tx_mandatory_return_comes_at_commit(amqp):
    tx = amqp.channel()
    x = amqp.exchange(tx, "x", "direct")
    returned = []
    tx.add_on_return_callback(lambda _c, method, _p, body: returned.append((method, body)))
    tx.tx_select()
    tx.basic_publish(x, "nowhere", b"bounced", mandatory=True)
    settle(amqp.conn)
    # RabbitMQ 3.10: nothing is routed, so nothing returned, before the commit.
    assert returned == []
    tx.tx_commit()
    assert pump(amqp.conn, lambda: returned)
    (method, body), = returned
    assert (method.reply_code, method.reply_text, body) == (312, "NO_ROUTE", b"bounced")


@pytest.mark.parametrize("call", ["tx_commit", "tx_rollback"])
def test_commit_or_rollback_without_select_is_406(amqp, call):
    ch = amqp.channel()
    # RabbitMQ 3.10: "PRECONDITION_FAILED - channel is not transactional"
    expect_channel_error(getattr(ch, call), 406, "PRECONDITION_FAILED", "not transactional")
