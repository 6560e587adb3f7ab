"""A local single-node Apache Kafka (KRaft) for development, tests and the demo.

Jars come from Maven Central through `mvn` and a small pom (tools/kafka/pom.xml), cached
under ~/.cache/survey-streams/. The broker runs as a combined broker+controller with a
bounded heap; its pid, config, data and log live in one directory (default var/kafka).
"""
from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "tools" / "kafka" / "pom.xml"
CACHE_ROOT = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "survey-streams"
HEAP = os.environ.get("STREAMS_KAFKA_HEAP", "768m")
START_TIMEOUT_S = 90


class LocalKafkaError(RuntimeError):
    """A one-line, actionable reason the local broker cannot be started or stopped."""


def kafka_version() -> str:
    match = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    if not match:
        raise LocalKafkaError(f"{POM} has no <kafka.version>")
    return match.group(1)


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def resolve_jars() -> Path:
    """The broker's classpath directory, resolving it with mvn the first time."""
    version = kafka_version()
    libs = CACHE_ROOT / f"kafka-{version}" / "libs"
    if (libs / ".complete").exists():
        return libs
    if not POM.exists():
        raise LocalKafkaError(f"{POM} is missing: run from a checkout of survey-streams")
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError("mvn not found: install Apache Maven (e.g. `apt-get install maven`) to resolve the Kafka jars")
    staging = libs.with_name("libs.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    _say(f"Resolving Apache Kafka {version} jars from Maven Central (first time only) ...")
    command = [mvn, "-B", "-f", str(POM), "dependency:copy-dependencies",
               f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
    started, downloaded, tail = time.monotonic(), 0, []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            tail = (tail + [line.rstrip()])[-20:]
            if "Downloaded from" in line:
                downloaded += 1
                if downloaded % 10 == 0:
                    _say(f"  ... {downloaded} artifacts downloaded ({time.monotonic() - started:.0f}s)")
    if proc.returncode != 0:
        log = staging.parent / "mvn.log"
        log.write_text("\n".join(tail))
        raise LocalKafkaError(f"mvn could not resolve the Kafka jars (exit {proc.returncode}); last lines in {log}")
    jars = list(staging.glob("*.jar"))
    shutil.rmtree(libs, ignore_errors=True)
    staging.rename(libs)
    (libs / ".complete").write_text(version)
    _say(f"  {len(jars)} jars in {libs} ({time.monotonic() - started:.1f}s)")
    return libs


@dataclass(frozen=True)
class BrokerDir:
    root: Path

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"

    @property
    def properties(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.yaml"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        return self.root / "kafka.log"

    @property
    def address_file(self) -> Path:
        return self.root / "bootstrap"


LOG4J = """Configuration:
  Appenders:
    Console:
      name: STDOUT
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: WARN
      AppenderRef:
        - ref: STDOUT
    Logger:
      - name: kafka.server.KafkaRaftServer
        level: INFO
      - name: kafka.server.BrokerServer
        level: INFO
"""


def _server_properties(d: BrokerDir, port: int, controller_port: int) -> str:
    # Small internal topics and no initial rebalance delay: a dev broker that starts and
    # forms groups in seconds. Replication factors are 1 because there is one node.
    return f"""process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={d.data}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=8
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=8
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=168
"""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _our_pid(d: BrokerDir) -> int | None:
    """The pid of the broker this directory started, if it still runs (and is that broker)."""
    try:
        pid = int(d.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    if not _pid_alive(pid):
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return pid
    # A recycled pid must not be mistaken for our broker.
    return pid if str(d.properties) in cmdline and "kafka.Kafka" in cmdline else None


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def new_cluster_id() -> str:
    """A KRaft cluster id as `kafka-storage random-uuid` prints it (a UUID, base64url without
    padding), made here rather than by one more JVM start."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def answers(address: str, timeout_s: float = 5.0) -> bool:
    """True when a Kafka client gets cluster metadata from `address`."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=address, request_timeout_ms=int(timeout_s * 1000),
                                 client_id="survey-streams-probe")
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()


def _check_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise LocalKafkaError("java not found: install a JDK 17+ (e.g. `apt-get install openjdk-17-jre-headless`)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)', out)
    if match and int(match.group(1)) < 17:
        raise LocalKafkaError(f"Kafka 4 needs Java 17 or newer; `java -version` says {match.group(1)}")
    return java


def _last_error(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        if "ERROR" in line or "Exception" in line:
            return line.strip()[:300]
    return lines[-1].strip()[:300] if lines else ""


def up(port: int = 9092, controller_port: int = 9093, directory: str | Path = "var/kafka") -> str:
    """Start the broker (no-op if this directory's broker runs); returns the bootstrap address."""
    d = BrokerDir(Path(directory).resolve())
    address = f"127.0.0.1:{port}"
    pid = _our_pid(d)
    if pid is not None:
        running = d.address_file.read_text().strip() if d.address_file.exists() else address
        _say(f"Kafka already running (pid {pid}) at {running}")
        return running
    java = _check_java()
    for p, flag in ((port, "--port"), (controller_port, "--controller-port")):
        if not port_free(p):
            raise LocalKafkaError(f"port {p} is in use: stop what listens there or pass {flag} (log: {d.log})")
    libs = resolve_jars()
    classpath = f"{libs}/*"
    d.root.mkdir(parents=True, exist_ok=True)
    d.properties.write_text(_server_properties(d, port, controller_port))
    d.log4j.write_text(LOG4J)
    if not (d.data / "meta.properties").exists():
        cluster_id = new_cluster_id()
        formatted = subprocess.run([java, "-cp", classpath, "kafka.tools.StorageTool", "format", "-t", cluster_id,
                                    "-c", str(d.properties)], capture_output=True, text=True)
        if formatted.returncode != 0:
            d.log.write_text(formatted.stdout + formatted.stderr)
            raise LocalKafkaError(f"formatting KRaft storage failed; see {d.log}")
    started = time.monotonic()
    with open(d.log, "ab") as log:
        proc = subprocess.Popen(
            [java, f"-Xms{HEAP}", f"-Xmx{HEAP}", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
             "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={d.log4j}",
             "-cp", classpath, "kafka.Kafka", str(d.properties)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    d.pid_file.write_text(str(proc.pid))
    d.address_file.write_text(address)
    while True:
        if proc.poll() is not None:
            d.pid_file.unlink(missing_ok=True)
            raise LocalKafkaError(f"Kafka exited at start (code {proc.returncode}): {_last_error(d.log)} — log: {d.log}")
        # A metadata probe costs a client's start-up: ask only once the port listens.
        if _listening(port) and answers(address, timeout_s=2.0):
            break
        if time.monotonic() - started > START_TIMEOUT_S:
            _stop_pid(proc.pid)
            raise LocalKafkaError(f"Kafka did not answer within {START_TIMEOUT_S}s; log: {d.log}")
        time.sleep(0.3)
    _say(f"Kafka {kafka_version()} up at {address} in {time.monotonic() - started:.1f}s (pid {proc.pid}, log {d.log})")
    return address


def _stop_pid(pid: int, timeout_s: float = 30.0) -> None:
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _pid_alive(pid):
            return
        try:  # reap it if it is our child
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def down(directory: str | Path = "var/kafka") -> bool:
    """Stop the broker this directory started; True if one was running."""
    d = BrokerDir(Path(directory).resolve())
    pid = _our_pid(d)
    if pid is None:
        d.pid_file.unlink(missing_ok=True)
        _say("Kafka is not running (nothing started from this directory)")
        return False
    _stop_pid(pid)
    d.pid_file.unlink(missing_ok=True)
    _say(f"Kafka stopped (pid {pid})")
    return True


def status(directory: str | Path = "var/kafka") -> bool:
    d = BrokerDir(Path(directory).resolve())
    pid = _our_pid(d)
    if pid is None:
        print("Kafka: not running")
        return False
    address = d.address_file.read_text().strip() if d.address_file.exists() else "?"
    print(f"Kafka: running (pid {pid}) at {address}, log {d.log}")
    return True
