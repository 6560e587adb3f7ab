"""`python -m streams.demo [--keep] [--port N]` (`make demo`): the whole story on one machine.

1. Kafka: uses KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092) when a broker answers
   there, else starts a local one (streams.localkafka, ports 9092/9093, var/kafka).
2. Creates the topics, starts one worker (`python -m streams worker`, state in
   var/demo-data, log in var/demo/worker.log, bridge on port 6066 or a free one).
3. Replays data/sample/segment-events.jsonl through the Segment-compatible ingestion API
   (POST /v1/batch, write key `demo-key`). The file's times are shifted by one offset so
   that its latest `timestamp` lands one minute before now (see `shift_times` and
   data/sample/generate.py), which keeps account ages and trigger windows as generated.
4. Waits until the worker has processed everything (its consumer group has no lag).
5. Runs scripted widget sessions, each on the display GET /v1/eligibility/{userId} hands
   out. Today's go through the bridge as the widget would (shown / answered / closed /
   submitted on POST /v1/widget/events). Earlier ones, dated over the last week so that
   the scores report has a trend to show, cannot: the worker dates a widget event no
   earlier than its receipt minus the display's lifetime. They are imported as an operator
   with cluster access would, straight onto the lifecycle topic with `receivedAt` and
   `timestamp` at the past instant.
6. Prints decisions by reason, lifecycle events, responses, the dead letter and the
   scores report, and draws the chart into var/demo/scores.png.

By default it then stops what it started (the worker; the broker only if it started it),
also on Ctrl-C or an error. With --keep both stay up so you can answer a survey yourself
on the example page. Output topics are shared with earlier runs on the same cluster: the
lifecycle events, responses and dead letter shown are this run's (read from the offsets
at its start); decisions are each user's latest; scores are the topic's.
"""
from __future__ import annotations

import argparse
import base64
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import orjson

from .httpjson import request as http
from . import localkafka, report, topics as names
from .config import Config, load_config
from .settings import Settings
from .timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, iso, parse_iso

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample" / "segment-events.jsonl"
VAR = REPO / "var"
DEMO_DIR = VAR / "demo"
DATA_DIR = VAR / "demo-data"
KAFKA_DIR = VAR / "kafka"
KAFKA_PORT, CONTROLLER_PORT = 9092, 9093
WRITE_KEY = "demo-key"
ADMIN_KEY = "demo-admin"
DEFAULT_PORT = 6066
BATCH_SIZE = 200  # messages per POST /v1/batch, ~70 KB: well under the 500 KB limit
REPLAY_LEAD_MS = MINUTE_MS  # the latest sample event lands this long before now
SETTLE_TIMEOUT_S = 120.0
WORKER_START_TIMEOUT_S = 120.0

# Scripted widget sessions per survey type: (days ago, action, score, comment). Actions:
# "complete" (score, comment, submitted), "answer_close" (score, then closed without the
# comment: Completed all the same), "dismiss" (closed without answering: Dismissed).
# For pmf the score is an index into the question's choices.
SCRIPTS = {
    "nps": [
        (6, "complete", 10, "Reports that took me a day now take ten minutes."),
        (6, "complete", 7, "Solid, but the dashboard gets slow on big projects."),
        (5, "complete", 9, "The Slack integration keeps the whole team in the loop."),
        (5, "dismiss", None, None),
        (4, "complete", 3, "Exports break when a report has more than a few thousand rows."),
        (4, "complete", 9, "Support answered within the hour."),
        (3, "complete", 8, "Does what we need; per-seat pricing hurts as we grow."),
        (3, "answer_close", 6, None),
        (2, "complete", 10, "Our board meetings run on these reports now."),
        (2, "dismiss", None, None),
        (1, "complete", 0, "Lost a week of data after the last import."),
        (1, "complete", 9, "Cohort reports are exactly what we were missing."),
        (0, "complete", 10, "Love the new funnel template!"),
        (0, "complete", 5, "Too many clicks to share a report with a client."),
        (0, "dismiss", None, None),
    ],
    "csat": [
        (1, "complete", 5, "The PDF looks exactly like the screen."),
        (1, "complete", 4, "CSV is fine; let me pick the columns."),
        (0, "complete", 2, "The PDF cut off my wide table."),
        (0, "answer_close", 5, None),
        (0, "dismiss", None, None),
    ],
    "ces": [
        (2, "complete", 6, "Found it right away."),
        (1, "complete", 3, "Took a while to find the setting."),
        (0, "dismiss", None, None),
    ],
    "pmf": [
        (2, "complete", 0, "It is our single source of truth."),
        (1, "complete", 1, "We could live with spreadsheets, barely."),
        (0, "dismiss", None, None),
    ],
}
CLICK_SPACING_MS = 4 * SECOND_MS  # between the events of an imported session
FIRST_SESSION_HOUR = 9  # UTC: imported sessions of a day start at 09:00, one an hour


# What a reason on the decisions topic means in this demo's data.
REASON_NOTES = {
    "awaiting_trigger": "  (the highest-priority survey, {top}, waits for its trigger event)",
    "not_identified": "  (ids folded into another user by an alias)",
    "too_new": "  (account younger than min_days_since_signup)",
}


class DemoError(RuntimeError):
    """A step failed; the message says what to do."""


# ---------------------------------------------------------------- output


class Console:
    def __init__(self) -> None:
        self.started = time.monotonic()
        self.tty = sys.stdout.isatty()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, message: str) -> None:
        print(f"[{self.elapsed():5.1f}s] {message}", flush=True)

    def note(self, message: str) -> None:
        print(f"         {message}", flush=True)

    def progress(self, label: str, done: int, total: int, last: list) -> None:
        """A bar redrawn in place on a terminal; a line every 25% otherwise."""
        if self.tty:
            width = 30
            filled = width * done // max(total, 1)
            end = "\n" if done >= total else ""
            print(f"\r         {label} [{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end=end, flush=True)
            return
        quarter = 4 * done // max(total, 1)
        if quarter > last[0] or done >= total:
            last[0] = quarter
            print(f"         {label}: {done}/{total}", flush=True)


def heading(title: str) -> None:
    print(f"\n{title}\n{'-' * len(title)}")


# ---------------------------------------------------------------- HTTP


def basic_auth(write_key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def reachable(address: str, timeout_s: float = 1.0) -> bool:
    """Whether something accepts TCP connections at any host:port of a bootstrap list."""
    for server in address.split(","):
        host, _, port = server.strip().rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
                return True
        except (OSError, ValueError):
            continue
    return False


# ---------------------------------------------------------------- sample stream


def load_sample(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as lines:
        return [orjson.loads(line) for line in lines if line.strip()]


def _shift_created_at(value, shift_ms: int):
    """createdAt shifted in the form it has: ISO date-time, ISO date, epoch s or ms."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10 and parse_iso(text) is not None:  # a date only: whole days
            return (date.fromisoformat(text) + timedelta(days=round(shift_ms / DAY_MS))).isoformat()
        parsed = parse_iso(text)
        if parsed is not None:
            return iso(parsed + shift_ms)
        if text.lstrip("-").isdigit():
            return str(_shift_epoch(int(text), shift_ms))
        return value  # unparseable: left as it is, like the worker does
    if isinstance(value, (int, float)):
        return _shift_epoch(int(value), shift_ms)
    return value


def _shift_epoch(number: int, shift_ms: int) -> int:
    # The worker's rule (streams.timeutil): below 1e11 it is seconds, else milliseconds.
    return number + (shift_ms if abs(number) >= 100_000_000_000 else round(shift_ms / SECOND_MS))


def shift_times(messages: list[dict], now_ms: int) -> tuple[list[dict], int]:
    """The messages with every time moved so that the latest `timestamp` is now - 1 minute.

    Shifted: `timestamp`, `originalTimestamp`, `sentAt` (an unparseable one is left for the
    dead letter) and `createdAt` in `traits` and `context.traits`. `receivedAt` is dropped:
    the ingestion API sets it. Returns (messages, shift in ms).
    """
    times = [t for t in (parse_iso(m.get("timestamp")) for m in messages) if t is not None]
    if not times:
        return messages, 0
    shift = now_ms - REPLAY_LEAD_MS - max(times)
    shifted = []
    for message in messages:
        message = dict(message)
        message.pop("receivedAt", None)
        for field in ("timestamp", "originalTimestamp", "sentAt"):
            parsed = parse_iso(message.get(field))
            if parsed is not None:
                message[field] = iso(parsed + shift)
        for holder in (message, message.get("context")):
            traits = holder.get("traits") if isinstance(holder, dict) else None
            if isinstance(traits, dict) and "createdAt" in traits:
                holder["traits"] = {**traits, "createdAt": _shift_created_at(traits["createdAt"], shift)}
        shifted.append(message)
    return shifted, shift


def describe_sample(messages: list[dict]) -> str:
    users = {m["userId"] for m in messages if isinstance(m.get("userId"), str) and m.get("type") == "identify"}
    anonymous = {m["anonymousId"] for m in messages if m.get("anonymousId") and not m.get("userId")}
    kinds = Counter(m.get("type") for m in messages)
    parts = ", ".join(f"{kinds[k]} {k}" for k in ("identify", "track", "page", "group", "alias") if kinds[k])
    return f"{len(messages)} messages ({parts}), {len(users)} identified users, {len(anonymous)} anonymous ids"


# ---------------------------------------------------------------- Kafka reads


def _consumer(bootstrap: str):
    from kafka import KafkaConsumer

    return KafkaConsumer(bootstrap_servers=[s.strip() for s in bootstrap.split(",") if s.strip()],
                         group_id=None, enable_auto_commit=False, isolation_level="read_committed",
                         client_id="survey-streams-demo")


def end_offsets(bootstrap: str, topics: list[str]) -> dict:
    """{TopicPartition: end offset} of every partition of `topics`."""
    from kafka import TopicPartition

    consumer = _consumer(bootstrap)
    try:
        tps = [TopicPartition(t, p) for t in topics for p in sorted(consumer.partitions_for_topic(t) or ())]
        return dict(consumer.end_offsets(tps)) if tps else {}
    finally:
        consumer.close()


def read_topic(bootstrap: str, topic: str, since: dict | None = None, timeout_s: float = 30.0) -> list[tuple]:
    """(key, value) of every JSON record of `topic` from `since` (else the start) to its end now."""
    from kafka import TopicPartition

    consumer = _consumer(bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            return []
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        consumer.seek_to_beginning(*tps)
        for tp in tps:
            if since and since.get(tp):
                consumer.seek(tp, since[tp])
        records, deadline = [], time.monotonic() + timeout_s
        pending = [tp for tp in tps if consumer.position(tp) < end[tp]]
        while pending and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500).values():
                for message in batch:
                    if message.offset >= end[TopicPartition(message.topic, message.partition)]:
                        continue
                    try:
                        value = orjson.loads(message.value)
                    except (TypeError, ValueError):
                        continue
                    records.append((message.key.decode("utf-8", "replace") if message.key else None, value))
            pending = [tp for tp in pending if consumer.position(tp) < end[tp]]
        return records
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str) -> dict:
    """{TopicPartition: committed offset} of a consumer group (kafka-python 2.x and 3.x)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="survey-streams-demo")
    try:
        if hasattr(admin, "list_group_offsets"):  # kafka-python >= 3
            offsets = admin.list_group_offsets({group: None}).get(group, {})
        else:
            offsets = admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items() if meta.offset is not None and meta.offset >= 0}
    finally:
        admin.close()


def cluster_id(bootstrap: str) -> str | None:
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="survey-streams-demo")
    try:
        return admin.describe_cluster().get("cluster_id")
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, records: list[tuple[str, dict]]) -> None:
    """Write (key, JSON value) records onto `topic` and wait until the broker has them all.

    The default partitioner (murmur2, as Java's and the worker's) puts each user's records
    on the user's partition, in the order given. Raises if the broker refused one.
    """
    from kafka import KafkaProducer

    # One request in flight: a retried batch cannot overtake the next, so order holds. The
    # linger sends each partition's records as one batch, so the worker reads a user's
    # records together (an imported display is past its timeout: the worker's timer must
    # not end it between its events).
    producer = KafkaProducer(bootstrap_servers=[s.strip() for s in bootstrap.split(",") if s.strip()], acks="all",
                             client_id="survey-streams-demo", max_in_flight_requests_per_connection=1,
                             linger_ms=100, batch_size=256 * 1024)
    try:
        sent = [producer.send(topic, key=key.encode("utf-8"), value=orjson.dumps(value)) for key, value in records]
        producer.flush(timeout=30)
        for delivery in sent:
            delivery.get(timeout=1)  # raises the error of a record the broker did not take
    finally:
        producer.close(timeout=10)


# ---------------------------------------------------------------- the demo


class Demo:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.out = Console()
        self.settings = Settings.from_env()
        self.config: Config = load_config(self.settings.config_path)
        self.bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or ""
        self.started_broker = False
        self.worker: subprocess.Popen | None = None
        self.worker_log = DEMO_DIR / "worker.log"
        self.port = args.port
        self.url = ""
        self.start_offsets: dict = {}
        self.expected: Counter = Counter()
        self.example_users: dict[str, str] = {}

    def topic(self, logical: str) -> str:
        return self.config.topics[logical]

    # -------------------------------------------------------- set-up

    def kafka(self) -> None:
        wanted = self.bootstrap or localkafka_address()
        if reachable(wanted) and localkafka.answers(wanted, timeout_s=5.0):
            self.bootstrap = wanted
            where = "KAFKA_BOOTSTRAP_SERVERS" if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") else "already running"
            self.out.step(f"Kafka: using the broker at {wanted} ({where})")
            return
        if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            self.out.step(f"Kafka: nothing answers at KAFKA_BOOTSTRAP_SERVERS={wanted}; starting a local broker")
        else:
            self.out.step("Kafka: no broker at 127.0.0.1:9092; starting a local one (Apache Kafka, KRaft)")
        self.started_broker = localkafka._our_pid(localkafka.BrokerDir(KAFKA_DIR.resolve())) is None
        try:
            self.bootstrap = localkafka.up(KAFKA_PORT, CONTROLLER_PORT, KAFKA_DIR)
        except localkafka.LocalKafkaError as error:
            self.started_broker = False
            raise DemoError(str(error)) from None
        self.out.note(f"broker at {self.bootstrap}, data in {rel(KAFKA_DIR)}")

    def topics(self) -> None:
        from .admin import create_topics

        # The worker's local state belongs to one cluster: start it afresh on another.
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        marker, current = DEMO_DIR / "cluster-id", cluster_id(self.bootstrap) or "?"
        if marker.exists() and marker.read_text().strip() != current and DATA_DIR.exists():
            shutil.rmtree(DATA_DIR)
            self.out.note(f"another cluster than last time: cleared {rel(DATA_DIR)}")
        marker.write_text(current)
        created = create_topics(self.bootstrap, self.config, quiet=True)
        total = len(names.ALL)
        self.out.step(f"topics: {len(created)} created, {total - len(created)} already there "
                      f"({self.config.project.partitions} partitions each)")
        self.start_offsets = end_offsets(self.bootstrap, [self.topic(t) for t in (
            names.ELIGIBILITY, names.OUTBOUND, names.RESPONSES, names.SCORES, names.DEADLETTER)])

    def start_worker(self) -> None:
        self._stop_previous_worker()
        if self.port is None:
            self.port = DEFAULT_PORT if localkafka.port_free(DEFAULT_PORT) else localkafka.free_port()
        elif not localkafka.port_free(self.port):
            raise DemoError(f"port {self.port} is in use: pass another --port")
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap, "STREAMS_DATA_DIR": str(DATA_DIR),
               "STREAMS_WRITE_KEYS": WRITE_KEY, "STREAMS_ADMIN_KEY": ADMIN_KEY,
               "STREAMS_WEB_HOST": "127.0.0.1", "STREAMS_WEB_PORT": str(self.port),
               "STREAMS_CONFIG": str(Path(self.settings.config_path).resolve())}
        env.pop("STREAMS_WIDGET_KEY", None)  # the example page and the sessions send no key
        env.pop("STREAMS_SECURE_SECRET", None)
        DEMO_DIR.mkdir(parents=True, exist_ok=True)
        with open(self.worker_log, "ab") as log:
            log.write(f"\n==== demo worker started {datetime.now(timezone.utc).isoformat()} ====\n".encode())
            log.flush()
            # Its own session: Ctrl-C reaches the demo only, which then stops the worker in order.
            self.worker = subprocess.Popen([sys.executable, "-m", "streams", "worker"], cwd=REPO, env=env,
                                           stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                           start_new_session=True)
        (DEMO_DIR / "worker.pid").write_text(str(self.worker.pid))
        self.out.step(f"worker starting (pid {self.worker.pid}, log {rel(self.worker_log)}) ...")
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.worker.poll() is not None:
                raise DemoError(f"the worker exited with code {self.worker.returncode}:\n{log_tail(self.worker_log)}")
            try:
                if http("GET", f"{self.url}/health", timeout=2)[0] == 200:
                    self.out.step(f"worker ready: bridge at {self.url}")
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise DemoError(f"the worker was not ready within {WORKER_START_TIMEOUT_S:.0f}s:\n{log_tail(self.worker_log)}")

    def _stop_previous_worker(self) -> None:
        """A worker an earlier `--keep` run left behind would share the partitions: stop it."""
        pid_file = DEMO_DIR / "worker.pid"
        try:
            pid = int(pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return
        if "streams\x00worker" not in cmdline:
            return
        self.out.step(f"stopping the demo worker an earlier --keep run left running (pid {pid})")
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.2)
        pid_file.unlink(missing_ok=True)

    # -------------------------------------------------------- replay

    def replay(self) -> None:
        raw = load_sample(self.args.sample)
        messages, shift = shift_times(raw, int(time.time() * 1000))
        self.out.step(f"replaying {rel(self.args.sample)}: {describe_sample(messages)}")
        self.out.note(f"times shifted by {shift / DAY_MS:+.1f} days so that the last event is a minute ago")
        started, last = time.monotonic(), [0]
        headers = basic_auth(WRITE_KEY)
        for offset in range(0, len(messages), BATCH_SIZE):
            batch = messages[offset:offset + BATCH_SIZE]
            status, body = http("POST", f"{self.url}/v1/batch", {"batch": batch}, headers, timeout=60)
            if status != 200:
                raise DemoError(f"POST /v1/batch answered {status}: {body}")
            self.out.progress("POST /v1/batch", offset + len(batch), len(messages), last)
        took = time.monotonic() - started
        self.out.step(f"replayed {len(messages)} messages in {took:.1f}s ({len(messages) / took:.0f}/s), "
                      f"{(len(messages) + BATCH_SIZE - 1) // BATCH_SIZE} batches")
        self.replayed = len(messages)

    def settle(self, what: str) -> None:
        """Wait until the worker's consumer group has read every input, twice in a row."""
        group = self.settings.app_id
        inputs = [self.topic(t) for t in (*names.INBOUND, names.LIFECYCLE, names.USER_COMMANDS, names.RESPONSES)]
        deadline, quiet, last = time.monotonic() + SETTLE_TIMEOUT_S, 0, [0]
        first_lag = None
        while time.monotonic() < deadline:
            ends = end_offsets(self.bootstrap, inputs)
            committed = committed_offsets(self.bootstrap, group)
            lag = sum(max(0, end - committed.get(tp, 0)) for tp, end in ends.items())
            first_lag = lag if first_lag is None else max(first_lag, lag)
            if lag:
                self.out.progress(f"worker catching up ({what})", first_lag - lag, first_lag, last)
            quiet = quiet + 1 if lag == 0 else 0
            if quiet >= 2:
                if first_lag:
                    self.out.progress(f"worker catching up ({what})", first_lag, first_lag, last)
                return
            time.sleep(0.5)
        raise DemoError(f"the worker had not caught up after {SETTLE_TIMEOUT_S:.0f}s; see {rel(self.worker_log)}")

    # -------------------------------------------------------- widget sessions

    def latest_decisions(self) -> dict[str, dict]:
        latest = {}
        for key, value in read_topic(self.bootstrap, self.topic(names.ELIGIBILITY)):
            user = value.get("userId") or key
            if user:
                latest[user] = value
        return latest

    def run_sessions(self) -> None:
        """Scripted widget sessions on the displays /v1/eligibility hands out.

        Today's go through the bridge as the widget would: one POST /v1/widget/events per
        click, with the display's id and token, no `timestamp` (the bridge stamps it). The
        earlier ones (days_ago > 0) cannot: the bridge stamps `receivedAt` now, and the
        worker dates a widget event no earlier than receivedAt - (display_token_minutes +
        display_timeout_minutes), so that a browser cannot move a response into a past
        day's score. They are imported as an operator with cluster access would import
        history: produced straight onto the lifecycle topic, keyed by userId, with
        `receivedAt` and `timestamp` at the past instant, and the display id and token from
        eligibility (the worker checks the token on every event).
        """
        decisions = self.latest_decisions()
        now = int(time.time() * 1000)
        by_survey: dict[str, list[str]] = defaultdict(list)
        for user, decision in sorted(decisions.items()):
            if decision.get("eligible") and decision.get("surveyId"):
                by_survey[decision["surveyId"]].append(user)
        rng = random.Random(7)
        through_bridge, imported, imported_days, history = 0, 0, set(), []
        for survey in self.config.surveys:
            candidates = by_survey.get(survey.id, [])
            rng.shuffle(candidates)
            script = list(SCRIPTS.get(survey.type, ()))
            done = 0
            for user in candidates:
                answer = eligible_display(self.url, user, survey.id)
                if answer is None:
                    continue
                if survey.id not in self.example_users:  # kept for the example page
                    self.example_users[survey.id] = user
                    continue
                if done >= len(script):
                    break
                days_ago, action, score, comment = script[done]
                events = session_events(user, answer["survey"], answer["display"], action, score, comment)
                if days_ago:
                    # History: the bridge would date it now, so it is imported as an operator
                    # would (see above).
                    history.extend((user, event) for event in backdated(events, past_instant(now, days_ago, done)))
                    imported += 1
                    imported_days.add(days_ago)
                else:
                    post_through_bridge(self.url, events)
                    through_bridge += 1
                if any(event["type"] == "answered" for event in events):  # Completed: one response
                    self.expected["responses"] += 1
                done += 1
            if done:
                self.out.note(f"{survey.id}: {done} sessions ({len(candidates)} eligible users)")
            elif script:
                self.out.note(f"{survey.id}: no eligible user right now, no session")
        if history:
            produce(self.bootstrap, self.topic(names.LIFECYCLE), history)
        self.out.step(f"drove {through_bridge} widget sessions through GET /v1/eligibility and POST /v1/widget/events")
        if imported:
            days = f"{min(imported_days)}-{max(imported_days)} days ago"
            self.out.note(f"imported {imported} earlier sessions ({days}) as an operator with cluster access would: "
                          f"onto {self.topic(names.LIFECYCLE)} keyed by userId, receivedAt and timestamp backdated")

    def wait_for_outputs(self) -> None:
        """Until this run's responses and scores are all on their topics (or 30 s)."""
        targets = {self.topic(names.RESPONSES): self.expected["responses"],
                   self.topic(names.SCORES): self.expected["responses"]}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ends = end_offsets(self.bootstrap, list(targets))
            grown = Counter()
            for tp, end in ends.items():
                grown[tp.topic] += end - self.start_offsets.get(tp, 0)
            if all(grown[topic] >= count for topic, count in targets.items()):
                return
            time.sleep(0.3)
        self.out.note("warning: not every response reached the topics within 30s")

    # -------------------------------------------------------- summary

    def since(self, logical: str) -> list[tuple]:
        return read_topic(self.bootstrap, self.topic(logical), self.start_offsets)

    def summary(self) -> None:
        metrics = self.metrics()
        heading("Ingestion")
        duplicates = metrics.get("survey_streams_duplicates_skipped_total", 0)
        print(f"  {self.replayed} Segment messages posted to /v1/batch; {metrics.get('survey_streams_deadlettered_total', 0):.0f} "
              f"dead-lettered, {duplicates:.0f} skipped as duplicates (messageId already handled within 24 h)")
        if duplicates > self.replayed / 2:
            print("  (this sample was replayed on this cluster less than 24 h ago: its messages are duplicates now,\n"
                  "   the users keep the state of that replay)")
        else:
            print("  (the sample holds a few Segment retries: the same message delivered twice)")

        decisions = self.latest_decisions()
        emitted = len(self.since(names.ELIGIBILITY))
        heading(f"Decisions ({self.topic(names.ELIGIBILITY)}: the latest of each of {len(decisions)} users; "
                f"{emitted} emitted this run)")
        reasons = Counter(d.get("reason") for d in decisions.values())
        active = [s for s in self.config.surveys if s.active]
        top = min(active, key=lambda s: (-s.priority, s.order)) if active else None
        eligible_by_survey = Counter(d.get("surveyId") for d in decisions.values() if d.get("eligible"))
        for reason, count in reasons.most_common():
            extra = ""
            if reason == "eligible":
                extra = "  (" + ", ".join(f"{s} {n}" for s, n in eligible_by_survey.most_common()) + ")"
            note = REASON_NOTES.get(reason, "").format(top=top.id if top else "?")
            print(f"  {reason:<22} {count:>5}{extra or note}")
        print("  (a user no survey takes gets the reason of the highest-priority active survey)")
        self.explain_summary(decisions)

        heading(f"Lifecycle events ({self.topic(names.OUTBOUND)}, this run)")
        outbound = [v for _, v in self.since(names.OUTBOUND)]
        tracks = Counter((v.get("event"), (v.get("properties") or {}).get("survey_id")) for v in outbound
                         if v.get("type") == "track")
        surveys = sorted({s for _, s in tracks})
        events = [e for e in ("Survey Viewed", "Survey Answered", "Survey Completed", "Survey Dismissed")
                  if any(k[0] == e for k in tracks)] + sorted({e for e, _ in tracks} - {
                      "Survey Viewed", "Survey Answered", "Survey Completed", "Survey Dismissed"})
        if not outbound:
            print("  none")
        for event in events:
            per = ", ".join(f"{s} {tracks[(event, s)]}" for s in surveys if tracks[(event, s)])
            print(f"  {event:<18} {sum(tracks[(event, s)] for s in surveys):>3}  ({per})")
        identifies = [v for v in outbound if v.get("type") == "identify"]
        if identifies:
            example = next((v for v in identifies if None not in (v.get("traits") or {}).values()), identifies[-1])
            print(f"  identify           {len(identifies):>3}  (e.g. {example['userId']}: "
                  f"{orjson.dumps(example.get('traits')).decode()})")

        responses = [v for _, v in self.since(names.RESPONSES)]
        heading(f"Responses ({self.topic(names.RESPONSES)}, this run: {len(responses)})")
        shown_responses, per_survey = [], Counter()
        for response in sorted(responses, key=lambda r: r.get("completedAt") or ""):
            if per_survey[response.get("surveyId")] < 4:
                per_survey[response.get("surveyId")] += 1
                shown_responses.append(response)
        for response in shown_responses:
            traits = response.get("traits") or {}
            company = traits.get("company")
            company = company.get("name") if isinstance(company, dict) else company
            about = " ".join(f"{k}={v}" for k, v in (("plan", traits.get("plan")), ("mrr", traits.get("mrr")),
                                                      ("seats", traits.get("seats")), ("company", company)) if v is not None)
            comment = response.get("comment")
            comment = f'"{comment}"' if comment else "(no comment)"
            print(f"  {response.get('userId'):<8} {response.get('surveyId'):<12} {str(response.get('score')):>2} "
                  f"{response.get('category') or '-':<11} {comment}\n  {'':<24} {about}")
        if len(responses) > len(shown_responses):
            print(f"  ... and {len(responses) - len(shown_responses)} more")

        heading(f"Dead letter ({self.topic(names.DEADLETTER)}, this run)")
        dead = [v for _, v in self.since(names.DEADLETTER)]
        if not dead:
            print("  nothing rejected")
        for code, count in Counter(v.get("error") for v in dead).most_common():
            example = next(v for v in dead if v.get("error") == code)
            print(f"  {code:<16} {count:>3}  e.g. {example.get('detail')}")

        heading(f"Scores ({self.topic(names.SCORES)}, last 7 days; python -m streams report --days 7)")
        records = report.read_topic(self.bootstrap, self.topic(names.SCORES))
        scores = report.select_days(report.latest_scores(records), None, 7)
        table = report.format_table(scores, {s.id: s.name for s in self.config.surveys})
        print("\n".join(f"  {line}".rstrip() for line in table.rstrip("\n").split("\n")))
        chart = DEMO_DIR / "scores.png"
        report.draw_chart(scores, str(chart))
        print(f"  chart: {rel(chart)}")

    def explain_summary(self, decisions: dict[str, dict]) -> None:
        """Every survey's own verdict for every user (GET /v1/users/{id}/explain)."""
        verdicts: dict[str, Counter] = defaultdict(Counter)
        examples: dict[tuple, dict] = {}
        headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
        for user in sorted(decisions):
            status, body = http("GET", f"{self.url}/v1/users/{user}/explain", headers=headers)
            if status != 200 or not isinstance(body, dict):
                continue
            if not (body.get("decision") or {}).get("reason") or body["decision"]["reason"] == "not_identified":
                continue  # a legacy id folded into another user, say
            for verdict in body.get("surveys") or []:
                verdicts[verdict["surveyId"]][verdict["reason"]] += 1
                examples.setdefault((verdict["surveyId"], verdict["reason"]), {"user": user, **verdict})
        if not verdicts:
            return
        print("  per survey, each survey's own verdict (GET /v1/users/{id}/explain):")
        for survey_id, counts in verdicts.items():
            print(f"    {survey_id:<12} " + ", ".join(f"{reason} {n}" for reason, n in counts.most_common()))
        shown = 0
        for (survey_id, reason), example in sorted(examples.items(), key=lambda item: -verdicts[item[0][0]][item[0][1]]):
            if reason == "eligible" or shown >= 4:
                continue
            shown += 1
            key = (survey_id, reason)
            failing = next((r for r in example["rules"] if not r["passed"]), None)
            when = f"; eligible at {example['eligibleAt']}" if example.get("eligibleAt") else ""
            if failing:
                print(f"    e.g. {example['user']} for {key[0]}: {failing['rule']}: {failing['detail']}{when}")

    def metrics(self) -> dict[str, float]:
        status, text = http("GET", f"{self.url}/metrics")
        totals: dict[str, float] = defaultdict(float)
        if status != 200 or not isinstance(text, str):
            return totals
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    totals[name.split("{", 1)[0]] += float(value)
                except ValueError:
                    pass
        return totals

    def try_it(self) -> None:
        heading("Answer a survey yourself")
        if not self.example_users:
            print("  (no eligible user left for the example page)")
        for survey_id, user in self.example_users.items():
            print(f"  {survey_id:<12} {self.url}/example?userId={user}")
        any_user = next(iter(self.example_users.values()), "u1001")
        print(f"  why (not):   curl -H 'Authorization: Bearer {ADMIN_KEY}' {self.url}/v1/users/{any_user}/explain")
        if self.args.keep:
            print(f"\n  The worker (pid {self.worker.pid}) and "
                  f"{'the broker' if self.started_broker else 'the broker (not started by the demo)'} keep running. Stop with:")
            print(f"    kill {self.worker.pid}" + (f"; {rel_exe()} -m streams kafka down --dir {rel(KAFKA_DIR)}"
                                                     if self.started_broker else ""))
        else:
            print(f"  (the worker stops now: run `{rel_exe()} -m streams.demo --keep` to keep it up for this)")

    # -------------------------------------------------------- tear-down

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.out.step(f"stopping the worker (pid {self.worker.pid})")
            self.worker.terminate()
            try:
                self.worker.wait(30)
            except subprocess.TimeoutExpired:
                self.worker.kill()
                self.worker.wait(10)
            (DEMO_DIR / "worker.pid").unlink(missing_ok=True)
        if self.started_broker:
            self.out.step("stopping the local broker")
            localkafka.down(KAFKA_DIR)
            self.started_broker = False

    def run(self) -> None:
        self.kafka()
        self.topics()
        self.start_worker()
        self.replay()
        self.settle("sample stream")
        self.out.step("decisions settled")
        self.run_sessions()
        self.settle("widget sessions")
        self.wait_for_outputs()
        self.summary()
        self.try_it()


def eligible_display(url: str, user: str, survey_id: str) -> dict | None:
    """The eligibility answer when it offers `survey_id` with a display to open, else None."""
    status, body = http("GET", f"{url}/v1/eligibility/{user}")
    if status != 200 or not isinstance(body, dict) or not body.get("eligible"):
        return None
    if (body.get("survey") or {}).get("id") != survey_id or not isinstance(body.get("display"), dict):
        return None
    return body


def session_events(user: str, survey: dict, display: dict, action: str, score, comment: str | None) -> list[dict]:
    """The widget events of one scripted session on `display`, in order, undated."""
    questions = survey.get("questions") or []
    score_question = next((q for q in questions if q.get("kind") in ("scale", "choice")), None)
    text_question = next((q for q in questions if q.get("kind") == "text"), None)
    if score_question and score_question.get("kind") == "choice" and score is not None:
        choices = score_question.get("choices") or []
        score = choices[min(score, len(choices) - 1)] if choices else None
    elif score_question and score is not None:
        score = max(score_question.get("min", score), min(score_question.get("max", score), score))
    steps = [("shown", None, None)]
    if action in ("complete", "answer_close") and score_question:
        steps.append(("answered", score_question["id"], score))
    if action == "complete" and text_question and comment:
        steps.append(("answered", text_question["id"], comment))
    steps.append(("submitted" if action == "complete" else "closed", None, None))
    events = []
    for kind, question, value in steps:
        event = {"messageId": str(uuid.uuid4()), "userId": user, "surveyId": survey["id"],
                 "displayId": display["id"], "displayToken": display["token"], "type": kind}
        if kind == "answered":
            event.update(questionId=question, value=value)
        events.append(event)
    return events


def past_instant(now: int, days_ago: int, index: int) -> int:
    """An office hour on the UTC day `days_ago` days before now's: the day the scores count
    the response on (an offset back from now would cross midnight early in the UTC day)."""
    return now - now % DAY_MS - days_ago * DAY_MS + (FIRST_SESSION_HOUR + index % 6) * HOUR_MS


def backdated(events: list[dict], at: int) -> list[dict]:
    """The events as received at `at` and a few seconds apart: how history is imported."""
    stamped = []
    for index, event in enumerate(events):
        instant = iso(at + index * CLICK_SPACING_MS)
        stamped.append({**event, "timestamp": instant, "receivedAt": instant})
    return stamped


def post_through_bridge(url: str, events: list[dict]) -> None:
    # One request per event, as the widget posts them while the user clicks.
    for event in events:
        status, body = http("POST", f"{url}/v1/widget/events", event)
        if status != 202:
            raise DemoError(f"POST /v1/widget/events answered {status}: {body}")


def localkafka_address() -> str:
    return f"127.0.0.1:{KAFKA_PORT}"


def rel(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def rel_exe() -> str:
    """The Python running the demo, relative to the current directory when inside it."""
    relative = os.path.relpath(sys.executable)
    return relative if not relative.startswith("..") else sys.executable


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m streams.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="leave the worker (and the broker) running afterwards")
    parser.add_argument("--port", type=int, help=f"the worker's HTTP port (default {DEFAULT_PORT}, else a free one)")
    parser.add_argument("--sample", type=Path, default=SAMPLE, help="the Segment stream to replay (JSON lines)")
    args = parser.parse_args(argv)

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    demo = Demo(args)
    print("survey-streams demo: Kafka, a worker, a Segment stream, widget sessions, scores\n", flush=True)
    code = 0
    try:
        demo.run()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        code = 130
    except DemoError as error:
        print(f"\nerror: {error}", file=sys.stderr)
        code = 1
    finally:
        if not args.keep or code:
            try:
                demo.stop()
            except KeyboardInterrupt:  # a second Ctrl-C: stop harder
                if demo.worker is not None and demo.worker.poll() is None:
                    demo.worker.kill()
                if demo.started_broker:
                    localkafka.down(KAFKA_DIR)
    if code == 0:
        print(f"\ndone in {demo.out.elapsed():.0f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
