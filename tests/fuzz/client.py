"""The request model and a raw-socket HTTP client: requests go out byte for byte as built
(invalid UTF-8, control bytes, odd framing), one per connection; answers are parsed with
http.client."""
from __future__ import annotations

import http.client
import socket
import time
from dataclasses import dataclass, field

from tests.fuzz.config import TIMEOUT_S


def clipped(data: bytes, limit: int) -> str:
    return f"{data[:limit]!r}{'…' if len(data) > limit else ''}"


@dataclass
class Request:
    method: str
    target: bytes                     # path and query, sent as is
    pattern: str                      # the route it aims at, for grouping
    headers: list = field(default_factory=list)   # [(bytes, bytes)]
    body: bytes = b""
    body_kind: str = "none"
    header_variant: str = "-"
    app_owned: bool = True            # the app's view (not aiohttp's router/parser) must answer
    chunked: bool = False
    raw_wire: bytes | None = None     # protocol-level oddities: sent instead of the built request
    note: str = ""                    # describe() of the body
    writes: tuple = ()                # (user id, message description) a 2xx makes the worker store
    user: str | None = None           # the user a read is about (sweep)

    def shape(self, variant: str) -> tuple:
        return (variant, self.method, self.pattern, self.body_kind, self.header_variant)

    def wire(self) -> bytes:
        if self.raw_wire is not None:
            return self.raw_wire
        lines = [self.method.encode("latin-1") + b" " + self.target + b" HTTP/1.1",
                 b"Host: 127.0.0.1", b"Connection: close"]
        if self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            parts = [self.body[i:i + 700] for i in range(0, len(self.body), 700)]
            body = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in parts) + b"0\r\n\r\n"
        else:
            if self.body or self.method in ("POST", "PUT", "PATCH"):
                lines.append(b"Content-Length: %d" % len(self.body))
            body = self.body
        lines += [name + b": " + value for name, value in self.headers]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def short(self) -> str:
        headers = ", ".join(f"{n.decode('latin-1')}: {clipped(v, 60)}" for n, v in self.headers)
        body = f"{len(self.body)}B {clipped(self.body, 100)}" if self.body else "-"
        raw = f" raw_wire={self.raw_wire[:120]!r}" if self.raw_wire is not None else ""
        return (f"{self.method} {clipped(self.target, 140)} [{self.header_variant}] "
                f"headers=[{headers}] body({self.body_kind})={body}{' ' + self.note if self.note else ''}{raw}")


@dataclass
class Answer:
    status: int | None          # None: no answer
    content_type: str = ""
    body: bytes = b""
    problem: str = ""           # "hang: ..." or "no answer: ..."
    seconds: float = 0.0

    @property
    def outcome(self) -> int | str:
        """The status, or "hang" / "no answer" when there was none."""
        return self.status if self.status is not None else self.problem.split(":")[0]

    def excerpt(self) -> str:
        """The start of the body, or the problem when there was no answer."""
        return self.body[:200].decode("utf-8", "replace") or self.problem


def send(port: int, req: Request, timeout: float = TIMEOUT_S) -> Answer:
    started = time.monotonic()
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    except OSError as exc:
        return Answer(None, problem=f"no answer: connect failed: {exc!r}")
    send_error = None
    try:
        try:
            sock.sendall(req.wire())
        except OSError as exc:      # the server may answer (413) and close before the body is in
            send_error = exc
        response = http.client.HTTPResponse(sock, method=req.method)
        try:
            response.begin()
            body = response.read()
        except (TimeoutError, socket.timeout):
            return Answer(None, problem=f"hang: no complete answer within {timeout}s",
                          seconds=time.monotonic() - started)
        except (http.client.HTTPException, OSError) as exc:
            reason = f" (after send error {send_error!r})" if send_error else ""
            return Answer(None, problem=f"no answer: {exc!r}{reason}", seconds=time.monotonic() - started)
        return Answer(response.status, response.getheader("Content-Type") or "", body,
                      seconds=time.monotonic() - started)
    finally:
        sock.close()
