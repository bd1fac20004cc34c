"""Direct reply-to (amq.rabbitmq.reply-to), as RabbitMQ's documentation describes it: the
client consumes from the pseudo-queue in no-ack mode and publishes its request with
reply_to='amq.rabbitmq.reply-to'; the server sees a rewritten reply_to address and publishes
its answer to the default exchange with that address as the routing key."""

from __future__ import annotations

import pika

from core_helpers import (Collector, amqp, expect_channel_error, pump, pump_all,  # noqa: F401
                          settle)

REPLY_TO = "amq.rabbitmq.reply-to"


def start_rpc_server(amqp, conn, queue: str, seen: list):
    """A consumer on `queue` that answers every request with b"re:" + body to its reply_to,
    keeping the correlation id, and records the request's properties in `seen`."""
    ch = conn.channel()

    def on_request(c, method, props, body):
        seen.append(props)
        c.basic_publish("", props.reply_to, b"re:" + body,
                        pika.BasicProperties(correlation_id=props.correlation_id))
        c.basic_ack(method.delivery_tag)

    ch.basic_consume(queue, on_request)
    return ch


def test_direct_reply_to_rpc_round_trip(amqp):
    server_conn = amqp.connect()
    rpc_queue = amqp.queue(server_conn.channel(), "rpc")
    seen: list = []
    start_rpc_server(amqp, server_conn, rpc_queue, seen)

    client_conn = amqp.connect()
    client = client_conn.channel()
    replies = Collector()
    client.basic_consume(REPLY_TO, replies, auto_ack=True)
    for i in range(3):
        client.basic_publish("", rpc_queue, f"req{i}".encode(),
                             pika.BasicProperties(reply_to=REPLY_TO, correlation_id=f"c{i}"))
    assert pump_all([server_conn, client_conn], lambda: len(replies.got) == 3)

    assert replies.bodies == [b"re:req0", b"re:req1", b"re:req2"]
    assert [d.props.correlation_id for d in replies.got] == ["c0", "c1", "c2"]
    # The server saw a per-channel address, not the pseudo-queue's name ...
    addresses = {p.reply_to for p in seen}
    assert len(addresses) == 1
    (address,) = addresses
    assert address.startswith(REPLY_TO + ".") and len(address) > len(REPLY_TO) + 1
    # ... and the reply arrives from the default exchange with that address as its key.
    assert all(d.exchange == "" and d.routing_key == address for d in replies.got)


def test_each_channel_gets_its_own_reply_address(amqp):
    server_conn = amqp.connect()
    rpc_queue = amqp.queue(server_conn.channel(), "rpc")
    seen: list = []
    start_rpc_server(amqp, server_conn, rpc_queue, seen)
    client_conn = amqp.connect()
    a, b = client_conn.channel(), client_conn.channel()
    got_a, got_b = Collector(), Collector()
    a.basic_consume(REPLY_TO, got_a, auto_ack=True)
    b.basic_consume(REPLY_TO, got_b, auto_ack=True)
    a.basic_publish("", rpc_queue, b"from-a", pika.BasicProperties(reply_to=REPLY_TO))
    b.basic_publish("", rpc_queue, b"from-b", pika.BasicProperties(reply_to=REPLY_TO))
    assert pump_all([server_conn, client_conn], lambda: got_a.got and got_b.got)
    assert (got_a.bodies, got_b.bodies) == ([b"re:from-a"], [b"re:from-b"])
    assert seen[0].reply_to != seen[1].reply_to


def test_reply_to_pseudo_queue_can_be_declared(amqp):
    ch = amqp.channel()
    # RabbitMQ 3.10: declare-ok with 0 messages and 1 consumer, passive or not, whether or
    # not this channel consumes from it (clients use it to probe for the feature).
    for passive in (True, False):
        ok = ch.queue_declare(REPLY_TO, passive=passive).method
        assert (ok.queue, ok.message_count, ok.consumer_count) == (REPLY_TO, 0, 1)


def test_reply_address_can_be_probed_while_the_requester_lives(amqp):
    server_conn = amqp.connect()
    rpc_queue = amqp.queue(server_conn.channel(), "rpc")
    seen: list = []
    start_rpc_server(amqp, server_conn, rpc_queue, seen)
    client_conn = amqp.connect()
    client = client_conn.channel()
    got = Collector()
    client.basic_consume(REPLY_TO, got, auto_ack=True)
    client.basic_publish("", rpc_queue, b"req", pika.BasicProperties(reply_to=REPLY_TO))
    assert pump_all([server_conn, client_conn], lambda: got.got)
    address = seen[0].reply_to

    # RabbitMQ 3.10: a passive declare of the address succeeds while its channel is open,
    # and is 404 NOT_FOUND naming the address once it has closed.
    probe = server_conn.channel()
    probe.queue_declare(address, passive=True)
    client.close()
    expect_channel_error(lambda: probe.queue_declare(address, passive=True), 404,
                         "NOT_FOUND", address)


def test_reply_consumer_must_be_no_ack(amqp):
    ch = amqp.channel()
    # RabbitMQ 3.10: "PRECONDITION_FAILED - reply consumer cannot acknowledge"
    expect_channel_error(lambda: ch.basic_consume(REPLY_TO, lambda *a: None, auto_ack=False),
                         406, "PRECONDITION_FAILED", "acknowledge")


def test_publishing_with_reply_to_before_consuming_is_406(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch, "rpc")
    ch.basic_publish("", q, b"req", pika.BasicProperties(reply_to=REPLY_TO))
    # RabbitMQ 3.10: "PRECONDITION_FAILED - fast reply consumer does not exist"
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                         "PRECONDITION_FAILED", "reply consumer does not exist")


def test_mandatory_reply_to_a_closed_channel_is_returned(amqp):
    server_conn = amqp.connect()
    rpc_queue = amqp.queue(server_conn.channel(), "rpc")
    client_conn = amqp.connect()
    client = client_conn.channel()
    client.basic_consume(REPLY_TO, lambda *a: None, auto_ack=True)
    client.basic_publish("", rpc_queue, b"req", pika.BasicProperties(reply_to=REPLY_TO))
    sch = server_conn.channel()
    method, props, _body = None, None, None
    for _ in range(100):  # bounded: the request is there almost at once
        method, props, _body = sch.basic_get(rpc_queue, auto_ack=True)
        if method is not None:
            break
        settle(server_conn, 0.02)
    assert method is not None
    client.close()  # the requester goes away before the answer

    returned = []
    sch.add_on_return_callback(lambda _c, m, _p, b: returned.append((m.reply_code, b)))
    sch.basic_publish("", props.reply_to, b"late", mandatory=True)
    sch.basic_publish("", props.reply_to, b"late-not-mandatory")
    # RabbitMQ 3.10: the mandatory answer comes back as 312 NO_ROUTE; the other is dropped,
    # and the server's channel stays open.
    assert pump(server_conn, lambda: returned)
    settle(server_conn, 0.1)
    assert returned == [(312, b"late")]
    assert sch.is_open
