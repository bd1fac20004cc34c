"""Memory and disk alarms block publishers (connection.blocked) and let consumers drain.

RabbitMQ 3.10 does the same: a connection that publishes while an alarm is on stops being
read and, if it advertised the connection.blocked capability, is told so; consumers keep
receiving; when the alarm clears the connection gets connection.unblocked.
"""

import os
import time

import pika
import pytest

from conftest import pika_params, sanitized_build

MIB = 1 << 20


def resident_bytes(pid):
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_memory_alarm_blocks_publishers_until_consumers_drain(start_broker):
    # The limit sits 100 MiB above what an idle broker uses (sanitizer builds use far more).
    probe = start_broker()
    idle = resident_bytes(probe.proc.pid)
    assert probe.stop() == 0
    b = start_broker(["--memory-limit", str(idle + 100 * MIB)])
    events = []
    pub = pika.BlockingConnection(pika_params(b.port))
    pub.add_on_connection_blocked_callback(lambda c, m: events.append("blocked"))
    pub.add_on_connection_unblocked_callback(lambda c, m: events.append("unblocked"))
    ch = pub.channel()
    ch.queue_declare("alarm")
    body = b"x" * MIB
    sent = 0
    for _ in range(400):  # 400 MiB at most; the alarm is 100 MiB above idle
        ch.basic_publish("", "alarm", body)
        sent += 1
        pub.process_data_events(time_limit=0.01)
        if "blocked" in events:
            break
    deadline = time.monotonic() + 10
    while "blocked" not in events and time.monotonic() < deadline:
        pub.process_data_events(time_limit=0.1)
    assert events == ["blocked"], (events, sent)
    assert "memory alarm set" in b.log()

    # A consumer on another connection still drains while the publisher is blocked.
    con = pika.BlockingConnection(pika_params(b.port))
    cch = con.channel()
    drained = 0
    for _ in range(sent + 10):
        method, _, got = cch.basic_get("alarm", auto_ack=True)
        if method is None:
            break
        assert len(got) == MIB
        drained += 1
    assert drained > 50, drained
    if sanitized_build():
        # AddressSanitizer keeps freed memory in quarantine, so resident memory does not fall
        # after a drain and the alarm cannot clear; the release build checks the rest.
        return

    deadline = time.monotonic() + 15
    while "unblocked" not in events and time.monotonic() < deadline:
        pub.process_data_events(time_limit=0.1)
        cch.basic_get("alarm", auto_ack=True)  # and whatever the unblocked publisher sends
    assert events == ["blocked", "unblocked"], events
    assert "memory alarm cleared" in b.log()
    pub.close()
    con.close()


def test_disk_alarm_blocks_publishers_but_not_consumers(start_broker):
    # More free space than any disk has: the alarm is on from the start.
    b = start_broker(["--disk-free-limit", str(1 << 62)])
    events = []
    setup = pika.BlockingConnection(pika_params(b.port))
    sch = setup.channel()
    sch.queue_declare("disk")
    # heartbeat=0: no timer of ours holds the blocked connection; it must stay open anyway
    # (regression: it was dropped once nothing was reading it).
    pub = pika.BlockingConnection(pika_params(b.port, blocked_connection_timeout=3,
                                              heartbeat=0))
    pub.add_on_connection_blocked_callback(lambda c, m: events.append(m.method.reason))
    ch = pub.channel()
    ch.basic_publish("", "disk", b"held back")
    deadline = time.monotonic() + 10
    while not events and time.monotonic() < deadline:
        pub.process_data_events(time_limit=0.1)
    assert events == ["low on disk space"], events
    # The publish was not accepted, and a connection that does not publish keeps working.
    assert sch.queue_declare("disk", passive=True).method.message_count == 0
    assert sch.basic_get("disk")[0] is None
    setup.close()
    pub.process_data_events(time_limit=1.0)  # raises StreamLostError if the broker dropped it
    assert pub.is_open
    # The blocked connection is not read at all (as in RabbitMQ), not even its close, so the
    # client gives up on it by its blocked-connection timeout.
    deadline = time.monotonic() + 10
    with pytest.raises(pika.exceptions.ConnectionBlockedTimeout):
        while time.monotonic() < deadline:
            pub.process_data_events(time_limit=0.1)
