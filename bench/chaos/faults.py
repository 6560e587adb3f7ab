"""Fault injection while the input flows: SIGKILL a random worker every few seconds and
start it again with the same data dir, or SIGSTOP one past its session timeout and SIGCONT
it (a zombie: the group dropped it, it must stop before writing stale state, status 75,
and is started again); stop and start the broker once; measure recovery.

Recovery of a kill = from the SIGKILL until the killed worker answers /health 200 and a
probe identify on every partition (one probe user per partition, fresh for each kill) is
applied: GET /v1/users/{probe} answers 200 through the bridge for all of them.
"""
from __future__ import annotations

import random
import threading
import time

import orjson
from kafka.partitioner.default import murmur2

from streams.runtime import topics as names
from streams.core.timeutil import iso

from .cluster import Broker, Group
from .driver import ADMIN, Producer, call
from .report import say

RECOVERY_LIMIT_S = 240.0
EXIT_FENCED = 75  # streams.runtime.emit.EXIT_FENCED: a resumed zombie stops with it
FENCE_LIMIT_S = 60.0  # a resumed zombie's first heartbeat is refused within seconds


def probe_ids(tag: str, round_: str, partitions: int) -> list[str]:
    """One user id per partition (Kafka's default partitioner: murmur2 of the key)."""
    found: dict = {}
    n = 0
    while len(found) < partitions:
        user = f"{tag}-probe-{round_}-{n}"
        found.setdefault((murmur2(user.encode()) & 0x7FFFFFFF) % partitions, user)
        n += 1
    return [found[p] for p in range(partitions)]


class Faults:
    def __init__(self, group: Group, broker: Broker, producer: Producer, tag: str, seed: int, kills: int,
                 every: tuple[float, float], broker_restart_at: float | None, burst: int = 3,
                 on_done=None, pauses: int = 0, session_timeout_s: float = 10.0):
        self.group, self.broker, self.producer, self.tag = group, broker, producer, tag
        self.rng = random.Random(seed * 31 + 7)
        self.target = kills
        self.pause_target = pauses
        self.session_timeout_s = session_timeout_s
        self.pauses: list = []
        self.every = every
        self.burst = max(1, burst)
        self.on_done = on_done
        self.broker_restart_at = broker_restart_at  # seconds after start, or None
        self.kills: list = []
        self.recoveries: list = []
        self.broker_events: list = []
        self.threads: list = []
        self.stop = threading.Event()
        self.t0 = 0.0
        self.error: Exception | None = None

    def probe(self, round_: str, since: float) -> float | None:
        """Produce a probe identify per partition; seconds from `since` until all are applied."""
        users = probe_ids(self.tag, round_, self.group.partitions)
        for user in users:
            message = {"type": "identify", "userId": user, "messageId": f"{user}-m", "timestamp": iso(int(time.time() * 1000)),
                       "traits": {"probe": True}}
            self.producer.send(names.SEGMENT_IDENTIFY, user, orjson.dumps(message), timeout_s=RECOVERY_LIMIT_S)
        pending = set(users)
        while pending:
            for user in list(pending):
                status, _ = call(self.group, "GET", f"/v1/users/{user}", headers=ADMIN, timeout_s=10,
                                 done=lambda s, b: s in (200, 404))
                if status == 200:
                    pending.discard(user)
            if time.monotonic() - since > RECOVERY_LIMIT_S:
                return None
            if pending:
                time.sleep(0.3)
        return time.monotonic() - since

    def _recover(self, number, index: int, killed_at: float) -> None:
        label = f"pause {number[1:]}" if isinstance(number, str) else f"kill {number}"
        record = {"kill": number, "worker": index, "seconds": None, "health_s": None}
        self.recoveries.append(record)
        worker = self.group.workers[index]
        while worker.health() != 200:
            if time.monotonic() - killed_at > RECOVERY_LIMIT_S:
                say(f"  {label}: worker {index} not healthy after {RECOVERY_LIMIT_S:.0f}s")
                return
            time.sleep(0.2)
        record["health_s"] = time.monotonic() - killed_at
        record["seconds"] = self.probe(f"k{number}", killed_at)
        record["overlapped"] = any(f["at_s"] + self.t0 > killed_at + 1e-3
                                   for f in self.kills + self.pauses + self.broker_events)
        say(f"  {label}: worker {index} healthy after {record['health_s']:.1f}s, "
            f"probes applied after {record['seconds'] if record['seconds'] is None else round(record['seconds'], 1)}s")

    def _restart_broker(self) -> None:
        at = time.monotonic() - self.t0
        say(f"broker restart at {at:.0f}s: stopping the broker")
        since = time.monotonic()  # recovery counts from the stop, as for a kill
        timings = self.broker.restart()
        say(f"broker restart: down {timings['down_s']:.1f}s, up again after {timings['up_s']:.1f}s")
        record = {"at_s": at, **timings, "recovery_s": None}
        self.broker_events.append(record)
        deadline = time.monotonic() + 120
        while not all(self.group.healthy()) and time.monotonic() < deadline:
            time.sleep(0.5)
        for index, ok in enumerate(self.group.healthy()):
            if not ok:
                self.group.restart(index, "not healthy 120 s after the broker restart")
        if self.group.wait_all_ready(RECOVERY_LIMIT_S, "the broker restart"):
            record["recovery_s"] = self.probe("broker", since)
        recovered = record["recovery_s"]
        say(f"broker restart: workers healthy, probes applied {recovered if recovered is None else round(recovered, 1)}s "
            "after the stop")

    def _pause(self, number: int, index: int) -> None:
        """SIGSTOP worker `index` past its session timeout, SIGCONT, and expect it to stop
        fenced; then start it again and time the recovery as for a kill."""
        worker = self.group.workers[index]
        stopped_for = self.session_timeout_s + self.rng.uniform(2.0, 8.0)
        record = {"pause": number, "worker": index, "at_s": time.monotonic() - self.t0,
                  "stopped_s": round(stopped_for, 1), "exit": None, "fenced_after_s": None}
        self.pauses.append(record)
        with self.group.lock:
            self.group.killing.add(index)  # the watcher leaves it to us
        try:
            worker.pause()
            say(f"pause {number}/{self.pause_target}: SIGSTOP worker {index} at {record['at_s']:.0f}s "
                f"for {stopped_for:.0f}s")
            self.stop.wait(stopped_for)
            resumed_at = time.monotonic()
            worker.resume()
            while worker.running() and time.monotonic() - resumed_at < FENCE_LIMIT_S:
                time.sleep(0.1)
            record["exit"] = worker.proc.poll()
            record["fenced_after_s"] = round(time.monotonic() - resumed_at, 1) if record["exit"] is not None else None
            say(f"  pause {number}: worker {index} resumed; "
                + (f"stopped with status {record['exit']} after {record['fenced_after_s']}s" if record["exit"] is not None
                   else f"still running {FENCE_LIMIT_S:.0f}s later (not fenced): killed"))
            killed_at = self.group.kill(index)  # start it again (SIGKILL first if it never stopped)
        finally:
            with self.group.lock:
                self.group.killing.discard(index)
        self._recover(f"p{number}", index, killed_at)

    def _loop(self) -> None:
        try:
            next_kill = self.t0 + self.rng.uniform(*self.every)
            while not self.stop.is_set() and (len(self.kills) < self.target or len(self.pauses) < self.pause_target):
                now = time.monotonic()
                if self.broker_restart_at is not None and not self.broker_events \
                        and now - self.t0 >= self.broker_restart_at:
                    self._restart_broker()
                    next_kill = time.monotonic() + self.rng.uniform(*self.every)
                    continue
                if now < next_kill:
                    time.sleep(min(0.2, next_kill - now))
                    continue
                index = self.rng.randrange(len(self.group.workers))
                kills_left, pauses_left = self.target - len(self.kills), self.pause_target - len(self.pauses)
                if self.rng.random() * (kills_left + pauses_left) < pauses_left:
                    # One pause at a time, with its recovery: the next fault comes after it.
                    self._pause(len(self.pauses) + 1, index)
                    next_kill = time.monotonic() + self.rng.uniform(*self.every)
                    continue
                number = len(self.kills) + 1
                killed_at = self.group.kill(index)
                self.kills.append({"kill": number, "worker": index, "at_s": killed_at - self.t0})
                say(f"kill {number}/{self.target}: SIGKILL worker {index} at {killed_at - self.t0:.0f}s, restarted")
                thread = threading.Thread(target=self._recover, args=(number, index, killed_at), daemon=True)
                thread.start()
                self.threads.append(thread)
                # Kills come in waves of `burst`: within a wave, a few seconds apart whether
                # the victims are back or not (they land in the rebalance and recoveries);
                # after a wave, a few seconds after every worker answers /health 200 again,
                # so that the next wave hits workers busy with the backlog. A rebalance after
                # a SIGKILL waits for the dead member's session to expire: each wave costs
                # about that long, whatever its size.
                if number % self.burst == 0:
                    while not all(self.group.healthy()) and not self.stop.is_set():
                        if time.monotonic() - killed_at > RECOVERY_LIMIT_S:
                            break
                        time.sleep(0.2)
                    next_kill = time.monotonic() + self.rng.uniform(*self.every)
                else:
                    next_kill = killed_at + self.rng.uniform(*self.every)
            if self.broker_restart_at is not None and not self.broker_events:
                while time.monotonic() - self.t0 < self.broker_restart_at and not self.stop.is_set():
                    time.sleep(0.2)  # kills ended before the broker's turn came
                if not self.stop.is_set():
                    self._restart_broker()
        except Exception as error:
            self.error = error
        finally:
            if self.on_done is not None:
                self.on_done()

    def start(self, t0: float) -> None:
        self.t0 = t0
        self.loop_thread = threading.Thread(target=self._loop, name="faults", daemon=True)
        self.loop_thread.start()

    def wait(self, timeout_s: float) -> None:
        """Until the kills (and their recoveries) are over; then stops whatever is left."""
        deadline = time.monotonic() + timeout_s
        self.loop_thread.join(max(0.1, deadline - time.monotonic()))
        self.stop.set()
        for thread in list(self.threads):
            thread.join(max(0.1, deadline - time.monotonic()))
        if self.error is not None:
            raise self.error

    def record(self) -> dict:
        return {"kills": self.kills, "pauses": self.pauses, "recoveries": self.recoveries,
                "broker": self.broker_events}
