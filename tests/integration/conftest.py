"""Fixtures that start the real Sluice binary for the integration tests.

By default every test that asks for `broker` gets its own Sluice process, started on free
loopback ports with a fresh data directory, and stopped with SIGTERM at teardown. Teardown
asserts that the process exited with code 0, so a crash or an unclean shutdown fails the test
that caused it, and the broker's log is attached to the report of any failed test.

Environment:
  SLUICE_BIN          the binary to start (default: <repo>/build/bin/sluice)
  SLUICE_TEST_TARGET  "sluice" (default) or "rabbitmq": run the client tests against an
                      already running broker instead; tests that need broker flags are skipped
  SLUICE_TEST_PORT    the AMQP port of that broker (default 5672)
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TARGET = os.environ.get("SLUICE_TEST_TARGET", "sluice").strip().lower() or "sluice"
ON_RABBITMQ = TARGET == "rabbitmq"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
LOG_TAIL_CHARS = 30000

if TARGET not in ("sluice", "rabbitmq"):
    raise pytest.UsageError(f"SLUICE_TEST_TARGET must be 'sluice' or 'rabbitmq', not {TARGET!r}")


def sluice_binary() -> Path:
    return Path(os.environ.get("SLUICE_BIN") or REPO_ROOT / "build" / "bin" / "sluice").resolve()


def _die_with_parent() -> None:
    """Runs in the child before exec: ask the kernel to SIGTERM the broker if pytest dies, so
    a killed test run (CI timeout) leaves no broker behind."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def broker_env(extra: dict | None = None) -> dict:
    """The environment for a broker process: ours minus every SLUICE_* variable, plus extra.

    Stripping SLUICE_* keeps a developer's shell settings (or SLUICE_BIN itself) from leaking
    into the configuration under test.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLUICE_")}
    env.update({k: str(v) for k, v in (extra or {}).items()})
    return env


class SluiceBroker:
    """One Sluice process. Its stdout and stderr go to files, so a chatty broker never blocks
    on a full pipe; log() reads the stderr file back."""

    def __init__(self, workdir: Path, index: int, extra_args=(), env=None,
                 pass_ports: bool = True, port: int | None = None, http_port: int | None = None,
                 data_dir: Path | None = None, log_level: str | None = "debug"):
        self.binary = sluice_binary()
        self.port = port if port is not None else free_port()
        self.http_port = http_port if http_port is not None else free_port()
        self.data_dir = data_dir if data_dir is not None else workdir / f"data-{index}"
        self.stderr_path = workdir / f"sluice-{index}.stderr"
        self.stdout_path = workdir / f"sluice-{index}.stdout"
        self.pass_ports = pass_ports
        self.extra_args = [str(a) for a in extra_args]
        self.env = broker_env(env)
        self.log_level = log_level
        self.proc: subprocess.Popen | None = None
        self._returncode: int | None = None
        self.start_failed = False  # start() already failed the test; teardown says no more

    @property
    def argv(self) -> list[str]:
        argv = [str(self.binary)]
        if self.pass_ports:
            argv += ["--bind", "127.0.0.1", "--amqp-port", str(self.port),
                     "--http-port", str(self.http_port), "--data-dir", str(self.data_dir)]
        if self.log_level:
            argv += ["--log-level", self.log_level]
        return argv + self.extra_args

    def start(self, wait: bool = True, timeout: float = START_TIMEOUT) -> "SluiceBroker":
        if not self.binary.exists():
            pytest.fail(f"broker binary {self.binary} does not exist (run `make build`, or set "
                        f"SLUICE_BIN)", pytrace=False)
        with open(self.stderr_path, "wb") as err, open(self.stdout_path, "wb") as out:
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=self.env, cwd=self.stderr_path.parent,
                                         preexec_fn=_die_with_parent)
        if wait:
            self.wait_ready(self.port, timeout)
        return self

    def wait_ready(self, port: int, timeout: float = START_TIMEOUT) -> None:
        """Waits until `port` accepts TCP; fails with the log if the broker exits first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.start_failed = True
                pytest.fail(f"broker exited with code {self.proc.returncode} during start-up:\n"
                            f"argv: {self.argv}\n{self.log()}", pytrace=False)
            if port_accepts(port):
                return
            time.sleep(0.05)
        self.start_failed = True
        pytest.fail(f"broker did not accept TCP on 127.0.0.1:{port} within {timeout} s:\n"
                    f"argv: {self.argv}\n{self.log()}", pytrace=False)

    def log(self) -> str:
        """Everything the broker wrote to stderr so far."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self) -> str:
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig: int) -> None:
        if self.running:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Waits for the process to exit; a broker that hangs is killed and reported as -9."""
        if self._returncode is not None:
            return self._returncode
        try:
            self._returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
            self._returncode = -signal.SIGKILL
            with open(self.stderr_path, "a") as f:
                f.write(f"\n[conftest] broker still running {timeout} s after the stop "
                        f"signal; killed\n")
        return self._returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Sends sig (once), waits, returns the exit code (negative: killed by a signal)."""
        if self.proc is None:
            return 0
        if self._returncode is None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait(timeout)


def sanitized_build() -> bool:
    """True for an AddressSanitizer build, whose quarantine keeps freed memory resident."""
    out = subprocess.run([str(sluice_binary()), "--version"], capture_output=True, text=True,
                         timeout=10).stdout
    return "AddressSanitizer" in out


def _kill(self) -> None:
    """SIGKILL, as a crash would stop it; teardown then expects no clean exit from it."""
    self.stop(signal.SIGKILL)
    self.proc = None


SluiceBroker.kill = _kill


class ExternalBroker:
    """An already running broker (RabbitMQ as the oracle). It cannot be stopped or inspected."""

    def __init__(self, port: int):
        self.port = port
        self.http_port = None
        self.proc = None
        self.data_dir = None

    def log(self) -> str:
        return "(external broker: see its own log files)"

    def stop(self, *a, **kw) -> int:
        raise RuntimeError("an external broker cannot be stopped by the tests")


# -------------------------------------------------------------------------------------------
# pytest hooks


_BROKERS_KEY = pytest.StashKey[list]()


def pytest_configure(config):
    config.addinivalue_line("markers", "sluice_only: needs to start Sluice itself (skipped "
                                       "when SLUICE_TEST_TARGET=rabbitmq)")
    # Every test is bounded even when pytest is run by hand without --timeout.
    if config.pluginmanager.hasplugin("timeout") and not getattr(config.option, "timeout", 0):
        config.option.timeout = 120


def pytest_report_header(config):
    if ON_RABBITMQ:
        return f"broker: external RabbitMQ on 127.0.0.1:{os.environ.get('SLUICE_TEST_PORT', 5672)}"
    return f"broker: {sluice_binary()}"


def pytest_collection_modifyitems(config, items):
    if not ON_RABBITMQ:
        return
    skip = pytest.mark.skip(reason="needs to start Sluice with its own flags; "
                                   "SLUICE_TEST_TARGET=rabbitmq")
    for item in items:
        if "sluice_only" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if not rep.failed:
        return
    for b in item.stash.get(_BROKERS_KEY, []):
        text = b.log()
        if len(text) > LOG_TAIL_CHARS:
            text = "[... cut ...]\n" + text[-LOG_TAIL_CHARS:]
        rc = b._returncode if b._returncode is not None else (b.proc and b.proc.poll())
        rep.sections.append((f"sluice {b.stderr_path.name} (port {b.port}, exit {rc})", text))


# -------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def start_broker(request, tmp_path):
    """Factory: start_broker(extra_args=[...], env={...}, ...) starts a Sluice process.

    Keywords go to SluiceBroker: pass_ports=False leaves out --bind/--amqp-port/--http-port/
    --data-dir (then give port= for the port it is expected to listen on), wait=False returns
    without waiting for the port. At teardown every broker still running gets SIGTERM, and
    each must have exited with code 0.
    """
    if ON_RABBITMQ:
        pytest.skip("needs to start Sluice with its own flags; SLUICE_TEST_TARGET=rabbitmq")
    brokers: list[SluiceBroker] = []
    request.node.stash[_BROKERS_KEY] = brokers

    def start(extra_args=(), env=None, wait=True, timeout=START_TIMEOUT, **kw) -> SluiceBroker:
        b = SluiceBroker(tmp_path, len(brokers), extra_args=extra_args, env=env, **kw)
        brokers.append(b)
        return b.start(wait=wait, timeout=timeout)

    yield start

    failures = []
    for b in brokers:
        if b.proc is None:
            continue
        rc = b.stop()
        if rc != 0 and not b.start_failed:
            failures.append(f"broker on port {b.port} exited with code {rc} (expected 0)")
    if failures:
        pytest.fail("; ".join(failures), pytrace=False)


@pytest.fixture
def broker(request):
    """A broker for client tests: a fresh Sluice, or the external one on the oracle run."""
    if ON_RABBITMQ:
        return ExternalBroker(int(os.environ.get("SLUICE_TEST_PORT", "5672")))
    return request.getfixturevalue("start_broker")()


@pytest.fixture
def run_sluice(tmp_path):
    """Runs the binary to completion: run_sluice(args, env=None, timeout=10) -> CompletedProcess.

    For --help, --version and start-ups that must fail. A process still running at the
    timeout is killed and the test fails: a bad configuration must not start a broker.
    """
    if ON_RABBITMQ:
        pytest.skip("needs the Sluice binary; SLUICE_TEST_TARGET=rabbitmq")

    def run(args, env=None, timeout=10.0) -> subprocess.CompletedProcess:
        argv = [str(sluice_binary())] + [str(a) for a in args]
        if not Path(argv[0]).exists():
            pytest.fail(f"broker binary {argv[0]} does not exist (run `make build`)",
                        pytrace=False)
        try:
            return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                  text=True, errors="replace", env=broker_env(env),
                                  cwd=tmp_path, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        pytest.fail(f"{argv} still running after {timeout} s (killed); stderr:\n{err}",
                    pytrace=False)

    return run


@pytest.fixture
def on_rabbitmq() -> bool:
    return ON_RABBITMQ


def pika_params(port: int, **kw):
    import pika

    kw.setdefault("credentials", pika.PlainCredentials("guest", "guest"))
    kw.setdefault("connection_attempts", 1)
    kw.setdefault("socket_timeout", 5)
    kw.setdefault("stack_timeout", 10)
    kw.setdefault("blocked_connection_timeout", 10)
    return pika.ConnectionParameters(host="127.0.0.1", port=port, **kw)


@pytest.fixture
def assert_healthy():
    """assert_healthy(port): a fresh pika connection can open and close a channel."""

    def check(port: int) -> None:
        import pika

        conn = pika.BlockingConnection(pika_params(port))
        try:
            ch = conn.channel()
            assert ch.is_open
            ch.close()
        finally:
            conn.close()
        assert conn.is_closed

    return check
