"""Shared helpers for the broker-core integration tests (tests/integration/test_core_*.py).

The core tests drive the broker only through real clients (pika, kombu, aio-pika), so the same
code runs against Sluice and, with SLUICE_TEST_TARGET=rabbitmq, against a running RabbitMQ. On
a shared RabbitMQ every test must leave nothing behind and must not see another test's
objects, so:

- every name comes from `amqp.name(...)`, unique per test;
- every queue and exchange a test declares through `amqp.queue(...)` / `amqp.exchange(...)` is
  deleted at teardown, on a fresh connection, whatever state the test left its channels in;
- every connection opened through `amqp.connect()` is closed at teardown.

The `amqp` fixture lives here rather than in conftest.py (which another engineer owns), so each
test module imports it by name (`from core_helpers import amqp  # noqa: F401`).

Every wait is bounded: `pump` processes pika I/O until a condition holds or a deadline passes,
and returns the condition's last value so the test asserts on it.
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field

import pika
import pika.exceptions
import pytest

from conftest import pika_params

# How long a test waits for something that must happen (a delivery, a return, a cancel).
WAIT = 5.0
# How long a test waits to be confident that something does NOT happen (no further delivery
# past a prefetch limit, nothing routed). On loopback both brokers deliver in well under
# a millisecond, so a quarter of a second is ample without slowing the suite down.
QUIET = 0.3


def pump(conn: pika.BlockingConnection, cond, timeout: float = WAIT):
    """Processes pika I/O until cond() is truthy or timeout passes; returns cond()'s value."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return cond()
        conn.process_data_events(time_limit=min(0.05, remaining))


def pump_all(conns, cond, timeout: float = WAIT):
    """pump() over several connections in turn (a client and a server in one thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value or time.monotonic() >= deadline:
            return value
        for c in conns:
            c.process_data_events(time_limit=0.01)


def settle(conn: pika.BlockingConnection, seconds: float = QUIET) -> None:
    """Processes pika I/O for `seconds`, so anything the broker was going to send has come."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        conn.process_data_events(time_limit=min(0.05, remaining))


def expect_channel_error(fn, code: int, *words: str) -> pika.exceptions.ChannelClosedByBroker:
    """Runs fn(); it must close the channel with `code` and a text that contains every word.

    The text is checked as the client reports it, e.g. "NOT_FOUND - no queue 'q' in vhost '/'".
    """
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        fn()
    err = info.value
    assert err.reply_code == code, f"expected {code}, got {err.reply_code} {err.reply_text!r}"
    for w in words:
        assert w in err.reply_text, f"{w!r} not in {err.reply_text!r}"
    return err


def expect_connection_error(fn, code: int, *words: str):
    """Runs fn(); the broker must close the whole connection with `code` and these words."""
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        fn()
    err = info.value
    assert err.reply_code == code, f"expected {code}, got {err.reply_code} {err.reply_text!r}"
    for w in words:
        assert w in err.reply_text, f"{w!r} not in {err.reply_text!r}"
    return err


def get_all(ch, queue: str, auto_ack: bool = True, limit: int = 1000) -> list:
    """basic.get until get-empty (at most `limit` messages); returns [(method, props, body)]."""
    out = []
    for _ in range(limit):
        method, props, body = ch.basic_get(queue, auto_ack=auto_ack)
        if method is None:
            return out
        out.append((method, props, body))
    raise AssertionError(f"queue {queue!r} still not empty after {limit} basic.get")


def bodies(msgs) -> list[bytes]:
    return [m[2] for m in msgs]


@dataclass
class Delivery:
    consumer_tag: str
    delivery_tag: int
    redelivered: bool
    exchange: str
    routing_key: str
    props: pika.BasicProperties
    body: bytes


@dataclass
class Collector:
    """A basic_consume callback that records every delivery, in order."""

    got: list[Delivery] = field(default_factory=list)

    def __call__(self, ch, method, props, body):
        self.got.append(Delivery(method.consumer_tag, method.delivery_tag, method.redelivered,
                                 method.exchange, method.routing_key, props, body))

    @property
    def bodies(self) -> list[bytes]:
        return [d.body for d in self.got]


def queue_counts(ch, queue: str) -> tuple[int, int]:
    """(message_count, consumer_count) from a passive queue.declare."""
    ok = ch.queue_declare(queue, passive=True).method
    return ok.message_count, ok.consumer_count


def wait_message_count(ch, conn, queue: str, want: int, timeout: float = WAIT) -> int:
    """Polls the queue's ready count until it equals `want` (requeues and deletes are
    asynchronous in RabbitMQ); returns the last count seen."""
    deadline = time.monotonic() + timeout
    while True:
        n = queue_counts(ch, queue)[0]
        if n == want or time.monotonic() >= deadline:
            return n
        conn.process_data_events(time_limit=0.02)


def queue_exists(port: int, queue: str) -> bool:
    """Whether a passive declare of `queue` succeeds, on a connection of its own."""
    return _exists(port, lambda ch: ch.queue_declare(queue, passive=True))


def exchange_exists(port: int, exchange: str) -> bool:
    return _exists(port, lambda ch: ch.exchange_declare(exchange, passive=True))


def _exists(port: int, probe) -> bool:
    conn = pika.BlockingConnection(pika_params(port))
    try:
        ch = conn.channel()
        try:
            probe(ch)
            return True
        except pika.exceptions.ChannelClosedByBroker as e:
            assert e.reply_code == 404, e
            return False
    finally:
        if conn.is_open:
            conn.close()


def wait_gone(check, timeout: float = WAIT) -> bool:
    """Polls check() (an existence probe) until it is False; returns True once it is gone."""
    deadline = time.monotonic() + timeout
    while True:
        if not check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)


class Amqp:
    """Per-test access to the broker under test through pika, with cleanup."""

    def __init__(self, port: int, test_name: str):
        self.port = port
        self._prefix = "core-" + re.sub(r"[^A-Za-z0-9]+", "-", test_name)[:60].strip("-")
        self._token = uuid.uuid4().hex[:8]
        self._conns: list[pika.BlockingConnection] = []
        self.queues: list[str] = []
        self.exchanges: list[str] = []
        self._conn: pika.BlockingConnection | None = None
        self._finalizers: list = []

    def name(self, what: str = "") -> str:
        """A name no other test (or earlier run) uses: core-<test>-<what>-<token>."""
        return f"{self._prefix}-{what}-{self._token}" if what else f"{self._prefix}-{self._token}"

    def connect(self, **kw) -> pika.BlockingConnection:
        conn = pika.BlockingConnection(pika_params(self.port, **kw))
        self._conns.append(conn)
        return conn

    @property
    def conn(self) -> pika.BlockingConnection:
        """The test's default connection (opened on first use)."""
        if self._conn is None or not self._conn.is_open:
            self._conn = self.connect()
        return self._conn

    def channel(self, conn: pika.BlockingConnection | None = None):
        return (conn or self.conn).channel()

    def publisher(self, conn: pika.BlockingConnection | None = None):
        """A channel in confirm mode: each basic_publish returns once the broker has taken
        the message. RabbitMQ routes asynchronously, so without this a basic.get or a
        passive declare on ANOTHER channel may run before a just-published message is in
        its queue (the same channel is ordered either way)."""
        ch = self.channel(conn)
        ch.confirm_delivery()
        return ch

    def queue(self, ch, what: str = "q", **kw) -> str:
        """Declares a uniquely named queue on ch and registers it for deletion."""
        name = kw.pop("name", None) or self.name(what)
        self.queues.append(name)
        return ch.queue_declare(name, **kw).method.queue

    def exchange(self, ch, what: str = "x", exchange_type: str = "direct", **kw) -> str:
        name = kw.pop("name", None) or self.name(what)
        self.exchanges.append(name)
        ch.exchange_declare(name, exchange_type=exchange_type, **kw)
        return name

    def track_queue(self, name: str) -> str:
        self.queues.append(name)
        return name

    def track_exchange(self, name: str) -> str:
        self.exchanges.append(name)
        return name

    def add_finalizer(self, fn) -> None:
        """fn() runs at teardown before the connections close (errors are ignored)."""
        self._finalizers.append(fn)

    def close(self) -> None:
        for fn in reversed(self._finalizers):
            try:
                fn()
            except Exception:  # noqa: BLE001 - teardown must reach the deletes below
                pass
        for conn in self._conns:
            try:
                if conn.is_open:
                    conn.close()
            except Exception:  # noqa: BLE001 - teardown must reach the deletes below
                pass
        if not (self.queues or self.exchanges):
            return
        conn = pika.BlockingConnection(pika_params(self.port))
        try:
            for kind, names in (("queue", self.queues), ("exchange", self.exchanges)):
                for n in dict.fromkeys(names):
                    ch = conn.channel()
                    try:
                        if kind == "queue":
                            ch.queue_delete(n)
                        else:
                            ch.exchange_delete(n)
                        ch.close()
                    except pika.exceptions.ChannelClosedByBroker:
                        pass  # already gone (auto-deleted, exclusive, deleted by the test)
        finally:
            if conn.is_open:
                conn.close()


@pytest.fixture
def amqp(broker, request):
    """An Amqp helper on the broker under test; cleans up its objects at teardown."""
    a = Amqp(broker.port, request.node.name)
    yield a
    a.close()



class pyamqp_connection:
    """A py-amqp (kombu's AMQP client) connection as a context manager, for the few things
    pika cannot do: send an empty consumer tag, or reuse a tag on one channel."""

    def __init__(self, port: int):
        import amqp as pyamqp

        self.conn = pyamqp.Connection(host=f"127.0.0.1:{port}", userid="guest",
                                      password="guest", connect_timeout=5, read_timeout=5,
                                      write_timeout=5)

    def __enter__(self):
        self.conn.connect()
        return self.conn

    def __exit__(self, *exc):
        try:
            if self.conn.connected:
                self.conn.close()
        except Exception:  # noqa: BLE001 - the broker may already have closed it
            self.conn.collect()
