"""Publishing, as pika sees it: mandatory returns, bodies split across frames, empty bodies,
properties, the message size limit, sender-selected (CC/BCC) routing and user-id checks."""

from __future__ import annotations

import datetime
import decimal
import os

import pika
import pytest

from conftest import pika_params
from core_helpers import (WAIT, amqp, bodies, expect_channel_error, get_all,  # noqa: F401
                          pump, settle)

# -------------------------------------------------------------------------------------------
# Mandatory and basic.return


def test_mandatory_unroutable_message_is_returned_with_312_no_route(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "x", "direct")
    returned = []
    ch.add_on_return_callback(lambda _c, method, props, body:
                              returned.append((method, props, body)))
    props = pika.BasicProperties(content_type="text/plain", headers={"h": "v"},
                                 correlation_id="c-1")
    ch.basic_publish(x, "nowhere", b"come back", props, mandatory=True)
    assert pump(amqp.conn, lambda: returned)
    (method, rprops, body), = returned
    assert method.reply_code == 312
    assert method.reply_text == "NO_ROUTE"
    assert (method.exchange, method.routing_key) == (x, "nowhere")
    assert body == b"come back"
    assert (rprops.content_type, rprops.headers, rprops.correlation_id) == \
        ("text/plain", {"h": "v"}, "c-1")


def test_mandatory_on_default_exchange_to_missing_queue_is_returned(amqp):
    ch = amqp.channel()
    returned = []
    ch.add_on_return_callback(lambda _c, method, _p, body: returned.append((method, body)))
    missing = amqp.name("missing")
    ch.basic_publish("", missing, b"x", mandatory=True)
    assert pump(amqp.conn, lambda: returned)
    (method, body), = returned
    assert (method.reply_code, method.exchange, method.routing_key, body) == \
        (312, "", missing, b"x")


def test_unroutable_without_mandatory_or_routable_with_it_is_not_returned(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "x", "direct")
    q = amqp.queue(ch, exclusive=True)
    ch.queue_bind(q, x, "known")
    returned = []
    ch.add_on_return_callback(lambda *a: returned.append(a))
    ch.basic_publish(x, "unknown", b"dropped")                  # not mandatory: dropped
    ch.basic_publish(x, "known", b"delivered", mandatory=True)  # routed: not returned
    assert bodies(get_all(ch, q)) == [b"delivered"]
    settle(amqp.conn)
    assert returned == []


# -------------------------------------------------------------------------------------------
# Bodies


def negotiated_frame_max(conn) -> int:
    return conn._impl.params.frame_max  # pika stores the tuned value back in its params


@pytest.mark.parametrize("size", [1 << 20, 5 << 20])
def test_large_body_split_across_frames_round_trips_exactly(amqp, size):
    ch = amqp.channel()
    q = amqp.queue(ch, exclusive=True)
    body = os.urandom(size)
    assert size > negotiated_frame_max(amqp.conn)  # so it needs many body frames
    ch.basic_publish("", q, body)
    (method, _p, got), = get_all(ch, q)
    assert len(got) == size
    assert got == body

    # And through a consumer.
    ch.basic_publish("", q, body)
    for m, _p, got in ch.consume(q, auto_ack=True, inactivity_timeout=WAIT):
        break
    ch.cancel()
    assert m is not None, "no delivery"
    assert got == body


def test_large_bodies_shared_by_queues_and_returns_arrive_intact(amqp):
    # Bodies of 64 KiB and more leave the broker from the message itself (scatter/gather), in
    # frames of 4 KiB here; one message goes to three queues and one comes back returned.
    conn = amqp.connect(frame_max=4096)
    ch = conn.channel()
    x = amqp.exchange(ch, "fan", "fanout")
    queues = [amqp.queue(ch, f"q{i}", exclusive=True) for i in range(3)]
    for q in queues:
        ch.queue_bind(q, x)
    bodies_sent = [os.urandom(n) for n in (64 * 1024 - 1, 64 * 1024, 64 * 1024 + 1, 300_000)]
    for body in bodies_sent:
        ch.basic_publish(x, "", body)
    settle(conn)
    for q in queues:
        assert bodies(get_all(ch, q)) == bodies_sent

    returned = []
    ch.add_on_return_callback(lambda _c, _m, _p, body: returned.append(body))
    ch.basic_publish("", amqp.name("missing"), bodies_sent[-1], mandatory=True)
    assert pump(conn, lambda: returned)
    assert returned == [bodies_sent[-1]]


def test_bodies_at_frame_boundaries_round_trip(amqp):
    conn = amqp.connect(frame_max=4096)
    assert negotiated_frame_max(conn) == 4096
    ch = conn.channel()
    q = amqp.queue(ch, exclusive=True)
    payload = 4096 - 8  # a body frame carries frame_max minus 8 bytes of framing
    sizes = [1, payload - 1, payload, payload + 1, 2 * payload, 2 * payload + 1, 10 * payload]
    sent = [os.urandom(n) for n in sizes]
    for b in sent:
        ch.basic_publish("", q, b)
    assert bodies(get_all(ch, q)) == sent


def test_empty_body_round_trips(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch, exclusive=True)
    ch.basic_publish("", q, b"", pika.BasicProperties(message_id="empty-1"))
    (method, props, body), = get_all(ch, q)
    assert body == b""
    assert props.message_id == "empty-1"

    ch.basic_publish("", q, b"")
    for m, _p, got in ch.consume(q, auto_ack=True, inactivity_timeout=WAIT):
        break
    ch.cancel()
    assert m is not None and got == b""


def test_messages_keep_their_publish_order(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch, exclusive=True)
    sent = [f"m{i}".encode() for i in range(200)]
    for b in sent:
        ch.basic_publish("", q, b)
    assert bodies(get_all(ch, q)) == sent


def test_all_basic_properties_and_header_types_round_trip(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch, exclusive=True)
    headers = {
        "str": "text", "int": 42, "neg": -7, "big": 1 << 40, "true": True, "false": False,
        "none": None, "list": [1, "two", [3]], "table": {"nested": {"deep": "yes"}},
        "decimal": decimal.Decimal("3.14"),
        "time": datetime.datetime(2024, 1, 2, 3, 4, 5),
    }
    props = pika.BasicProperties(
        content_type="application/json", content_encoding="utf-8", headers=headers,
        delivery_mode=2, priority=5, correlation_id="corr", reply_to="replies",
        message_id="mid", timestamp=1700000000, type="kind", user_id="guest", app_id="app")
    ch.basic_publish("", q, b"{}", props)
    (_m, got, body), = get_all(ch, q)
    assert body == b"{}"
    for name in ("content_type", "content_encoding", "delivery_mode", "priority",
                 "correlation_id", "reply_to", "message_id", "timestamp", "type", "user_id",
                 "app_id"):
        assert getattr(got, name) == getattr(props, name), name
    assert got.headers == headers
    assert got.expiration is None


# -------------------------------------------------------------------------------------------
# Message size limit


@pytest.mark.sluice_only
def test_body_over_max_message_size_is_406(start_broker):
    # RabbitMQ 3.10 with max_message_size = 1048576 (set with application:set_env and a new
    # channel): a body of exactly 1048576 bytes is accepted; one byte more closes the channel
    # with 406 "PRECONDITION_FAILED - message size 1048577 is larger than configured max size
    # 1048576"; the connection stays open.
    b = start_broker(extra_args=["--max-message-size", "1048576"])
    conn = pika.BlockingConnection(pika_params(b.port))
    try:
        ch = conn.channel()
        q = ch.queue_declare("limit-q").method.queue
        ch.basic_publish("", q, b"x" * 1048576)
        (m, _p, body), = get_all(ch, q)
        assert len(body) == 1048576

        ch.basic_publish("", q, b"x" * 1048577)
        err = expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                                   "PRECONDITION_FAILED", "1048577", "1048576")
        assert "max" in err.reply_text
        assert conn.is_open
        ch = conn.channel()
        assert get_all(ch, q) == []  # the oversized message was not enqueued
    finally:
        if conn.is_open:
            conn.close()


# -------------------------------------------------------------------------------------------
# Sender-selected distribution (CC / BCC)


def test_cc_and_bcc_headers_add_routing_keys_and_bcc_is_stripped(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "x", "direct")
    queues = {}
    for key in ("main", "cc1", "cc2", "bcc", "other"):
        queues[key] = amqp.queue(ch, key, exclusive=True)
        ch.queue_bind(queues[key], x, key)
    headers = {"CC": ["cc1", "cc2"], "BCC": ["bcc"], "app": "keep"}
    ch.basic_publish(x, "main", b"memo", pika.BasicProperties(headers=headers))

    for key in ("main", "cc1", "cc2", "bcc"):
        (method, props, body), = get_all(ch, queues[key])
        assert body == b"memo"
        # The delivery shows the routing key the message was published with.
        assert method.routing_key == "main"
        # RabbitMQ 3.10: CC kept at every consumer, BCC removed from all of them.
        assert props.headers == {"CC": ["cc1", "cc2"], "app": "keep"}, key
    assert get_all(ch, queues["other"]) == []


def test_cc_on_the_default_exchange_names_queues(amqp):
    ch = amqp.channel()
    q1 = amqp.queue(ch, "one", exclusive=True)
    q2 = amqp.queue(ch, "two", exclusive=True)
    q3 = amqp.queue(ch, "three", exclusive=True)
    ch.basic_publish("", q1, b"x", pika.BasicProperties(headers={"CC": [q2], "BCC": [q3]}))
    for q in (q1, q2, q3):
        (_m, props, body), = get_all(ch, q)
        assert body == b"x"
        assert props.headers == {"CC": [q2]}


def test_cc_that_repeats_the_routing_key_delivers_once(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch, exclusive=True)
    ch.basic_publish("", q, b"once", pika.BasicProperties(headers={"CC": [q], "BCC": [q]}))
    assert bodies(get_all(ch, q)) == [b"once"]


def test_mandatory_message_routed_only_by_cc_is_not_returned(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch, exclusive=True)
    returned = []
    ch.add_on_return_callback(lambda *a: returned.append(a))
    ch.basic_publish("", amqp.name("missing"), b"via-cc",
                     pika.BasicProperties(headers={"CC": [q]}), mandatory=True)
    assert bodies(get_all(ch, q)) == [b"via-cc"]
    settle(amqp.conn)
    assert returned == []


# -------------------------------------------------------------------------------------------
# Validated user-id


def test_user_id_matching_the_connection_user_is_delivered(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch, exclusive=True)
    ch.basic_publish("", q, b"me", pika.BasicProperties(user_id="guest"))
    (_m, props, body), = get_all(ch, q)
    assert (props.user_id, body) == ("guest", b"me")


def test_user_id_of_another_user_is_406(amqp):
    ch = amqp.channel()
    q = amqp.queue(ch, "q")
    ch.basic_publish("", q, b"forged", pika.BasicProperties(user_id="mallory"))
    # RabbitMQ 3.10: "PRECONDITION_FAILED - user_id property set to 'mallory' but
    # authenticated user was 'guest'"; the message is not enqueued.
    expect_channel_error(lambda: ch.queue_declare(q, passive=True), 406,
                         "PRECONDITION_FAILED", "mallory", "guest")
    assert amqp.conn.is_open
    ch = amqp.channel()
    assert get_all(ch, q) == []
