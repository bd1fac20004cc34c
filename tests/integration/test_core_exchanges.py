"""Exchanges, as pika sees them: routing by each exchange type, the predeclared exchanges,
declare flags and their errors, exchange-to-exchange bindings and alternate exchanges.

Routing is checked by binding one queue per binding key, publishing a fixed list of routing
keys and reading every queue back with basic.get: each queue must hold exactly the keys that
match, in publish order, once each.
"""

from __future__ import annotations

import pika
import pytest

from core_helpers import (amqp, bodies, exchange_exists, expect_channel_error,  # noqa: F401
                          expect_connection_error, get_all, wait_gone)


def route_table(amqp, ch, exchange: str, bindings: dict, keys: list[str]) -> dict:
    """Binds a queue per entry of bindings ({label: binding key}), publishes each key (the
    body is the key), and returns {label: [routing keys received, in order]}."""
    queues = {}
    for label, binding_key in bindings.items():
        q = amqp.queue(ch, f"q{len(queues)}", exclusive=True)
        ch.queue_bind(q, exchange, routing_key=binding_key)
        queues[label] = q
    for key in keys:
        ch.basic_publish(exchange, key, key.encode())
    return {label: [b.decode() for b in bodies(get_all(ch, q))] for label, q in queues.items()}


# -------------------------------------------------------------------------------------------
# Exchange types


def test_default_exchange_routes_by_queue_name_and_refuses_binds(amqp):
    ch = amqp.channel()
    q1 = amqp.queue(ch, "one")
    q2 = amqp.queue(ch, "two")
    ch.basic_publish("", q1, b"to-one")
    ch.basic_publish("", q2, b"to-two")
    ch.basic_publish("", amqp.name("no-such-queue"), b"dropped")
    assert bodies(get_all(ch, q1)) == [b"to-one"]
    assert bodies(get_all(ch, q2)) == [b"to-two"]

    # Every queue is bound to it implicitly, and nothing else may touch it. RabbitMQ 3.10:
    # 403 "ACCESS_REFUSED - operation not permitted on the default exchange" for a bind and
    # for a declare, even a passive one.
    expect_channel_error(lambda: ch.queue_bind(q1, "", routing_key="x"), 403,
                         "ACCESS_REFUSED", "default exchange")
    ch = amqp.channel()
    expect_channel_error(lambda: ch.exchange_declare("", passive=True), 403,
                         "ACCESS_REFUSED", "default exchange")


def test_direct_exchange_matches_the_whole_key(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "direct", "direct")
    got = route_table(amqp, ch, x, {"info": "info", "warn": "warn", "empty": ""},
                      ["info", "warn", "info.x", "", "INFO", "info"])
    assert got == {"info": ["info", "info"], "warn": ["warn"], "empty": [""]}


def test_direct_exchange_delivers_once_per_queue_with_two_matching_bindings(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "direct", "direct")
    q = amqp.queue(ch, exclusive=True)
    ch.queue_bind(q, x, "a")
    ch.queue_bind(q, x, "a")  # the same binding twice is one binding
    ch.queue_bind(q, x, "b")
    ch.basic_publish(x, "a", b"1")
    ch.basic_publish(x, "b", b"2")
    assert bodies(get_all(ch, q)) == [b"1", b"2"]


def test_fanout_exchange_ignores_the_routing_key(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "fanout", "fanout")
    got = route_table(amqp, ch, x, {"a": "", "b": "whatever", "c": "#"},
                      ["", "k1", "k2.k3"])
    assert got == {"a": ["", "k1", "k2.k3"], "b": ["", "k1", "k2.k3"],
                   "c": ["", "k1", "k2.k3"]}


TOPIC_KEYS = ["a", "a.b", "a.b.c", "a..b", "", "a.x.b", "a.x.y.b", "b", "a.b.b", ".", "a."]


@pytest.mark.parametrize("pattern, expected", [
    # `*` is exactly one word, and a word may be empty: "a." is the words "a" and "".
    ("*", ["a", "b"]),
    ("a.*", ["a.b", "a."]),
    ("*.*", ["a.b", ".", "a."]),
    ("a.*.b", ["a..b", "a.x.b", "a.b.b"]),
    # `#` is zero or more words, so it matches the empty routing key too.
    ("#", TOPIC_KEYS),
    ("#.#", TOPIC_KEYS),
    ("a.#", ["a", "a.b", "a.b.c", "a..b", "a.x.b", "a.x.y.b", "a.b.b", "a."]),
    ("#.b", ["a.b", "a..b", "a.x.b", "a.x.y.b", "b", "a.b.b"]),
    ("a.#.b", ["a.b", "a..b", "a.x.b", "a.x.y.b", "a.b.b"]),
    ("#.b.#", ["a.b", "a.b.c", "a..b", "a.x.b", "a.x.y.b", "b", "a.b.b"]),
    # An empty binding key matches only the empty routing key.
    ("", [""]),
    (".", ["."]),
    ("a.b", ["a.b"]),
])
def test_topic_exchange_patterns(amqp, pattern, expected):
    # RabbitMQ 3.10: exactly these lists (checked with this test).
    ch = amqp.channel()
    x = amqp.exchange(ch, "topic", "topic")
    got = route_table(amqp, ch, x, {"p": pattern}, TOPIC_KEYS)
    assert got["p"] == expected


def test_topic_exchange_delivers_once_when_several_patterns_match(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "topic", "topic")
    q = amqp.queue(ch, exclusive=True)
    for pattern in ("#", "a.*", "a.b", "*.b", "a.#.b"):
        ch.queue_bind(q, x, pattern)
    ch.basic_publish(x, "a.b", b"once")
    ch.basic_publish(x, "z", b"also-once")
    assert bodies(get_all(ch, q)) == [b"once", b"also-once"]


def test_topic_unbind_removes_only_that_pattern(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "topic", "topic")
    q = amqp.queue(ch, exclusive=True)
    ch.queue_bind(q, x, "a.*")
    ch.queue_bind(q, x, "*.b")
    ch.queue_unbind(q, x, "a.*")
    for key in ("a.b", "a.c", "z.b"):
        ch.basic_publish(x, key, key.encode())
    assert bodies(get_all(ch, q)) == [b"a.b", b"z.b"]


HEADER_BINDINGS = {
    "all": {"x-match": "all", "format": "pdf", "type": "report"},
    "any": {"x-match": "any", "format": "pdf", "type": "log"},
    "default": {"format": "pdf"},  # no x-match means all
    "all-with-x": {"x-match": "all-with-x", "x-tenant": "acme", "format": "pdf"},
    "any-with-x": {"x-match": "any-with-x", "x-tenant": "acme"},
    # With plain all/any, binding arguments that start with "x-" take no part in matching, so
    # an `any` binding on x- headers alone matches nothing.
    "any-x-ignored": {"x-match": "any", "x-tenant": "acme"},
    "int": {"x-match": "all", "n": 7},
}

HEADER_MESSAGES = {
    "report": {"format": "pdf", "type": "report"},
    "log-pdf": {"format": "pdf", "type": "log"},
    "log": {"type": "log"},
    "tenant-pdf": {"format": "pdf", "x-tenant": "acme"},
    "tenant": {"x-tenant": "acme"},
    "extra": {"format": "pdf", "type": "report", "size": "big"},
    "none": None,
    "seven": {"n": 7},
    "eight": {"n": 8},
}


def test_headers_exchange_x_match_modes(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "headers", "headers")
    queues = {}
    for label, args in HEADER_BINDINGS.items():
        q = amqp.queue(ch, label, exclusive=True)
        ch.queue_bind(q, x, routing_key="ignored", arguments=args)
        queues[label] = q
    for label, headers in HEADER_MESSAGES.items():
        ch.basic_publish(x, "any-key", label.encode(),
                         pika.BasicProperties(headers=headers))
    got = {label: [b.decode() for b in bodies(get_all(ch, q))] for label, q in queues.items()}
    # RabbitMQ 3.10: exactly this table (checked with this test).
    assert got == {
        "all": ["report", "extra"],
        "any": ["report", "log-pdf", "log", "tenant-pdf", "extra"],
        "default": ["report", "log-pdf", "tenant-pdf", "extra"],
        "all-with-x": ["tenant-pdf"],
        "any-with-x": ["tenant-pdf", "tenant"],
        "any-x-ignored": [],
        "int": ["seven"],
    }


# -------------------------------------------------------------------------------------------
# Predeclared exchanges


@pytest.mark.parametrize("name, xtype", [
    ("amq.direct", "direct"), ("amq.fanout", "fanout"), ("amq.topic", "topic"),
    ("amq.headers", "headers"), ("amq.match", "headers"),
])
def test_predeclared_exchange_exists_and_routes(amqp, name, xtype):
    ch = amqp.channel()
    ch.exchange_declare(name, passive=True)
    # Redeclaring with the same type and flags (durable, not auto-delete) is allowed.
    ch.exchange_declare(name, exchange_type=xtype, durable=True)
    q = amqp.queue(ch, exclusive=True)
    headers = {"k": "v"}
    args = {"x-match": "all", "k": "v"} if xtype == "headers" else None
    ch.queue_bind(q, name, routing_key=q, arguments=args)
    ch.basic_publish(name, q, b"via " + name.encode(), pika.BasicProperties(headers=headers))
    (method, _props, body), = get_all(ch, q)
    assert body == b"via " + name.encode()
    assert method.exchange == name
    assert method.routing_key == q


def test_predeclared_exchange_redeclared_with_another_type_is_406(amqp):
    ch = amqp.channel()
    expect_channel_error(lambda: ch.exchange_declare("amq.direct", exchange_type="fanout",
                                                     durable=True),
                         406, "PRECONDITION_FAILED", "amq.direct", "type")


def test_declaring_a_new_amq_name_is_403(amqp):
    ch = amqp.channel()
    name = "amq." + amqp.name("reserved")
    amqp.track_exchange(name)
    # RabbitMQ 3.10: "ACCESS_REFUSED - exchange name 'amq.…' contains reserved prefix 'amq.*'"
    expect_channel_error(lambda: ch.exchange_declare(name, exchange_type="direct"), 403,
                         "ACCESS_REFUSED", name)
    assert not exchange_exists(amqp.port, name)


# -------------------------------------------------------------------------------------------
# Declare flags and errors


def test_passive_declare_of_missing_exchange_is_404(amqp):
    ch = amqp.channel()
    name = amqp.name("missing")
    # RabbitMQ 3.10: "NOT_FOUND - no exchange '<name>' in vhost '/'"
    expect_channel_error(lambda: ch.exchange_declare(name, passive=True), 404,
                         "NOT_FOUND", name)


def test_passive_declare_finds_an_existing_exchange_of_any_type(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "fanout", "fanout")
    # Passive ignores the type and flags given.
    ch.exchange_declare(x, exchange_type="topic", passive=True, durable=True)
    assert exchange_exists(amqp.port, x)


def test_durable_flag_is_recorded(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "durable", "direct", durable=True)
    ch.exchange_declare(x, exchange_type="direct", durable=True)  # equivalent: fine
    # RabbitMQ 3.10: "PRECONDITION_FAILED - inequivalent arg 'durable' for exchange '<x>' in
    # vhost '/': received 'false' but current is 'true'"
    expect_channel_error(lambda: ch.exchange_declare(x, exchange_type="direct"), 406,
                         "PRECONDITION_FAILED", "durable", x)


@pytest.mark.parametrize("change, word", [
    ({"exchange_type": "fanout"}, "type"),
    ({"durable": True}, "durable"),
    ({"auto_delete": True}, "auto_delete"),
    ({"internal": True}, "internal"),
    ({"arguments": {"alternate-exchange": "some-ae"}}, "alternate-exchange"),
])
def test_redeclare_that_differs_is_406(amqp, change, word):
    ch = amqp.channel()
    x = amqp.exchange(ch, "x", "direct")
    kw = {"exchange_type": "direct", **change}
    expect_channel_error(lambda: ch.exchange_declare(x, **kw), 406, "PRECONDITION_FAILED",
                         "inequivalent arg", word, x)
    # The exchange is unchanged.
    ch2 = amqp.channel()
    ch2.exchange_declare(x, exchange_type="direct")


def test_unknown_exchange_type_closes_the_connection_with_503(amqp):
    conn = amqp.connect()
    ch = conn.channel()
    name = amqp.name("badtype")
    amqp.track_exchange(name)
    # RabbitMQ 3.10: connection.close 503 "COMMAND_INVALID - unknown exchange type
    # 'no-such-type'" (a hard error: the whole connection goes).
    expect_connection_error(lambda: ch.exchange_declare(name, exchange_type="no-such-type"),
                            503, "COMMAND_INVALID", "no-such-type")
    assert conn.is_closed
    assert not exchange_exists(amqp.port, name)


def test_auto_delete_exchange_goes_after_its_last_unbind(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "ad", "direct", auto_delete=True)
    q1 = amqp.queue(ch, "one", exclusive=True)
    q2 = amqp.queue(ch, "two", exclusive=True)
    ch.queue_bind(q1, x, "k")
    ch.queue_bind(q2, x, "k")
    ch.queue_unbind(q1, x, "k")
    assert exchange_exists(amqp.port, x), "deleted while a binding remained"
    ch.queue_unbind(q2, x, "k")
    assert wait_gone(lambda: exchange_exists(amqp.port, x))


def test_auto_delete_exchange_goes_when_its_last_bound_queue_is_deleted(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "ad", "fanout", auto_delete=True)
    q = amqp.queue(ch)
    ch.queue_bind(q, x)
    ch.queue_delete(q)
    assert wait_gone(lambda: exchange_exists(amqp.port, x))


def test_auto_delete_exchange_that_was_never_bound_stays(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "ad", "fanout", auto_delete=True)
    ch.basic_publish(x, "", b"nobody")
    assert exchange_exists(amqp.port, x)


def test_publish_to_internal_exchange_is_403_but_e2e_bindings_reach_it(amqp):
    ch = amqp.channel()
    internal = amqp.exchange(ch, "internal", "fanout", internal=True)
    front = amqp.exchange(ch, "front", "direct")
    q = amqp.queue(ch, exclusive=True)
    ch.queue_bind(q, internal)
    ch.exchange_bind(destination=internal, source=front, routing_key="k")
    ch.basic_publish(front, "k", b"through")
    assert bodies(get_all(ch, q)) == [b"through"]

    # RabbitMQ 3.10: "ACCESS_REFUSED - cannot publish to internal exchange '<x>' in vhost '/'"
    ch.basic_publish(internal, "", b"direct")
    with pytest.raises(pika.exceptions.ChannelClosedByBroker) as info:
        ch.queue_declare(q, passive=True)  # a round trip, so the close has arrived
    assert info.value.reply_code == 403
    assert "ACCESS_REFUSED" in info.value.reply_text
    assert internal in info.value.reply_text


def test_publish_to_missing_exchange_is_404(amqp):
    ch = amqp.channel()
    name = amqp.name("missing")
    ch.basic_publish(name, "k", b"lost")
    # RabbitMQ 3.10: "NOT_FOUND - no exchange '<name>' in vhost '/'"
    expect_channel_error(lambda: amqp.queue(ch, "probe", exclusive=True), 404, "NOT_FOUND", name)


def test_exchange_delete_if_unused_is_406_while_bound(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "x", "direct")
    q = amqp.queue(ch, exclusive=True)
    ch.queue_bind(q, x, "k")
    # RabbitMQ 3.10: "PRECONDITION_FAILED - exchange '<x>' in vhost '/' in use"
    expect_channel_error(lambda: ch.exchange_delete(x, if_unused=True), 406,
                         "PRECONDITION_FAILED", x, "in use")
    assert exchange_exists(amqp.port, x)

    ch = amqp.channel()
    ch.queue_unbind(q, x, "k")
    ch.exchange_delete(x, if_unused=True)
    assert not exchange_exists(amqp.port, x)


def test_exchange_delete_removes_its_bindings(amqp):
    ch = amqp.channel()
    x = amqp.exchange(ch, "x", "fanout")
    q = amqp.queue(ch, exclusive=True)
    ch.queue_bind(q, x)
    ch.exchange_delete(x)
    assert not exchange_exists(amqp.port, x)
    # Recreated, it has no bindings left over.
    ch.exchange_declare(x, exchange_type="fanout")
    ch.basic_publish(x, "", b"x")
    assert get_all(ch, q) == []


def test_exchange_delete_if_unused_counts_exchange_bindings_as_use(amqp):
    ch = amqp.channel()
    src = amqp.exchange(ch, "src", "fanout")
    dst = amqp.exchange(ch, "dst", "fanout")
    ch.exchange_bind(destination=dst, source=src)
    # RabbitMQ 3.10: the source of an exchange binding is in use ...
    expect_channel_error(lambda: ch.exchange_delete(src, if_unused=True), 406,
                         "PRECONDITION_FAILED", src)
    # ... but its destination is not (only outgoing bindings count), and deleting the
    # destination removes the binding, which leaves the source unused.
    ch = amqp.channel()
    ch.exchange_delete(dst, if_unused=True)
    assert not exchange_exists(amqp.port, dst)
    ch.exchange_delete(src, if_unused=True)
    assert not exchange_exists(amqp.port, src)


# -------------------------------------------------------------------------------------------
# Exchange-to-exchange bindings and alternate exchanges


def test_exchange_to_exchange_bind_and_unbind(amqp):
    ch = amqp.channel()
    src = amqp.exchange(ch, "src", "topic")
    dst = amqp.exchange(ch, "dst", "direct")
    q = amqp.queue(ch, exclusive=True)
    ch.queue_bind(q, dst, "a.b")
    ch.exchange_bind(destination=dst, source=src, routing_key="a.*")
    ch.basic_publish(src, "a.b", b"routed")   # matches a.* at src and a.b at dst
    ch.basic_publish(src, "a.c", b"stopped")  # matches at src, not at dst
    ch.basic_publish(src, "b.b", b"dropped")  # does not match at src
    assert bodies(get_all(ch, q)) == [b"routed"]

    ch.exchange_unbind(destination=dst, source=src, routing_key="a.*")
    ch.basic_publish(src, "a.b", b"after-unbind")
    assert get_all(ch, q) == []


def test_exchange_binding_cycle_delivers_once(amqp):
    ch = amqp.channel()
    x1 = amqp.exchange(ch, "x1", "fanout")
    x2 = amqp.exchange(ch, "x2", "fanout")
    q = amqp.queue(ch, exclusive=True)
    ch.exchange_bind(destination=x2, source=x1)
    ch.exchange_bind(destination=x1, source=x2)
    ch.queue_bind(q, x1)
    ch.queue_bind(q, x2)
    ch.basic_publish(x1, "", b"once")
    assert bodies(get_all(ch, q)) == [b"once"]


def test_exchange_bind_to_missing_exchange_is_404(amqp):
    ch = amqp.channel()
    src = amqp.exchange(ch, "src", "fanout")
    missing = amqp.name("missing")
    expect_channel_error(lambda: ch.exchange_bind(destination=missing, source=src), 404,
                         "NOT_FOUND", missing)


def test_alternate_exchange_takes_unroutable_messages(amqp):
    ch = amqp.channel()
    ae = amqp.exchange(ch, "ae", "fanout")
    main = amqp.exchange(ch, "main", "direct", arguments={"alternate-exchange": ae})
    q_main = amqp.queue(ch, "main", exclusive=True)
    q_ae = amqp.queue(ch, "ae", exclusive=True)
    ch.queue_bind(q_main, main, "known")
    ch.queue_bind(q_ae, ae)

    returned = []
    ch.add_on_return_callback(lambda *a: returned.append(a))
    ch.basic_publish(main, "known", b"routed")
    ch.basic_publish(main, "unknown", b"to-ae", mandatory=True)
    assert bodies(get_all(ch, q_main)) == [b"routed"]
    (method, _p, body), = get_all(ch, q_ae)
    assert body == b"to-ae"
    # The message keeps the exchange and key it was published with.
    assert (method.exchange, method.routing_key) == (main, "unknown")
    # Routed through the alternate exchange, so a mandatory message is not returned.
    amqp.conn.process_data_events(time_limit=0.2)
    assert returned == []


def test_missing_alternate_exchange_drops_the_message(amqp):
    ch = amqp.channel()
    main = amqp.exchange(ch, "main", "direct",
                         arguments={"alternate-exchange": amqp.name("no-ae")})
    q = amqp.queue(ch, exclusive=True)
    ch.queue_bind(q, main, "known")
    ch.basic_publish(main, "unknown", b"lost")
    ch.basic_publish(main, "known", b"kept")
    assert bodies(get_all(ch, q)) == [b"kept"]
