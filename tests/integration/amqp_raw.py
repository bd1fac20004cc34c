"""A minimal raw AMQP 0-9-1 client for hostile-input tests.

Real clients refuse to send malformed frames, so the tests that probe how the broker reacts to
them speak the wire format directly. This module builds frames byte by byte, runs the handshake
up to connection.open-ok with tune values the test chooses, and reads frames back with bounded
waits. It knows only the handful of methods the tests need; everything else is sent as a class
id, a method id and raw argument bytes.

Every socket operation has a deadline: a read that does not complete in time raises
FrameTimeout, and a peer that closed raises PeerClosed. Nothing here loops without a bound.
"""

from __future__ import annotations

import socket
import struct
import time
from dataclasses import dataclass, field
from typing import Any

PROTOCOL_HEADER = b"AMQP\x00\x00\x09\x01"

FRAME_METHOD = 1
FRAME_HEADER = 2
FRAME_BODY = 3
FRAME_HEARTBEAT = 8
FRAME_END = 0xCE

# (class id, method id) pairs the tests use.
CONNECTION_START = (10, 10)
CONNECTION_START_OK = (10, 11)
CONNECTION_SECURE = (10, 20)
CONNECTION_TUNE = (10, 30)
CONNECTION_TUNE_OK = (10, 31)
CONNECTION_OPEN = (10, 40)
CONNECTION_OPEN_OK = (10, 41)
CONNECTION_CLOSE = (10, 50)
CONNECTION_CLOSE_OK = (10, 51)
CHANNEL_OPEN = (20, 10)
CHANNEL_OPEN_OK = (20, 11)
CHANNEL_CLOSE = (20, 40)
CHANNEL_CLOSE_OK = (20, 41)
EXCHANGE_DECLARE = (40, 10)
QUEUE_DECLARE = (50, 10)
QUEUE_DECLARE_OK = (50, 11)
BASIC_PUBLISH = (60, 40)

DEFAULT_TIMEOUT = 5.0


class FrameTimeout(AssertionError):
    """The broker sent nothing (or not enough) before the deadline."""


class PeerClosed(ConnectionError):
    """The broker closed the socket. `data` holds any bytes read before the close."""

    def __init__(self, message: str, data: bytes = b""):
        super().__init__(message)
        self.data = data


# ---------------------------------------------------------------------------------------------
# Encoding


def octet(v: int) -> bytes:
    return struct.pack(">B", v)


def short(v: int) -> bytes:
    return struct.pack(">H", v)


def long_(v: int) -> bytes:
    return struct.pack(">I", v)


def longlong(v: int) -> bytes:
    return struct.pack(">Q", v)


def shortstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    if len(b) > 255:
        raise ValueError("shortstr longer than 255 bytes")
    return octet(len(b)) + b


def longstr(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return long_(len(b)) + b


def bits(*flags: bool) -> bytes:
    """Packs up to 8 consecutive bit arguments into one octet, first flag in the lowest bit."""
    if len(flags) > 8:
        raise ValueError("at most 8 bits per octet")
    v = 0
    for i, f in enumerate(flags):
        if f:
            v |= 1 << i
    return octet(v)


def field_value(v: Any) -> bytes:
    """Encodes one table value with RabbitMQ's field-type letters."""
    if isinstance(v, bool):
        return b"t" + octet(1 if v else 0)
    if isinstance(v, int):
        if -(2**31) <= v < 2**31:
            return b"I" + struct.pack(">i", v)
        return b"l" + struct.pack(">q", v)
    if isinstance(v, float):
        return b"d" + struct.pack(">d", v)
    if isinstance(v, (str, bytes)):
        return b"S" + longstr(v)
    if isinstance(v, dict):
        return b"F" + table(v)
    if isinstance(v, (list, tuple)):
        inner = b"".join(field_value(x) for x in v)
        return b"A" + long_(len(inner)) + inner
    if v is None:
        return b"V"
    raise TypeError(f"cannot encode {type(v).__name__} in a field table")


def table_body(d: dict) -> bytes:
    """The table's entries without the leading length (the form AMQPLAIN responses use)."""
    return b"".join(shortstr(k) + field_value(v) for k, v in d.items())


def table(d: dict) -> bytes:
    body = table_body(d)
    return long_(len(body)) + body


# ---------------------------------------------------------------------------------------------
# Decoding


class Reader:
    """Sequential decoder over a method's argument bytes."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise ValueError(f"need {n} bytes at offset {self.pos}, have {len(self.data)}")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def octet(self) -> int:
        return self.take(1)[0]

    def short(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def long(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def longlong(self) -> int:
        return struct.unpack(">Q", self.take(8))[0]

    def shortstr(self) -> str:
        return self.take(self.octet()).decode("utf-8", "replace")

    def longstr(self) -> bytes:
        return self.take(self.long())

    def table(self) -> dict:
        sub = Reader(self.take(self.long()))
        out = {}
        while sub.pos < len(sub.data):
            key = sub.shortstr()
            out[key] = sub.field_value()
        return out

    def field_value(self) -> Any:
        kind = self.take(1)
        simple = {
            b"t": (">B", 1), b"b": (">b", 1), b"B": (">B", 1), b"s": (">h", 2),
            b"u": (">H", 2), b"I": (">i", 4), b"i": (">I", 4), b"l": (">q", 8),
            b"f": (">f", 4), b"d": (">d", 8), b"T": (">Q", 8),
        }
        if kind in simple:
            fmt, size = simple[kind]
            v = struct.unpack(fmt, self.take(size))[0]
            return bool(v) if kind == b"t" else v
        if kind == b"D":
            scale = self.octet()
            return struct.unpack(">i", self.take(4))[0] / (10**scale)
        if kind == b"S":
            return self.longstr().decode("utf-8", "replace")
        if kind == b"x":
            return self.longstr()
        if kind == b"F":
            return self.table()
        if kind == b"A":
            sub = Reader(self.take(self.long()))
            items = []
            while sub.pos < len(sub.data):
                items.append(sub.field_value())
            return items
        if kind == b"V":
            return None
        raise ValueError(f"unknown field type {kind!r}")


@dataclass
class Frame:
    type: int
    channel: int
    payload: bytes

    @property
    def is_method(self) -> bool:
        return self.type == FRAME_METHOD

    @property
    def method(self) -> tuple[int, int] | None:
        if self.type != FRAME_METHOD or len(self.payload) < 4:
            return None
        return struct.unpack(">HH", self.payload[:4])

    @property
    def args(self) -> bytes:
        return self.payload[4:]

    def __repr__(self) -> str:
        m = f" method={self.method}" if self.method else ""
        return f"Frame(type={self.type}, channel={self.channel}{m}, {len(self.payload)} bytes)"


@dataclass
class CloseInfo:
    """Arguments of connection.close or channel.close."""

    reply_code: int
    reply_text: str
    class_id: int
    method_id: int
    channel: int = 0

    @property
    def code_name(self) -> str:
        """The "CODE_NAME" prefix RabbitMQ puts before " - " in every reply-text."""
        return self.reply_text.split(" - ", 1)[0]


def decode_close(frame: Frame) -> CloseInfo:
    """Decodes connection.close or channel.close; raises AssertionError for any other frame."""
    if frame.method not in (CONNECTION_CLOSE, CHANNEL_CLOSE):
        raise AssertionError(f"expected connection.close or channel.close, got {frame!r}")
    r = Reader(frame.args)
    return CloseInfo(r.short(), r.shortstr(), r.short(), r.short(), frame.channel)


# ---------------------------------------------------------------------------------------------
# Frame builders


def frame(ftype: int, channel: int, payload: bytes, end: int = FRAME_END) -> bytes:
    return struct.pack(">BHI", ftype, channel, len(payload)) + payload + bytes([end])


def method_frame(channel: int, method: tuple[int, int], args: bytes = b"", **kw) -> bytes:
    return frame(FRAME_METHOD, channel, struct.pack(">HH", *method) + args, **kw)


def header_frame(channel: int, class_id: int, body_size: int, flags: int = 0,
                 props: bytes = b"") -> bytes:
    payload = struct.pack(">HHQH", class_id, 0, body_size, flags) + props
    return frame(FRAME_HEADER, channel, payload)


def body_frame(channel: int, data: bytes) -> bytes:
    return frame(FRAME_BODY, channel, data)


def heartbeat_frame() -> bytes:
    return frame(FRAME_HEARTBEAT, 0, b"")


def start_ok_args(mechanism: str = "PLAIN", response: bytes | None = None,
                  user: str = "guest", password: str = "guest",
                  client_properties: dict | None = None, locale: str = "en_US") -> bytes:
    if response is None:
        if mechanism == "AMQPLAIN":
            response = table_body({"LOGIN": user, "PASSWORD": password})
        else:
            response = b"\x00" + user.encode() + b"\x00" + password.encode()
    if client_properties is None:
        client_properties = {
            "product": "sluice-tests-raw",
            "capabilities": {"authentication_failure_close": True},
        }
    return table(client_properties) + shortstr(mechanism) + longstr(response) + shortstr(locale)


def tune_ok_args(channel_max: int, frame_max: int, heartbeat: int) -> bytes:
    return short(channel_max) + long_(frame_max) + short(heartbeat)


def open_args(vhost: str = "/") -> bytes:
    return shortstr(vhost) + shortstr("") + bits(False)


def close_args(code: int = 200, text: str = "bye", class_id: int = 0, method_id: int = 0) -> bytes:
    return short(code) + shortstr(text) + short(class_id) + short(method_id)


def queue_declare_args(name: str = "", passive=False, durable=False, exclusive=False,
                       auto_delete=False, nowait=False, arguments: dict | None = None) -> bytes:
    return (short(0) + shortstr(name) + bits(passive, durable, exclusive, auto_delete, nowait)
            + table(arguments or {}))


def basic_publish_args(exchange: str = "", routing_key: str = "", mandatory=False,
                       immediate=False) -> bytes:
    return short(0) + shortstr(exchange) + shortstr(routing_key) + bits(mandatory, immediate)


# ---------------------------------------------------------------------------------------------
# Connection


@dataclass
class Tune:
    channel_max: int
    frame_max: int
    heartbeat: int


@dataclass
class Start:
    version_major: int
    version_minor: int
    server_properties: dict
    mechanisms: list[str]
    locales: list[str]


@dataclass
class Handshake:
    start: Start
    tune: Tune
    sent_tune_ok: Tune = field(default_factory=lambda: Tune(0, 0, 0))


class RawConnection:
    """One TCP connection to the broker, spoken to frame by frame."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = DEFAULT_TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self._buf = b""

    # -- plumbing ---------------------------------------------------------------------------

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        """Sends all of data. A broker that already closed the socket raises PeerClosed."""
        self.sock.settimeout(self.timeout)
        try:
            self.sock.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise PeerClosed(f"send failed: {e}") from e

    def send_method(self, channel: int, method: tuple[int, int], args: bytes = b"") -> None:
        self.send(method_frame(channel, method, args))

    def _fill(self, deadline: float) -> None:
        """Reads at least one more byte into the buffer, or raises FrameTimeout/PeerClosed."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FrameTimeout(f"no data within the deadline (buffered {self._buf!r:.80})")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout as e:
            raise FrameTimeout(f"no data within the deadline (buffered {self._buf!r:.80})") from e
        except ConnectionResetError as e:
            raise PeerClosed(f"connection reset: {e}", self._buf) from e
        if not chunk:
            raise PeerClosed("peer closed the socket", self._buf)
        self._buf += chunk

    def recv_exact(self, n: int, timeout: float | None = None) -> bytes:
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self._buf) < n:
            self._fill(deadline)
        out, self._buf = self._buf[:n], self._buf[n:]
        return out

    def read_raw(self, timeout: float | None = None) -> bytes:
        """Returns whatever bytes are buffered or arrive next (at least one byte)."""
        if not self._buf:
            self._fill(time.monotonic() + (self.timeout if timeout is None else timeout))
        out, self._buf = self._buf, b""
        return out

    def read_frame(self, timeout: float | None = None) -> Frame:
        """Reads one whole frame; checks its end octet."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while len(self._buf) < 7:
            self._fill(deadline)
        ftype, channel, size = struct.unpack(">BHI", self._buf[:7])
        if ftype == ord("A"):
            raise AssertionError(f"broker sent a protocol header mid-stream: {self._buf[:8]!r}")
        while len(self._buf) < 7 + size + 1:
            self._fill(deadline)
        payload = self._buf[7 : 7 + size]
        end = self._buf[7 + size]
        self._buf = self._buf[8 + size :]
        if end != FRAME_END:
            raise AssertionError(f"broker sent frame type {ftype} with end octet {end:#x}")
        return Frame(ftype, channel, payload)

    def read_method(self, timeout: float | None = None, skip_heartbeats: bool = True) -> Frame:
        """Reads frames until a method frame arrives (heartbeats skipped), within timeout."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        for _ in range(10000):
            f = self.read_frame(timeout=max(0.0, deadline - time.monotonic()))
            if f.type == FRAME_HEARTBEAT and skip_heartbeats:
                continue
            return f
        raise AssertionError("too many heartbeat frames")

    def expect_method(self, method: tuple[int, int], timeout: float | None = None) -> Frame:
        f = self.read_method(timeout)
        if f.method != method:
            detail = ""
            if f.method in (CONNECTION_CLOSE, CHANNEL_CLOSE):
                detail = f" {decode_close(f)}"
            raise AssertionError(f"expected method {method}, got {f!r}{detail}")
        return f

    # -- handshake --------------------------------------------------------------------------

    def send_protocol_header(self, header: bytes = PROTOCOL_HEADER) -> None:
        self.send(header)

    def read_start(self, timeout: float | None = None) -> Start:
        f = self.expect_method(CONNECTION_START, timeout)
        r = Reader(f.args)
        major, minor = r.octet(), r.octet()
        props = r.table()
        mechanisms = r.longstr().decode().split()
        locales = r.longstr().decode().split()
        return Start(major, minor, props, mechanisms, locales)

    def read_tune(self, timeout: float | None = None) -> Tune:
        f = self.expect_method(CONNECTION_TUNE, timeout)
        r = Reader(f.args)
        return Tune(r.short(), r.long(), r.short())

    def handshake(self, *, channel_max: int | None = None, frame_max: int | None = None,
                  heartbeat: int | None = 0, vhost: str = "/", open_connection: bool = True,
                  **start_ok_kw) -> Handshake:
        """Runs the handshake up to connection.open-ok.

        channel_max / frame_max / heartbeat are the tune-ok values; None accepts the server's
        proposal. heartbeat defaults to 0 (off) so that a test which does not care is not
        disconnected while it sits in a bounded wait. With open_connection=False it stops
        after tune-ok. Extra keywords go to start_ok_args (mechanism, user, password, ...).
        """
        self.send_protocol_header()
        start = self.read_start()
        self.send_method(0, CONNECTION_START_OK, start_ok_args(**start_ok_kw))
        tune = self.read_tune()
        sent = Tune(
            tune.channel_max if channel_max is None else channel_max,
            tune.frame_max if frame_max is None else frame_max,
            tune.heartbeat if heartbeat is None else heartbeat,
        )
        self.send_method(0, CONNECTION_TUNE_OK,
                         tune_ok_args(sent.channel_max, sent.frame_max, sent.heartbeat))
        if open_connection:
            self.send_method(0, CONNECTION_OPEN, open_args(vhost))
            self.expect_method(CONNECTION_OPEN_OK)
        return Handshake(start, tune, sent)

    def open_channel(self, channel: int) -> None:
        self.send_method(channel, CHANNEL_OPEN, shortstr(""))
        f = self.expect_method(CHANNEL_OPEN_OK)
        assert f.channel == channel, f"channel.open-ok on channel {f.channel}, wanted {channel}"

    # -- closes -----------------------------------------------------------------------------

    def expect_connection_close(self, timeout: float | None = None,
                                send_close_ok: bool = True) -> CloseInfo:
        """Waits for connection.close (skipping heartbeats), replies close-ok, returns it."""
        f = self.read_method(timeout)
        if f.method != CONNECTION_CLOSE:
            extra = f" {decode_close(f)}" if f.method == CHANNEL_CLOSE else ""
            raise AssertionError(f"expected connection.close, got {f!r}{extra}")
        if f.channel != 0:
            raise AssertionError(f"connection.close arrived on channel {f.channel}")
        info = decode_close(f)
        if send_close_ok:
            try:
                self.send_method(0, CONNECTION_CLOSE_OK)
            except (PeerClosed, OSError):
                pass  # The broker may close the socket right after sending close.
        return info

    def expect_channel_close(self, channel: int, timeout: float | None = None) -> CloseInfo:
        f = self.read_method(timeout)
        if f.method != CHANNEL_CLOSE or f.channel != channel:
            extra = f" {decode_close(f)}" if f.method == CONNECTION_CLOSE else ""
            raise AssertionError(f"expected channel.close on {channel}, got {f!r}{extra}")
        self.send_method(channel, CHANNEL_CLOSE_OK)
        return decode_close(f)

    def wait_closed(self, timeout: float) -> bytes:
        """Returns every byte received until the broker closed the socket.

        Raises AssertionError if the socket is still open after `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        received = self._buf
        self._buf = b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"broker did not close the socket within {timeout} s "
                    f"(received {received!r:.200})")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return received
            if not chunk:
                return received
            received += chunk

    def close_cleanly(self) -> None:
        """Sends connection.close and waits for close-ok and the socket close."""
        self.send_method(0, CONNECTION_CLOSE, close_args())
        self.expect_method(CONNECTION_CLOSE_OK)
        self.close()


def assert_server_closes(conn: RawConnection, timeout: float) -> bytes:
    """Asserts that the broker closes the socket within `timeout` s; returns the bytes it sent."""
    return conn.wait_closed(timeout)


def split_frames(data: bytes) -> list[Frame]:
    """Parses whole frames out of data (as returned by wait_closed); ignores a trailing part."""
    out = []
    pos = 0
    while pos + 7 <= len(data):
        ftype, channel, size = struct.unpack(">BHI", data[pos : pos + 7])
        if pos + 8 + size > len(data):
            break
        out.append(Frame(ftype, channel, data[pos + 7 : pos + 7 + size]))
        pos += 8 + size
    return out
