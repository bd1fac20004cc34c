"""Hostile and malformed input at the connection level, sent frame by frame with amqp_raw.

Each test provokes one protocol violation and checks the broker's answer: the reply code and
the "CODE_NAME - detail" reply-text of connection.close, the class and method ids RabbitMQ puts
in it, and that the socket is closed afterwards. Every test then checks that a fresh pika
connection still works, so a broker that survives the bad client only by luck, or that
crashes a moment later, fails the test (and the fixture's exit-code check catches a crash at
shutdown).

Expected values were taken from RabbitMQ 3.10.8 (the oracle); the comment "RabbitMQ 3.10:"
says what it did. Where RabbitMQ drops the socket without a close frame (it does that for
every error before connection.open, for example) the test accepts either that or a
connection.close with the code named in the comment.
"""

from __future__ import annotations

import re
import socket
import struct
import time

import pytest

import amqp_raw as raw
from amqp_raw import PeerClosed, FrameTimeout

# How long the broker may take to close the socket after an error. RabbitMQ 3.10 waits 3 s
# for a close-ok it will never parse after a frame error, and delays silent closes by 3 s.
CLOSE_WITHIN = 10.0


# -------------------------------------------------------------------------------------------
# Helpers


def connected(port: int, **handshake) -> raw.RawConnection:
    c = raw.RawConnection(port)
    c.handshake(**handshake)
    return c


def expect_hard_error(c: raw.RawConnection, code: int, name: str,
                      method: tuple[int, int] | list | None = None) -> raw.CloseInfo:
    """The broker sends connection.close `code` "NAME - ..." and then closes the socket.

    method is the (class id, method id) the close must name, or a list of acceptable ones.
    """
    info = c.expect_connection_close(timeout=CLOSE_WITHIN)
    assert (info.reply_code, info.code_name) == (code, name), info
    assert info.reply_text.startswith(f"{name} - "), info
    if method is not None:
        allowed = method if isinstance(method, list) else [method]
        assert (info.class_id, info.method_id) in allowed, info
    c.wait_closed(CLOSE_WITHIN)
    return info


def expect_refused(c: raw.RawConnection, codes: tuple[int, ...]) -> raw.CloseInfo | None:
    """The broker ends the connection: either connection.close with one of `codes`, then the
    socket close, or a socket close with no frame at all. Returns the close, if one came."""
    try:
        f = c.read_method(timeout=CLOSE_WITHIN)
    except PeerClosed as e:
        assert e.data == b"", f"partial frame before close: {e.data!r}"
        return None
    except ConnectionResetError:
        return None
    assert f.method == raw.CONNECTION_CLOSE, f"expected the connection to end, got {f!r}"
    info = raw.decode_close(f)
    assert info.reply_code in codes, info
    c.send_method(0, raw.CONNECTION_CLOSE_OK)
    c.wait_closed(CLOSE_WITHIN)
    return info


def still_open(c: raw.RawConnection, channel: int = 1) -> None:
    """Round-trips channel.open / channel.close on `channel` to prove the connection lives."""
    c.open_channel(channel)
    c.send_method(channel, raw.CHANNEL_CLOSE, raw.close_args())
    c.expect_method(raw.CHANNEL_CLOSE_OK)


def pika_connection(port: int):
    import pika

    from conftest import pika_params

    return pika.BlockingConnection(pika_params(port, heartbeat=0))


# -------------------------------------------------------------------------------------------
# Protocol header


@pytest.mark.parametrize("header", [
    b"AMQP\x00\x00\x09\x00",  # 0-9-1 with the wrong revision
    b"AMQP\x00\x00\x09\x02",
    b"AMQP\x00\x00\x0a\x00",  # 0-10
    b"AMQP\x00\x01\x00\x00",  # AMQP 1.0
    b"AMQP\x03\x01\x00\x00",  # AMQP 1.0 SASL/TLS layer
], ids=["0-9-1-rev0", "0-9-2", "0-10", "1.0", "1.0-tls"])
def test_unsupported_protocol_header_gets_our_header_and_close(broker, assert_healthy, header):
    # RabbitMQ 3.10: writes "AMQP\x00\x00\x09\x01" and closes. (It does accept the legacy
    # headers "AMQP\x01\x01\x08\x00" (0-8) and "AMQP\x01\x01\x00\x09" (0-9), so those are
    # not tested here.)
    with raw.RawConnection(broker.port) as c:
        c.send(header)
        assert c.wait_closed(CLOSE_WITHIN) == raw.PROTOCOL_HEADER
    assert_healthy(broker.port)


@pytest.mark.parametrize("garbage", [
    b"GET / HT", b"\x00" * 8, b"\xff" * 8, b"HTTP/1.1", b"AMQPAMQP",
], ids=["http-get", "zeros", "ff", "http-version", "amqp-twice"])
def test_garbage_instead_of_header_gets_our_header_and_close(broker, assert_healthy, garbage):
    # RabbitMQ 3.10: writes "AMQP\x00\x00\x09\x01" and closes.
    # Exactly 8 bytes, so no unread input makes the close an RST that could eat the reply.
    with raw.RawConnection(broker.port) as c:
        c.send(garbage)
        assert c.wait_closed(CLOSE_WITHIN) == raw.PROTOCOL_HEADER
    assert_healthy(broker.port)


def test_garbage_after_header_closes_connection(broker, assert_healthy):
    # RabbitMQ 3.10: drops the socket without a close frame (error before connection.open).
    with raw.RawConnection(broker.port) as c:
        c.send_protocol_header()
        c.read_start()
        c.send(b"GARBAGE!" * 4)
        expect_refused(c, (501,))
    assert_healthy(broker.port)


# -------------------------------------------------------------------------------------------
# Malformed frames after the handshake


def test_bad_frame_end_octet_is_frame_error(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        c.send(raw.method_frame(1, raw.CHANNEL_CLOSE, raw.close_args(), end=0x00))
        # RabbitMQ 3.10: 501 "FRAME_ERROR - type 1, all octets = <<...>>:
        # {invalid_frame_end_marker,0}", class 0, method 0.
        expect_hard_error(c, 501, "FRAME_ERROR", (0, 0))
    assert_healthy(broker.port)


@pytest.mark.parametrize("ftype", [4, 9, 0x7F, 0xFF])
def test_unknown_frame_type_is_frame_error(broker, assert_healthy, ftype):
    with connected(broker.port) as c:
        c.send(raw.frame(ftype, 0, b"xx"))
        # RabbitMQ 3.10: 501 "FRAME_ERROR - type 9, all octets = <<"xx">>: unknown_frame".
        expect_hard_error(c, 501, "FRAME_ERROR", (0, 0))
    assert_healthy(broker.port)


def test_frame_larger_than_negotiated_frame_max_is_frame_error(broker, assert_healthy):
    with connected(broker.port, frame_max=4096) as c:
        c.open_channel(1)
        c.send(raw.method_frame(1, raw.QUEUE_DECLARE, b"x" * 8000))
        # RabbitMQ 3.10: 501 "FRAME_ERROR - type 1, all octets = <<>>:
        # {frame_too_large,8004,4088}". (It lets the payload reach frame_max itself before it
        # complains; this frame is far past either limit.)
        expect_hard_error(c, 501, "FRAME_ERROR", (0, 0))
    assert_healthy(broker.port)


def test_frame_larger_than_default_frame_max_is_frame_error(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        c.send(raw.frame(raw.FRAME_BODY, 1, b"y" * (2 * 131072)))
        # RabbitMQ 3.10: 501 FRAME_ERROR {frame_too_large,262144,131064}.
        expect_hard_error(c, 501, "FRAME_ERROR", (0, 0))
    assert_healthy(broker.port)


def test_frame_of_exactly_frame_max_bytes_is_accepted(broker, assert_healthy):
    with connected(broker.port, frame_max=4096) as c:
        c.open_channel(1)
        # A message to a routing key no queue is bound to (dropped, not mandatory) whose body
        # frame is 4096 bytes on the wire: 7 header + 4088 payload + 1 end octet.
        c.send_method(1, raw.BASIC_PUBLISH, raw.basic_publish_args("", "no-such-queue"))
        c.send(raw.header_frame(1, 60, 4088))
        c.send(raw.body_frame(1, b"z" * 4088))
        # RabbitMQ 3.10: accepted (it allows payloads up to frame_max itself).
        still_open(c, channel=2)
        c.close_cleanly()
    assert_healthy(broker.port)


def test_huge_frame_size_is_rejected_from_the_header_alone(broker, assert_healthy):
    with connected(broker.port) as c:
        # A frame header announcing a 4 GiB payload, and only 3 bytes of it. The broker must
        # not wait for (or allocate) the payload.
        c.send(struct.pack(">BHI", raw.FRAME_METHOD, 0, 0xFFFFFFFF) + b"abc")
        # RabbitMQ 3.10: 501 "FRAME_ERROR - type 1, all octets = <<>>:
        # {frame_too_large,4294967295,131064}", sent at once.
        expect_hard_error(c, 501, "FRAME_ERROR", (0, 0))
    assert_healthy(broker.port)


def test_heartbeat_with_payload_is_frame_error(broker, assert_healthy):
    with connected(broker.port) as c:
        c.send(raw.frame(raw.FRAME_HEARTBEAT, 0, b"abc"))
        # RabbitMQ 3.10: 501 "FRAME_ERROR - type 8, all octets = <<"abc">>: unknown_frame".
        expect_hard_error(c, 501, "FRAME_ERROR", (0, 0))
    assert_healthy(broker.port)


def test_heartbeat_on_nonzero_channel_is_connection_error(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        c.send(raw.frame(raw.FRAME_HEARTBEAT, 1, b""))
        # RabbitMQ 3.10: 505 "UNEXPECTED_FRAME - type 8, all octets = <<>>". The 0-9-1 spec
        # asks for 501 FRAME_ERROR here, so either is accepted.
        info = c.expect_connection_close(timeout=CLOSE_WITHIN)
        assert (info.reply_code, info.code_name) in ((505, "UNEXPECTED_FRAME"),
                                                     (501, "FRAME_ERROR")), info
        c.wait_closed(CLOSE_WITHIN)
    assert_healthy(broker.port)


def test_method_frame_too_short_for_ids_is_frame_error(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        c.send(raw.frame(raw.FRAME_METHOD, 1, b"\x00\x32"))
        # RabbitMQ 3.10: 501 "FRAME_ERROR - type 1, all octets = <<0,50>>: unknown_frame".
        expect_hard_error(c, 501, "FRAME_ERROR", (0, 0))
    assert_healthy(broker.port)


def test_truncated_method_arguments_are_rejected(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        # queue.declare: reserved short, then a shortstr claiming 16 bytes with 2 present.
        c.send_method(1, raw.QUEUE_DECLARE, b"\x00\x00\x10ab")
        # RabbitMQ 3.10: 501 "FRAME_ERROR - cannot decode <<0,0,16,97,98>>", class 50,
        # method 10. 502 SYNTAX_ERROR would also be a fair answer, so either is accepted.
        info = c.expect_connection_close(timeout=CLOSE_WITHIN)
        assert info.reply_code in (501, 502), info
        assert info.code_name in ("FRAME_ERROR", "SYNTAX_ERROR"), info
        c.wait_closed(CLOSE_WITHIN)
    assert_healthy(broker.port)


@pytest.mark.parametrize("channel,method", [(1, (20, 99)), (1, (99, 10)), (0, (10, 99))],
                         ids=["unknown-channel-method", "unknown-class", "unknown-conn-method"])
def test_unknown_method_ends_connection(broker, assert_healthy, channel, method):
    with connected(broker.port) as c:
        if channel:
            c.open_channel(channel)
        c.send_method(channel, method)
        # RabbitMQ 3.10: its reader crashes and drops the socket with no close frame.
        # The sane answer is connection.close 540 NOT_IMPLEMENTED or 503 COMMAND_INVALID.
        expect_refused(c, (503, 540))
    assert_healthy(broker.port)


def test_malformed_field_table_ends_connection(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        # queue.declare whose arguments table holds a field of unknown type 'Z'.
        args = (raw.short(0) + raw.shortstr("q") + raw.bits() + raw.long_(5) + b"\x01aZ\x00\x00")
        c.send_method(1, raw.QUEUE_DECLARE, args)
        # RabbitMQ 3.10: drops the socket without a close frame. 501 FRAME_ERROR or 502
        # SYNTAX_ERROR would be the expected codes.
        expect_refused(c, (501, 502))
    assert_healthy(broker.port)


# -------------------------------------------------------------------------------------------
# Frames that are well formed but arrive in the wrong place


@pytest.mark.parametrize("method,args", [
    (raw.QUEUE_DECLARE, raw.queue_declare_args("")),
    (raw.BASIC_PUBLISH, raw.basic_publish_args("", "k")),
    (raw.CHANNEL_CLOSE, raw.close_args()),
    (raw.CHANNEL_CLOSE_OK, b""),
], ids=["queue.declare", "basic.publish", "channel.close", "channel.close-ok"])
def test_method_on_unopened_channel_is_channel_error(broker, assert_healthy, method, args):
    with connected(broker.port) as c:
        c.send_method(5, method, args)
        if method == raw.BASIC_PUBLISH:
            # RabbitMQ 3.10 assembles the whole message before it looks at the channel, so
            # the content header (of an empty body) must follow for it to answer.
            c.send(raw.header_frame(5, 60, 0))
        # RabbitMQ 3.10: 504 "CHANNEL_ERROR - expected 'channel.open'", with the class and
        # method ids of the offending method.
        expect_hard_error(c, 504, "CHANNEL_ERROR", method)
    assert_healthy(broker.port)


@pytest.mark.parametrize("method,args", [
    (raw.QUEUE_DECLARE, raw.queue_declare_args("")),
    (raw.BASIC_PUBLISH, raw.basic_publish_args("", "k")),
    (raw.CHANNEL_OPEN, raw.shortstr("")),
], ids=["queue.declare", "basic.publish", "channel.open"])
def test_channel_method_on_channel_zero_is_rejected(broker, assert_healthy, method, args):
    with connected(broker.port) as c:
        c.send_method(0, method, args)
        # RabbitMQ 3.10: 504 "CHANNEL_ERROR - unexpected method in connection state running",
        # with the offending class and method ids (not 503 COMMAND_INVALID).
        expect_hard_error(c, 504, "CHANNEL_ERROR", method)
    assert_healthy(broker.port)


@pytest.mark.parametrize("method,args", [
    (raw.CONNECTION_CLOSE, raw.close_args()),
    (raw.CONNECTION_OPEN, raw.open_args()),
    (raw.CONNECTION_TUNE_OK, raw.tune_ok_args(2047, 131072, 0)),
], ids=["connection.close", "connection.open", "connection.tune-ok"])
def test_connection_method_on_open_channel_is_command_invalid(broker, assert_healthy, method,
                                                              args):
    with connected(broker.port) as c:
        c.open_channel(1)
        c.send_method(1, method, args)
        # RabbitMQ 3.10: 503 "COMMAND_INVALID - unimplemented method", offending ids. (On a
        # channel that was never opened it answers 504 "expected 'channel.open'" instead.)
        expect_hard_error(c, 503, "COMMAND_INVALID", method)
    assert_healthy(broker.port)


@pytest.mark.parametrize("method,args", [
    (raw.CONNECTION_OPEN, raw.open_args()),
    (raw.CONNECTION_START_OK, raw.start_ok_args()),
], ids=["connection.open", "connection.start-ok"])
def test_repeated_handshake_method_is_channel_error(broker, assert_healthy, method, args):
    with connected(broker.port) as c:
        c.send_method(0, method, args)
        # RabbitMQ 3.10: 504 "CHANNEL_ERROR - unexpected method in connection state running".
        expect_hard_error(c, 504, "CHANNEL_ERROR", method)
    assert_healthy(broker.port)


@pytest.mark.parametrize("channel,open_first,build", [
    (1, True, lambda ch: raw.header_frame(ch, 60, 5)),
    (1, True, lambda ch: raw.body_frame(ch, b"hello")),
    (3, False, lambda ch: raw.header_frame(ch, 60, 5)),
    (0, False, lambda ch: raw.header_frame(ch, 60, 5)),
], ids=["header", "body", "header-unopened-channel", "header-channel-0"])
def test_content_frame_without_content_method_is_unexpected_frame(
        broker, assert_healthy, channel, open_first, build):
    with connected(broker.port) as c:
        if open_first:
            c.open_channel(channel)
        c.send(build(channel))
        # RabbitMQ 3.10: 505 "UNEXPECTED_FRAME - expected method frame, got non method frame
        # instead" (on channel 0: "UNEXPECTED_FRAME - type 2, all octets = ..."), class 0,
        # method 0.
        expect_hard_error(c, 505, "UNEXPECTED_FRAME", (0, 0))
    assert_healthy(broker.port)


def publish_start(c: raw.RawConnection, channel: int = 1) -> None:
    c.send_method(channel, raw.BASIC_PUBLISH, raw.basic_publish_args("", "no-such-queue"))


@pytest.mark.parametrize("steps", [
    [lambda c: c.send(raw.header_frame(1, 60, 0)), lambda c: c.send(raw.body_frame(1, b"x"))],
    [lambda c: c.send_method(1, raw.CHANNEL_CLOSE, raw.close_args())],
    [lambda c: c.send(raw.header_frame(1, 60, 5)),
     lambda c: c.send_method(1, raw.CHANNEL_CLOSE, raw.close_args())],
    [lambda c: c.send(raw.header_frame(1, 50, 5))],
], ids=["body-after-empty-message", "method-instead-of-header", "method-instead-of-body",
        "header-of-wrong-class"])
def test_content_frames_out_of_sequence_are_unexpected_frame(broker, assert_healthy, steps):
    with connected(broker.port) as c:
        c.open_channel(1)
        publish_start(c)
        for step in steps:
            step(c)
        # RabbitMQ 3.10: 505, e.g. "UNEXPECTED_FRAME - expected content header for class 60,
        # got non content header frame instead" / "... got one for class 50 instead" /
        # "expected content body, got non content body frame instead" / (body after an empty
        # message) "expected method frame, got non method frame instead". It names
        # basic.publish (60, 40) as the method, except for the last one (0, 0); the ids are
        # not checked here.
        expect_hard_error(c, 505, "UNEXPECTED_FRAME")
    assert_healthy(broker.port)


def test_truncated_content_header_is_frame_error(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        publish_start(c)
        c.send(raw.frame(raw.FRAME_HEADER, 1, b"\x00\x3c"))
        # RabbitMQ 3.10: 501 "FRAME_ERROR - type 2, all octets = <<0,60>>: unknown_frame".
        expect_hard_error(c, 501, "FRAME_ERROR")
    assert_healthy(broker.port)


def test_heartbeats_and_other_channels_may_interleave_with_content(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        c.open_channel(2)
        publish_start(c, 1)
        c.send(raw.header_frame(1, 60, 5))
        c.send(raw.heartbeat_frame())
        c.send_method(2, raw.CHANNEL_CLOSE, raw.close_args())
        f = c.expect_method(raw.CHANNEL_CLOSE_OK)
        assert f.channel == 2
        c.send(raw.body_frame(1, b""))
        c.send(raw.body_frame(1, b"01234"))
        # RabbitMQ 3.10: all accepted (an empty body frame too); channel 1 still answers.
        c.send_method(1, raw.CHANNEL_CLOSE, raw.close_args())
        f = c.expect_method(raw.CHANNEL_CLOSE_OK)
        assert f.channel == 1
        c.close_cleanly()
    assert_healthy(broker.port)


def test_default_channel_max_allows_2047_channels_and_no_more(broker, assert_healthy):
    with connected(broker.port) as c:
        c.send(b"".join(raw.method_frame(ch, raw.CHANNEL_OPEN, raw.shortstr(""))
                        for ch in range(1, 2048)))
        opened = set()
        for _ in range(2047):
            f = c.expect_method(raw.CHANNEL_OPEN_OK, timeout=10)
            opened.add(f.channel)
        assert opened == set(range(1, 2048))
        c.send_method(2048, raw.CHANNEL_OPEN, raw.shortstr(""))
        # RabbitMQ 3.10: 530 "NOT_ALLOWED - number of channels opened (2047) has reached the
        # negotiated channel_max (2047)".
        expect_hard_error(c, 530, "NOT_ALLOWED")
    assert_healthy(broker.port)


def test_second_channel_open_is_channel_error(broker, assert_healthy):
    with connected(broker.port) as c:
        c.open_channel(1)
        c.send_method(1, raw.CHANNEL_OPEN, raw.shortstr(""))
        # RabbitMQ 3.10: 504 "CHANNEL_ERROR - second 'channel.open' seen", class 20, method 10.
        expect_hard_error(c, 504, "CHANNEL_ERROR", raw.CHANNEL_OPEN)
    assert_healthy(broker.port)


def test_opening_more_channels_than_channel_max_is_not_allowed(broker, assert_healthy):
    with connected(broker.port, channel_max=3) as c:
        for ch in (1, 2, 3):
            c.open_channel(ch)
        c.send_method(4, raw.CHANNEL_OPEN, raw.shortstr(""))
        # RabbitMQ 3.10: 530 "NOT_ALLOWED - number of channels opened (3) has reached the
        # negotiated channel_max (3)", class 0, method 0. NOTE: RabbitMQ limits the *number*
        # of open channels, not the channel id: with channel_max 3 it accepts channel.open on
        # channel 11 (or 65535) while fewer than 3 are open. Channels 1..4 are refused the
        # same way under either rule, so this test holds for both.
        info = expect_hard_error(c, 530, "NOT_ALLOWED")
        assert info.class_id in (0, 20), info
    assert_healthy(broker.port)


def test_channel_open_before_connection_open_is_refused(broker, assert_healthy):
    with raw.RawConnection(broker.port) as c:
        c.handshake(open_connection=False)
        c.send_method(1, raw.CHANNEL_OPEN, raw.shortstr(""))
        # RabbitMQ 3.10: 505 "UNEXPECTED_FRAME - type 1, all octets = <<0,20,0,10,0>>".
        # Any hard error, or a silent close (the spec's rule before connection.open), will do.
        expect_refused(c, (503, 504, 505, 530))
    assert_healthy(broker.port)


# -------------------------------------------------------------------------------------------
# Tune negotiation


def send_tune_ok_and_open(c: raw.RawConnection, channel_max: int, frame_max: int,
                          heartbeat: int = 0) -> None:
    c.send_protocol_header()
    c.read_start()
    c.send_method(0, raw.CONNECTION_START_OK, raw.start_ok_args())
    c.read_tune()
    c.send_method(0, raw.CONNECTION_TUNE_OK, raw.tune_ok_args(channel_max, frame_max, heartbeat))
    c.send_method(0, raw.CONNECTION_OPEN, raw.open_args())


@pytest.mark.parametrize("channel_max,frame_max", [
    (2047, 4095), (2047, 1000), (2047, 131073), (2047, 0), (2048, 131072), (65535, 131072),
    (0, 131072),
], ids=["frame_max-4095", "frame_max-1000", "frame_max-above-server", "frame_max-0-unlimited",
        "channel_max-2048", "channel_max-65535", "channel_max-0-unlimited"])
def test_tune_ok_outside_limits_is_refused(broker, assert_healthy, channel_max, frame_max):
    with raw.RawConnection(broker.port) as c:
        send_tune_ok_and_open(c, channel_max, frame_max)
        # RabbitMQ 3.10: logs "failed to negotiate connection parameters: negotiated
        # frame_max = 4095 is lower than the minimum allowed value (4096)" (or "... is higher
        # than the maximum allowed value ..."; 0 counts as "no limit", so it is too high) and
        # drops the socket 3 s later WITHOUT a close frame. Sluice's contract is
        # connection.close 530 NOT_ALLOWED; either passes, connection.open-ok does not.
        info = expect_refused(c, (530,))
        if info is not None:
            assert info.code_name == "NOT_ALLOWED", info
    assert_healthy(broker.port)


@pytest.mark.parametrize("channel_max,frame_max,heartbeat", [
    (2047, 4096, 0), (1, 131072, 0), (2047, 131072, 65535), (100, 65536, 30),
], ids=["frame_max-4096", "channel_max-1", "heartbeat-65535", "lower-everything"])
def test_tune_ok_within_limits_is_accepted(broker, assert_healthy, channel_max, frame_max,
                                           heartbeat):
    # RabbitMQ 3.10: connection.open-ok for each.
    with raw.RawConnection(broker.port) as c:
        c.handshake(channel_max=channel_max, frame_max=frame_max, heartbeat=heartbeat)
        still_open(c)
        c.close_cleanly()


# -------------------------------------------------------------------------------------------
# Authentication and virtual hosts


@pytest.mark.parametrize("mechanism", ["PLAIN", "AMQPLAIN"])
@pytest.mark.parametrize("user,password", [("guest", "wrong"), ("nobody", "guest")],
                         ids=["bad-password", "unknown-user"])
def test_bad_credentials_with_auth_failure_close_get_access_refused(
        broker, assert_healthy, mechanism, user, password):
    with raw.RawConnection(broker.port) as c:
        c.send_protocol_header()
        c.read_start()
        c.send_method(0, raw.CONNECTION_START_OK,
                      raw.start_ok_args(mechanism=mechanism, user=user, password=password))
        # RabbitMQ 3.10: at once, 403 "ACCESS_REFUSED - Login was refused using
        # authentication mechanism PLAIN. For details see the broker logfile.", class 0,
        # method 0. Naming connection.start-ok (10, 11) instead is as good.
        expect_hard_error(c, 403, "ACCESS_REFUSED", [(0, 0), raw.CONNECTION_START_OK])
    assert_healthy(broker.port)


@pytest.mark.parametrize("props", [
    {"product": "raw", "capabilities": {"authentication_failure_close": False}},
    {"product": "raw"},
], ids=["capability-false", "no-capabilities"])
def test_bad_credentials_without_auth_failure_close_drop_the_socket(broker, assert_healthy,
                                                                      props):
    with raw.RawConnection(broker.port) as c:
        c.send_protocol_header()
        c.read_start()
        c.send_method(0, raw.CONNECTION_START_OK,
                      raw.start_ok_args(password="wrong", client_properties=props))
        # RabbitMQ 3.10: no frame at all; the socket is closed 3 s later.
        assert c.wait_closed(CLOSE_WITHIN) == b""
    assert_healthy(broker.port)


@pytest.mark.parametrize("mechanism,response", [
    ("FOO", None), ("EXTERNAL", None), ("PLAIN", b"garbage-without-nuls"), ("AMQPLAIN", b"\xff"),
], ids=["unknown-mechanism", "external", "malformed-plain", "malformed-amqplain"])
def test_unusable_mechanism_or_response_is_refused(broker, assert_healthy, mechanism, response):
    with raw.RawConnection(broker.port) as c:
        c.send_protocol_header()
        c.read_start()
        c.send_method(0, raw.CONNECTION_START_OK,
                      raw.start_ok_args(mechanism=mechanism, response=response))
        # RabbitMQ 3.10: drops the socket 3 s later with no close frame, even though the
        # client set authentication_failure_close (internally it raises 503 COMMAND_INVALID
        # "unknown authentication mechanism" or 403 for a bad response). Either code in a
        # connection.close is accepted as well; connection.tune is not.
        info = expect_refused(c, (403, 503))
        if info is not None:
            assert info.code_name in ("ACCESS_REFUSED", "COMMAND_INVALID"), info
    assert_healthy(broker.port)


@pytest.mark.parametrize("vhost", ["nope", "", "//"])
def test_unknown_vhost_is_not_allowed(broker, assert_healthy, vhost):
    with raw.RawConnection(broker.port) as c:
        c.handshake(open_connection=False)
        c.send_method(0, raw.CONNECTION_OPEN, raw.open_args(vhost))
        # RabbitMQ 3.10: 530 "NOT_ALLOWED - vhost nope not found", class 10, method 40.
        info = expect_hard_error(c, 530, "NOT_ALLOWED", raw.CONNECTION_OPEN)
        assert re.search(rf"vhost '?{re.escape(vhost)}'? not found", info.reply_text), info
    assert_healthy(broker.port)


# -------------------------------------------------------------------------------------------
# Heartbeats


def test_server_sends_heartbeats_and_keeps_a_heartbeating_client(broker):
    with connected(broker.port, heartbeat=1) as c:
        received = 0
        last_sent = time.monotonic()
        deadline = last_sent + 4.0
        while time.monotonic() < deadline:
            try:
                f = c.read_frame(timeout=0.2)
                assert f.type == raw.FRAME_HEARTBEAT and f.channel == 0, f
                received += 1
            except FrameTimeout:
                pass
            if time.monotonic() - last_sent >= 0.5:
                c.send(raw.heartbeat_frame())
                last_sent = time.monotonic()
        # RabbitMQ 3.10: with heartbeat 1 it sends one every 0.5 s (8 in 4 s).
        assert received >= 2
        still_open(c)
        c.close_cleanly()


def test_any_client_traffic_counts_as_liveness(broker):
    with connected(broker.port, heartbeat=1) as c:
        # No heartbeats from the client, only channel.open / channel.close round trips.
        deadline = time.monotonic() + 4.0
        rounds = 0
        while time.monotonic() < deadline and rounds < 100:
            c.send_method(1, raw.CHANNEL_OPEN, raw.shortstr(""))
            f = c.read_method(timeout=2)
            assert f.method == raw.CHANNEL_OPEN_OK, f
            c.send_method(1, raw.CHANNEL_CLOSE, raw.close_args())
            f = c.read_method(timeout=2)
            assert f.method == raw.CHANNEL_CLOSE_OK, f
            rounds += 1
            time.sleep(0.4)
        # RabbitMQ 3.10: keeps the connection; any inbound frame resets its timer.
        assert rounds >= 5
        c.close_cleanly()


@pytest.mark.parametrize("heartbeat", [1, 2])
def test_silent_client_is_disconnected_after_missed_heartbeats(broker, heartbeat):
    with connected(broker.port, heartbeat=heartbeat) as c:
        start = time.monotonic()
        data = c.wait_closed(6 * heartbeat + 4)
        elapsed = time.monotonic() - start
        # RabbitMQ 3.10: sends heartbeats, then drops the socket with no close frame about
        # 3 intervals after the client fell silent (3.0 s for 1 s, 6.0 s for 2 s). Sluice's
        # contract is about 2 intervals. Either way not before one whole interval.
        assert elapsed >= heartbeat * 0.9
        frames = raw.split_frames(data)
        assert any(f.type == raw.FRAME_HEARTBEAT for f in frames), data
        for f in frames:
            assert f.type == raw.FRAME_HEARTBEAT or f.method == raw.CONNECTION_CLOSE, f


@pytest.mark.sluice_only
def test_heartbeat_zero_from_client_disables_heartbeats(start_broker):
    b = start_broker(["--heartbeat", "1"])
    with connected(b.port, heartbeat=0) as c:
        # The server proposed 1 s; the client turned heartbeats off. Nothing may arrive and
        # the connection must stay up past several would-be intervals.
        with pytest.raises(FrameTimeout):
            c.read_frame(timeout=3.0)
        still_open(c)
        c.close_cleanly()


# -------------------------------------------------------------------------------------------
# Handshake timeout


def stage_nothing(c):
    pass


def stage_partial_header(c):
    c.send(b"AMQP\x00")


def stage_header(c):
    c.send_protocol_header()
    c.read_start()


def stage_start_ok(c):
    stage_header(c)
    c.send_method(0, raw.CONNECTION_START_OK, raw.start_ok_args())
    c.read_tune()


def stage_tune_ok(c):
    c.handshake(open_connection=False)


@pytest.mark.sluice_only
@pytest.mark.parametrize("stage", [stage_nothing, stage_partial_header, stage_header,
                                   stage_start_ok, stage_tune_ok],
                         ids=["nothing", "partial-header", "header", "start-ok", "tune-ok"])
def test_unfinished_handshake_is_dropped_after_handshake_timeout(start_broker, assert_healthy,
                                                                 stage):
    # RabbitMQ 3.10 (handshake_timeout 10 s): drops the socket 10.0 s after connect at every
    # one of these stages, with no close frame.
    b = start_broker(["--handshake-timeout", "2"])
    with raw.RawConnection(b.port) as c:
        start = time.monotonic()
        stage(c)
        data = c.wait_closed(8.0)
        elapsed = time.monotonic() - start
        assert elapsed >= 1.0, f"closed after {elapsed:.2f} s, before the 2 s timeout"
        for f in raw.split_frames(data):
            assert f.method == raw.CONNECTION_CLOSE or f.type == raw.FRAME_HEARTBEAT, f
    assert_healthy(b.port)


@pytest.mark.sluice_only
def test_handshake_timeout_spares_open_connections(start_broker):
    b = start_broker(["--handshake-timeout", "1"])
    with connected(b.port) as c:
        with pytest.raises(FrameTimeout):
            c.read_frame(timeout=2.5)
        still_open(c)
        c.close_cleanly()


# -------------------------------------------------------------------------------------------
# Clients that vanish


@pytest.mark.parametrize("fragment", [
    b"\x01\x00",  # half a frame header
    struct.pack(">BHI", raw.FRAME_METHOD, 1, 1000) + b"0123456789",  # payload cut short
    raw.method_frame(1, raw.CHANNEL_CLOSE, raw.close_args())[:-1],  # end octet missing
], ids=["half-header", "short-payload", "no-end-octet"])
@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_truncated_frame_then_disconnect(broker, assert_healthy, fragment, reset):
    other = pika_connection(broker.port)
    try:
        other_channel = other.channel()
        c = connected(broker.port)
        c.open_channel(1)
        c.send(fragment)
        if reset:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
        # The connection that was open all along still works.
        other.process_data_events(time_limit=0.5)
        assert other.is_open and other_channel.is_open
        ch = other.channel()
        ch.close()
    finally:
        if other.is_open:
            other.close()
    assert_healthy(broker.port)


def test_disconnect_at_every_handshake_stage(broker, assert_healthy):
    stages = [stage_nothing, stage_partial_header, stage_header, stage_start_ok, stage_tune_ok,
              lambda c: c.handshake(), lambda c: (c.handshake(), c.open_channel(1))]
    for stage in stages:
        for reset in (False, True):
            c = raw.RawConnection(broker.port)
            stage(c)
            if reset:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
    assert_healthy(broker.port)


def test_many_abrupt_disconnects(broker, assert_healthy):
    for i in range(50):
        c = raw.RawConnection(broker.port)
        if i % 2:
            c.handshake()
            c.open_channel(1)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    assert_healthy(broker.port)


def test_client_that_stops_reading_does_not_block_others(broker, assert_healthy):
    # A client that pipelines many requests and never reads the replies fills its socket
    # buffers; the broker must keep serving everyone else.
    with connected(broker.port) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        burst = b"".join(raw.method_frame(ch, raw.CHANNEL_OPEN, raw.shortstr(""))
                         + raw.method_frame(ch, raw.CHANNEL_CLOSE, raw.close_args())
                         for ch in range(1, 1001))
        c.sock.settimeout(2)
        try:
            c.sock.sendall(burst)
        except (socket.timeout, OSError):
            pass  # The broker stopped reading from us: fine, that is backpressure.
        assert_healthy(broker.port)
