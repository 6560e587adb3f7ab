"""The record of one worker's run: every request sent, its shape and outcome, and the
failures found (5xx, hangs, no answer, a crash, error bodies without the contract's fields)."""
from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field

from tests.fuzz.client import Answer, Request, send
from tests.harness import Worker


@dataclass
class Run:
    """What one worker (`variant`) was sent and how it answered; exchange() sends and records."""
    variant: str
    worker: Worker
    started: float = field(default_factory=time.monotonic)
    requests: int = 0
    shapes: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    patterns: Counter = field(default_factory=Counter)
    pattern_statuses: Counter = field(default_factory=Counter)
    findings: list = field(default_factory=list)       # 5xx, hangs, no answer, crash
    bodies: list = field(default_factory=list)         # 4xx body checks: (req, answer, problem)
    code_message: list = field(default_factory=list)   # 4xx/5xx JSON bodies without code/message
    written: dict = field(default_factory=dict)        # user id -> accepted messages (described)
    log_errors: list = field(default_factory=list)     # tracebacks not tied to one answer (agents)
    skipped: int = 0
    crashed: bool = False
    seconds: float = 0.0

    def skip(self, deadline: float) -> bool:
        """Whether to skip (and count) a request: the worker died or the budget is spent."""
        if self.crashed or time.monotonic() > deadline:
            self.skipped += 1
            return True
        return False

    def exchange(self, req: Request, origin: str = "fuzz") -> Answer:
        answer = send(self.worker.port, req)
        self.requests += 1
        self.shapes[req.shape(self.variant)] += 1
        self.patterns[req.pattern] += 1
        self.statuses[answer.outcome] += 1
        self.pattern_statuses[(req.pattern, answer.outcome)] += 1
        if answer.status is None or answer.status >= 500:
            time.sleep(0.02)   # let the worker's log catch up
            errors = self.worker_errors()
            http_errors = [e for e in errors if e["kind"] == "http"] or errors
            if answer.status is None and self.worker.proc.poll() is not None:
                self.crashed = True
            self.findings.append({"variant": self.variant, "origin": origin, "req": req, "answer": answer,
                                  "trace": http_errors[-1] if http_errors else None,
                                  "state_from": self.written.get(req.user) if origin == "sweep" else None,
                                  "crashed": self.crashed})
        if answer.status is not None:
            self.check_body(req, answer)
            if 200 <= answer.status < 300 and req.writes:
                for user, message in req.writes:
                    self.written.setdefault(user, []).append(f"{req.method} {req.pattern} {message[:400]}")
        return answer

    def worker_errors(self) -> list:
        """New tracebacks in the worker's log (worker.log: the LogTail the fixture attached)."""
        errors = self.worker.log.new_errors()
        self.log_errors += [e for e in errors if e["kind"] != "http"]
        return errors

    def check_body(self, req: Request, answer: Answer) -> None:
        """4xx from the app's views: a JSON object with a string `error`; any 4xx/5xx JSON
        object: `code` (= `error`) and `message` too (docs/reference.md#every-answer)."""
        if req.method == "HEAD" or not req.app_owned or not 400 <= answer.status < 600:
            return
        document, problem = None, None
        if "json" not in answer.content_type:
            problem = f"not JSON (Content-Type {answer.content_type!r})"
        else:
            try:
                document = json.loads(answer.body)
            except ValueError:
                problem = "Content-Type says JSON, body does not parse"
        if document is not None and not (isinstance(document, dict) and isinstance(document.get("error"), str)):
            problem = "JSON without a string `error`"
        if problem and answer.status < 500:   # a 5xx is a finding of its own
            self.bodies.append((req, answer, problem))
        if isinstance(document, dict) and not (
                document.get("code") == document.get("error") and isinstance(document.get("message"), str)):
            self.code_message.append((req, answer, "no `code` equal to `error` and string `message`"))
