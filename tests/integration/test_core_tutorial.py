"""RabbitMQ's first Python tutorial ("Hello World", pika 1.x), run as two separate scripts.

The scripts below are the tutorial's send.py and receive.py as they stand, with only the queue
name and the message changed (queue 'devsecops', body 'Security Scan Completed'). They connect
to 'localhost' on pika's default port; to leave them untouched, a small runner sets pika's
default port to the broker's before it runs each script with runpy.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time

from core_helpers import WAIT, amqp  # noqa: F401

SEND_PY = """\
#!/usr/bin/env python
import pika

connection = pika.BlockingConnection(
    pika.ConnectionParameters(host='localhost'))
channel = connection.channel()

channel.queue_declare(queue='devsecops')

channel.basic_publish(exchange='', routing_key='devsecops', body='Security Scan Completed')
print(" [x] Sent 'Security Scan Completed'")
connection.close()
"""

RECEIVE_PY = """\
#!/usr/bin/env python
import pika, sys, os

def main():
    connection = pika.BlockingConnection(pika.ConnectionParameters(host='localhost'))
    channel = connection.channel()

    channel.queue_declare(queue='devsecops')

    def callback(ch, method, properties, body):
        print(" [x] Received %r" % body)

    channel.basic_consume(queue='devsecops', on_message_callback=callback, auto_ack=True)

    print(' [*] Waiting for messages. To exit press CTRL+C')
    channel.start_consuming()

if __name__ == '__main__':
    try:
        main()
    except KeyboardInterrupt:
        print('Interrupted')
        try:
            sys.exit(0)
        except SystemExit:
            os._exit(0)
"""

RUNNER = """\
import runpy, sys
import pika.connection
pika.connection.Parameters.DEFAULT_PORT = int(sys.argv[1])
sys.argv = sys.argv[2:]
runpy.run_path(sys.argv[0], run_name='__main__')
"""

# The Debian python3 that has pika, whatever `python3` on PATH is.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class LineReader:
    """Reads a child's stdout line by line, each wait bounded."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.sel = selectors.DefaultSelector()
        self.sel.register(proc.stdout, selectors.EVENT_READ)
        self.buf = b""
        self.lines: list[str] = []

    def wait_for(self, text: str, timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines):
            left = deadline - time.monotonic()
            if left <= 0 or not self.sel.select(timeout=left):
                return False
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                return any(text in line for line in self.lines)
            self.buf += chunk
            *done, self.buf = self.buf.split(b"\n")
            self.lines += [d.decode(errors="replace") for d in done]
        return True


def test_pika_tutorial_hello_world(amqp, tmp_path):
    amqp.track_queue("devsecops")
    (tmp_path / "send.py").write_text(SEND_PY)
    (tmp_path / "receive.py").write_text(RECEIVE_PY)
    (tmp_path / "runner.py").write_text(RUNNER)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    argv = [PYTHON, str(tmp_path / "runner.py"), str(amqp.port)]

    receiver = subprocess.Popen(argv + [str(tmp_path / "receive.py")], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env,
                                cwd=tmp_path)
    try:
        out = LineReader(receiver)
        assert out.wait_for(" [*] Waiting for messages"), (out.lines, receiver.poll())

        sent = subprocess.run(argv + [str(tmp_path / "send.py")], capture_output=True,
                              text=True, timeout=WAIT * 2, env=env, cwd=tmp_path)
        assert sent.returncode == 0, sent.stderr
        assert sent.stdout == " [x] Sent 'Security Scan Completed'\n"

        assert out.wait_for(" [x] Received b'Security Scan Completed'"), out.lines

        receiver.send_signal(signal.SIGINT)  # the tutorial's CTRL+C
        assert receiver.wait(timeout=WAIT) == 0
        assert out.wait_for("Interrupted"), out.lines
    finally:
        if receiver.poll() is None:
            receiver.kill()
            receiver.wait(timeout=WAIT)
        receiver.stdout.close()
        receiver.stderr.close()
