"""Power-failure test: what a confirm or a declare-ok promised must survive losing every byte
that was not fsynced, not just a killed process.

After SIGKILL the page cache survives, so test_crash_recovery.py cannot catch a confirm sent
before its fdatasync. Here the broker runs with tests/powerloss/sync_tracker.so preloaded,
which journals every completed fsync/fdatasync (file, size, and for files rewritten in place a
copy), every directory fsync and every create/mkdir/unlink. After the kill, power_loss.py
rebuilds the data directory as a power failure could leave it: files cut back to what their
last sync covered, names not yet made durable by a directory fsync undone (see its docstring
for the model and what it does not cover). Then the broker restarts on that directory.

Each round: start the broker under the library on the same data directory, check every
promise so far, then run two confirming publishers (persistent, mandatory), a consumer that
acks three messages in four, and a client that keeps declaring durable exchanges, queues and
bindings, and kill the broker at a random moment. The checks:

- every exchange, queue and binding whose declare-ok arrived exists (passive declares, and a
  mandatory probe routed through each binding arrives in its queue);
- every confirmed message was acked before the power cut or is still in the queue;
- nothing appears that was never published, and a message seen twice is marked redelivered.

Limitations: only the "no unsynced write reached the disk" outcome is produced, never a mix
or torn sectors; unlinks made durable by nothing come back, but renames are not modelled (a
run that renames under the data directory is refused); synced data is assumed to survive.

Bounded: ROUNDS rounds of at most KILL_AFTER[1] s of load, MAX_DECLARES declares per round.
"""

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pika
import pytest

from conftest import pika_params, sanitized_build, sluice_binary
from power_loss import ModelError, Report, pull_the_plug
from test_crash_recovery import Ledger, record_delivery

ROUNDS = 6
KILL_AFTER = (0.3, 1.5)   # seconds of load before the power cut
MAX_DECLARES = 60         # declarer iterations per round (3 declares each)
DECLARE_PAUSE = 0.01      # between iterations: a declare holds up publishers for its fsync
SYNC_DELAY_US = 2000      # every fsync waits this long first: more unsynced data at the cut
QUEUE = "power-loss"
EXCHANGE = "power-loss-x"
KEY = "pl"


def tracker_library() -> Path:
    """sync_tracker.so, built next to the broker (SLUICE_SYNC_TRACKER overrides)."""
    return Path(os.environ.get("SLUICE_SYNC_TRACKER")
                or sluice_binary().parent / "sync_tracker.so").resolve()


@pytest.fixture
def tracker(tmp_path):
    """tracker(name) -> (env, journal, snapshots): the environment that preloads the library,
    with a fresh journal and snapshot directory for one process run."""
    lib = tracker_library()
    if not lib.exists():
        pytest.skip(f"{lib} not built (configure with -DSLUICE_TESTS=ON)")
    asan = sluice_binary().exists() and sanitized_build()

    def make(name: str):
        journal = tmp_path / f"{name}.journal"
        snapshots = tmp_path / f"{name}.snapshots"
        snapshots.mkdir()
        env = {"LD_PRELOAD": str(lib), "SLUICE_SYNC_JOURNAL": str(journal),
               "SLUICE_SYNC_SNAPSHOTS": str(snapshots),
               "SLUICE_SYNC_DELAY_US": str(SYNC_DELAY_US)}
        if asan:
            # ASan insists on coming first in the library list; the preloaded library is not
            # instrumented, so the order does not matter to it.
            env["ASAN_OPTIONS"] = ":".join(
                filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))
        return env, journal, snapshots

    return make


# -------------------------------------------------------------------------------------------
# The model can fail: unsynced data written by a real process under the library is gone.

CHILD = r"""
import os, sys
d = sys.argv[1]
def path(n): return os.path.join(d, n)
def dsync(p):
    fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY); os.fsync(fd); os.close(fd)
def create(n, data, sync):
    fd = os.open(path(n), os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
    os.write(fd, data)
    if sync: os.fdatasync(fd)
    return fd
def overwrite(n, data, sync):
    fd = os.open(path(n), os.O_RDWR); os.pwrite(fd, data, 0)
    if sync: os.fsync(fd)
    return fd

a = create("append", b"durable", sync=True)
i = create("unlinked-late", b"kept", sync=True); os.write(i, b"-lost")
create("never-synced", b"lost", sync=False)
overwrite("in-place", b"NEW", sync=False)
f = overwrite("in-place-synced", b"mid", sync=True); os.pwrite(f, b"END", 0)
os.unlink(path("unlinked-early"))
dsync(d)  # every name change above is durable from here
os.write(a, b"-lost")
create("created-late", b"synced data, name never synced", sync=True)
os.unlink(path("unlinked-after-sync"))
os.unlink(path("unlinked-late"))
os.mkdir(path("sub"))
x = create("sub/file", b"x", sync=True); dsync(path("sub"))  # but sub's own name is not
os.kill(os.getpid(), 9)
"""


def test_pulling_the_plug_drops_what_was_not_synced(tmp_path, tracker):
    data = tmp_path / "data"
    data.mkdir()
    for name, text in [("in-place", b"old-in-place"), ("in-place-synced", b"old-synced"),
                       ("unlinked-early", b"gone"), ("unlinked-after-sync", b"baseline")]:
        (data / name).write_bytes(text)
    baseline = tmp_path / "baseline"
    shutil.copytree(data, baseline)

    env, journal, snapshots = tracker("child")
    proc = subprocess.run([sys.executable, "-B", "-c", CHILD, str(data)],
                          env={**os.environ, **env}, timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # What the process left: the page cache has every write.
    assert (data / "append").read_bytes() == b"durable-lost"
    assert (data / "sub" / "file").exists()

    report = pull_the_plug(data, baseline, journal, snapshots)

    left = {str(p.relative_to(data)): p.read_bytes() for p in data.rglob("*") if p.is_file()}
    assert left == {
        "append": b"durable",               # cut to the size its fdatasync saw
        "unlinked-late": b"kept",           # unlink never synced: back, at its synced size
        "never-synced": b"",                # its name was synced, its data never
        "in-place": b"old-in-place",        # unsynced overwrite undone
        "in-place-synced": b"mid-synced",   # the copy taken at its fsync
        "unlinked-after-sync": b"baseline",  # unlink never synced: back as it was
    }, report
    assert not (data / "sub").exists()      # created-late and sub: names never synced
    assert report.names_dropped == 3 and report.names_restored == 2, report
    assert report.from_snapshot == 1, report


# -------------------------------------------------------------------------------------------
# The broker under load, round after round of power cuts.


class Promises:
    """Declare-oks received, shared with the declarer thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.exchanges = {EXCHANGE}
        self.queues = {QUEUE}
        self.bindings = set()    # (exchange, queue, routing key), probed with "probe"
        self.unroutable = set()  # message ids returned to a mandatory publish


def setup_main_route(port):
    conn = pika.BlockingConnection(pika_params(port))
    ch = conn.channel()
    ch.exchange_declare(EXCHANGE, "direct", durable=True)
    ch.queue_declare(QUEUE, durable=True)
    ch.queue_bind(QUEUE, EXCHANGE, KEY)
    conn.close()


def declare_until_killed(port, promises, round_, stop):
    try:
        conn = pika.BlockingConnection(pika_params(port))
        ch = conn.channel()
        for i in range(MAX_DECLARES):
            if stop.is_set():
                break
            x, q = f"pl-x-{round_}-{i}", f"pl-q-{round_}-{i}"
            ch.exchange_declare(x, "direct", durable=True)  # returns on declare-ok
            with promises.lock:
                promises.exchanges.add(x)
            ch.queue_declare(q, durable=True)
            with promises.lock:
                promises.queues.add(q)
            ch.queue_bind(q, x, "probe")
            with promises.lock:
                promises.bindings.add((x, q, "probe"))
            stop.wait(DECLARE_PAUSE)
    except (pika.exceptions.AMQPError, OSError):
        pass  # the broker was killed


def publish_until_killed(port, ledger, promises, next_id, stop):
    try:
        conn = pika.BlockingConnection(pika_params(port))
        ch = conn.channel()
        ch.confirm_delivery()
        props = pika.BasicProperties(delivery_mode=2)
        while not stop.is_set():
            i = next_id()
            with ledger.lock:
                ledger.published.add(i)
            try:
                ch.basic_publish(EXCHANGE, KEY, str(i).encode(), props, mandatory=True)
            except pika.exceptions.UnroutableError:
                with promises.lock:
                    promises.unroutable.add(i)
                continue
            with ledger.lock:
                ledger.confirmed.add(i)
    except (pika.exceptions.AMQPError, OSError):
        pass


def consume_until_killed(port, ledger, stop):
    try:
        conn = pika.BlockingConnection(pika_params(port))
        ch = conn.channel()
        # No prefetch limit, and every fourth message is never acked: those must come back
        # after the power cut (and the queue is seldom empty when it comes).
        def on_message(ch, method, props, body):
            record_delivery(ledger, body, method.redelivered)
            if int(body) % 4 == 0:
                return
            ch.basic_ack(method.delivery_tag)
            with ledger.lock:
                ledger.acked.add(int(body))

        ch.basic_consume(QUEUE, on_message)
        while not stop.is_set():
            conn.process_data_events(time_limit=0.1)
    except (pika.exceptions.AMQPError, OSError):
        pass


def missing_definitions(ch_factory, promises):
    """Names whose passive declare fails; a failure closes the channel, so reopen."""
    missing = []
    ch = ch_factory()
    for kind, names in (("exchange", promises.exchanges), ("queue", promises.queues)):
        for name in sorted(names):
            try:
                if kind == "exchange":
                    ch.exchange_declare(name, passive=True)
                else:
                    ch.queue_declare(name, passive=True)
            except pika.exceptions.ChannelClosedByBroker as e:
                missing.append(f"{kind} {name} ({e.reply_code})")
                ch = ch_factory()
    return missing


def unrouted_bindings(ch, promises):
    """Bindings through which a mandatory probe does not reach its queue."""
    ch.confirm_delivery()
    broken = []
    for x, q, key in sorted(promises.bindings):
        body = f"probe {x} {q}".encode()
        try:
            ch.basic_publish(x, key, body, mandatory=True)
        except pika.exceptions.UnroutableError:
            broken.append(f"{x} -> {q}: unroutable")
            continue
        method, _, got = ch.basic_get(q, auto_ack=True)
        if got != body:
            broken.append(f"{x} -> {q}: probe not in the queue (got {got!r})")
    return broken


def check_promises(port, ledger, promises, cut):
    """Every declare-ok'd definition exists and routes; every confirm is kept. Returns how
    many messages were still in the queue. cut describes the last power cut, for messages."""
    conn = pika.BlockingConnection(pika_params(port))
    try:
        missing = missing_definitions(conn.channel, promises)
        assert not missing, f"declare-ok'd but lost: {missing[:20]} ({len(missing)} in all); {cut}"
        ch = conn.channel()
        in_queue = 0
        for _ in range(1_000_000):  # bounded by the queue's length
            method, _, body = ch.basic_get(QUEUE)
            if method is None:
                break
            record_delivery(ledger, body, method.redelivered)
            ch.basic_ack(method.delivery_tag)
            ledger.acked.add(int(body))
            in_queue += 1
        # Probes last: each must be the only message in its queue.
        broken = unrouted_bindings(ch, promises)
        assert not broken, f"bound but not routing: {broken[:20]} ({len(broken)} in all); {cut}"
    finally:
        conn.close()

    assert not promises.unroutable, f"returned unroutable: {sorted(promises.unroutable)[:20]}"
    lost = ledger.confirmed - ledger.acked
    assert not lost, (f"confirmed but neither acked nor recovered: {sorted(lost)[:20]} "
                      f"({len(lost)} in all); {cut}")
    unknown = set(ledger.deliveries) - ledger.published
    assert not unknown, f"delivered but never published: {sorted(unknown)[:20]}; {cut}"
    for i, flags in ledger.deliveries.items():
        assert all(flags[1:]), f"message {i} delivered again without redelivered: {flags}; {cut}"
    return in_queue


def run_load_and_cut(b, ledger, promises, next_id, round_, rng):
    """Runs the clients until the broker is SIGKILLed at a random moment."""
    stop = threading.Event()
    threads = [
        threading.Thread(target=publish_until_killed,
                         args=(b.port, ledger, promises, next_id, stop)),
        threading.Thread(target=publish_until_killed,
                         args=(b.port, ledger, promises, next_id, stop)),
        threading.Thread(target=consume_until_killed, args=(b.port, ledger, stop)),
        threading.Thread(target=declare_until_killed, args=(b.port, promises, round_, stop)),
    ]
    for t in threads:
        t.start()
    time.sleep(rng.uniform(*KILL_AFTER))
    b.kill()
    stop.set()
    for t in threads:
        t.join(timeout=30)
        assert not t.is_alive(), "a client thread did not stop after the broker died"


def assert_journal_tracked(report: Report, data: Path, round_: int):
    """The library interposed: the message log's fdatasyncs reached the journal."""
    messages = str(Path(os.path.realpath(data)) / "messages") + os.sep
    segments = [p for p in report.synced_paths if p.startswith(messages) and p.endswith(".seg")]
    assert segments, f"round {round_}: no fdatasync of a segment file in the journal: {report}"
    assert report.dsyncs > 0, f"round {round_}: no directory fsync in the journal: {report}"


def test_promises_survive_power_loss(start_broker, tracker, tmp_path):
    data = tmp_path / "data"
    data.mkdir()  # the operator's; what the broker creates inside, it must make durable
    ledger = Ledger()
    counter = iter(range(1, 10**9))
    promises = Promises()
    rng = random.Random(20261205)
    totals = Report()
    recovered = 0
    cut = "before any power cut"
    for round_ in range(ROUNDS):
        baseline = tmp_path / f"baseline-{round_}"
        shutil.copytree(data, baseline)
        env, journal, snapshots = tracker(f"round-{round_}")
        b = start_broker(data_dir=data, env=env)
        if round_ == 0:
            setup_main_route(b.port)
            promises.bindings.add((EXCHANGE, QUEUE, KEY))
        recovered += check_promises(b.port, ledger, promises, cut)
        run_load_and_cut(b, ledger, promises, lambda: next(counter), round_, rng)

        try:
            report = pull_the_plug(data, baseline, journal, snapshots)
        except ModelError as e:
            pytest.fail(f"round {round_}: {e}", pytrace=False)
        assert_journal_tracked(report, data, round_)
        cut = f"power cut {round_} left {report.summary()}"
        print(cut)
        for name in ("syncs", "bytes_dropped", "files_cut", "names_dropped", "names_restored",
                     "from_snapshot", "approximated"):
            setattr(totals, name, getattr(totals, name) + getattr(report, name))

    b = start_broker(data_dir=data)  # without the library: an ordinary restart
    recovered += check_promises(b.port, ledger, promises, cut)
    print(f"power-loss: {ROUNDS} rounds, {len(ledger.confirmed)} confirmed, {recovered} "
          f"recovered from the queue, {len(promises.queues)} queues, {len(promises.exchanges)} "
          f"exchanges, {len(promises.bindings)} bindings; {totals.syncs} syncs journaled, "
          f"{totals.bytes_dropped} bytes in {totals.files_cut} files dropped, "
          f"{totals.names_dropped} names dropped, {totals.names_restored} restored, "
          f"{totals.from_snapshot} files from copies, {totals.approximated} approximated")
    # The test only means something if the cuts hit messages and declares in flight.
    assert len(ledger.confirmed) > 100, len(ledger.confirmed)
    assert len(promises.bindings) > ROUNDS, len(promises.bindings)
    assert totals.from_snapshot > 0, "SQLite's files were never restored from a sync's copy"
