"""kombu (py-amqp underneath) used the way Celery uses it: declare an exchange and a queue,
publish task messages serialized as JSON, consume them with acks under a prefetch limit,
wait with drain_events(timeout=...), plus requeue/reject and kombu's SimpleQueue."""

from __future__ import annotations

import socket
import uuid

import pytest
from kombu import Connection, Consumer, Exchange, Producer, Queue

from core_helpers import QUIET, WAIT, amqp  # noqa: F401


@pytest.fixture
def kconn(amqp):
    conn = Connection(f"amqp://guest:guest@127.0.0.1:{amqp.port}//", connect_timeout=5)
    conn.connect()
    yield conn
    conn.release()


def declare(amqp, kconn, what: str = "tasks", **kw):
    """A direct exchange and a queue bound by routing key `what`, as Celery declares them
    (durable by kombu's default); both are deleted at teardown."""
    exchange = Exchange(amqp.track_exchange(amqp.name(what + "-x")), type="direct")
    queue = Queue(amqp.track_queue(amqp.name(what)), exchange=exchange, routing_key=what, **kw)
    queue(kconn.default_channel).declare()
    return exchange, queue


def drain_until(kconn, cond, timeout: float = WAIT) -> bool:
    """drain_events until cond() holds; each call waits at most the time left."""
    import time

    deadline = time.monotonic() + timeout
    while not cond():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        try:
            kconn.drain_events(timeout=min(left, 0.5))
        except socket.timeout:
            pass
    return True


def test_celery_style_task_publish_and_consume(amqp, kconn):
    exchange, queue = declare(amqp, kconn)
    producer = Producer(kconn.default_channel, exchange=exchange, routing_key="tasks",
                        serializer="json")
    task_id = str(uuid.uuid4())
    producer.publish({"args": [2, 3], "kwargs": {}, "embed": {"callbacks": None}},
                     headers={"lang": "py", "task": "proj.add", "id": task_id, "retries": 0},
                     correlation_id=task_id, reply_to="reply-queue", priority=0,
                     declare=[queue], retry=False)

    received = []

    def on_message(body, message):
        received.append((body, message))
        message.ack()

    with Consumer(kconn.default_channel, queues=[queue], callbacks=[on_message],
                  accept=["json"]):
        assert drain_until(kconn, lambda: received)

    (body, message), = received
    assert body == {"args": [2, 3], "kwargs": {}, "embed": {"callbacks": None}}
    assert message.content_type == "application/json"
    assert message.content_encoding == "utf-8"
    assert message.headers == {"lang": "py", "task": "proj.add", "id": task_id, "retries": 0}
    assert message.properties["correlation_id"] == task_id
    assert message.properties["reply_to"] == "reply-queue"
    assert message.properties["delivery_mode"] == 2  # kombu publishes persistent by default
    assert message.delivery_info["exchange"] == exchange.name
    assert message.delivery_info["routing_key"] == "tasks"
    assert message.delivery_info["redelivered"] is False
    assert message.acknowledged

    # Acked: nothing is left for the next worker.
    _name, count, _consumers = kconn.default_channel.queue_declare(queue.name, passive=True)
    assert count == 0


def test_prefetch_count_holds_back_unacked_tasks(amqp, kconn):
    exchange, queue = declare(amqp, kconn)
    producer = Producer(kconn.default_channel, exchange=exchange, routing_key="tasks",
                        serializer="json")
    for i in range(3):
        producer.publish({"n": i}, retry=False)

    received = []
    consumer = Consumer(kconn.channel(), queues=[queue], accept=["json"],
                        callbacks=[lambda body, message: received.append(message)])
    consumer.qos(prefetch_count=1)
    with consumer:
        assert drain_until(kconn, lambda: received)
        # Unacked, the one in flight blocks the rest.
        with pytest.raises(socket.timeout):
            kconn.drain_events(timeout=QUIET)
        assert [m.decode() for m in received] == [{"n": 0}]
        received[0].ack()
        assert drain_until(kconn, lambda: len(received) == 2)
        received[1].ack()
        assert drain_until(kconn, lambda: len(received) == 3)
        received[2].ack()
        assert [m.decode() for m in received] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_requeue_redelivers_and_reject_discards(amqp, kconn):
    exchange, queue = declare(amqp, kconn)
    Producer(kconn.default_channel, exchange=exchange, routing_key="tasks",
             serializer="json").publish({"task": "retry-me"}, retry=False)
    received = []
    with Consumer(kconn.default_channel, queues=[queue], accept=["json"],
                  callbacks=[lambda body, message: received.append(message)]):
        assert drain_until(kconn, lambda: received)
        received[0].requeue()
        assert drain_until(kconn, lambda: len(received) == 2)
        assert received[1].delivery_info["redelivered"] is True
        assert received[1].decode() == {"task": "retry-me"}
        received[1].reject()
        with pytest.raises(socket.timeout):
            kconn.drain_events(timeout=QUIET)
    _name, count, _consumers = kconn.default_channel.queue_declare(queue.name, passive=True)
    assert count == 0


def test_two_workers_share_the_tasks(amqp, kconn):
    exchange, queue = declare(amqp, kconn)
    producer = Producer(kconn.default_channel, exchange=exchange, routing_key="tasks",
                        serializer="json")
    per_worker = {1: [], 2: []}

    def worker(n):
        def on_message(body, message):
            per_worker[n].append(body["n"])
            message.ack()
        return on_message

    with Consumer(kconn.channel(), queues=[queue], accept=["json"], callbacks=[worker(1)],
                  prefetch_count=1), \
         Consumer(kconn.channel(), queues=[queue], accept=["json"], callbacks=[worker(2)],
                  prefetch_count=1):
        for i in range(6):  # both workers are consuming before the tasks arrive
            producer.publish({"n": i}, retry=False)
        assert drain_until(kconn, lambda: len(per_worker[1]) + len(per_worker[2]) == 6)
    assert sorted(per_worker[1] + per_worker[2]) == list(range(6))
    assert per_worker[1] and per_worker[2], per_worker


def test_simple_queue_put_and_get(amqp, kconn):
    name = amqp.track_queue(amqp.name("simple"))
    amqp.track_exchange(name)  # SimpleQueue declares an exchange of the same name
    q = kconn.SimpleQueue(name, serializer="json")
    try:
        q.put({"hello": "world"})
        q.put({"hello": "again"})
        first = q.get(block=True, timeout=WAIT)
        assert first.payload == {"hello": "world"}
        first.ack()
        second = q.get(block=True, timeout=WAIT)
        assert second.payload == {"hello": "again"}
        second.ack()
        with pytest.raises(q.Empty):
            q.get(block=True, timeout=QUIET)
    finally:
        q.close()


def test_broadcast_fanout_to_auto_delete_queues(amqp, kconn):
    # Celery's remote control: a fanout exchange, one auto-delete queue per worker.
    bcast = Exchange(amqp.track_exchange(amqp.name("pidbox")), type="fanout", durable=False)
    queues = [Queue(amqp.track_queue(amqp.name(f"worker{i}")), exchange=bcast,
                    durable=False, auto_delete=True) for i in range(2)]
    received = {q.name: [] for q in queues}
    consumers = [Consumer(kconn.channel(), queues=[q], accept=["json"], no_ack=True,
                          callbacks=[lambda body, m, n=q.name: received[n].append(body)])
                 for q in queues]
    for c in consumers:
        c.consume()
    try:
        Producer(kconn.default_channel, exchange=bcast, serializer="json").publish(
            {"method": "ping"}, retry=False)
        assert drain_until(kconn, lambda: all(received.values()))
        assert all(v == [{"method": "ping"}] for v in received.values())
    finally:
        for c in consumers:
            c.cancel()
