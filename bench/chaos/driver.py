"""Drives one pass: the Segment stream onto the inbound topics, widget sessions through
every worker's bridge (round-robin, retrying while owners restart).

The driver never loses input itself: every record is produced with acks=all and waited
for, and retried until the broker takes it; widget posts are retried with the same
messageId until a 202. What the driver could not do is recorded, never hidden.
"""
from __future__ import annotations

import heapq
import queue
import random
import threading
import time
import uuid

import orjson
from kafka import KafkaProducer

from streams.runtime.httpjson import request as http
from streams.core.timeutil import iso

from .cluster import ADMIN_KEY, WIDGET_KEY, Group
from .inputs import Inputs, SessionPlan
from .report import say

ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
WIDGET = {"X-Widget-Key": WIDGET_KEY}
NAMESPACE = uuid.UUID("6f7d1c7e-3f55-4a8e-9d0b-c4a05c4a05c4")  # displayIds when the bridge gives none


class DriverError(RuntimeError):
    """The driver could not deliver its input: the run proves nothing."""


def call(group: Group, method: str, path: str, body=None, headers=None, timeout_s: float = 120.0,
         done=lambda status, body: status < 500):
    """One HTTP call, round-robin over the workers, retried on connection errors and 5xx
    (the worker, or the owner it routes to, may be restarting) until `done` holds."""
    deadline = time.monotonic() + timeout_s
    last = (0, "no answer")
    while True:
        try:
            last = http(method, group.next_url() + path, body, headers, timeout=10)
            if done(*last):
                return last
        except Exception as error:  # refused, reset, timed out, cut off mid-answer
            last = (0, f"{type(error).__name__}: {error}")
        if time.monotonic() > deadline:
            return last
        time.sleep(0.3)


class Producer:
    """Synchronous, acknowledged produce with retries (thread-safe)."""

    def __init__(self, bootstrap: str, group: Group):
        self.group = group
        self.producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2, retries=5,
                                      max_in_flight_requests_per_connection=1, request_timeout_ms=10_000,
                                      reconnect_backoff_max_ms=2000)
        self.count = 0
        self.retries = 0
        self.lock = threading.Lock()

    def send(self, logical: str, key: str, value: bytes, timeout_s: float = 300.0, partition=None):
        """Returns the broker's RecordMetadata (partition, offset) of the record."""
        topic = self.group.topic(logical)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                meta = self.producer.send(topic, key=key.encode(), value=value, partition=partition).get(timeout=30)
                with self.lock:
                    self.count += 1
                return meta
            except Exception as error:
                with self.lock:
                    self.retries += 1
                if time.monotonic() > deadline:
                    raise DriverError(f"could not produce to {topic} for {timeout_s:.0f}s: {error!r}") from error
                time.sleep(1.0)

    def close(self) -> None:
        self.producer.close(timeout=10)


def gate_ok(state: dict, gate: dict) -> bool:
    if state.get("firstSeen") != gate["firstSeen"] or state.get("lastSeen") != gate["lastSeen"]:
        return False
    if sorted(state.get("anonymousIds") or []) != sorted(gate["anonymousIds"]):
        return False
    for survey_id, count in gate.get("triggers", {}).items():
        if (state.get("triggers") or {}).get(survey_id, {}).get("count", 0) != count:
            return False
    return True


def widget_events(inputs: Inputs, plan: SessionPlan, survey: dict, display_id: str, token: str | None) -> list:
    """The session's widget events: deterministic for (seed, user, session, survey)."""
    rng = random.Random(f"{inputs.seed}/{plan.user}/{plan.number}/{survey['id']}")
    answers = []
    for question in survey.get("questions") or []:
        if question.get("kind") == "scale":
            value = rng.randint(question["min"], question["max"])
        elif question.get("kind") == "choice":
            value = rng.choice(question["choices"])
        else:
            value = f"comment {rng.randrange(10_000)} from {plan.user}"
        answers.append((question["id"], value))
    steps = [("shown", None)]
    if plan.ending == "submit_all":
        steps += [("answered", a) for a in answers] + [("submitted", None)]
    elif plan.ending == "submit_first":
        steps += [("answered", a) for a in answers[:1]] + [("submitted", None)]
    elif plan.ending == "close_after_answer":
        steps += [("answered", a) for a in answers[:1]] + [("closed", None)]
    else:
        steps += [("closed", None)]
    events = []
    for k, (kind, answer) in enumerate(steps):
        event = {"messageId": f"{inputs.tag}-w-{plan.user}-{plan.number}-{k}", "userId": plan.user,
                 "surveyId": survey["id"], "displayId": display_id, "type": kind,
                 "timestamp": iso(plan.ts0 + k * 1000)}
        if answer is not None:
            event["questionId"], event["value"] = answer
        if token is not None:
            event["displayToken"] = token
        events.append(event)
    return events


class Driver:
    """Runs the input of one pass; `run()` returns when every message and session is done."""

    def __init__(self, inputs: Inputs, group: Group, producer: Producer, threads: int = 8,
                 gate_timeout_s: float = 180.0):
        self.inputs, self.group, self.producer = inputs, group, producer
        self.threads = threads
        self.gate_timeout_s = gate_timeout_s
        self.heap: list = []
        self.held: dict = {}
        self.cond = threading.Condition()
        self.sessions: dict = {}  # displayId -> (user, number)
        self.results: list = []  # per session: dict
        self.produced: dict = {}  # messageId -> (wall time acked, partition, offset), first delivery
        self.widget_posts = 0
        self.widget_retries = 0
        self.t0 = 0.0
        self.error: Exception | None = None
        self.remaining_sessions = len(inputs.sessions)
        self.faults_over_at: float | None = 0.0  # None while faults go on: no session gives up then

    # Segment messages -------------------------------------------------------------------
    def _produce_loop(self) -> None:
        try:
            while True:
                with self.cond:
                    while True:
                        if self.heap and self.t0 + self.heap[0][0] <= time.monotonic():
                            _, _, send = heapq.heappop(self.heap)
                            break
                        if not self.heap and not self.held and self.remaining_sessions == 0:
                            return
                        wait = (self.t0 + self.heap[0][0] - time.monotonic()) if self.heap else 1.0
                        self.cond.wait(max(0.01, min(wait, 1.0)))
                meta = self.producer.send(send.topic, send.key, send.value)
                self.produced.setdefault(orjson.loads(send.value)["messageId"],
                                         (iso(int(time.time() * 1000)), meta.partition, meta.offset))
        except Exception as error:
            self.error = error

    def _release(self, user: str) -> None:
        now = time.monotonic() - self.t0
        with self.cond:
            for send in self.held.pop(user, []):
                heapq.heappush(self.heap, (max(send.at, now), id(send), send))
            self.remaining_sessions -= 1
            self.cond.notify_all()

    # Widget sessions --------------------------------------------------------------------
    def _session_loop(self, work: queue.Queue) -> None:
        while True:
            plan = work.get()
            if plan is None:
                return
            try:
                self.results.append(self._session(plan))
            except Exception as error:  # a driver bug must not pass for a lost session
                self.error = error
                self.results.append({"user": plan.user, "number": plan.number, "ok": False,
                                     "why": f"driver error {error!r}"})
            finally:
                self._release(plan.user)

    def _session(self, plan: SessionPlan) -> dict:
        user, started = plan.user, time.monotonic()
        result = {"user": user, "number": plan.number, "ok": False, "ending": plan.ending, "expected": plan.survey}
        state = None
        while True:  # the gate: phase A applied (see inputs.py)
            status, state = call(self.group, "GET", f"/v1/users/{user}", headers=ADMIN, timeout_s=60,
                                 done=lambda s, b: s in (200, 404))
            if status == 200 and gate_ok(state, plan.gate):
                break
            if self._give_up(started):
                result["why"] = f"phase A not applied {self.gate_timeout_s:.0f}s after the faults (state {status}: " \
                                f"{_gate_view(state)}; expected {plan.gate})"
                return result
            time.sleep(0.5)
        while True:
            status, body = call(self.group, "GET", f"/v1/eligibility/{user}", headers=WIDGET, timeout_s=60)
            if status == 200 and isinstance(body, dict) and body.get("eligible"):
                break
            if self._give_up(started):
                result["why"] = f"never eligible {self.gate_timeout_s:.0f}s after the faults (last {status}: {str(body)[:200]})"
                return result
            time.sleep(0.5)
        survey = body.get("survey") or {}
        display = body.get("display") or None
        if display:
            display_id, token = display["id"], display.get("token")
        else:
            display_id, token = str(uuid.uuid5(NAMESPACE, f"{self.inputs.tag}/{user}/{plan.number}")), None
        result.update(survey=survey.get("id"), displayId=display_id, token=token is not None)
        with self.cond:
            self.sessions[display_id] = (user, plan.number)
        events = widget_events(self.inputs, plan, survey, display_id, token)
        result["timestamps"] = [e["timestamp"] for e in events]
        result["expected_outputs"] = self._expected_outputs(survey.get("id"), events)
        for event in events:
            attempts = [0]

            def accepted(status, _body):
                attempts[0] += 1
                return status < 500

            status, answer = call(self.group, "POST", "/v1/widget/events", event,
                                  {**WIDGET, "Content-Type": "application/json"}, timeout_s=180, done=accepted)
            self.widget_posts += 1
            self.widget_retries += attempts[0] - 1
            if status != 202:
                result["why"] = f"widget event {event['type']} refused: {status} {str(answer)[:200]}"
                return result
        result["ok"] = True
        result["age_s"] = (time.time() * 1000 - plan.ts0) / 1000
        result["seconds"] = time.monotonic() - started
        return result

    def _give_up(self, started: float) -> bool:
        """A session waits for the gate and for eligibility as long as faults go on, and
        gate_timeout_s beyond both its start and the end of the faults."""
        over = self.faults_over_at
        if over is None:
            return False
        return time.monotonic() > max(started, over) + self.gate_timeout_s

    def _expected_outputs(self, survey_id: str, events: list) -> int:
        """How many segment.outbound messages the session must make (docs/reference.md#outbound,
        docs/reference.md#widget-events)."""
        survey = self.group.config.survey(survey_id)
        if survey is None or survey.segment is None:
            return 0
        enabled = {kind: e.enabled for kind, e in survey.segment.events.items()}
        answers = sum(1 for e in events if e["type"] == "answered")
        ended = "completed" if events[-1]["type"] == "submitted" or answers else "dismissed"
        count = enabled.get("viewed", True) + answers * enabled.get("answered", True) + enabled.get(ended, True)
        return count + (1 if ended == "completed" and survey.segment.traits else 0)

    def _dispatch(self, work: queue.Queue) -> None:
        for plan in self.inputs.sessions:
            delay = self.t0 + plan.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            work.put(plan)
        for _ in range(self.threads):
            work.put(None)

    def run(self, label: str, deadline_s: float) -> None:
        """Produce everything and drive every session; raises DriverError past the deadline."""
        session_users = {p.user for p in self.inputs.sessions}
        for send in self.inputs.sends:
            if send.held and send.user in session_users:
                self.held.setdefault(send.user, []).append(send)
            else:
                self.heap.append((send.at, id(send), send))
        heapq.heapify(self.heap)
        self.t0 = time.monotonic()
        work: queue.Queue = queue.Queue()
        threads = [threading.Thread(target=self._produce_loop, name="produce", daemon=True),
                   threading.Thread(target=self._dispatch, args=(work,), name="dispatch", daemon=True)]
        threads += [threading.Thread(target=self._session_loop, args=(work,), name=f"session{i}", daemon=True)
                    for i in range(self.threads)]
        for thread in threads:
            thread.start()
        last_note = time.monotonic()
        while any(t.is_alive() for t in threads):
            if time.monotonic() - self.t0 > deadline_s:
                raise DriverError(f"{label}: input not delivered within {deadline_s:.0f}s "
                                  f"({self.producer.count} produced, {len(self.results)} sessions done)")
            if self.error is not None:
                raise DriverError(f"{label}: {self.error!r}") from self.error
            if time.monotonic() - last_note > 15:
                last_note = time.monotonic()
                ok = sum(1 for r in self.results if r["ok"])
                say(f"  {label}: {self.producer.count} messages produced, sessions {ok} done / "
                    f"{len(self.results)} ended / {len(self.inputs.sessions)} planned")
            time.sleep(0.2)
        if self.error is not None:
            raise DriverError(f"{label}: {self.error!r}") from self.error


def _gate_view(state) -> dict | str:
    if not isinstance(state, dict):
        return str(state)[:120]
    return {k: state.get(k) for k in ("firstSeen", "lastSeen", "anonymousIds", "triggers")}
