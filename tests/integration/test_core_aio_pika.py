"""aio-pika (aiormq underneath): connect, declare, publish with confirms, consume with acks
under a prefetch limit, basic.get, a channel error, and a clean close.

Each test runs one coroutine under asyncio.run with an overall deadline, and every wait
inside has its own timeout.
"""

from __future__ import annotations

import asyncio

import pytest

from core_helpers import QUIET, WAIT, amqp  # noqa: F401

DEADLINE = 20.0


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, DEADLINE))


async def connect(port: int):
    import aio_pika

    return await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:{port}/", timeout=WAIT)


async def wait_for(cond, timeout: float = WAIT) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(0.01)
    return True


def test_aio_pika_publish_and_consume_with_acks(amqp):
    import aio_pika

    xname = amqp.track_exchange(amqp.name("x"))
    qname = amqp.track_queue(amqp.name("q"))

    async def main():
        conn = await connect(amqp.port)
        async with conn:
            ch = await conn.channel()  # publisher confirms on, aio-pika's default
            await ch.set_qos(prefetch_count=10)
            x = await ch.declare_exchange(xname, aio_pika.ExchangeType.TOPIC)
            q = await ch.declare_queue(qname)
            await q.bind(x, routing_key="jobs.*")
            for i in range(5):
                confirm = await x.publish(
                    aio_pika.Message(f"job{i}".encode(), correlation_id=f"c{i}",
                                     headers={"n": i}, content_type="text/plain"),
                    routing_key="jobs.new", timeout=WAIT)
                assert confirm is not None  # the broker's basic.ack
            got = []
            async with q.iterator(timeout=WAIT) as it:
                async for message in it:
                    async with message.process():  # acks on leaving the block
                        got.append((message.body, message.correlation_id, message.headers,
                                    message.routing_key, message.redelivered))
                    if len(got) == 5:
                        break
            declared = await ch.declare_queue(qname, passive=True)
            return got, declared.declaration_result.message_count
        return None

    got, left = run(main())
    assert got == [(f"job{i}".encode(), f"c{i}", {"n": i}, "jobs.new", False)
                   for i in range(5)]
    assert left == 0


def test_aio_pika_qos_limits_unacked_deliveries(amqp):
    import aio_pika

    qname = amqp.track_queue(amqp.name("q"))

    async def main():
        conn = await connect(amqp.port)
        async with conn:
            ch = await conn.channel()
            await ch.set_qos(prefetch_count=2)
            q = await ch.declare_queue(qname, exclusive=True)
            for i in range(5):
                await ch.default_exchange.publish(aio_pika.Message(f"m{i}".encode()),
                                                  routing_key=qname)
            got: list = []
            await q.consume(got.append, no_ack=False)
            assert await wait_for(lambda: len(got) == 2)
            await asyncio.sleep(QUIET)
            held = len(got)
            await got[0].ack()
            assert await wait_for(lambda: len(got) == 3)
            await asyncio.sleep(QUIET)
            after_one_ack = len(got)
            for m in got[1:]:
                await m.ack()
            assert await wait_for(lambda: len(got) == 5)
            for m in got[3:]:
                await m.ack()
            return held, after_one_ack, [m.body for m in got]

    held, after_one_ack, bodies = run(main())
    assert (held, after_one_ack) == (2, 3)
    assert bodies == [f"m{i}".encode() for i in range(5)]


def test_aio_pika_get_nack_and_requeue(amqp):
    import aio_pika

    qname = amqp.track_queue(amqp.name("q"))

    async def main():
        conn = await connect(amqp.port)
        async with conn:
            ch = await conn.channel()
            q = await ch.declare_queue(qname, exclusive=True)
            await ch.default_exchange.publish(aio_pika.Message(b"again"), routing_key=qname)
            first = await q.get(timeout=WAIT)
            await first.nack(requeue=True)
            second = await q.get(timeout=WAIT)
            await second.ack()
            empty = await q.get(fail=False, timeout=WAIT)
            return first.redelivered, second.redelivered, second.body, empty

    assert run(main()) == (False, True, b"again", None)


def test_aio_pika_unroutable_mandatory_publish_is_returned(amqp):
    import aio_pika
    import aiormq.exceptions

    xname = amqp.track_exchange(amqp.name("x"))

    async def main():
        conn = await connect(amqp.port)
        async with conn:
            ch = await conn.channel(on_return_raises=True)
            x = await ch.declare_exchange(xname, aio_pika.ExchangeType.DIRECT)
            with pytest.raises(aiormq.exceptions.PublishError) as info:
                await x.publish(aio_pika.Message(b"lost"), routing_key="nowhere",
                                mandatory=True, timeout=WAIT)
            ret = info.value.message
            # The channel stays usable, and a message that is not mandatory is just acked.
            ok = await x.publish(aio_pika.Message(b"fine"), routing_key="nowhere",
                                 mandatory=False, timeout=WAIT)
            return ret, ok

    ret, ok = run(main())
    assert ret.body == b"lost"
    assert (ret.delivery.reply_code, ret.delivery.reply_text) == (312, "NO_ROUTE")
    assert ok is not None


def test_aio_pika_channel_error_and_clean_close(amqp):
    import aio_pika
    import aiormq.exceptions

    missing = amqp.name("missing")

    async def main():
        conn = await connect(amqp.port)
        ch = await conn.channel()
        with pytest.raises(aiormq.exceptions.ChannelNotFoundEntity) as info:
            await ch.declare_queue(missing, passive=True)
        # The connection survives a channel error; a new channel works.
        ch2 = await conn.channel()
        q = await ch2.declare_queue(amqp.name("q"), exclusive=True)
        await ch2.default_exchange.publish(aio_pika.Message(b"x"), routing_key=q.name)
        msg = await q.get(timeout=WAIT)
        await msg.ack()
        await conn.close()
        return info.value, conn.is_closed, msg.body

    err, closed, body = run(main())
    # RabbitMQ 3.10: 404 "NOT_FOUND - no queue '<name>' in vhost '/'", as aiormq reports it.
    assert "NOT_FOUND" in str(err) and missing in str(err)
    assert closed
    assert body == b"x"
