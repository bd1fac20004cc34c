"""Corruption test: damage the segment files of a stopped broker; it must start, keep every
intact message, and log what it dropped."""

import pika

from conftest import pika_params

QUEUE = "corruption-test"
COUNT = 200


def publish(port, count):
    conn = pika.BlockingConnection(pika_params(port))
    ch = conn.channel()
    ch.queue_declare(QUEUE, durable=True)
    ch.confirm_delivery()
    for i in range(count):
        ch.basic_publish("", QUEUE, f"{i:05d}".encode() * 20,
                         pika.BasicProperties(delivery_mode=2))
    conn.close()


def drain(port):
    conn = pika.BlockingConnection(pika_params(port))
    ch = conn.channel()
    ch.queue_declare(QUEUE, durable=True)
    bodies = []
    for _ in range(COUNT * 2):
        method, _, body = ch.basic_get(QUEUE, auto_ack=True)
        if method is None:
            break
        bodies.append(body)
    conn.close()
    return bodies


def segments(data):
    return sorted((data / "messages").glob("*.seg"))


def expected(i):
    return f"{i:05d}".encode() * 20


def test_truncated_segment_keeps_the_intact_prefix(start_broker, tmp_path):
    data = tmp_path / "data"
    b = start_broker(data_dir=data)
    publish(b.port, COUNT)
    assert b.stop() == 0
    seg = max(segments(data), key=lambda p: p.stat().st_size)
    size = seg.stat().st_size
    with open(seg, "r+b") as f:
        f.truncate(size - 37)  # tears the last record

    b = start_broker(data_dir=data)
    bodies = drain(b.port)
    assert bodies == [expected(i) for i in range(COUNT - 1)]
    assert "dropped" in b.log(), b.log()


def test_flipped_byte_drops_from_that_record_on_and_logs_it(start_broker, tmp_path):
    data = tmp_path / "data"
    b = start_broker(data_dir=data)
    publish(b.port, COUNT)
    assert b.stop() == 0
    seg = max(segments(data), key=lambda p: p.stat().st_size)
    raw = bytearray(seg.read_bytes())
    middle = len(raw) // 2
    raw[middle] ^= 0xFF
    seg.write_bytes(bytes(raw))

    b = start_broker(data_dir=data)
    bodies = drain(b.port)
    # Everything before the damaged record is kept, in order; nothing damaged is delivered.
    assert 0 < len(bodies) < COUNT
    assert bodies == [expected(i) for i in range(len(bodies))]
    log = b.log()
    assert "dropped" in log and "segment" in log, log


def test_garbage_segment_header_is_moved_aside_and_the_broker_starts(start_broker, tmp_path):
    data = tmp_path / "data"
    b = start_broker(data_dir=data)
    publish(b.port, 10)
    assert b.stop() == 0
    seg = segments(data)[0]
    raw = bytearray(seg.read_bytes())
    raw[0:8] = b"NOTASEGM"
    seg.write_bytes(bytes(raw))

    b = start_broker(data_dir=data)
    assert drain(b.port) == []
    assert list((data / "messages").glob("*.corrupt")), list((data / "messages").iterdir())
