"""Request bodies: Segment messages (valid, fuzzed, twisted, oversized), batches, widget
events, and their serialisation in several (mostly valid) ways."""
from __future__ import annotations

import math

from hypothesis import strategies as st

from tests.fuzz.credentials import user_hash
from tests.fuzz.jsontext import Deep, describe, encode, to_json
from tests.fuzz.values import (
    EVENTS, EXTREME_TIMESTAMPS, KINDS, POOL, QUESTIONS, SIZED_IDS, SURVEYS, TYPE_VALUES, WIDGET_TYPES,
    any_id, created_at, json_any, json_leaf, recent, timestamp, traits, user_id, weighted)


@st.composite
def segment_message(draw, kind: str, valid: bool = False) -> dict:
    """A Segment message of `kind`: valid (with a fresh or pooled user) or with fuzzed fields."""
    if valid:
        user = draw(st.one_of(st.sampled_from(POOL[:5]), st.uuids().map(lambda u: f"fuzz-{u.hex[:12]}")))
        message = {"type": kind, "userId": user, "messageId": f"m-{draw(st.uuids()).hex}", "timestamp": recent(draw)}
        if kind == "identify":
            message["traits"] = {"plan": draw(st.sampled_from(["pro", "team", "free"])),
                                 "createdAt": "2020-01-01T00:00:00Z"}
        elif kind == "track":
            message["event"] = "Report Exported"
            message["properties"] = {"format": draw(st.sampled_from(["pdf", "csv", "xlsx"]))}
        elif kind in ("page", "screen"):
            message["name"] = "Pricing"
        elif kind == "group":
            message.update(groupId="g-1", traits={"name": "Acme", "plan": "team"})
        elif kind == "alias":
            message["previousId"] = f"anon-{draw(st.uuids()).hex[:12]}"
        return message
    message = {}
    if draw(st.integers(0, 9)):
        message["type"] = kind if draw(st.integers(0, 5)) else draw(st.one_of(st.sampled_from(TYPE_VALUES), json_leaf))
    if draw(st.integers(0, 5)):
        message["userId"] = draw(user_id)
    if draw(st.integers(0, 2)) == 0:
        message["anonymousId"] = draw(user_id)
    if draw(st.booleans()):
        message["messageId"] = draw(st.one_of(st.uuids().map(str), any_id))
    if kind == "track" or draw(st.integers(0, 9)) == 0:
        message["event"] = draw(st.one_of(st.sampled_from(EVENTS), json_leaf))
    if kind == "alias" or draw(st.integers(0, 9)) == 0:
        message["previousId"] = draw(user_id)
    if kind == "group":
        message["groupId"] = draw(any_id)
    if kind in ("page", "screen"):
        message["name"] = draw(st.one_of(st.text(max_size=20), json_leaf))
    for name in ("timestamp", "originalTimestamp", "sentAt", "receivedAt"):
        if draw(st.integers(0, 2)) == 0:
            message[name] = draw(timestamp)
    if kind in ("identify", "group") or draw(st.integers(0, 4)) == 0:
        message["traits"] = draw(traits)
    if kind in ("track", "page", "screen") or draw(st.integers(0, 5)) == 0:
        message["properties"] = draw(traits)
    if draw(st.integers(0, 2)) == 0:
        message["context"] = draw(st.one_of(
            st.fixed_dictionaries({"traits": traits}),
            st.fixed_dictionaries({"library": st.fixed_dictionaries({"name": st.text(max_size=10),
                                                                     "version": json_leaf})}),
            json_any))
    if draw(st.integers(0, 6)) == 0:
        message.update(draw(st.dictionaries(st.text(max_size=10), json_any, max_size=4)))
    return message


@st.composite
def twisted_message(draw, kind: str) -> dict:
    """A valid message with one or two odd values where the worker computes with them."""
    message = draw(segment_message(kind, valid=True))
    for _ in range(draw(st.integers(1, 2))):
        twist = draw(st.sampled_from(["timestamp", "timestamp", "skew", "createdAt", "context-createdAt", "user", "anonymous",
                                      "messageId", "traits-odd", "event", "timestamp-only-original"]))
        if twist == "timestamp":
            message["timestamp"] = draw(st.sampled_from(EXTREME_TIMESTAMPS) | timestamp)
        elif twist == "skew":   # event time = receivedAt - (sentAt - originalTimestamp)
            message.pop("timestamp", None)
            message["sentAt"] = draw(timestamp)
            message["originalTimestamp"] = draw(timestamp)
        elif twist == "timestamp-only-original":
            message.pop("timestamp", None)
            message["originalTimestamp"] = draw(timestamp)
        elif twist == "createdAt":
            if not isinstance(message.get("traits"), dict):
                message["traits"] = {}
            message["traits"]["createdAt"] = draw(created_at)
        elif twist == "context-createdAt":
            message["context"] = {"traits": {"createdAt": draw(created_at), "plan": "pro"}}
        elif twist == "user":
            message["userId"] = draw(st.one_of(st.sampled_from(POOL + SIZED_IDS), any_id))
        elif twist == "anonymous":
            message["anonymousId"] = draw(st.one_of(st.sampled_from(POOL + SIZED_IDS), any_id))
        elif twist == "messageId":
            message["messageId"] = draw(st.one_of(st.sampled_from(SIZED_IDS), any_id))
        elif twist == "traits-odd":
            message["traits"] = draw(traits)
        elif twist == "event" and kind == "track":
            message["event"] = draw(st.one_of(st.sampled_from(EVENTS), json_leaf))
    return message


@st.composite
def oversized(draw, kind: str, target_bytes: int) -> dict:
    message = draw(segment_message(kind, valid=True))
    message.setdefault("properties", {})["pad"] = "x" * target_bytes
    return message


@st.composite
def batch_body(draw) -> dict:
    items = []
    for _ in range(draw(st.integers(0, 6))):
        items.append(draw(st.one_of(
            st.sampled_from(KINDS).flatmap(lambda k: segment_message(k, valid=True)),
            st.sampled_from(KINDS).flatmap(segment_message),
            st.sampled_from(KINDS).flatmap(twisted_message),
            st.sampled_from(KINDS).flatmap(twisted_message),
            st.sampled_from(KINDS).flatmap(lambda k: oversized(k, 33 * 1024)),
            json_leaf)))
    body = {"batch": items}
    if draw(st.integers(0, 9)) == 0:
        body["batch"] = items * draw(st.sampled_from([50, 120]))   # many items (some over 500 KB whole)
    if draw(st.integers(0, 3)) == 0:
        body["context"] = draw(st.one_of(json_any, st.fixed_dictionaries({"traits": traits})))
    if draw(st.integers(0, 3)) == 0:
        body["sentAt"] = draw(timestamp)
    if draw(st.integers(0, 5)) == 0:
        body["integrations"] = draw(json_any)
    if draw(st.integers(0, 9)) == 0:
        body["batch"] = draw(st.one_of(json_leaf, st.just(Deep(300, arrays=True)), st.just({"0": {}})))
    return body


def written_users(value) -> tuple:
    """(user id as the worker normalises it, description of the message) for each message of
    this body that a 2xx may turn into user state."""
    messages = value.get("batch") if isinstance(value, dict) and isinstance(value.get("batch"), list) else [value]
    found = []
    for message in messages:
        if not isinstance(message, dict):
            continue
        for name in ("userId", "anonymousId", "previousId"):
            given = message.get(name)
            if isinstance(given, bool):
                continue
            if isinstance(given, str) and given:
                found.append((given, describe(message, 40)))
            elif isinstance(given, int):
                found.append((str(given), describe(message, 40)))
            elif isinstance(given, float) and math.isfinite(given):
                found.append((str(int(given)) if given.is_integer() else repr(given), describe(message, 40)))
    return tuple(found)


@st.composite
def widget_event(draw, secret: str | None, valid: bool) -> dict:
    """A widget event for a pooled or fresh user (signed when the worker has a secret): valid,
    or with a few fuzzed fields."""
    survey = draw(st.sampled_from(SURVEYS))
    user = draw(st.sampled_from(POOL) | st.uuids().map(lambda u: f"w-{u.hex[:10]}"))
    kind = draw(st.sampled_from(WIDGET_TYPES))
    event = {"messageId": f"wm-{draw(st.uuids()).hex}", "userId": user, "surveyId": survey,
             "displayId": f"d-{draw(st.integers(0, 50))}", "type": kind}
    if kind == "answered":
        question = draw(st.sampled_from(QUESTIONS[survey]))
        event["questionId"] = question
        event["value"] = draw(st.integers(1, 5)) if question == "score" else draw(st.text(max_size=30))
    if draw(st.booleans()):
        event["timestamp"] = recent(draw)
    if secret and draw(st.integers(0, 5)):
        event["userHash"] = user_hash(secret, user)
    if valid:
        return event
    for _ in range(draw(st.integers(1, 4))):     # fuzz a few fields
        name = draw(st.sampled_from(["messageId", "userId", "surveyId", "displayId", "type", "questionId", "value",
                                     "timestamp", "userHash", "displayToken", "extra"]))
        event[name] = draw(st.one_of(
            json_leaf, any_id, timestamp, st.sampled_from(WIDGET_TYPES + SURVEYS + ["score", "comment", "reason"]),
            st.integers(-10**20, 10**20), st.just("t" * 2001), st.just(Deep(300)), st.just(Deep(2000, True))))
    if draw(st.integers(0, 9)) == 0:
        del event[draw(st.sampled_from(sorted(event)))]
    return event


def body_bytes(draw, value) -> tuple[bytes, str]:
    """Serialise a generated JSON value in one of several (mostly valid) ways."""
    how = draw(weighted((12, "utf8"), (4, "ascii"), (1, "latin1"), (1, "bom"), (1, "utf16"), (1, "truncated"),
                        (1, "invalid-utf8-inside"), (1, "trailing-garbage")))
    if how == "utf8":
        return encode(value, ascii_only=False), ""
    if how == "ascii":
        return encode(value), ""
    text = to_json(value, ascii_only=False)
    if how == "latin1":
        return text.encode("latin-1", "replace"), "+latin1"
    if how == "bom":
        return b"\xef\xbb\xbf" + text.encode("utf-8", "surrogatepass"), "+bom"
    if how == "utf16":
        return text.encode("utf-16", "surrogatepass"), "+utf16"
    data = text.encode("utf-8", "surrogatepass")
    if how == "truncated":
        return data[:draw(st.integers(0, max(0, len(data) - 1)))], "+truncated"
    if how == "invalid-utf8-inside":
        middle = data.find(b'"', 1)
        middle = middle + 1 if middle > 0 else len(data) // 2
        return data[:middle] + b"\xff\xc3\x28" + data[middle:], "+invalid-utf8"
    return data + b"}garbage", "+trailing-garbage"


def serialised_body(draw, mode: str, value) -> tuple[bytes, str]:
    """(body, body-kind suffix) for a request's mode: random bytes, nothing, or `value`
    serialised by body_bytes."""
    if mode == "bytes":
        return draw(st.binary(max_size=300)), ""
    if mode == "empty":
        return b"", ""
    return body_bytes(draw, value)
