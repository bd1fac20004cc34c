"""Crash test: SIGKILL the broker at random moments under load, restart, check the promises.

Each round restarts the broker on the same data directory, drains and checks the durable
queue, then runs a publisher (persistent messages, publisher confirms) and a consumer (manual
acks) until the broker is killed at a random moment. The checks, every round:

- every confirmed message was either acked by the consumer before the crash or is still in
  the queue (a confirm promises the message is on disk);
- nothing appears that was never published;
- a message delivered twice carries the redelivered flag the second time (an ack that had
  not reached the disk may be forgotten, nothing else);
- no transient message is there after a restart. A third publisher sends transient messages
  to the same queue, and the broker keeps only 20 ready messages in memory, so both kinds are
  paged out to the log while the broker is killed.

Bounded: ROUNDS rounds, each with a few seconds of load at most.
"""

import random
import threading
import time

import pika
import pytest

from conftest import pika_params

ROUNDS = 6
QUEUE = "crash-test"
RESIDENT = ["--queue-resident-messages", "20"]  # page out almost everything


class Ledger:
    """What the clients saw, shared by the publisher and consumer threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.published = set()   # ids sent (confirmed or not)
        self.confirmed = set()   # ids whose publish was confirmed
        self.acked = set()       # ids whose ack was sent
        self.deliveries = {}     # id -> list of redelivered flags, in order


def publish_until_killed(port, ledger, next_id, stop):
    try:
        conn = pika.BlockingConnection(pika_params(port))
        ch = conn.channel()
        ch.confirm_delivery()
        props = pika.BasicProperties(delivery_mode=2)
        while not stop.is_set():
            i = next_id()
            with ledger.lock:
                ledger.published.add(i)
            ch.basic_publish("", QUEUE, str(i).encode(), props)  # returns once confirmed
            with ledger.lock:
                ledger.confirmed.add(i)
    except (pika.exceptions.AMQPError, OSError):
        pass  # the broker was killed


def publish_transient_until_killed(port, stop):
    try:
        conn = pika.BlockingConnection(pika_params(port))
        ch = conn.channel()
        props = pika.BasicProperties(delivery_mode=1)
        for i in range(10**9):
            if stop.is_set():
                break
            ch.basic_publish("", QUEUE, b"t%d" % i, props)
            if i % 50 == 0:
                conn.process_data_events(time_limit=0)  # let the broker push back
    except (pika.exceptions.AMQPError, OSError):
        pass


def record_delivery(ledger, body, redelivered):
    if body.startswith(b"t"):
        return  # transient: nothing was promised
    i = int(body)
    with ledger.lock:
        ledger.deliveries.setdefault(i, []).append(redelivered)


def consume_until_killed(port, ledger, stop):
    try:
        conn = pika.BlockingConnection(pika_params(port))
        ch = conn.channel()
        ch.basic_qos(prefetch_count=50)

        def on_message(ch, method, props, body):
            record_delivery(ledger, body, method.redelivered)
            ch.basic_ack(method.delivery_tag)
            if not body.startswith(b"t"):
                with ledger.lock:
                    ledger.acked.add(int(body))

        ch.basic_consume(QUEUE, on_message)
        while not stop.is_set():
            conn.process_data_events(time_limit=0.1)
    except (pika.exceptions.AMQPError, OSError):
        pass


def drain_and_check(port, ledger):
    conn = pika.BlockingConnection(pika_params(port))
    ch = conn.channel()
    ch.queue_declare(QUEUE, durable=True)
    in_queue = set()
    for _ in range(1_000_000):  # bounded by the queue's length
        method, _, body = ch.basic_get(QUEUE)
        if method is None:
            break
        assert not body.startswith(b"t"), f"transient message {body!r} survived a restart"
        record_delivery(ledger, body, method.redelivered)
        in_queue.add(int(body))
        ch.basic_ack(method.delivery_tag)
        ledger.acked.add(int(body))
    conn.close()

    lost = ledger.confirmed - ledger.acked
    assert not lost, f"confirmed but neither acked nor recovered: {sorted(lost)[:20]}"
    unknown = set(ledger.deliveries) - ledger.published
    assert not unknown, f"delivered but never published: {sorted(unknown)[:20]}"
    for i, flags in ledger.deliveries.items():
        assert all(flags[1:]), f"message {i} delivered again without redelivered: {flags}"
    return len(in_queue)


def test_confirmed_messages_survive_sigkill_under_load(start_broker, tmp_path):
    data = tmp_path / "data"
    ledger = Ledger()
    counter = iter(range(1, 10**9))
    rng = random.Random(20261204)
    recovered_total = 0
    for round_ in range(ROUNDS):
        b = start_broker(RESIDENT, data_dir=data)
        recovered_total += drain_and_check(b.port, ledger)

        stop = threading.Event()
        threads = [
            threading.Thread(target=publish_until_killed,
                             args=(b.port, ledger, lambda: next(counter), stop)),
            threading.Thread(target=publish_until_killed,
                             args=(b.port, ledger, lambda: next(counter), stop)),
            threading.Thread(target=publish_transient_until_killed, args=(b.port, stop)),
            threading.Thread(target=consume_until_killed, args=(b.port, ledger, stop)),
        ]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.3, 2.0))
        b.kill()
        stop.set()
        for t in threads:
            t.join(timeout=30)
            assert not t.is_alive(), "a client thread did not stop after the broker died"

    b = start_broker(RESIDENT, data_dir=data)
    recovered_total += drain_and_check(b.port, ledger)
    # The test only means something if the crashes hit messages in flight.
    assert len(ledger.confirmed) > 100, len(ledger.confirmed)
    assert recovered_total > 0, "no confirmed message was ever left in the queue at a crash"
