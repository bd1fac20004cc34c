"""A purge drops the ready messages of a durable queue, not those out for delivery.

As in RabbitMQ, queue.purge leaves unacked messages with their consumer; if the consumer goes
away they come back. That must hold across a restart too: the purge's log record names the
messages still out, so recovery does not retire them with the rest.
"""

import pika
import pytest

from conftest import pika_params

QUEUE = "purged"


def publish(ch, bodies):
    ch.confirm_delivery()
    for body in bodies:
        ch.basic_publish("", QUEUE, body, pika.BasicProperties(delivery_mode=2))


@pytest.mark.parametrize("stop", ["clean", "kill"])
def test_unacked_messages_survive_a_purge_and_a_restart(start_broker, tmp_path, stop):
    data = tmp_path / "data"
    b = start_broker(data_dir=data)
    conn = pika.BlockingConnection(pika_params(b.port))
    ch = conn.channel()
    ch.queue_declare(QUEUE, durable=True)
    publish(ch, [b"m%d" % i for i in range(10)])
    held = [ch.basic_get(QUEUE, auto_ack=False) for _ in range(3)]  # m0..m2, not acked
    assert [body for _, _, body in held] == [b"m0", b"m1", b"m2"]
    assert ch.queue_purge(QUEUE).method.message_count == 7
    ch.basic_ack(held[1][0].delivery_tag)  # m1 acked after the purge: gone for good
    publish(ch, [b"after"])
    # A purge record and an ack are durable once a later confirm is (one log, in order).
    if stop == "clean":
        assert b.stop() == 0
    else:
        b.kill()

    b = start_broker(data_dir=data)
    conn = pika.BlockingConnection(pika_params(b.port))
    ch = conn.channel()
    got = []
    while True:
        method, _, body = ch.basic_get(QUEUE, auto_ack=True)
        if method is None:
            break
        got.append((body, method.redelivered))
    # After a clean stop only what was delivered before is marked so; after a crash, all.
    assert got == [(b"m0", True), (b"m2", True), (b"after", stop == "kill")]
    conn.close()
