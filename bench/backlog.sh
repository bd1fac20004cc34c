#!/usr/bin/env bash
# The backlog benchmark: fill one durable queue with a large backlog of persistent 1 KiB
# messages (with publisher confirms), restart the broker over it, then drain it, sampling the
# broker's resident memory every second throughout. See "Backlog benchmark" in bench/README.md.
#
#   bench/backlog.sh [BUILD_DIR]                 # default build; about 20 GB of disk
#   BACKLOG_GB=0.5 bench/backlog.sh              # a quick look
#
# Environment:
#   BACKLOG_GB               backlog to aim for, GB (10^9 bytes) of bodies (default 20); scaled
#                            down when the disk has less room (see "Sizing" below)
#   BACKLOG_MSG_SIZE         body bytes (default 1024)
#   BACKLOG_PUBLISHERS       publisher processes (default 1)
#   BACKLOG_CONSUMERS        consumer processes (default 1)
#   BACKLOG_CONFIRM          unconfirmed messages allowed per publisher (default 1000)
#   BACKLOG_PREFETCH         consumer prefetch (default 1000)
#   BACKLOG_AUTO_ACK         1 = consume with no-ack; default manual acks, one per 100
#   BACKLOG_MAX_SECONDS      longest the fill may run, and separately the drain (default 3600)
#   BACKLOG_STALL_SECONDS    a phase is stalled when its last this many seconds added less than
#                            1% of what its average rate would have (default 30)
#   BACKLOG_RESTART_TIMEOUT  longest to wait for the restarted broker, seconds (default 1800)
#   BACKLOG_DIR              work directory, removed at exit (default build/backlog-data)
#   BACKLOG_RESULTS          where the table goes besides stdout
#                            (default bench/results/backlog-latest.md)
#   BACKLOG_PYTHON           interpreter for the load client (default /usr/bin/python3)
#   SLUICE_EXTRA_ARGS        more broker arguments, say "--memory-limit 300000000"
#
# The broker listens on 127.0.0.1 only. Every wait is bounded. The work directory (broker
# data, logs, status files) is removed, and every process this script started is stopped,
# when it exits for any reason.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
sluice_bin=$build/bin/sluice
[[ -x $sluice_bin ]] || { echo "backlog: $sluice_bin is missing; run make build" >&2; exit 1; }

backlog_gb=${BACKLOG_GB:-20}
msg_size=${BACKLOG_MSG_SIZE:-1024}
publishers=${BACKLOG_PUBLISHERS:-1}
consumers=${BACKLOG_CONSUMERS:-1}
confirm_window=${BACKLOG_CONFIRM:-1000}
prefetch=${BACKLOG_PREFETCH:-1000}
auto_ack=${BACKLOG_AUTO_ACK:-0}
max_seconds=${BACKLOG_MAX_SECONDS:-3600}
stall_seconds=${BACKLOG_STALL_SECONDS:-30}
restart_timeout=${BACKLOG_RESTART_TIMEOUT:-1800}
dir=${BACKLOG_DIR:-$build/backlog-data}
results_md=${BACKLOG_RESULTS:-$here/results/backlog-latest.md}
py=${BACKLOG_PYTHON:-/usr/bin/python3}
[[ -x $py ]] || py=$(command -v python3) || die "no python3 for the load client"
read -r -a extra_args <<<"${SLUICE_EXTRA_ARGS:-}"
queue=sluice-backlog

# Sizing: the store frames a 1 KiB message in about 1.06 KiB (src/store/FORMAT.md) and writes
# acks while draining, so 1.1 bytes of disk per body byte. What stays free is a fifth of the
# free space plus 2 GB: room for the rest of the machine, and well above the broker's own
# disk alarm (50 MB by default).
readonly disk_factor=1.1 margin_fraction=0.2 margin_fixed=2000000000

log() { echo "backlog: $*"; }
die() { echo "backlog: $*" >&2; exit 1; }
# Arithmetic in awk (mawk prints large numbers as 2e+10 unless told otherwise).
# The value goes through a variable: in printf's arguments awk would read ">" as a redirection.
int_of() { awk "BEGIN { v = ($1); printf \"%.0f\", v }"; }  # int_of 'EXPR': rounded
num_of() { awk "BEGIN { v = ($1); printf \"%.3f\", v }"; }  # num_of 'EXPR': three decimals
str_of() { awk "BEGIN { v = ($1); printf \"%s\", v }"; }    # str_of 'sprintf(...)'
holds() { (($(int_of "($1) ? 1 : 0"))); }                # holds 'EXPR': a test
gb() { str_of "sprintf(\"%.2f GB\", $1 / 1e9)"; }
mib() { str_of "sprintf(\"%.0f MiB\", $1 / 1048576)"; }
rate() {  # msg/s, shortened
  local f='sprintf("%.0f", r)'
  (($(int_of "$1 >= 1e3"))) && f='sprintf("%.1fk", r / 1e3)'
  (($(int_of "$1 >= 1e6"))) && f='sprintf("%.2fM", r / 1e6)'
  awk -v r="$1" "BEGIN { printf \"%s\", $f }"
}

# --- the work directory: created here, removed at exit ---
marker=.sluice-backlog-bench
if [[ -e $dir ]]; then
  [[ -e $dir/$marker ]] || die "$dir exists and is not a backlog work directory; move it away"
  log "removing the leftover work directory of an interrupted run: $dir"
  rm -rf "$dir"
fi

# --- sizing: check free disk where the data will go ---
probe=$(dirname "$dir")
while [[ ! -d $probe ]]; do probe=$(dirname "$probe"); done
read -r free_bytes fstype mountpoint < <(df -B1 --output=avail,fstype,target "$probe" | tail -1)
case $fstype in
  tmpfs | ramfs) die "$probe is on $fstype (memory, not disk); set BACKLOG_DIR to a disk" ;;
esac
asked_bytes=$(int_of "$backlog_gb * 1e9")
margin_bytes=$(int_of "$free_bytes * $margin_fraction + $margin_fixed")
room_bytes=$(int_of "($free_bytes - $margin_bytes) / $disk_factor")
((room_bytes > 0)) || room_bytes=0
if ((room_bytes < asked_bytes)); then
  target_bytes=$room_bytes
  sizing="$(gb "$target_bytes"), scaled down from $(gb "$asked_bytes") (BACKLOG_GB=$backlog_gb)"
  sizing+=" to leave that margin"
else
  target_bytes=$asked_bytes
  sizing="$(gb "$target_bytes") as asked (BACKLOG_GB=$backlog_gb); the disk has room for it"
fi
target_msgs=$((target_bytes / msg_size))
log "disk: $(gb "$free_bytes") free on $mountpoint ($fstype); keeping $(gb "$margin_bytes")" \
  "free (20% + 2 GB) and counting ${disk_factor}x on disk per body byte: room for" \
  "$(gb "$room_bytes") of bodies"
log "target: $sizing: $target_msgs messages of $msg_size B"
((target_msgs >= 1000)) || die "too little disk for a meaningful backlog ($target_msgs messages)"

broker_pid=
sampler_pid=
client_pids=()
cleanup() {
  local pid
  for pid in "${client_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [[ -n $broker_pid ]]; then
    kill "$broker_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$broker_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$broker_pid" 2>/dev/null || true
  fi
  for pid in "${client_pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  if [[ -n $sampler_pid ]]; then kill "$sampler_pid" 2>/dev/null || true; fi
  if [[ -e $dir/$marker ]]; then rm -rf "$dir"; fi
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$dir/data" "$dir/run"
touch "$dir/$marker"
run=$dir/run
amqp=$run/backlog_amqp.py

# --- the load client ---
# sluice-perf cannot do this job: it deletes its queues before and after every run, and ends
# the run when the broker blocks it. This is a minimal AMQP 0-9-1 client on Python's standard
# library instead of pika, which encodes every message in Python and would measure itself: a
# publisher copies one pre-encoded message, a consumer only counts deliveries.
cat >"$amqp" <<'PY'
import argparse, os, resource, select, signal, socket, struct, sys, time

stop = False
def on_term(*_):
    global stop
    stop = True

class AmqpError(Exception):
    def __init__(self, text, code=0):
        super().__init__(text)
        self.code = code

def frame(kind, channel, payload):
    return struct.pack(">BHI", kind, channel, len(payload)) + payload + b"\xce"

def method(class_id, method_id, args=b"", channel=1):
    return frame(1, channel, struct.pack(">HH", class_id, method_id) + args)

def shortstr(s):
    b = s.encode()
    return bytes([len(b)]) + b

def table(d):
    out = b""
    for k, v in d.items():
        if isinstance(v, bool):
            out += shortstr(k) + b"t" + bytes([v])
        elif isinstance(v, dict):
            out += shortstr(k) + b"F" + table(v)
        else:
            out += shortstr(k) + b"S" + struct.pack(">I", len(v)) + v.encode()
    return struct.pack(">I", len(out)) + out

def split_frames(buf, start):
    """Yields (kind, channel, payload offset, end) for every whole frame from start."""
    n = len(buf)
    pos = start
    while n - pos >= 7:
        kind, channel, size = struct.unpack_from(">BHI", buf, pos)
        end = pos + 7 + size
        if end >= n:
            break
        yield kind, channel, pos + 7, end
        pos = end + 1

HEARTBEAT_S = 60
HEARTBEAT = frame(8, 0, b"")

class Client:
    """One connection with channel 1 open and heartbeats every HEARTBEAT_S, as clients
    usually run; every wait has a timeout. The hot loops send a heartbeat when they have
    been silent for half the interval (see idle())."""

    def __init__(self, port, user, password, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.last_sent = time.monotonic()
        self.blocked = ""
        self.blocked_since = None
        self.blocked_total = 0.0
        self.sock.sendall(b"AMQP\x00\x00\x09\x01")
        self.expect(10, 10)
        caps = {"publisher_confirms": True, "basic.nack": True, "connection.blocked": True}
        props = {"product": "sluice backlog bench", "capabilities": caps}
        login = ("\0%s\0%s" % (user, password)).encode()
        self.send(method(10, 11, table(props) + shortstr("PLAIN") +
                         struct.pack(">I", len(login)) + login + shortstr("en_US"), 0))
        channel_max, frame_max, _ = struct.unpack_from(">HIH", self.expect(10, 30))
        self.frame_max = frame_max or 131072
        self.send(method(10, 31, struct.pack(">HIH", channel_max, self.frame_max, HEARTBEAT_S), 0))
        self.send(method(10, 40, shortstr("/") + shortstr("") + b"\x00", 0))
        self.expect(10, 41)
        self.send(method(20, 10, shortstr("")))
        self.expect(20, 11)

    def send(self, data):
        self.sock.sendall(data)
        self.last_sent = time.monotonic()

    def idle(self):
        """True when nothing was sent for half the heartbeat interval."""
        return time.monotonic() - self.last_sent >= HEARTBEAT_S / 2

    def expect(self, class_id, method_id):
        """Reads until the given method arrives; returns its arguments."""
        while True:
            for kind, ch, start, end in split_frames(self.buf, 0):
                payload = bytes(self.buf[start:end])
                del self.buf[:end + 1]
                if kind == 1:
                    got = struct.unpack_from(">HH", payload)
                    self.on_method(got, payload[4:])
                    if got == (class_id, method_id):
                        return payload[4:]
                break
            else:
                data = self.sock.recv(1 << 16)
                if not data:
                    raise AmqpError("the broker closed the connection")
                self.buf += data

    def on_method(self, ids, args):
        """The methods any state must handle: closes and resource alarms."""
        if ids == (10, 50) or ids == (20, 40):
            code = struct.unpack_from(">H", args)[0]
            text = args[3:3 + args[2]].decode(errors="replace")
            raise AmqpError("%s closed by the broker: %d %s"
                            % ("connection" if ids[0] == 10 else "channel", code, text), code)
        if ids == (10, 60):
            if not self.blocked:
                self.blocked_since = time.monotonic()
            self.blocked = args[1:1 + args[0]].decode(errors="replace") or "blocked"
        elif ids == (10, 61):
            if self.blocked:
                self.blocked_total += time.monotonic() - self.blocked_since
            self.blocked = ""

    def blocked_seconds(self):
        extra = time.monotonic() - self.blocked_since if self.blocked else 0.0
        return self.blocked_total + extra

    def declare(self, queue, passive):
        flags = 1 if passive else 2  # passive, or durable
        self.send(method(50, 10, b"\x00\x00" + shortstr(queue) + bytes([flags]) + table({})))
        args = self.expect(50, 11)
        return struct.unpack_from(">II", args, 1 + args[0])  # message count, consumer count

    def close(self):
        """Best effort: a blocked connection is not read by the broker, so do not wait long."""
        try:
            self.sock.setblocking(True)
            self.sock.settimeout(2.0)
            self.send(method(10, 50, struct.pack(">H", 200) + shortstr("bye") + b"\0" * 4, 0))
            self.expect(10, 51)
        except (OSError, AmqpError):
            pass
        self.sock.close()

class Status:
    """key value lines in a file, replaced whole twice a second and at exit."""

    def __init__(self, path):
        self.path = path
        self.written = 0.0

    def write(self, force=False, **values):
        t = time.monotonic()
        if not force and t - self.written < 0.5:
            return
        self.written = t
        usage = resource.getrusage(resource.RUSAGE_SELF)
        values["cpu"] = "%.3f" % (usage.ru_utime + usage.ru_stime)
        with open(self.path + ".tmp", "w") as f:
            for k, v in values.items():
                f.write("%s %s\n" % (k, v))
        os.replace(self.path + ".tmp", self.path)

def publish(a, c):
    """Publishes a.count persistent messages with at most a.window unconfirmed. Assumes
    confirms come in delivery-tag order, as they do for one queue."""
    c.send(method(85, 10, b"\x00"))
    c.expect(85, 11)
    body = os.urandom(a.size)
    header = struct.pack(">HHQH", 60, 0, len(body), 0x1000) + b"\x02"  # delivery-mode 2
    msg = method(60, 40, b"\x00\x00" + shortstr("") + shortstr(a.queue) + b"\x00")
    msg += frame(2, 1, header)
    chunk = c.frame_max - 8
    for i in range(0, len(body), chunk):
        msg += frame(3, 1, body[i:i + chunk])
    status = Status(a.status)
    queued = written_bytes = highest = nacked = 0
    first = last = 0.0
    out = bytearray()
    deadline = time.monotonic() + a.seconds
    c.sock.setblocking(False)
    grace_end = None
    def state(done, error=""):
        status.write(force=done, sent=written_bytes // len(msg), confirmed=highest - nacked,
                     nacked=nacked, blocked=int(bool(c.blocked)), blocked_reason=c.blocked or "-",
                     blocked_s="%.1f" % c.blocked_seconds(), first="%.6f" % first,
                     last="%.6f" % last, done=int(done), error=error or "-")
    try:
        while highest < a.count:
            t = time.monotonic()
            if stop or t >= deadline:
                # Finish the message half written, then wait a little for the confirms of
                # what is on the wire, unless the broker is not reading it.
                if grace_end is None:
                    grace_end = t + 5
                    del out[(-written_bytes) % len(msg):]
                    queued = -(-(written_bytes + len(out)) // len(msg))
                if t >= grace_end or c.blocked or (not out and highest >= queued):
                    break
            room = a.window - (queued - highest)
            if grace_end is None and room > 0 and queued < a.count and len(out) < (1 << 20):
                n = min(room, a.count - queued, 256)
                out += msg * n
                queued += n
                if not first:
                    first = time.time()
            # A heartbeat only when waiting on confirms: a blocked connection is not read, and
            # the broker does not expect heartbeats from it.
            beat = not out and not c.blocked and c.idle()
            r, w, _ = select.select([c.sock], [c.sock] if out or beat else [], [], 0.2)
            if w and out:
                try:
                    k = c.sock.send(out)
                except BlockingIOError:
                    k = 0
                del out[:k]
                written_bytes += k
                c.last_sent = time.monotonic()
            elif w:
                c.sock.send(HEARTBEAT)  # writable: 8 bytes fit
                c.last_sent = time.monotonic()
            if r:
                data = c.sock.recv(1 << 16)
                if not data:
                    raise AmqpError("the broker closed the connection")
                c.buf += data
                pos = 0
                for kind, _, start, end in split_frames(c.buf, 0):
                    pos = end + 1
                    if kind != 1:
                        continue
                    ids = struct.unpack_from(">HH", c.buf, start)
                    if ids == (60, 80) or ids == (60, 120):
                        tag = struct.unpack_from(">Q", c.buf, start + 4)[0]
                        multiple = c.buf[start + 12] & 1
                        if ids == (60, 120):
                            nacked += tag - highest if multiple else 1
                        highest = max(highest, tag)
                        last = time.time()
                    else:
                        c.on_method(ids, bytes(c.buf[start + 4:end]))
                del c.buf[:pos]
            state(False)
    except (OSError, AmqpError) as e:
        state(True, str(e).replace("\n", " "))
        return 1
    state(True)
    c.close()
    return 0

def consume(a, c):
    """Consumes until stopped, acking (multiple) every a.ack_every deliveries."""
    if not a.auto_ack:
        c.send(method(60, 10, struct.pack(">IHB", 0, a.prefetch, 0)))
        c.expect(60, 11)
    c.send(method(60, 20, b"\x00\x00" + shortstr(a.queue) + shortstr("") +
                  bytes([2 if a.auto_ack else 0]) + table({})))
    c.expect(60, 21)
    status = Status(a.status)
    received = seen = last_tag = acked_tag = 0
    first = last = 0.0
    out = bytearray()
    deadline = time.monotonic() + a.seconds
    c.sock.setblocking(False)
    def state(done, error=""):
        status.write(force=done, received=received, first="%.6f" % first, last="%.6f" % last,
                     done=int(done), error=error or "-")
    try:
        while not stop and time.monotonic() < deadline:
            if not out and c.idle():
                out += HEARTBEAT  # no-ack consumers send nothing else
            r, w, _ = select.select([c.sock], [c.sock] if out else [], [], 0.2)
            if w:
                try:
                    del out[:c.sock.send(out)]
                    c.last_sent = time.monotonic()
                except BlockingIOError:
                    pass
            if r:
                data = c.sock.recv(1 << 20)
                if not data:
                    raise AmqpError("the broker closed the connection")
                c.buf += data
                buf = c.buf
                pos = 0
                n = len(buf)
                while n - pos >= 7:  # the frame loop of split_frames, inlined: the hot path
                    kind, _, size = struct.unpack_from(">BHI", buf, pos)
                    end = pos + 7 + size
                    if end >= n:
                        break
                    if kind == 1:
                        ids = struct.unpack_from(">HH", buf, pos + 7)
                        if ids == (60, 60):  # deliver: consumer tag, then the delivery tag
                            last_tag = struct.unpack_from(">Q", buf, pos + 12 + buf[pos + 11])[0]
                            received += 1
                        else:
                            c.on_method(ids, bytes(buf[pos + 11:end]))
                    pos = end + 1
                del buf[:pos]
                if received != seen:
                    seen = received
                    last = time.time()
                    if not first:
                        first = last
                if not a.auto_ack and last_tag - acked_tag >= a.ack_every:
                    out += method(60, 80, struct.pack(">QB", last_tag, 1))
                    acked_tag = last_tag
            state(False)
        if not a.auto_ack and last_tag > acked_tag:
            out += method(60, 80, struct.pack(">QB", last_tag, 1))
        if out:
            c.sock.setblocking(True)
            c.sock.settimeout(5.0)
            c.send(bytes(out))
    except (OSError, AmqpError) as e:
        state(True, str(e).replace("\n", " "))
        return 1
    state(True)
    c.close()
    return 0

def depth(a):
    c = Client(a.port, a.user, a.password)
    count, consumers = c.declare(a.queue, passive=not a.create)
    c.close()
    print(count, consumers)
    return 0

def wait_restart(a):
    """Polls a just-started broker (pid a.pid): when does its port accept, and when does a
    passive declare show a.expect messages? Gives up when the broker exits, at a.timeout, or
    a.settle seconds after the count last changed."""
    port_open = ready = count = last_change = None
    error = "-"
    while time.time() - a.since < a.timeout:
        try:
            os.kill(a.pid, 0)
        except OSError:
            error = "the broker exited"
            break
        t = time.time()
        try:
            socket.create_connection(("127.0.0.1", a.port), timeout=2.0).close()
        except OSError:
            time.sleep(0.05)
            continue
        if port_open is None:
            port_open = t - a.since
        try:
            c = Client(a.port, a.user, a.password, timeout=5.0)
            n, _ = c.declare(a.queue, passive=True)
            c.close()
        except (OSError, AmqpError) as e:
            error = str(e).replace("\n", " ")
            time.sleep(0.05)
            continue
        if n != count:
            count, last_change = n, t
        if n == a.expect:
            ready = time.time() - a.since
            break
        if t - last_change > a.settle:
            break
        time.sleep(0.05)
    print("port_open_s %s" % ("-" if port_open is None else "%.3f" % port_open))
    print("ready_s %s" % ("-" if ready is None else "%.3f" % ready))
    print("count %s" % ("-" if count is None else count))
    print("error %s" % error)
    return 0

def main():
    p = argparse.ArgumentParser()
    p.add_argument("command", choices=["publish", "consume", "depth", "wait-restart"])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--user", default="guest")
    p.add_argument("--password", default="guest")
    p.add_argument("--queue", required=True)
    p.add_argument("--create", action="store_true", help="depth: declare the durable queue")
    p.add_argument("--size", type=int, default=1024)
    p.add_argument("--window", type=int, default=1000)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--prefetch", type=int, default=1000)
    p.add_argument("--ack-every", type=int, default=100)
    p.add_argument("--auto-ack", action="store_true")
    p.add_argument("--seconds", type=float, default=3600)
    p.add_argument("--status")
    p.add_argument("--since", type=float, default=0)
    p.add_argument("--pid", type=int, default=0)
    p.add_argument("--expect", type=int, default=0)
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("--settle", type=float, default=30)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if a.command == "depth":
        return depth(a)
    if a.command == "wait-restart":
        return wait_restart(a)
    status = Status(a.status)
    try:
        c = Client(a.port, a.user, a.password)
    except (OSError, AmqpError) as e:
        status.write(force=True, done=1, error=str(e).replace("\n", " "))
        return 1
    return publish(a, c) if a.command == "publish" else consume(a, c)

if __name__ == "__main__":
    sys.exit(main())
PY

client() { "$py" "$amqp" "$@" --port "$port" --queue "$queue"; }

# The clients' status files (key value lines), summed, or the first or last time in them.
status_of() { cat "$run"/"$1".*.st 2>/dev/null || true; }
status_sum() { status_of "$1" | awk -v k="$2" '$1 == k { s += $2 } END { printf "%.0f", s }'; }
status_sumf() { status_of "$1" | awk -v k="$2" '$1 == k { s += $2 } END { printf "%.3f", s }'; }
status_max() {
  status_of "$1" | awk -v k="$2" '$1 == k && $2 > m { m = $2 } END { printf "%.6f", m }'
}
status_min() {
  status_of "$1" | awk -v k="$2" '$1 == k && $2 > 0 && (m == 0 || $2 < m) { m = $2 }
    END { printf "%.6f", m }'
}
status_text() {  # kind key: the distinct values other than "-"
  status_of "$1" | awk -v k="$2" '$1 == k && $2 != "-" { $1 = ""; sub(/^ /, ""); print }' |
    sort -u | head -1
}

alive() { local pid; for pid in "$@"; do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }

# SIGTERM, a bounded wait for the clients to finish (they exit within about 7 s), SIGKILL.
stop_clients() {
  local pid
  for pid in "${client_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for _ in $(seq 150); do alive "${client_pids[@]}" || break; sleep 0.1; done
  for pid in "${client_pids[@]}"; do
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  client_pids=()
}

free_port() {
  "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

set_phase() { echo "$1" >"$run/phase"; }

# One line a second until the broker exits: time, phase, VmRSS and VmHWM (KiB), and the CPU
# ticks the broker has used.
sample_broker() {  # pid
  local pid=$1 key value rest phase stat rss hwm
  while kill -0 "$pid" 2>/dev/null; do
    rss=0 hwm=0
    while read -r key value rest; do
      case $key in VmRSS:) rss=$value ;; VmHWM:) hwm=$value ;; esac
    done <"/proc/$pid/status" 2>/dev/null || break
    read -r -a stat <"/proc/$pid/stat" 2>/dev/null || break
    read -r phase <"$run/phase" || phase=-
    # An exiting process has no memory lines left; its last real sample stands.
    if ((hwm > 0)); then
      echo "$EPOCHREALTIME $phase $rss $hwm $((stat[13] + stat[14]))" >>"$run/rss.log"
    fi
    sleep 1
  done
}

start_broker() {  # log file
  "$sluice_bin" --data-dir "$dir/data" --bind 127.0.0.1 --amqp-port "$port" \
    --http-port "$(free_port)" --log-level info "${extra_args[@]}" >"$1" 2>&1 &
  broker_pid=$!
  sample_broker "$broker_pid" &
  sampler_pid=$!
}

# SIGTERM and a bounded wait (300 s) for the broker to exit; sets stopped_in to the seconds
# it took, or "killed" when it had to be killed.
stop_broker() {
  local t0=$EPOCHREALTIME waited=0
  kill "$broker_pid" 2>/dev/null || true
  while kill -0 "$broker_pid" 2>/dev/null && ((waited < 6000)); do
    sleep 0.05
    waited=$((waited + 1))
  done
  if kill -0 "$broker_pid" 2>/dev/null; then
    kill -9 "$broker_pid" 2>/dev/null || true
    stopped_in=killed
  else
    stopped_in=$(num_of "$EPOCHREALTIME - $t0")
  fi
  wait "$broker_pid" 2>/dev/null || true
  wait "$sampler_pid" 2>/dev/null || true
  broker_pid=""
  sampler_pid=""
}

broker_alive() {
  kill -0 "$broker_pid" 2>/dev/null && return 0
  echo "backlog: the broker exited; its log ends with:" >&2
  tail -20 "$broker_log" >&2
  exit 1
}

last_rss_bytes() { awk 'END { printf "%.0f", $3 * 1024 }' "$run/rss.log"; }

# The broker's VmRSS and VmHWM now, KiB.
broker_memory() {
  awk '$1 == "VmRSS:" { r = $2 } $1 == "VmHWM:" { h = $2 } END { printf "%.0f %.0f\n", r, h }' \
    "/proc/$broker_pid/status"
}

# The broker's CPU cores over the samples of one phase between two times ("-" with fewer than
# two samples there).
broker_cores() {  # phase from to
  awk -v p="$1" -v a="$2" -v b="$3" -v hz="$(getconf CLK_TCK)" '
    $2 == p && $1 >= a - 1 && $1 <= b + 1 { if (!n++) { t0 = $1; c0 = $5 }; t1 = $1; c1 = $5 }
    END { c = t1 > t0 ? sprintf("%.2f", (c1 - c0) / hz / (t1 - t0)) : "-"; print c }' \
    "$run/rss.log"
}

# Stall detection over the samples kept in hist_t / hist_d: true when the last stall_seconds
# added less than 1% of what the phase's average rate would have (or nothing at all).
hist_t=() hist_d=() oldest=0
stalled() {  # now value elapsed
  hist_t+=("$1") hist_d+=("$2")
  while holds "${hist_t[oldest + 1]:-$1} <= $1 - $stall_seconds"; do oldest=$((oldest + 1)); done
  holds "$1 - ${hist_t[oldest]} >= $stall_seconds" || return 1
  local gained=$(($2 - hist_d[oldest]))
  holds "$gained == 0 || $gained < $2 / $3 * $stall_seconds * 0.01"
}

# --- start the broker ---
port=$(free_port)
set_phase start
broker_log=$run/broker1.log
start_broker "$broker_log"
listening=0
for _ in $(seq 200); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then listening=1; break; fi
  broker_alive
  sleep 0.1
done
((listening)) || die "sluice did not start listening on $port"
client depth --create >/dev/null || die "cannot declare the durable queue $queue"
read -r idle_rss_kb _ < <(broker_memory)
memory_limit=$(sed -n 's/.*alarms memory_limit=\([0-9]*\).*/\1/p' "$broker_log" | tail -1)
memory_limit=${memory_limit:-0}
log "sluice pid $broker_pid on 127.0.0.1:$port, data in $dir/data, memory alarm at" \
  "$(mib "$memory_limit")${SLUICE_EXTRA_ARGS:+ (SLUICE_EXTRA_ARGS=$SLUICE_EXTRA_ARGS)}"

# --- fill ---
# The loops below enforce BACKLOG_MAX_SECONDS; the clients' own limit is only a backstop.
client_seconds=$((max_seconds + 60))
set_phase fill
log "fill: $publishers publisher(s), confirm window $confirm_window; until $target_msgs" \
  "messages are queued, the fill stalls for ${stall_seconds}s, or ${max_seconds}s pass"
for ((i = 0; i < publishers; i++)); do
  share=$((target_msgs / publishers + (i < target_msgs % publishers ? 1 : 0)))
  client publish --size "$msg_size" --window "$confirm_window" --count "$share" \
    --seconds "$client_seconds" --status "$run/pub.$i.st" >"$run/pub.$i.log" 2>&1 &
  client_pids+=($!)
done
fill_t0=$EPOCHREALTIME
fill_stop=
depth=0 shown=0 shown_t=$fill_t0
tick=0
while :; do
  sleep 1
  tick=$((tick + 1))
  broker_alive
  t=$EPOCHREALTIME
  elapsed=$(num_of "$t - $fill_t0")
  if out=$(client depth 2>/dev/null); then read -r depth _ <<<"$out"; fi
  if ((tick % 10 == 0)); then
    blocked=$(status_sum pub blocked)
    log "fill $(printf '%5.0f' "$elapsed")s: $depth messages ($(gb $((depth * msg_size))))," \
      "$(rate "$(num_of "($depth - $shown) / ($t - $shown_t)")") msg/s in the last 10s," \
      "broker rss $(mib "$(last_rss_bytes)")" \
      "$( ((blocked > 0)) && echo '(publishers blocked)')"
    shown=$depth shown_t=$t
  fi
  if ((depth >= target_msgs)); then fill_stop=target; break; fi
  if ! alive "${client_pids[@]}"; then fill_stop=publishers; break; fi
  if holds "$elapsed >= $max_seconds"; then fill_stop=max; break; fi
  if stalled "$t" "$depth" "$elapsed"; then fill_stop=stall; break; fi
done
stop_clients
filled=$(client depth | awk '{ print $1 }') || die "cannot read the queue depth after the fill"
confirmed=$(status_sum pub confirmed)
pub_first=$(status_min pub first)
pub_last=$(status_max pub last)
pub_cpu=$(status_sumf pub cpu)
blocked_reason=$(status_text pub blocked_reason)
fill_s=$(num_of "$pub_last > $pub_first ? $pub_last - $pub_first : 0")
pub_rate=$(num_of "$fill_s > 0 ? $confirmed / $fill_s : 0")
pct=$(str_of "sprintf(\"%.1f\", 100 * $filled / $target_msgs)")
alarm=
if [[ $blocked_reason == *memory* ]]; then
  alarm="the memory alarm"
elif [[ -n $blocked_reason ]]; then
  alarm="a resource alarm ($blocked_reason)"
fi
case $fill_stop in
  target) fill_result="target reached" ;;
  max) fill_result="stopped after BACKLOG_MAX_SECONDS=${max_seconds}s"
    fill_result+=${alarm:+", blocked by $alarm"} ;;
  stall) fill_result=${alarm:+stopped by $alarm}
    fill_result=${fill_result:-stalled for ${stall_seconds}s with the publishers not blocked} ;;
  publishers)
    if [[ -n $alarm ]]; then
      fill_result="stopped by $alarm, and then the broker dropped the blocked connection"
      fill_result+=" ($(status_text pub error))"
    else
      fill_result="the publishers stopped: $(status_text pub error)"
      [[ -n $(status_text pub error) ]] ||
        fill_result="the publishers exited with $confirmed confirmed, short of the target"
    fi ;;
esac
log "fill: filled $filled of target $target_msgs messages ($(gb $((filled * msg_size))) of" \
  "$(gb "$target_bytes"), $pct%); $fill_result"
log "fill: $(rate "$pub_rate") msg/s confirmed over ${fill_s}s (first publish to last confirm)"
((filled > 0)) || die "nothing was queued; the publishers said: $(status_text pub error)"
disk_after_fill=$(du -sb "$dir/data" | awk '{ print $1 }')
read -r fill_rss_kb fill_hwm_kb < <(broker_memory)
fill_broker_cores=$(broker_cores fill "$pub_first" "$pub_last")

# --- restart: stop, start again, time until the whole backlog is visible ---
set_phase stop
stop_broker
stop_s=$stopped_in
log "stop: SIGTERM took ${stop_s}s"
set_phase restart
restart_t0=$EPOCHREALTIME
broker_log=$run/broker2.log
start_broker "$broker_log"
restart_out=$(client wait-restart --pid "$broker_pid" --since "$restart_t0" --expect "$filled" \
  --timeout "$restart_timeout" --settle 30)
port_open_s=$(awk '$1 == "port_open_s" { print $2 }' <<<"$restart_out")
ready_s=$(awk '$1 == "ready_s" { print $2 }' <<<"$restart_out")
recovered=$(awk '$1 == "count" { print $2 }' <<<"$restart_out")
broker_alive
[[ $recovered =~ ^[0-9]+$ ]] || die "the restarted broker never answered: $restart_out"
if [[ $ready_s == - ]]; then
  restart_result="only $recovered of $filled messages; gave up waiting"
  log "restart: port accepted after ${port_open_s}s, but the queue shows $restart_result"
else
  restart_result="all $recovered messages"
  log "restart: port accepted after ${port_open_s}s;" \
    "all $recovered messages visible after ${ready_s}s"
fi
read -r restart_rss_kb _ < <(broker_memory)

# --- drain ---
set_phase drain
ack_mode="manual acks every 100, prefetch $prefetch"
((auto_ack)) && ack_mode=no-ack
log "drain: $consumers consumer(s), $ack_mode; until $recovered messages are received"
for ((i = 0; i < consumers; i++)); do
  # shellcheck disable=SC2046  # an empty substitution means no flag
  client consume --prefetch "$prefetch" $( ((auto_ack)) && echo --auto-ack) \
    --seconds "$client_seconds" --status "$run/con.$i.st" >"$run/con.$i.log" 2>&1 &
  client_pids+=($!)
done
drain_t0=$EPOCHREALTIME
hist_t=() hist_d=() oldest=0
drain_stop=
tick=0
while :; do
  sleep 1
  tick=$((tick + 1))
  broker_alive
  t=$EPOCHREALTIME
  elapsed=$(num_of "$t - $drain_t0")
  received=$(status_sum con received)
  if ((tick % 10 == 0)); then
    log "drain $(printf '%5.0f' "$elapsed")s: $received of $recovered received," \
      "broker rss $(mib "$(last_rss_bytes)")"
  fi
  if ((received >= recovered)); then drain_stop=empty; break; fi
  if ! alive "${client_pids[@]}"; then drain_stop=consumers; break; fi
  if holds "$elapsed >= $max_seconds"; then drain_stop=max; break; fi
  if stalled "$t" "$received" "$elapsed"; then drain_stop=stall; break; fi
done
stop_clients
received=$(status_sum con received)
left=$(client depth | awk '{ print $1 }') || left="?"
con_first=$(status_min con first)
con_last=$(status_max con last)
con_cpu=$(status_sumf con cpu)
drain_s=$(num_of "$con_last > $con_first ? $con_last - $con_first : 0")
drain_rate=$(num_of "$drain_s > 0 ? $received / $drain_s : 0")
case $drain_stop in
  empty) drain_result="$left left in the queue" ;;
  max) drain_result="stopped after BACKLOG_MAX_SECONDS=${max_seconds}s, $left left" ;;
  consumers) drain_result="the consumers stopped: $(status_text con error), $left left" ;;
  stall) drain_result="stalled for ${stall_seconds}s, $left left" ;;
esac
log "drain: received $received of $recovered, $(rate "$drain_rate") msg/s over ${drain_s}s;" \
  "$drain_result"
disk_after_drain=$(du -sb "$dir/data" | awk '{ print $1 }')
read -r drain_rss_kb drain_hwm_kb < <(broker_memory)
drain_broker_cores=$(broker_cores drain "$con_first" "$con_last")
set_phase final
stop_broker
# VmHWM only grows within a process, so the largest sample is the larger of the two peaks.
peak_bytes=$(awk -v a="$fill_hwm_kb" -v b="$drain_hwm_kb" 'BEGIN { m = a > b ? a : b }
  $4 > m { m = $4 } END { printf "%.0f", m * 1024 }' "$run/rss.log")
verdict="over the 1 GiB target"
((peak_bytes < 1073741824)) && verdict="under the 1 GiB target"
((filled < target_msgs)) && verdict+=", with $pct% of the target backlog"
per_msg() {  # rss-KiB: resident bytes per queued message, above the idle broker's
  str_of "sprintf(\"%.0f B\", ($1 - $idle_rss_kb) * 1024 / $filled)"
}

# --- report ---
cores() { str_of "$2 > 0 ? sprintf(\"%.2f\", $1 / $2) : \"-\""; }  # cpu-seconds wall-seconds
mb_s() { str_of "sprintf(\"%.1f MB/s\", $1 * $msg_size / 1e6)"; }
per_body() { str_of "sprintf(\"%.2f\", $1 / ($2 * $msg_size))"; }
kib() { mib $(($1 * 1024)); }
row() { echo "| $1 | $2 |"; }
commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
dirty=
if [[ -n $(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null) ]]; then
  dirty=" plus uncommitted changes"
fi
cpu_model=$(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)
ram=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
alarm_line=$(grep -ho 'memory alarm set: resident=[0-9]* limit=[0-9]*' "$run/broker1.log" |
  head -1 || true)
recovery_line=$(grep -o 'recovered messages=[0-9]* orphaned=[0-9]*' "$run/broker2.log" |
  tail -1 || true)
fill_cores="$fill_broker_cores / $(cores "$pub_cpu" "$fill_s")"
drain_cores="$drain_broker_cores / $(cores "$con_cpu" "$drain_s")"
{
  echo "# Sluice backlog benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "- Machine: $(nproc) vCPU $cpu_model, $ram RAM, Linux $(uname -r). Data on" \
    "$mountpoint ($fstype), $(gb "$free_bytes") free before the run."
  echo "- Sluice at commit $commit$dirty; broker arguments: the defaults" \
    "${SLUICE_EXTRA_ARGS:+plus \`$SLUICE_EXTRA_ARGS\` }(memory alarm at $(mib "$memory_limit"))."
  echo "- Load: bench/backlog.sh's own Python client. $publishers publisher(s) with a confirm" \
    "window of $confirm_window, $consumers consumer(s) with $ack_mode; $msg_size B persistent" \
    "messages to one durable queue."
  echo "- Target: $sizing: $target_msgs messages (keeping $(gb "$margin_bytes") of" \
    "$(gb "$free_bytes") free, counted ${disk_factor}x on disk per body byte)."
  echo "- **Filled $filled of target $target_msgs messages ($pct%); $fill_result.**"
  echo
  row "Step" "Result"
  echo "|---|---|"
  row "fill" "$filled msgs, $(gb $((filled * msg_size))), in $fill_s s: $fill_result"
  row "publish rate (confirmed)" "$(rate "$pub_rate") msg/s, $(mb_s "$pub_rate")"
  row "on disk after the fill" \
    "$(gb "$disk_after_fill"), $(per_body "$disk_after_fill" "$filled") × the bodies"
  row "stop (SIGTERM to exit)" "$stop_s s"
  row "restart: port accepts" "$port_open_s s"
  row "restart: full count visible" "$ready_s s ($restart_result)"
  row "drain" "$received msgs in $drain_s s: $drain_result"
  row "drain rate" "$(rate "$drain_rate") msg/s, $(mb_s "$drain_rate")"
  row "on disk after the drain" "$(gb "$disk_after_drain")"
  row "RSS at the end of the fill / restart / drain" \
    "$(kib "$fill_rss_kb") / $(kib "$restart_rss_kb") / $(kib "$drain_rss_kb")"
  row "RSS per queued message at the end of the fill / restart" \
    "$(per_msg "$fill_rss_kb") / $(per_msg "$restart_rss_kb") (idle broker: $(kib "$idle_rss_kb"))"
  row "peak RSS (VmHWM): first broker / restarted broker" \
    "$(kib "$fill_hwm_kb") / $(kib "$drain_hwm_kb")"
  row "**peak RSS, whole run**" "**$(mib "$peak_bytes")**: $verdict"
  row "CPU cores in the fill: broker / client" "$fill_cores"
  row "CPU cores in the drain: broker / client" "$drain_cores"
  if [[ -n $alarm_line || -n $recovery_line ]]; then
    echo
    echo "Broker log:"
    if [[ -n $alarm_line ]]; then echo "- \`$alarm_line\` (during the fill)"; fi
    if [[ -n $recovery_line ]]; then echo "- \`$recovery_line\` (at the restart)"; fi
  fi
  echo
  echo "Rates run from the first publish to the last confirm, and from the first delivery to" \
    "the last. RSS is read from /proc when each step ends; the restarted broker's peak" \
    "includes its recovery. The whole-run peak also takes the 1 s samples, which cover the" \
    "stops. A client near 1.00 core was the bottleneck, not the broker."
} >"$run/table.md"
echo
cat "$run/table.md"
mkdir -p "$(dirname "$results_md")"
cp "$run/table.md" "$results_md"
log "table saved to $results_md; removing $dir"
