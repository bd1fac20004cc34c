"""Routing edge cases, checked against RabbitMQ 3.10 and then against Sluice: topic patterns
with empty words and many '#', the headers exchange's x-match modes, how it compares values of
different AMQP types, repeated keys, invalid x-match, and which bindings count as the same.

The unit tests in src/broker/routing/tests/ assert the same expectations (their comments say
"RabbitMQ 3.10: ..."); this file is how they were confirmed. Run it against the oracle with

    SLUICE_TEST_TARGET=rabbitmq SLUICE_TEST_PORT=<port> /usr/bin/python3 -m pytest \
        tests/integration/test_routing_oracle.py -p no:cacheprovider -q

pika encodes every Python int as a signed 32- or 64-bit integer, so values of other AMQP types
(short, unsigned, float, timestamp, byte array, ...) are sent as Typed(tag, payload) through
a wrapper around pika's field encoder, and tables with repeated keys as Pairs([...]).
"""

from __future__ import annotations

import struct

import pika
import pika.data
import pytest

from conftest import ON_RABBITMQ, pika_params


# -------------------------------------------------------------------------------------------
# Field values pika cannot express


class Typed:
    """A field value sent with an explicit AMQP type tag and a packed payload."""

    def __init__(self, tag: str, payload: bytes, label: str):
        self.tag, self.payload, self.label = tag.encode(), payload, label

    def __repr__(self):
        return self.label


class Pairs(dict):
    """A field table sent as these (key, value) entries in this order, repeats allowed."""

    def __init__(self, pairs):
        super().__init__({"_": 1})  # never empty, so pika does not replace it with {}
        self.pairs = list(pairs)

    def items(self):
        return list(self.pairs)

    def __repr__(self):
        return f"Pairs({self.pairs!r})"


def _packed(tag, fmt, name):
    return lambda v: Typed(tag, struct.pack(">" + fmt, v), f"{name}({v!r})")


byte, ubyte = _packed("b", "b", "byte"), _packed("B", "B", "ubyte")
short, ushort = _packed("s", "h", "short"), _packed("u", "H", "ushort")
int32, uint32 = _packed("I", "i", "int32"), _packed("i", "I", "uint32")
long, timestamp = _packed("l", "q", "long"), _packed("T", "Q", "timestamp")
float32, double = _packed("f", "f", "float"), _packed("d", "d", "double")
VOID = Typed("V", b"", "void")


def longstr(s: str) -> Typed:
    b = s.encode()
    return Typed("S", struct.pack(">I", len(b)) + b, f"longstr({s!r})")


def bytearr(s: str) -> Typed:
    b = s.encode()
    return Typed("x", struct.pack(">I", len(b)) + b, f"bytes({s!r})")


def decimal(scale: int, value: int) -> Typed:
    return Typed("D", struct.pack(">BI", scale, value), f"decimal({scale}, {value})")


@pytest.fixture
def typed_fields(monkeypatch):
    """Teaches pika's encoder to send Typed values (nested ones too)."""
    original = pika.data.encode_value

    def encode_value(pieces, value):
        if isinstance(value, Typed):
            pieces.append(value.tag + value.payload)
            return 1 + len(value.payload)
        return original(pieces, value)

    monkeypatch.setattr(pika.data, "encode_value", encode_value)


# -------------------------------------------------------------------------------------------
# Helpers


@pytest.fixture
def channel(broker, typed_fields):
    conn = pika.BlockingConnection(pika_params(broker.port))
    ch = conn.channel()
    ch.confirm_delivery()  # a confirmed publish has been routed before basic.get runs
    yield ch
    if conn.is_open:
        conn.close()


def drain(ch, queue: str) -> list[str]:
    bodies = []
    while True:
        method, _props, body = ch.basic_get(queue, auto_ack=True)
        if method is None:
            return bodies
        bodies.append(body.decode())


def routing_table(ch, exchange: str, xtype: str, bindings: list, messages: list) -> list:
    """Declares `exchange`, binds one exclusive queue per entry of `bindings` (each a
    (routing key, arguments) pair), publishes each (body, routing key, headers) message and
    returns, per binding, the bodies its queue received."""
    ch.exchange_declare(exchange, xtype, auto_delete=True)
    queues = []
    for i, (key, arguments) in enumerate(bindings):
        q = ch.queue_declare("", exclusive=True).method.queue
        ch.queue_bind(q, exchange, routing_key=key, arguments=arguments)
        queues.append(q)
    for body, key, headers in messages:
        ch.basic_publish(exchange, key, body.encode(), pika.BasicProperties(headers=headers))
    got = [drain(ch, q) for q in queues]
    for q in queues:
        ch.queue_delete(q)
    return got


def headers_table(ch, bindings: list, messages: list) -> list:
    """routing_table for a headers exchange: bindings are argument tables, messages are
    (body, headers) pairs."""
    return routing_table(ch, "oracle.headers", "headers", [("", b) for b in bindings],
                         [(body, "", h) for body, h in messages])


# -------------------------------------------------------------------------------------------
# Topic

TOPIC_KEYS = ["", "a", "b", "a.b", "a..b", "a.x.b", "a.x.y.b", ".", "a.", ".a", "x.a", "a.b.c",
              "a.x.y", ".."]
EVERY_KEY = TOPIC_KEYS
TOPIC_EXPECTED = {
    "#": EVERY_KEY,
    "#.#": EVERY_KEY,
    "#.#.#.#": EVERY_KEY,
    "*": ["a", "b"],
    "": [""],
    "a.#.b": ["a.b", "a..b", "a.x.b", "a.x.y.b"],
    "#.a": ["a", ".a", "x.a"],
    "a.#": ["a", "a.b", "a..b", "a.x.b", "a.x.y.b", "a.", "a.b.c", "a.x.y"],
    "*.#": [k for k in TOPIC_KEYS if k != ""],
    "#.*": [k for k in TOPIC_KEYS if k != ""],
    "a.*.#": ["a.b", "a..b", "a.x.b", "a.x.y.b", "a.", "a.b.c", "a.x.y"],
    "a.*.b": ["a..b", "a.x.b"],
    "a..b": ["a..b"],
    "*.*": ["a.b", ".", "a.", ".a", "x.a"],
    ".": ["."],
    "*.": [".", "a."],
    "a.": ["a."],
    "a.b": ["a.b"],
    "#.b": ["b", "a.b", "a..b", "a.x.b", "a.x.y.b"],
    "*.*.*": ["a..b", "a.x.b", "a.b.c", "a.x.y", ".."],
}


def test_topic_edge_cases(channel):
    # RabbitMQ 3.10: "" is zero words (matches "#" and "", not "*"), "a..b" is three words
    # with an empty middle one, "." is two empty words.
    patterns = list(TOPIC_EXPECTED)
    got = routing_table(channel, "oracle.topic", "topic", [(p, None) for p in patterns],
                        [(k, k, None) for k in TOPIC_KEYS])
    assert dict(zip(patterns, got)) == TOPIC_EXPECTED


def test_topic_wildcards_are_whole_pattern_words_only(channel):
    # RabbitMQ 3.10: in a routing key "*" and "#" are ordinary words; in a pattern a word that
    # merely contains them is literal.
    patterns = ["a.b", "a.*", "a.#", "a*", "#b", "a.b*c"]
    keys = ["a.*", "a.#", "a*", "ab", "#b", "xb", "a.b*c", "a.bxc"]
    got = routing_table(channel, "oracle.topic", "topic", [(p, None) for p in patterns],
                        [(k, k, None) for k in keys])
    assert dict(zip(patterns, got)) == {
        "a.b": [], "a.*": ["a.*", "a.#", "a.b*c", "a.bxc"], "a.#": ["a.*", "a.#", "a.b*c", "a.bxc"],
        "a*": ["a*"], "#b": ["#b"], "a.b*c": ["a.b*c"]}


# RabbitMQ 3.10 backtracks over every way of splitting the key between the '#'s: one message
# to "#.#.#.#.#.#.#.#.z" (8 '#') with a 16-word key took 2 s to route, with 10 '#' and 20
# words 89 s, and its channel is stuck meanwhile. Sluice's result is the same; only its time
# differs, so this runs against Sluice only.
@pytest.mark.skipif(ON_RABBITMQ, reason="RabbitMQ 3.10's topic matcher is exponential in '#'")
def test_topic_many_hashes_route_promptly(channel):
    pattern = ".".join(["#"] * 60 + ["z"])
    key = ".".join(["a"] * 120)
    got = routing_table(channel, "oracle.topic", "topic", [(pattern, None)],
                        [("no", key, None), ("yes", key + ".z", None)])
    assert got == [["yes"]]


# -------------------------------------------------------------------------------------------
# Headers: x-match

MODE_MESSAGES = [("none", None), ("empty", {}), ("a1", {"a": 1}), ("a1b2", {"a": 1, "b": 2}),
                 ("xa1", {"x-a": 1}), ("a1xa1", {"a": 1, "x-a": 1}), ("a2", {"a": 2})]
EVERY_MESSAGE = [name for name, _ in MODE_MESSAGES]
MODE_CASES = [
    # RabbitMQ 3.10: all with nothing to compare matches everything, any matches nothing.
    ({}, EVERY_MESSAGE),
    ({"x-match": "all"}, EVERY_MESSAGE),
    ({"x-match": "any"}, []),
    ({"x-match": "all-with-x"}, EVERY_MESSAGE),
    ({"x-match": "any-with-x"}, []),
    ({"x-match": "all", "a": 1}, ["a1", "a1b2", "a1xa1"]),
    ({"a": 1, "x-match": "all"}, ["a1", "a1b2", "a1xa1"]),
    ({"x-match": "any", "a": 1, "b": 2}, ["a1", "a1b2", "a1xa1"]),
    # x- keys are ignored by all and any, compared by the -with-x modes.
    ({"x-match": "all", "x-a": 1}, EVERY_MESSAGE),
    ({"x-a": 1}, EVERY_MESSAGE),
    ({"x-match": "any", "x-a": 1}, []),
    ({"x-match": "all-with-x", "x-a": 1}, ["xa1", "a1xa1"]),
    ({"x-match": "any-with-x", "x-a": 1}, ["xa1", "a1xa1"]),
    ({"x-match": "any-with-x", "x-a": 1, "a": 5}, ["xa1", "a1xa1"]),
    ({"x-match": "all-with-x", "a": 1}, ["a1", "a1b2", "a1xa1"]),
    # A void value matches on presence alone.
    ({"a": None}, ["a1", "a1b2", "a1xa1", "a2"]),
    ({"x-match": "any", "a": None}, ["a1", "a1b2", "a1xa1", "a2"]),
]


def test_headers_x_match_modes(channel):
    got = headers_table(channel, [b for b, _ in MODE_CASES], MODE_MESSAGES)
    assert got == [want for _, want in MODE_CASES]


# -------------------------------------------------------------------------------------------
# Headers: value types

NUMBER_VALUES = [
    ("byte1", byte(1)), ("ubyte1", ubyte(1)), ("short1", short(1)), ("ushort1", ushort(1)),
    ("int1", int32(1)), ("uint1", uint32(1)), ("long1", long(1)), ("ts1", timestamp(1)),
    ("float1", float32(1.0)), ("double1", double(1.0)), ("true", True), ("str1", longstr("1")),
    ("dec0_1", decimal(0, 1)), ("dec1_10", decimal(1, 10)), ("void", VOID),
    ("double1.5", double(1.5)), ("float1.5", float32(1.5)), ("double0.1", double(0.1)),
    ("float0.1", float32(0.1)), ("ushort65535", ushort(65535)), ("long65535", long(65535)),
    ("short-1", short(-1)),
    ("uint4294967295", uint32(4294967295)), ("long-2^63", long(-2 ** 63)),
    ("double2^63", double(2.0 ** 63)), ("double-2^63", double(-2.0 ** 63)),
    ("double2^53", double(2.0 ** 53)), ("long2^53+1", long(2 ** 53 + 1)),
    ("double-0", double(-0.0)), ("long0", long(0)), ("false", False),
]
ONES = ["byte1", "ubyte1", "short1", "ushort1", "int1", "uint1", "long1", "ts1", "float1",
        "double1"]
NUMBER_EXPECTED = {
    # RabbitMQ 3.10 compares with Erlang's ==: every integer width, timestamps, floats and
    # doubles by exact numeric value; bool, string and decimal only with their own type.
    **{name: ONES for name in ONES},
    "true": ["true"], "false": ["false"], "str1": ["str1"],
    "dec0_1": ["dec0_1"], "dec1_10": ["dec1_10"],
    "void": [name for name, _ in NUMBER_VALUES],  # presence only
    "double1.5": ["double1.5", "float1.5"], "float1.5": ["double1.5", "float1.5"],
    "double0.1": ["double0.1"], "float0.1": ["float0.1"],
    "ushort65535": ["ushort65535", "long65535"], "long65535": ["ushort65535", "long65535"],
    "short-1": ["short-1"], "uint4294967295": ["uint4294967295"],
    "long-2^63": ["long-2^63", "double-2^63"], "double-2^63": ["long-2^63", "double-2^63"],
    "double2^63": ["double2^63"],
    "double2^53": ["double2^53"], "long2^53+1": ["long2^53+1"],
    "double-0": ["double-0", "long0"], "long0": ["double-0", "long0"],
}


def test_headers_compare_numbers_by_value_across_types(channel):
    got = headers_table(channel, [{"k": v} for _, v in NUMBER_VALUES],
                        [(name, {"k": v}) for name, v in NUMBER_VALUES])
    assert dict(zip([n for n, _ in NUMBER_VALUES], got)) == NUMBER_EXPECTED


OTHER_VALUES = [
    ("longstr", longstr("abc")), ("bytes", bytearr("abc")),
    ("tbl_long", {"a": long(1)}), ("tbl_int", {"a": int32(1)}), ("tbl_dbl", {"a": double(1.0)}),
    ("arr_long", [long(1)]), ("arr_int", [int32(1)]),
    ("tbl_ab", {"a": 1, "b": 2}), ("tbl_ba", {"b": 2, "a": 1}),
    ("arr_empty", []), ("tbl_empty", {}),
]
OTHER_EXPECTED = {
    # RabbitMQ 3.10: long strings and byte arrays are both binaries; nested values keep their
    # types and order; an empty array and an empty table are both [].
    "longstr": ["longstr", "bytes"], "bytes": ["longstr", "bytes"],
    "tbl_long": ["tbl_long"], "tbl_int": ["tbl_int"], "tbl_dbl": ["tbl_dbl"],
    "arr_long": ["arr_long"], "arr_int": ["arr_int"],
    "tbl_ab": ["tbl_ab"], "tbl_ba": ["tbl_ba"],
    "arr_empty": ["arr_empty", "tbl_empty"], "tbl_empty": ["arr_empty", "tbl_empty"],
}


def test_headers_compare_strings_and_containers(channel):
    got = headers_table(channel, [{"k": v} for _, v in OTHER_VALUES],
                        [(name, {"k": v}) for name, v in OTHER_VALUES])
    assert dict(zip([n for n, _ in OTHER_VALUES], got)) == OTHER_EXPECTED


# -------------------------------------------------------------------------------------------
# Headers: repeated keys, x-match validation

REPEAT_MESSAGES = [("k1k2", Pairs([("k", 1), ("k", 2)])), ("k2k1", Pairs([("k", 2), ("k", 1)])),
                   ("k1", {"k": 1}), ("k2", {"k": 2}), ("k1j1", Pairs([("k", 1), ("j", 1)]))]
REPEAT_CASES = [
    # RabbitMQ 3.10 merges stably sorted lists: each binding entry meets the next header with
    # its key, so only the first of repeated headers counts against a single entry.
    ({"k": 1}, ["k1k2", "k1", "k1j1"]),
    ({"k": 2}, ["k2k1", "k2"]),
    (Pairs([("k", 1), ("k", 2)]), ["k1k2"]),
    (Pairs([("k", 2), ("k", 1)]), ["k2k1"]),
    (Pairs([("x-match", "any"), ("k", 3), ("k", 2)]), ["k1k2"]),
    (Pairs([("x-match", "any"), ("k", 2), ("k", 3)]), ["k2k1", "k2"]),
    (Pairs([("k", 1), ("k", 1)]), []),
]


def test_headers_repeated_keys(channel):
    got = headers_table(channel, [b for b, _ in REPEAT_CASES], REPEAT_MESSAGES)
    assert got == [want for _, want in REPEAT_CASES]


def test_headers_first_x_match_wins(channel):
    bindings = [Pairs([("x-match", "any"), ("x-match", "all"), ("a", 1), ("b", 2)]),
                Pairs([("x-match", "all"), ("x-match", "any"), ("a", 1), ("b", 2)])]
    messages = [("a1", {"a": 1}), ("a1b2", {"a": 1, "b": 2}), ("b2", {"b": 2})]
    assert headers_table(channel, bindings, messages) == [["a1", "a1b2", "b2"], ["a1b2"]]


# RabbitMQ 3.10 validates x-match when the binding is made; so does Sluice.
@pytest.mark.parametrize("x_match, reply_text", [
    ("ALL", 'Invalid x-match field value <<"ALL">>; expected all, any, all-with-x, or any-with-x'),
    ("all ", "Invalid x-match field value"),
    ("", "Invalid x-match field value"),
    (bytearr("any"), "Invalid x-match field type binary"),
    (long(1), "Invalid x-match field type long"),
], ids=["upper-case", "trailing-space", "empty", "byte-array", "integer"])
def test_headers_invalid_x_match_is_406(broker, typed_fields, x_match, reply_text):
    conn = pika.BlockingConnection(pika_params(broker.port))
    try:
        ch = conn.channel()
        ch.exchange_declare("oracle.bad", "headers", auto_delete=True)
        q = ch.queue_declare("", exclusive=True).method.queue
        with pytest.raises(pika.exceptions.ChannelClosedByBroker) as e:
            ch.queue_bind(q, "oracle.bad", "", arguments={"x-match": x_match})
        assert e.value.reply_code == 406
        assert e.value.reply_text.startswith("PRECONDITION_FAILED - " + reply_text)
    finally:
        conn.close()


# -------------------------------------------------------------------------------------------
# Binding identity: (destination, key, arguments), arguments sorted by key


@pytest.mark.parametrize("xtype", ["direct", "fanout", "topic", "headers"])
def test_argument_order_does_not_make_a_new_binding(channel, xtype):
    # RabbitMQ 3.10: {a=1, b=2} and {b=2, a=1} are one binding, so one unbind removes it.
    # Not auto-delete: the exchange must outlive its last binding for the final unbind.
    channel.exchange_declare("oracle.identity", xtype)
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, "oracle.identity", "k", arguments={"a": 1, "b": 2})
    channel.queue_bind(q, "oracle.identity", "k", arguments={"b": 2, "a": 1})
    channel.queue_bind(q, "oracle.identity", "k", arguments={"a": long(1), "b": 2})
    # The int64 variant is a binding of its own: after unbinding the int32 one, it still routes.
    channel.queue_unbind(q, "oracle.identity", "k", arguments={"b": 2, "a": 1})
    channel.basic_publish("oracle.identity", "k", b"1",
                          pika.BasicProperties(headers={"a": 1, "b": 2}))
    assert drain(channel, q) == ["1"]
    channel.queue_unbind(q, "oracle.identity", "k", arguments={"a": long(1), "b": 2})
    channel.basic_publish("oracle.identity", "k", b"2",
                          pika.BasicProperties(headers={"a": 1, "b": 2}))
    assert drain(channel, q) == []
    # RabbitMQ 3.10 answers unbind-ok for a binding that does not exist.
    channel.queue_unbind(q, "oracle.identity", "k", arguments={"zz": 1})
    channel.exchange_delete("oracle.identity")


@pytest.mark.parametrize("xtype", ["direct", "fanout", "topic", "headers"])
def test_two_matching_bindings_deliver_once(channel, xtype):
    channel.exchange_declare("oracle.twice", xtype, auto_delete=True)
    q = channel.queue_declare("", exclusive=True).method.queue
    channel.queue_bind(q, "oracle.twice", "k")
    channel.queue_bind(q, "oracle.twice", "k", arguments={"other": 1})
    channel.basic_publish("oracle.twice", "k", b"m", pika.BasicProperties(headers={"other": 1}))
    assert drain(channel, q) == ["m"]
