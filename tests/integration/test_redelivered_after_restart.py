"""The redelivered flag of messages recovered at a restart.

After a clean stop the broker knows how far each durable queue had delivered, so, as with
RabbitMQ, only messages that had been delivered (and not acked) come back marked redelivered;
a consumer that treats redelivered as "maybe seen before" does not see the whole backlog that
way. After a crash the broker cannot know, and marks every recovered message redelivered,
which is what the flag promises ("may have been delivered before").
"""

import pika
import pytest

from conftest import pika_params

QUEUE = "redelivery"
COUNT = 10


@pytest.mark.parametrize("stop", ["clean", "kill"])
def test_only_messages_delivered_before_a_clean_stop_come_back_redelivered(
        start_broker, tmp_path, stop):
    data = tmp_path / "data"
    b = start_broker(data_dir=data)
    conn = pika.BlockingConnection(pika_params(b.port))
    ch = conn.channel()
    ch.queue_declare(QUEUE, durable=True)
    ch.confirm_delivery()
    for i in range(COUNT):
        ch.basic_publish("", QUEUE, b"%d" % i, pika.BasicProperties(delivery_mode=2))
    # Three are delivered and given back (channel closed without acks), one more is acked.
    taker = conn.channel()
    for _ in range(3):
        assert taker.basic_get(QUEUE, auto_ack=False)[0] is not None
    taker.close()
    method, _, body = ch.basic_get(QUEUE, auto_ack=False)
    assert (body, method.redelivered) == (b"0", True)
    ch.basic_ack(method.delivery_tag)
    ch.basic_publish("", QUEUE, b"flush", pika.BasicProperties(delivery_mode=2))  # after the ack
    if stop == "clean":
        conn.close()
        assert b.stop() == 0
    else:
        b.kill()

    b = start_broker(data_dir=data)
    if stop == "clean":
        assert "clean_stop=true" in b.log()
    conn = pika.BlockingConnection(pika_params(b.port))
    ch = conn.channel()
    got = []
    for _ in range(COUNT + 2):
        method, _, body = ch.basic_get(QUEUE, auto_ack=True)
        if method is None:
            break
        got.append((body, method.redelivered))
    bodies = [b"%d" % i for i in range(1, COUNT)] + [b"flush"]
    if stop == "clean":
        assert got == [(b"1", True), (b"2", True)] + [(x, False) for x in bodies[2:]]
    else:
        assert got == [(x, True) for x in bodies]
    conn.close()
