"""Connection-level behaviour as real client libraries see it: pika, kombu (py-amqp) and
aio-pika (aiormq) connect, open and close channels, stay connected across several heartbeat
intervals, close cleanly, and are refused with their own error for a wrong password.

These tests use only the connection and channel classes, so they also run against RabbitMQ
(SLUICE_TEST_TARGET=rabbitmq) unchanged.
"""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

import amqp_raw
from conftest import ON_RABBITMQ, pika_params

# Heartbeat intervals the clients negotiate, and how long each test idles on an open
# connection: several intervals, so that a server that forgets to send heartbeats, or that
# counts the client's heartbeats wrongly, drops the connection within the window.
IDLE_SECONDS = 5.0


def idle_pika(conn, seconds: float) -> None:
    """Lets pika process I/O (and so send and receive heartbeats) for `seconds`."""
    deadline = time.monotonic() + seconds
    while (remaining := deadline - time.monotonic()) > 0:
        conn.process_data_events(time_limit=min(0.25, remaining))


# -------------------------------------------------------------------------------------------
# pika


def test_pika_channels_survive_heartbeats_and_close_cleanly(broker):
    import pika

    proposed = {}

    def choose_heartbeat(_conn, server_value):
        proposed["heartbeat"] = server_value
        return 1

    conn = pika.BlockingConnection(pika_params(broker.port, heartbeat=choose_heartbeat))
    try:
        # Both Sluice and RabbitMQ 3.10 propose 60 s; the client lowers it to 1 s.
        assert proposed["heartbeat"] == 60
        channels = [conn.channel() for _ in range(5)]
        assert len({ch.channel_number for ch in channels}) == 5
        for ch in channels[:3]:
            ch.close()
        assert all(ch.is_closed for ch in channels[:3])
        assert all(ch.is_open for ch in channels[3:])

        idle_pika(conn, IDLE_SECONDS)

        assert conn.is_open
        assert all(ch.is_open for ch in channels[3:])
        # pika counts every heartbeat frame it receives; with a 1 s interval the server must
        # have sent several in 5 idle seconds.
        checker = conn._impl._heartbeat_checker
        assert checker is not None, "pika did not enable heartbeats"
        assert checker._heartbeat_frames_received >= 2
        extra = conn.channel()
        assert extra.is_open
        extra.close()
    finally:
        if conn.is_open:
            conn.close()
    assert conn.is_closed


def test_pika_negotiates_server_defaults(broker):
    import pika

    conn = pika.BlockingConnection(pika_params(broker.port))
    try:
        params = conn._impl.params
        # RabbitMQ 3.10: channel_max 2047, frame_max 131072, heartbeat 60 (the same defaults
        # Sluice uses).
        assert params.channel_max == 2047
        assert params.frame_max == 131072
        assert params.heartbeat == 60
    finally:
        conn.close()


def test_pika_reuses_channel_numbers_after_close(broker):
    import pika

    conn = pika.BlockingConnection(pika_params(broker.port, heartbeat=0))
    try:
        for _ in range(20):
            ch = conn.channel(channel_number=7)
            assert ch.is_open
            ch.close()
            assert ch.is_closed
        assert conn.is_open
    finally:
        conn.close()


def test_pika_many_connections_at_once(broker):
    import pika

    conns = []
    try:
        for _ in range(20):
            conns.append(pika.BlockingConnection(pika_params(broker.port, heartbeat=0)))
        chans = [c.channel() for c in conns]
        assert all(ch.is_open for ch in chans)
    finally:
        for c in conns:
            if c.is_open:
                c.close()
    assert all(c.is_closed for c in conns)


def test_pika_wrong_password_is_refused(broker):
    import pika

    creds = pika.PlainCredentials("guest", "not-the-password")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
        pika.BlockingConnection(pika_params(broker.port, credentials=creds))
    # RabbitMQ 3.10: pika advertises authentication_failure_close, so the broker sends
    # connection.close 403 "ACCESS_REFUSED - Login was refused using authentication mechanism
    # PLAIN. ..." and pika wraps it in ProbableAuthenticationError.
    assert "403" in str(info.value)
    assert "ACCESS_REFUSED" in str(info.value)


def test_pika_unknown_user_is_refused(broker):
    import pika

    creds = pika.PlainCredentials("nobody", "guest")
    with pytest.raises(pika.exceptions.ProbableAuthenticationError) as info:
        pika.BlockingConnection(pika_params(broker.port, credentials=creds))
    assert "ACCESS_REFUSED" in str(info.value)


# -------------------------------------------------------------------------------------------
# kombu (py-amqp transport)


def kombu_url(port: int, password: str = "guest") -> str:
    return f"amqp://guest:{password}@127.0.0.1:{port}//"


def test_kombu_channels_survive_heartbeats_and_close_cleanly(broker):
    import kombu

    conn = kombu.Connection(kombu_url(broker.port), heartbeat=2, connect_timeout=5)
    try:
        conn.connect()
        assert conn.connected
        assert conn.connection.heartbeat == 2
        channels = [conn.channel() for _ in range(5)]
        for ch in channels[:3]:
            ch.close()
        assert all(ch.is_open for ch in channels[3:])

        # py-amqp raises ConnectionForced("Too many heartbeats missed") from heartbeat_check
        # when nothing arrived from the server for two intervals, so this loop also checks
        # that the server sends heartbeats.
        deadline = time.monotonic() + IDLE_SECONDS
        while time.monotonic() < deadline:
            conn.heartbeat_check()
            try:
                conn.drain_events(timeout=0.25)
            except socket.timeout:
                pass

        assert conn.connected
        assert all(ch.is_open for ch in channels[3:])
        extra = conn.channel()
        assert extra.is_open
        extra.close()
    finally:
        conn.release()
    assert not conn.connected


def test_kombu_amqplain_login(broker):
    import kombu

    with kombu.Connection(kombu_url(broker.port), login_method="AMQPLAIN",
                          connect_timeout=5) as conn:
        conn.connect()
        assert conn.connected
        ch = conn.channel()
        assert ch.is_open
        ch.close()


def test_kombu_wrong_password_is_refused(broker):
    import amqp.exceptions
    import kombu

    with kombu.Connection(kombu_url(broker.port, "not-the-password"), connect_timeout=5) as conn:
        # RabbitMQ 3.10: py-amqp raises amqp.exceptions.AccessRefused with code 403
        # ("ACCESS_REFUSED - Login was refused using authentication mechanism PLAIN. ...").
        with pytest.raises(amqp.exceptions.AccessRefused) as info:
            conn.connect()
    assert info.value.code == 403
    assert "ACCESS_REFUSED" in str(info.value)


# -------------------------------------------------------------------------------------------
# aio-pika (aiormq)


def run_async(coro, timeout: float = 30.0):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def test_aio_pika_channels_survive_heartbeats_and_close_cleanly(broker):
    import aio_pika

    async def scenario():
        url = f"amqp://guest:guest@127.0.0.1:{broker.port}/?heartbeat=2"
        conn = await aio_pika.connect(url, timeout=5)
        try:
            assert conn.transport.connection.connection_tune.heartbeat == 2
            # publisher_confirms=False keeps this test to channel.open / channel.close.
            channels = [await conn.channel(publisher_confirms=False) for _ in range(5)]
            for ch in channels[:3]:
                await ch.close()
            assert all(ch.is_closed for ch in channels[:3])

            await asyncio.sleep(IDLE_SECONDS)

            assert not conn.is_closed
            assert all(not ch.is_closed for ch in channels[3:])
            extra = await conn.channel(publisher_confirms=False)
            assert not extra.is_closed
            await extra.close()
        finally:
            await conn.close()
        assert conn.is_closed

    run_async(scenario())


def test_aio_pika_robust_connection_opens_and_closes(broker):
    import aio_pika

    async def scenario():
        url = f"amqp://guest:guest@127.0.0.1:{broker.port}/"
        conn = await aio_pika.connect_robust(url, timeout=5)
        try:
            ch = await conn.channel(publisher_confirms=False)
            assert not ch.is_closed
            await ch.close()
        finally:
            await conn.close()
        assert conn.is_closed

    run_async(scenario())


def test_aio_pika_wrong_password_is_refused(broker):
    import aio_pika
    import aiormq.exceptions

    async def scenario():
        url = f"amqp://guest:not-the-password@127.0.0.1:{broker.port}/"
        # RabbitMQ 3.10: aiormq.exceptions.ProbableAuthenticationError whose text carries
        # the broker's "ACCESS_REFUSED - Login was refused ..." reply.
        with pytest.raises(aiormq.exceptions.ProbableAuthenticationError) as info:
            await aio_pika.connect(url, timeout=5)
        assert "ACCESS_REFUSED" in str(info.value)

    run_async(scenario())


# -------------------------------------------------------------------------------------------
# Raw handshake details no client library exposes


def test_connection_start_advertises_server_properties(broker):
    with amqp_raw.RawConnection(broker.port) as c:
        hs = c.handshake()
        start = hs.start
        assert (start.version_major, start.version_minor) == (0, 9)
        props = start.server_properties
        assert props["product"] == ("RabbitMQ" if ON_RABBITMQ else "Sluice")
        assert isinstance(props.get("version"), str) and props["version"]
        assert isinstance(props.get("platform"), str) and props["platform"]
        caps = props["capabilities"]
        assert caps.get("authentication_failure_close") is True
        # RabbitMQ 3.10 offers "AMQPLAIN PLAIN" and locale "en_US".
        assert {"PLAIN", "AMQPLAIN"} <= set(start.mechanisms)
        assert "en_US" in start.locales
        assert (hs.tune.channel_max, hs.tune.frame_max, hs.tune.heartbeat) == (2047, 131072, 60)
        c.close_cleanly()


def test_amqplain_login_raw(broker):
    with amqp_raw.RawConnection(broker.port) as c:
        c.handshake(mechanism="AMQPLAIN")
        c.open_channel(1)
        c.close_cleanly()


def test_client_close_with_open_channels_gets_close_ok(broker):
    with amqp_raw.RawConnection(broker.port) as c:
        c.handshake()
        for ch in (1, 2, 3):
            c.open_channel(ch)
        c.send_method(0, amqp_raw.CONNECTION_CLOSE, amqp_raw.close_args(200, "done"))
        # The open channels are implicitly closed: no channel.close arrives, only close-ok.
        # RabbitMQ 3.10 then leaves closing the socket to the client (the peer that started
        # the close), so this test does not wait for the broker to close it.
        f = c.expect_method(amqp_raw.CONNECTION_CLOSE_OK)
        assert f.channel == 0


def test_channel_close_handshake(broker):
    with amqp_raw.RawConnection(broker.port) as c:
        c.handshake()
        c.open_channel(1)
        c.send_method(1, amqp_raw.CHANNEL_CLOSE, amqp_raw.close_args(200, "done"))
        f = c.expect_method(amqp_raw.CHANNEL_CLOSE_OK)
        assert f.channel == 1
        # The channel number is free again.
        c.open_channel(1)
        c.close_cleanly()


def test_refused_logins_are_logged_at_a_bounded_rate(start_broker):
    import pika

    # A client retrying a wrong password in a loop must not flood the log: 20 lines per 10 s
    # get through (the next one after that says how many were held back).
    b = start_broker()
    creds = pika.PlainCredentials("guest", "not-the-password")
    for _ in range(40):
        with pytest.raises(pika.exceptions.ProbableAuthenticationError):
            pika.BlockingConnection(pika_params(b.port, credentials=creds))
    refused = [ln for ln in b.log().splitlines() if "login refused" in ln]
    assert 1 <= len(refused) <= 20, len(refused)
    # Still refused properly, and a right password still works.
    pika.BlockingConnection(pika_params(b.port)).close()
