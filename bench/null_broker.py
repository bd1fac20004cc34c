#!/usr/bin/env python3
"""A do-nothing AMQP 0-9-1 endpoint for measuring sluice-perf's own ceiling.

It completes the handshake, answers the few synchronous methods sluice-perf sends, throws
away everything published, and floods every consumer with ready-made deliveries, so the
only limit left is sluice-perf (and the loopback). Not a broker: no queues, no routing, no
confirms. Usage:

    bench/null_broker.py [--port 27680] [--seconds 600]
    build/bin/sluice-perf --port 27680 --consumers 0       # publisher ceiling
    build/bin/sluice-perf --port 27680 --publishers 0 -a   # consumer ceiling

Listens on 127.0.0.1 only and exits after --seconds.
"""

import argparse
import socket
import struct
import threading
import time

FRAME_END = b"\xce"
DELIVER_BATCH = 4096  # deliveries per send() while flooding a consumer


def frame(kind, channel, payload):
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + FRAME_END


def method(channel, class_id, method_id, args=b""):
    return frame(1, channel, struct.pack(">HH", class_id, method_id) + args)


def shortstr(s):
    return bytes([len(s)]) + s


def longstr(s):
    return struct.pack(">I", len(s)) + s


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    return buf


def read_frame(sock):
    kind, channel, size = struct.unpack(">BHI", read_exact(sock, 7))
    payload = read_exact(sock, size + 1)[:-1]
    return kind, channel, payload


def deliveries(size):
    """DELIVER_BATCH deliveries of a `size`-byte body on channel 1, as one blob."""
    tag = shortstr(b"null-ctag")
    one = b"".join([
        method(1, 60, 60, tag + struct.pack(">QB", 1, 0) + shortstr(b"") + shortstr(b"q")),
        frame(2, 1, struct.pack(">HHQH", 60, 0, size, 0x1000) + b"\x01"),
        frame(3, 1, bytes(size)),
    ])
    return one * DELIVER_BATCH


def flood(sock, blob, stop):
    try:
        while not stop.is_set():
            sock.sendall(blob)
    except OSError:
        pass


def sink(sock):
    """Discards bytes until sluice-perf's connection.close shows up; answers it.

    The marker includes the reply code and text, so message bodies (whose stamps hold
    arbitrary bytes) cannot fake it. A close split across two reads is missed; sluice-perf
    then gives up waiting for close-ok and drops the connection, which ends this too.
    """
    close_marker = b"\x00\x0a\x00\x32\x00\xc8\x10sluice-perf done"
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return
        if close_marker in data:
            sock.sendall(method(0, 10, 51))
            return


def serve(sock, body_size):
    read_exact(sock, 8)  # protocol header
    sock.sendall(method(0, 10, 10, b"\x00\x09" + struct.pack(">I", 0) + longstr(b"PLAIN")
                        + longstr(b"en_US")))
    read_frame(sock)  # start-ok
    sock.sendall(method(0, 10, 30, struct.pack(">HIH", 0, 131072, 0)))
    read_frame(sock)  # tune-ok
    read_frame(sock)  # open
    sock.sendall(method(0, 10, 41, shortstr(b"")))
    stop = threading.Event()
    while True:
        kind, channel, payload = read_frame(sock)
        if kind != 1:
            continue
        ids = struct.unpack(">HH", payload[:4])
        replies = {
            (20, 10): method(channel, 20, 11, longstr(b"")),
            (50, 10): method(channel, 50, 11, shortstr(b"q") + struct.pack(">II", 0, 0)),
            (50, 40): method(channel, 50, 41, struct.pack(">I", 0)),
            (50, 20): method(channel, 50, 21),
            (40, 10): method(channel, 40, 11),
            (40, 20): method(channel, 40, 21),
            (60, 10): method(channel, 60, 11),
            (85, 10): method(channel, 85, 11),
            (10, 50): method(0, 10, 51),
        }
        if ids == (60, 40):  # basic.publish: from here on the connection only publishes
            return sink(sock)
        if ids == (60, 20):  # basic.consume
            sock.sendall(method(channel, 60, 21, shortstr(b"null-ctag")))
            threading.Thread(target=flood, args=(sock, deliveries(body_size), stop),
                             daemon=True).start()
            sink(sock)
            stop.set()
            return
        if ids in replies:
            sock.sendall(replies[ids])
        if ids == (10, 50):
            return


def handle(sock, body_size):
    with sock:
        try:
            serve(sock, body_size)
        except (ConnectionError, OSError):
            pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=27680)
    parser.add_argument("--size", type=int, default=16, help="body bytes of flooded deliveries")
    parser.add_argument("--seconds", type=float, default=600)
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", args.port))
    listener.settimeout(0.5)
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        try:
            conn, _ = listener.accept()
        except socket.timeout:
            continue
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(conn, args.size), daemon=True).start()


if __name__ == "__main__":
    main()
