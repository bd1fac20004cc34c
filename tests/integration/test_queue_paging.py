"""Long queues keep message bodies on disk, not in memory, persistent and transient alike.

With --queue-resident-messages 50, a queue of 2,000 64 KiB messages (125 MiB of bodies) must
not hold them in RAM; every message still comes back intact and in order. Persistent ones in
a durable queue also come back after a restart (recovery does not read bodies either);
transient ones, paged out only to save memory, are gone after a restart, as RabbitMQ's.
"""

import os
import time

import pika

from conftest import pika_params, sanitized_build

MIB = 1 << 20
COUNT = 2000
SIZE = 64 * 1024


def resident_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def body(i):
    return i.to_bytes(4, "big") * (SIZE // 4)


def publish(port, queue="long", durable=True, delivery_mode=2):
    conn = pika.BlockingConnection(pika_params(port))
    ch = conn.channel()
    ch.queue_declare(queue, durable=durable)
    ch.confirm_delivery()
    for i in range(COUNT):
        ch.basic_publish("", queue, body(i), pika.BasicProperties(delivery_mode=delivery_mode))
    conn.close()


def drain_in_order(port, queue="long"):
    conn = pika.BlockingConnection(pika_params(port))
    ch = conn.channel()
    for i in range(COUNT):
        method, _, got = ch.basic_get(queue, auto_ack=True)
        assert method is not None, f"queue ran dry at {i}"
        assert got == body(i), f"message {i} came back wrong"
    assert ch.basic_get(queue)[0] is None
    conn.close()


def segment_bytes(data):
    return sum(f.stat().st_size for f in (data / "messages").glob("*.seg"))


def test_long_durable_queue_pages_bodies_out_and_reads_them_back(start_broker, tmp_path):
    data = tmp_path / "data"
    b = start_broker(["--queue-resident-messages", "50"], data_dir=data)
    idle = resident_bytes(b.proc.pid)
    publish(b.port)
    # AddressSanitizer keeps freed bodies in quarantine; only release builds measure memory.
    measure = not sanitized_build()
    grown = resident_bytes(b.proc.pid) - idle
    # Without paging the bodies alone are 125 MiB; allow buffers and the resident window.
    assert not measure or grown < 60 * MIB, f"resident memory grew by {grown / MIB:.0f} MiB"
    assert b.stop() == 0

    b = start_broker(["--queue-resident-messages", "50"], data_dir=data)
    assert not measure or resident_bytes(b.proc.pid) - idle < 60 * MIB
    assert f"recovered messages={COUNT}" in b.log()
    drain_in_order(b.port)


def test_paged_messages_are_delivered_to_consumers_and_requeued_in_place(start_broker):
    b = start_broker(["--queue-resident-messages", "10"])
    publish(b.port)
    conn = pika.BlockingConnection(pika_params(b.port))
    ch = conn.channel()
    ch.basic_qos(prefetch_count=100)
    seen = []
    tags = []

    def on_message(ch, method, props, got):
        seen.append(int.from_bytes(got[:4], "big"))
        tags.append(method.delivery_tag)
        if len(seen) == 100:  # the prefetch limit: nothing more comes until we settle
            ch.stop_consuming()

    ch.basic_consume("long", on_message)
    ch.start_consuming()
    assert seen == list(range(100))  # 10 from memory, 90 read back from the log
    # Give them all back: they return to the front, ahead of the messages still on disk.
    ch.basic_nack(tags[-1], multiple=True, requeue=True)
    ch.close()

    dch = conn.channel()
    got = []
    for _ in range(COUNT + 1):
        method, _, m = dch.basic_get("long", auto_ack=True)
        if method is None:
            break
        got.append((int.from_bytes(m[:4], "big"), method.redelivered))
    assert [i for i, _ in got] == list(range(COUNT))
    assert all(r for _, r in got[:100]) and not any(r for _, r in got[100:])
    conn.close()


def test_long_transient_queues_page_out_too_and_are_gone_after_restart(start_broker, tmp_path):
    data = tmp_path / "data"
    b = start_broker(["--queue-resident-messages", "50"], data_dir=data)
    idle = resident_bytes(b.proc.pid)
    publish(b.port, "transient", durable=False, delivery_mode=1)
    publish(b.port, "mixed", durable=True, delivery_mode=1)  # transient in a durable queue
    measure = not sanitized_build()
    grown = resident_bytes(b.proc.pid) - idle
    # Two queues of 125 MiB of bodies each: without paging, over 250 MiB. Without confirms to
    # wait for, the publisher runs ahead of the disk by up to the broker's 32 MiB flow limit,
    # and bodies waiting to be written are held twice (message and log buffer); allow that,
    # and the allocator's slack, on a busy machine.
    assert not measure or grown < 150 * MIB, f"resident memory grew by {grown / MIB:.0f} MiB"
    # Bodies beyond the first 50 of each queue went to disk instead (the last ones once the
    # sync thread has written them).
    on_disk = 2 * (COUNT - 50) * SIZE
    deadline = time.monotonic() + 30  # generous: a busy disk syncs slowly
    while segment_bytes(data) < on_disk and time.monotonic() < deadline:
        time.sleep(0.05)
    assert segment_bytes(data) >= on_disk

    before = segment_bytes(data)
    drain_in_order(b.port, "transient")
    # Delivered paged copies are released, and a 64 MiB segment holding only those goes.
    deadline = time.monotonic() + 30  # generous: a busy disk syncs slowly
    while segment_bytes(data) > before - 60 * MIB and time.monotonic() < deadline:
        time.sleep(0.05)
    assert segment_bytes(data) <= before - 60 * MIB
    assert b.stop() == 0

    b = start_broker(["--queue-resident-messages", "50"], data_dir=data)
    conn = pika.BlockingConnection(pika_params(b.port))
    ch = conn.channel()
    assert ch.queue_declare("mixed", durable=True).method.message_count == 0
    conn.close()
    assert segment_bytes(data) < COUNT * SIZE / 10  # nothing live: recovery deleted them
