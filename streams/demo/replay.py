"""The sample Segment stream: loaded, moved in time to end a minute ago, and posted to the
worker's Segment-compatible ingestion API (POST /v1/batch) as a Segment library would;
then the demo's customers (streams.demo.population) the same way."""
from __future__ import annotations

import base64
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import orjson

from streams.runtime.httpjson import request as http
from streams.core.timeutil import DAY_MS, MINUTE_MS, SECOND_MS, iso, parse_iso
from streams.demo.console import Console, DemoError, rel
from streams.demo.defaults import WRITE_KEY
from streams.demo.population import FIRST_ID, Customer, segment_messages

BATCH_SIZE = 200  # messages per POST /v1/batch, ~70 KB: well under the 500 KB limit
REPLAY_LEAD_MS = MINUTE_MS  # the latest sample event lands this long before now


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
    # The worker's rule (streams.core.timeutil): below 1e11 it is seconds, else milliseconds.
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


def basic_auth(write_key: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()}


def replay_sample(out: Console, url: str, sample: Path) -> int:
    """Post the sample, shifted to now, in batches; returns how many messages were posted."""
    messages, shift = shift_times(load_sample(sample), int(time.time() * 1000))
    out.step(f"replaying {rel(sample)}: {describe_sample(messages)}")
    out.note(f"times shifted by {shift / DAY_MS:+.1f} days so that the last event is a minute ago")
    return post_batches(out, url, messages)


def replay_customers(out: Console, url: str, people: list[Customer]) -> int:
    """Post the demo's customers (streams.demo.population) as the sample is posted."""
    messages = segment_messages(people, int(time.time() * 1000))
    plans = Counter(person.plan for person in people)
    locales = Counter(person.locale for person in people)
    out.step(f"adding {len(people)} demo customers for a month of history (ids u{FIRST_ID}...; "
             + ", ".join(f"{n} {plan}" for plan, n in plans.most_common()) + "; "
             + ", ".join(f"{n} {locale}" for locale, n in locales.most_common()) + ")")
    return post_batches(out, url, messages)


def post_batches(out: Console, url: str, messages: list[dict]) -> int:
    """POST /v1/batch in batches of BATCH_SIZE, as a Segment library would; returns the count."""
    started, last = time.monotonic(), [0]
    headers = basic_auth(WRITE_KEY)
    for offset in range(0, len(messages), BATCH_SIZE):
        batch = messages[offset:offset + BATCH_SIZE]
        status, body = http("POST", f"{url}/v1/batch", {"batch": batch}, headers, timeout=60)
        if status != 200:
            raise DemoError(f"POST /v1/batch answered {status}: {body}")
        out.progress("POST /v1/batch", offset + len(batch), len(messages), last)
    took = max(time.monotonic() - started, 1e-3)
    out.step(f"posted {len(messages)} messages in {took:.1f}s ({len(messages) / took:.0f}/s), "
             f"{(len(messages) + BATCH_SIZE - 1) // BATCH_SIZE} batches")
    return len(messages)
