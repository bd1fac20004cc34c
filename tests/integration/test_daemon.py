"""The sluice process itself: command line, configuration sources and their precedence, start-up
failures, logging, and shutdown on SIGINT/SIGTERM.

All of these start the Sluice binary with their own flags, so they are skipped on the
RabbitMQ oracle run.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import time

import pytest

import amqp_raw as raw
from conftest import free_port, pika_params, port_accepts

pytestmark = pytest.mark.sluice_only

# A broker started with a bad configuration must exit within this many seconds.
FAIL_FAST = 5.0
EXIT_BAD_CONFIG = 2
EXIT_STARTUP_FAILURE = 1


def tune_of(port: int) -> raw.Tune:
    """The connection.tune a fresh client is offered."""
    with raw.RawConnection(port) as c:
        hs = c.handshake()
        c.close_cleanly()
        return hs.tune


def safe_args(tmp_path, skip: tuple[str, ...] = ()) -> list:
    """Flags that keep a broker which wrongly starts on loopback and free ports, minus the
    ones named in skip (the setting under test must come from its own source alone)."""
    args = []
    if "bind" not in skip:
        args += ["--bind", "127.0.0.1"]
    if "amqp_port" not in skip:
        args += ["--amqp-port", free_port()]
    if "http_port" not in skip:
        args += ["--http-port", free_port()]
    if "data_dir" not in skip:
        args += ["--data-dir", tmp_path / "data"]
    return args


def write_config(tmp_path, text: str, name: str = "sluice.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


# -------------------------------------------------------------------------------------------
# --help and --version


def test_help_describes_every_flag(run_sluice):
    r = run_sluice(["--help"])
    assert r.returncode == 0, r.stderr
    text = r.stdout + r.stderr
    for flag in ["--config", "--data-dir", "--amqp-port", "--http-port", "--bind",
                 "--log-level", "--log-format", "--heartbeat", "--frame-max", "--channel-max",
                 "--handshake-timeout", "--max-message-size", "--help", "--version"]:
        assert flag in text, f"{flag} missing from --help:\n{text}"


def test_version_prints_a_version_number(run_sluice):
    r = run_sluice(["--version"])
    assert r.returncode == 0, r.stderr
    assert re.search(r"\bsluice\b", r.stdout, re.IGNORECASE), r.stdout
    assert re.search(r"\b\d+\.\d+\.\d+\b", r.stdout), r.stdout


def test_version_does_not_start_a_broker(run_sluice, tmp_path):
    port = free_port()
    r = run_sluice(["--version", "--amqp-port", port, "--bind", "127.0.0.1",
                    "--data-dir", tmp_path / "d"], timeout=FAIL_FAST)
    assert r.returncode == 0
    assert not port_accepts(port)


# -------------------------------------------------------------------------------------------
# Bad configuration


# (id, TOML text, text the error must contain, settings the text is about)
BAD_TOML = [
    ("unknown-top-level-key", 'colour = "blue"\n', "colour", ()),
    ("unknown-amqp-key", "[amqp]\nprot = 5672\n", "prot", ()),
    ("unknown-section", "[nosuch]\nkey = 1\n", "nosuch", ()),
    ("nested-unknown-table", "[amqp.tls]\nenabled = true\n", "tls", ()),
    ("section-as-value", "amqp = 5\n", "amqp", ()),
    ("port-string", '[amqp]\nport = "5672"\n', "port", ("amqp_port",)),
    ("heartbeat-bool", "[amqp]\nheartbeat = true\n", "heartbeat", ()),
    ("data-dir-int", "data_dir = 5\n", "data_dir", ("data_dir",)),
    ("log-level-int", "[log]\nlevel = 3\n", "level", ()),
    ("port-too-big", "[amqp]\nport = 70000\n", "port", ("amqp_port",)),
    ("port-negative", "[amqp]\nport = -1\n", "port", ("amqp_port",)),
    ("http-port-too-big", "[http]\nport = 65536\n", "port", ("http_port",)),
    ("frame-max-below-4096", "[amqp]\nframe_max = 4095\n", "frame_max", ()),
    ("channel-max-too-big", "[amqp]\nchannel_max = 70000\n", "channel_max", ()),
    ("heartbeat-too-big", "[amqp]\nheartbeat = 70000\n", "heartbeat", ()),
    ("handshake-timeout-negative", "[amqp]\nhandshake_timeout = -5\n", "handshake_timeout",
     ()),
    ("max-message-size-too-big", "[amqp]\nmax_message_size = 1073741824\n",
     "max_message_size", ()),
    ("unknown-section", "[server]\nio_threads = 2\n", "server.io_threads", ()),
    ("log-level-unknown", '[log]\nlevel = "loud"\n', "loud", ()),
    ("log-format-unknown", '[log]\nformat = "xml"\n', "xml", ()),
    ("bind-not-an-address", '[amqp]\nbind = "not-an-ip"\n', "not-an-ip", ("bind",)),
]


@pytest.mark.parametrize("text,needle,about", [(t, n, a) for _, t, n, a in BAD_TOML],
                         ids=[i for i, _, _, _ in BAD_TOML])
def test_bad_config_file_exits_2_naming_the_problem(run_sluice, tmp_path, text, needle, about):
    cfg = write_config(tmp_path, text)
    r = run_sluice(["--config", cfg] + safe_args(tmp_path, skip=about), timeout=FAIL_FAST)
    assert r.returncode == EXIT_BAD_CONFIG, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr


def test_config_syntax_error_exits_2_naming_the_file(run_sluice, tmp_path):
    cfg = write_config(tmp_path, "[amqp\nport = 5672\n")
    r = run_sluice(["--config", cfg] + safe_args(tmp_path), timeout=FAIL_FAST)
    assert r.returncode == EXIT_BAD_CONFIG, (r.returncode, r.stderr)
    assert str(cfg) in r.stderr, r.stderr
    assert re.search(r"line\s*1\b", r.stderr), r.stderr


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_config_file_exits_2_naming_the_file(run_sluice, tmp_path, kind):
    # (chmod 000 proves nothing when the tests run as root, so a directory stands in for an
    # unreadable file.)
    cfg = tmp_path / "nope.toml"
    if kind == "directory":
        cfg.mkdir()
    r = run_sluice(["--config", cfg] + safe_args(tmp_path), timeout=FAIL_FAST)
    assert r.returncode == EXIT_BAD_CONFIG, (r.returncode, r.stderr)
    assert str(cfg) in r.stderr, r.stderr


def test_missing_config_from_environment_exits_2(run_sluice, tmp_path):
    cfg = tmp_path / "nope.toml"
    r = run_sluice(safe_args(tmp_path), env={"SLUICE_CONFIG": cfg}, timeout=FAIL_FAST)
    assert r.returncode == EXIT_BAD_CONFIG, (r.returncode, r.stderr)
    assert str(cfg) in r.stderr, r.stderr


@pytest.mark.parametrize("args,needle,about", [
    (["--amqp-port", "70000"], "70000", ("amqp_port",)),
    (["--amqp-port", "abc"], "abc", ("amqp_port",)),
    (["--frame-max", "100"], "100", ()),
    (["--channel-max", "-1"], "channel", ()),
    (["--heartbeat", "x"], "heartbeat", ()),
    (["--log-level", "loud"], "loud", ()),
    (["--log-format", "xml"], "xml", ()),
    (["--bind", "999.1.1.1"], "999.1.1.1", ("bind",)),
    (["--max-message-size", "0"], "max-message-size", ()),
    (["--no-such-flag"], "no-such-flag", ()),
], ids=["port-range", "port-text", "frame-max", "channel-max", "heartbeat", "log-level",
        "log-format", "bind", "max-message-size", "unknown-flag"])
def test_bad_flag_exits_2_naming_it(run_sluice, tmp_path, args, needle, about):
    r = run_sluice(args + safe_args(tmp_path, skip=about), timeout=FAIL_FAST)
    assert r.returncode == EXIT_BAD_CONFIG, (r.returncode, r.stderr)
    assert needle in r.stderr, r.stderr


@pytest.mark.parametrize("name,value", [
    ("SLUICE_AMQP_PORT", "notaport"), ("SLUICE_AMQP_PORT", "99999"),
    ("SLUICE_HEARTBEAT", "-1"), ("SLUICE_FRAME_MAX", "12"), ("SLUICE_CHANNEL_MAX", "1e3"),
    ("SLUICE_LOG_FORMAT", "xml"), ("SLUICE_LOG_LEVEL", "loud"), ("SLUICE_BIND", "nowhere"),
    ("SLUICE_MAX_MESSAGE_SIZE", "big"), ("SLUICE_HANDSHAKE_TIMEOUT", "soon"),
])
def test_bad_environment_variable_exits_2_naming_it(run_sluice, tmp_path, name, value):
    about = {"SLUICE_AMQP_PORT": ("amqp_port",), "SLUICE_BIND": ("bind",)}.get(name, ())
    r = run_sluice(safe_args(tmp_path, skip=about), env={name: value}, timeout=FAIL_FAST)
    assert r.returncode == EXIT_BAD_CONFIG, (r.returncode, r.stderr)
    assert name in r.stderr, r.stderr


# -------------------------------------------------------------------------------------------
# Configuration sources and precedence (TOML file < environment < flags)


def test_full_config_file_is_applied(start_broker, tmp_path):
    port, http = free_port(), free_port()
    data = tmp_path / "from-config"
    cfg = write_config(tmp_path, f"""
data_dir = "{data}"
[amqp]
bind = "127.0.0.1"
port = {port}
heartbeat = 30
frame_max = 65536
channel_max = 100
handshake_timeout = 5
max_message_size = 2097152
[http]
port = {http}
[log]
level = "debug"
format = "text"
""")
    b = start_broker(["--config", cfg], pass_ports=False, port=port, log_level=None)
    tune = tune_of(port)
    assert (tune.channel_max, tune.frame_max, tune.heartbeat) == (100, 65536, 30)
    assert data.is_dir()
    assert str(data) in b.log()


def test_empty_config_file_means_defaults(start_broker, tmp_path):
    cfg = write_config(tmp_path, "")
    b = start_broker(["--config", cfg])
    tune = tune_of(b.port)
    assert (tune.channel_max, tune.frame_max, tune.heartbeat) == (2047, 131072, 60)


@pytest.mark.parametrize("sources", [("file", "env", "flag"), ("file", "env"), ("file",)],
                         ids=["flag-wins", "env-beats-file", "file-only"])
def test_port_precedence(start_broker, tmp_path, sources):
    a, b_, c = free_port(), free_port(), free_port()
    cfg = write_config(tmp_path, f'[amqp]\nbind = "127.0.0.1"\nport = {a}\n')
    args = ["--config", cfg, "--data-dir", tmp_path / "data", "--http-port", free_port()]
    env = {}
    if "env" in sources:
        env["SLUICE_AMQP_PORT"] = b_
    if "flag" in sources:
        args += ["--amqp-port", c]
    expected = {"file": a, "env": b_, "flag": c}[sources[-1]]
    start_broker(args, env=env, pass_ports=False, port=expected)
    for other in {a, b_, c} - {expected}:
        assert not port_accepts(other), f"also listening on {other}"
    tune_of(expected)


@pytest.mark.parametrize("setting,key,env,flag,values", [
    ("frame_max", "frame_max", "SLUICE_FRAME_MAX", "--frame-max", (8192, 16384, 32768)),
    ("channel_max", "channel_max", "SLUICE_CHANNEL_MAX", "--channel-max", (10, 20, 30)),
    ("heartbeat", "heartbeat", "SLUICE_HEARTBEAT", "--heartbeat", (11, 22, 33)),
])
@pytest.mark.parametrize("sources", [("file", "env", "flag"), ("file", "env"), ("file",),
                                     ("env",), ("flag",)])
def test_limit_precedence_shows_in_connection_tune(start_broker, tmp_path, setting, key, env,
                                                   flag, values, sources):
    file_v, env_v, flag_v = values
    args = []
    environment = {}
    if "file" in sources:
        args += ["--config", write_config(tmp_path, f"[amqp]\n{key} = {file_v}\n")]
    if "env" in sources:
        environment[env] = env_v
    if "flag" in sources:
        args += [flag, flag_v]
    expected = {"file": file_v, "env": env_v, "flag": flag_v}[sources[-1]]
    b = start_broker(args, env=environment)
    assert getattr(tune_of(b.port), setting) == expected


def test_config_flag_beats_sluice_config_env(start_broker, tmp_path):
    from_env = write_config(tmp_path, "[amqp]\nchannel_max = 5\n", "env.toml")
    from_flag = write_config(tmp_path, "[amqp]\nchannel_max = 6\n", "flag.toml")
    b = start_broker(["--config", from_flag], env={"SLUICE_CONFIG": from_env})
    assert tune_of(b.port).channel_max == 6


def test_sluice_config_env_is_read(start_broker, tmp_path):
    cfg = write_config(tmp_path, "[amqp]\nchannel_max = 7\n")
    b = start_broker(env={"SLUICE_CONFIG": cfg})
    assert tune_of(b.port).channel_max == 7


def test_every_environment_variable_is_read(start_broker, tmp_path):
    port, http = free_port(), free_port()
    data = tmp_path / "env-data"
    env = {
        "SLUICE_DATA_DIR": data, "SLUICE_AMQP_PORT": port, "SLUICE_HTTP_PORT": http,
        "SLUICE_BIND": "127.0.0.1", "SLUICE_LOG_LEVEL": "info", "SLUICE_LOG_FORMAT": "json",
        "SLUICE_HEARTBEAT": 15, "SLUICE_FRAME_MAX": 65536, "SLUICE_CHANNEL_MAX": 99,
        "SLUICE_HANDSHAKE_TIMEOUT": 1, "SLUICE_MAX_MESSAGE_SIZE": 2097152,
    }
    b = start_broker(env=env, pass_ports=False, port=port, log_level=None)
    tune = tune_of(port)
    assert (tune.channel_max, tune.frame_max, tune.heartbeat) == (99, 65536, 15)
    assert data.is_dir()
    # SLUICE_LOG_FORMAT=json: every line parses.
    lines = [ln for ln in b.log().splitlines() if ln.strip()]
    assert lines and all(isinstance(json.loads(ln), dict) for ln in lines), b.log()
    # SLUICE_HANDSHAKE_TIMEOUT=1: a silent client is dropped.
    with raw.RawConnection(port) as c:
        c.wait_closed(6.0)


def test_serves_many_connections_at_once(start_broker, assert_healthy):
    b = start_broker()
    conns = [raw.RawConnection(b.port) for _ in range(6)]
    try:
        for i, c in enumerate(conns):
            c.handshake()
            c.open_channel(1 + i)
        for c in conns:
            c.close_cleanly()
    finally:
        for c in conns:
            c.close()
    assert_healthy(b.port)


# -------------------------------------------------------------------------------------------
# Start-up failures and start-up log


def test_port_in_use_exits_1_naming_address_and_port(run_sluice, tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        r = run_sluice(["--bind", "127.0.0.1", "--amqp-port", port, "--http-port", free_port(),
                        "--data-dir", tmp_path / "data"], timeout=FAIL_FAST)
    assert r.returncode == EXIT_STARTUP_FAILURE, (r.returncode, r.stderr)
    assert str(port) in r.stderr, r.stderr
    assert "127.0.0.1" in r.stderr, r.stderr


def test_second_broker_on_same_port_fails_and_first_keeps_serving(start_broker, run_sluice,
                                                                   tmp_path, assert_healthy):
    first = start_broker()
    r = run_sluice(["--bind", "127.0.0.1", "--amqp-port", first.port, "--http-port",
                    free_port(), "--data-dir", tmp_path / "second"], timeout=FAIL_FAST)
    assert r.returncode == EXIT_STARTUP_FAILURE, (r.returncode, r.stderr)
    assert str(first.port) in r.stderr
    assert first.running
    assert_healthy(first.port)


def test_startup_log_names_version_listener_data_dir_and_limits(start_broker, run_sluice):
    version = re.search(r"\d+\.\d+\.\d+", run_sluice(["--version"]).stdout).group(0)
    b = start_broker(["--frame-max", "65536", "--channel-max", "77"])
    log = b.log()
    assert version in log
    assert f"127.0.0.1:{b.port}" in log
    assert str(b.data_dir) in log
    assert "65536" in log and "77" in log
    # connection.start carries the same version.
    with raw.RawConnection(b.port) as c:
        hs = c.handshake()
        assert hs.start.server_properties["version"] == version
        c.close_cleanly()


def test_json_log_lines_parse(start_broker):
    import pika

    b = start_broker(["--log-format", "json"])
    conn = pika.BlockingConnection(pika_params(b.port))
    conn.channel()
    conn.close()
    assert b.stop() == 0
    lines = [ln for ln in b.log().splitlines() if ln.strip()]
    assert len(lines) >= 3, b.log()
    records = []
    for ln in lines:
        obj = json.loads(ln)
        assert isinstance(obj, dict), ln
        records.append(obj)
    for obj in records:
        assert any(k in obj for k in ("level", "lvl", "severity")), obj
        assert any(k in obj for k in ("msg", "message")), obj
    assert any(str(b.port) in json.dumps(obj) for obj in records)


def test_log_level_warn_suppresses_info_lines(start_broker):
    import pika

    b = start_broker(["--log-format", "json"], log_level="warn")
    conn = pika.BlockingConnection(pika_params(b.port))
    conn.channel()
    conn.close()
    assert b.stop() == 0
    for ln in b.log().splitlines():
        if ln.strip():
            level = json.loads(ln).get("level", "")
            assert level in ("warn", "warning", "error", "critical"), ln


# -------------------------------------------------------------------------------------------
# Shutdown


def test_sigterm_closes_pika_client_with_320_and_exits_0(start_broker):
    import pika

    b = start_broker()
    conn = pika.BlockingConnection(pika_params(b.port, heartbeat=0))
    ch = conn.channel()
    assert ch.is_open
    b.send_signal(signal.SIGTERM)
    with pytest.raises(pika.exceptions.ConnectionClosedByBroker) as info:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            conn.process_data_events(time_limit=0.25)
    assert info.value.reply_code == 320
    # RabbitMQ 3.10's text: "CONNECTION_FORCED - broker forced connection closure with
    # reason 'shutdown'".
    assert info.value.reply_text.startswith("CONNECTION_FORCED - ")
    assert b.wait() == 0


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_shutdown_closes_every_connection_with_320(start_broker, sig):
    b = start_broker()
    conns = []
    try:
        for n in range(3):
            c = raw.RawConnection(b.port)
            c.handshake()
            for ch in range(1, n + 2):
                c.open_channel(ch)
            conns.append(c)
        b.send_signal(sig)
        for c in conns:
            info = c.expect_connection_close(timeout=10)
            assert info.reply_code == 320, info
            assert info.code_name == "CONNECTION_FORCED", info
            c.wait_closed(10)
    finally:
        for c in conns:
            c.close()
    assert b.wait() == 0
    assert not port_accepts(b.port)


def test_shutdown_does_not_wait_forever_for_close_ok(start_broker):
    b = start_broker()
    with raw.RawConnection(b.port) as c:
        c.handshake()
        b.send_signal(signal.SIGTERM)
        # Never answer close-ok: the broker still has to exit, and cleanly.
        info = c.expect_connection_close(timeout=10, send_close_ok=False)
        assert info.reply_code == 320
        assert b.wait(timeout=15) == 0


def test_shutdown_with_clients_mid_handshake(start_broker):
    b = start_broker()
    silent = raw.RawConnection(b.port)
    header_only = raw.RawConnection(b.port)
    header_only.send_protocol_header()
    header_only.read_start()
    try:
        b.send_signal(signal.SIGTERM)
        assert b.wait() == 0
        silent.wait_closed(5)
        header_only.wait_closed(5)
    finally:
        silent.close()
        header_only.close()


def test_shutdown_of_idle_broker_exits_0(start_broker):
    b = start_broker()
    assert b.stop(signal.SIGINT) == 0
    assert "shut" in b.log().lower() or "stop" in b.log().lower()
