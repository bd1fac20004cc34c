"""Durable exchanges, queues and bindings survive a restart; transient ones do not.

The broker is stopped with SIGKILL right after the declare-ok arrives, so what survives was
on disk when the client was told it was declared (the definitions store fsyncs each change;
its own tests check that). RabbitMQ 3.10 behaves the same way for each case below.
"""

import pika
import pytest

from conftest import pika_params


def connect(port):
    return pika.BlockingConnection(pika_params(port))


def passive_declare_succeeds(conn, declare):
    """declare(channel) is a passive declare; True if it succeeds, False on 404."""
    ch = conn.channel()
    try:
        declare(ch)
        ch.close()
        return True
    except pika.exceptions.ChannelClosedByBroker as e:
        assert e.reply_code == 404, e
        return False


def passive_queue_exists(conn, name):
    return passive_declare_succeeds(conn, lambda ch: ch.queue_declare(name, passive=True))


def passive_exchange_exists(conn, name):
    return passive_declare_succeeds(conn, lambda ch: ch.exchange_declare(name, passive=True))


def declare_mixed(port):
    conn = connect(port)
    ch = conn.channel()
    ch.exchange_declare("d.topic", "topic", durable=True)
    ch.exchange_declare("d.headers", "headers", durable=True)
    ch.exchange_declare("t.fanout", "fanout", durable=False)
    ch.queue_declare("d.q", durable=True, arguments={"x-queue-mode": "lazy"})
    ch.queue_declare("t.q", durable=False)
    ch.queue_declare("d.excl", durable=True, exclusive=True)
    ch.queue_bind("d.q", "d.topic", "scan.#")
    ch.queue_bind("d.q", "amq.direct", "deploy")
    ch.queue_bind("d.q", "d.headers", "", arguments={"x-match": "any", "team": "sec"})
    ch.exchange_bind("d.headers", "d.topic", "audit.*")
    ch.queue_bind("t.q", "d.topic", "scan.#")  # transient destination: not stored
    conn.close()


def routed_bodies(ch, exchange, key, headers=None):
    ch.basic_publish(exchange, key, b"m", pika.BasicProperties(headers=headers))
    method, _, body = ch.basic_get("d.q", auto_ack=True)
    return body


@pytest.mark.parametrize("stop", ["kill", "term"])
def test_durable_definitions_survive_restart_and_transient_ones_do_not(start_broker, tmp_path,
                                                                        stop):
    data = tmp_path / "data"
    first = start_broker(data_dir=data)
    declare_mixed(first.port)
    if stop == "kill":
        first.kill()
    else:
        assert first.stop() == 0

    second = start_broker(data_dir=data)
    conn = connect(second.port)
    assert passive_queue_exists(conn, "d.q")
    assert passive_exchange_exists(conn, "d.topic")
    assert passive_exchange_exists(conn, "d.headers")
    assert not passive_queue_exists(conn, "t.q")
    assert not passive_queue_exists(conn, "d.excl")
    assert not passive_exchange_exists(conn, "t.fanout")

    ch = conn.channel()
    # The redeclare with the same properties is accepted: arguments were kept as declared.
    ch.queue_declare("d.q", durable=True, arguments={"x-queue-mode": "lazy"})
    assert routed_bodies(ch, "d.topic", "scan.done") == b"m"
    assert routed_bodies(ch, "amq.direct", "deploy") == b"m"
    assert routed_bodies(ch, "d.headers", "", {"team": "sec"}) == b"m"
    assert routed_bodies(ch, "d.topic", "audit.login", {"team": "sec"}) == b"m"
    # The headers binding kept its arguments: a non-matching message goes nowhere.
    ch.basic_publish("d.headers", "", b"x", pika.BasicProperties(headers={"team": "ops"}))
    assert ch.basic_get("d.q", auto_ack=True)[0] is None
    assert "restored durable definitions exchanges=2 queues=1 bindings=4" in second.log()
    conn.close()


def test_deletions_are_durable_too(start_broker, tmp_path):
    data = tmp_path / "data"
    first = start_broker(data_dir=data)
    declare_mixed(first.port)
    conn = connect(first.port)
    ch = conn.channel()
    ch.queue_unbind("d.q", "amq.direct", "deploy")
    ch.exchange_delete("d.headers")
    ch.queue_declare("d.other", durable=True)
    ch.queue_delete("d.other")
    conn.close()
    first.kill()

    second = start_broker(data_dir=data)
    conn = connect(second.port)
    assert not passive_exchange_exists(conn, "d.headers")
    assert not passive_queue_exists(conn, "d.other")
    ch = conn.channel()
    ch.basic_publish("amq.direct", "deploy", b"m")
    assert ch.basic_get("d.q", auto_ack=True)[0] is None
    assert routed_bodies(ch, "d.topic", "scan.x") == b"m"
    conn.close()


def test_an_unreadable_definitions_store_stops_start_up_naming_the_file(start_broker,
                                                                          tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "definitions.db").write_bytes(b"this is not a database" * 200)
    b = start_broker(data_dir=data, wait=False)
    rc = b.wait(timeout=10)
    b.start_failed = True
    assert rc == 1, b.log()
    assert "definitions.db" in b.log()


def test_messages_of_a_queue_that_cannot_be_restored_are_kept_for_later(start_broker, tmp_path):
    # A queue whose stored definition cannot be applied (here: its arguments no longer decode,
    # as after a downgrade or damage) is skipped at start-up. Its messages must stay on disk,
    # not be taken for those of a deleted queue: once the definition is fixed, they are back.
    import sqlite3

    data = tmp_path / "data"
    b = start_broker(data_dir=data)
    conn = pika.BlockingConnection(pika_params(b.port))
    ch = conn.channel()
    ch.queue_declare("kept", durable=True)
    ch.confirm_delivery()
    for i in range(5):
        ch.basic_publish("", "kept", b"%d" % i, pika.BasicProperties(delivery_mode=2))
    conn.close()
    assert b.stop() == 0

    db = sqlite3.connect(data / "definitions.db")
    (good,) = db.execute("SELECT arguments FROM queues WHERE name = 'kept'").fetchone()
    db.execute("UPDATE queues SET arguments = x'ff' WHERE name = 'kept'")
    db.commit()
    db.close()
    b = start_broker(data_dir=data)
    assert "cannot restore queue 'kept'" in b.log()
    assert "keeping 5 message(s)" in b.log()
    assert b.stop() == 0

    db = sqlite3.connect(data / "definitions.db")
    db.execute("UPDATE queues SET arguments = ? WHERE name = 'kept'", (good,))
    db.commit()
    db.close()
    b = start_broker(data_dir=data)
    conn = pika.BlockingConnection(pika_params(b.port))
    ch = conn.channel()
    assert ch.queue_declare("kept", durable=True).method.message_count == 5
    conn.close()
