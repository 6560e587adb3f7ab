"""The display-token signing secret, shared by every worker of an app through Kafka.

Display tokens (streams.core.displays) must verify on every worker, and the secret must not
be derivable from any key that ships in a web page. So the first worker of an app makes
one (32 random bytes) and every worker reads the same one from the app's internal topic
`<app id>-secrets` (one partition):

1. read the topic from the beginning to its end;
2. if it holds no secret, produce a candidate (key: a random id, so that compaction
   never merges two candidates) and read again;
3. the secret is the record with the lowest offset: workers that raced in step 2 all
   pick the same one, whatever order they wrote in.

`STREAMS_DISPLAY_SECRET` overrides all of this (an operator who keeps secrets elsewhere).
Only those who can read the topic can forge display tokens: protect it with Kafka ACLs
where the cluster is shared (docs/security.md).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

import orjson
from kafka import KafkaProducer

from streams.runtime import topicread

SECRET_BYTES = 32
READ_TIMEOUT_S = 30.0


def first_secret(bootstrap: str, topic: str, timeout_s: float) -> bytes | None:
    """The secret `topic` holds (its first record of 16 bytes or more), None if none; the
    topic is waited for up to `timeout_s` (TopicNotFound after that, TopicReadTimeout if it
    cannot be read to its end in that time)."""
    records = topicread.read_to_end(bootstrap, topic, partitions=[0], timeout_s=timeout_s,
                                    wait_for_topic_s=timeout_s, client_id="survey-streams-secret")
    try:
        for record in records:
            if record.value and len(record.value) >= 16:
                return record.value
        return None
    finally:
        records.close()


def shared_secret(bootstrap: str, topic: str, timeout_s: float = READ_TIMEOUT_S) -> bytes:
    """The app's display secret from `topic`, made there first if none exists yet."""
    found = first_secret(bootstrap, topic, timeout_s)
    if found is not None:
        return found
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=uuid.uuid4().hex.encode(), value=secrets.token_bytes(SECRET_BYTES), partition=0)
        producer.flush(timeout=timeout_s)
    finally:
        producer.close()
    found = first_secret(bootstrap, topic, timeout_s)
    if found is None:
        raise RuntimeError(f"wrote a display secret to {topic} but could not read it back")
    return found


# --- what the secret signs ---------------------------------------------------------------
#
# One secret, a key derived from it per use, so that a value signed for one use can never
# pass for another.

SIGNATURE_HEADER = "ss-sig"


def derived_key(secret: bytes, purpose: str) -> bytes:
    return hmac.new(secret, purpose.encode(), hashlib.sha256).digest()


def command_signature(key: bytes, record_key: bytes, value: bytes) -> bytes:
    """The signature of a user-commands record (its header SIGNATURE_HEADER): only
    the workers write commands, and a command carries whole states (absorb) or redirects
    (fold), so one written by anyone else must not be applied."""
    return hmac.new(key, len(record_key).to_bytes(4, "big") + record_key + value, hashlib.sha256).digest()[:16]


def command_signature_ok(key: bytes, record_key: bytes | None, value: bytes | None, headers) -> bool:
    if record_key is None or value is None or not key:
        return False
    given = None
    for name, header in (headers.items() if isinstance(headers, dict) else headers or ()):
        if name == SIGNATURE_HEADER:
            given = header
    return isinstance(given, bytes) and hmac.compare_digest(given, command_signature(key, record_key, value))


# --- what a command carries besides its signature ------------------------------------------
#
# A signature alone lets anyone who can read the user-commands topic and write to it replay a
# command verbatim: an `absorb` applied twice sums a user's counters twice. So every command
# also carries an expiry and a nonce (docs/security.md, "User commands"):
# - `exp`: the time after which the broker must not have appended it. The topic keeps the
#   broker's append time (LogAppendTime), which no writer sets: a copy written later than
#   that is refused (`expired_command`);
# - `nonce`: 64 random bits, remembered with the input in the state it was applied to (the
#   24 h window, streams.core.seen): a copy written before the expiry is refused once the command
#   was applied (`replayed_command`);
# - `at`: the time of the input that caused the command, which its processing uses in place
#   of a clock (docs/processing.md, "Time").

COMMAND_TTL_MS = 60 * 60 * 1000  # a command reaches the broker within seconds; an hour is slack


def seal_command(command: dict, sent_ms: int) -> dict:
    """`command` with its `at` (kept if the caller set it), `exp` and `nonce`."""
    sealed = dict(command)
    at = sealed.get("at")
    if not isinstance(at, int) or isinstance(at, bool):
        sealed["at"] = sent_ms
    sealed["exp"] = sent_ms + COMMAND_TTL_MS
    sealed["nonce"] = secrets.token_hex(8)
    return sealed


def command_nonce(command: dict) -> str | None:
    nonce = command.get("nonce")
    return nonce if isinstance(nonce, str) and 0 < len(nonce) <= 64 else None


def command_expired(command: dict, appended_ms: int | None) -> bool:
    """Whether the command had expired when the broker appended it (no valid `exp`: yes)."""
    expires = command.get("exp")
    if not isinstance(expires, int) or isinstance(expires, bool):
        return True
    return appended_ms is not None and appended_ms > expires


def resealed(checked: bytes, signed: bytes, record_key: bytes | None, value: bytes | None, headers,
             now_ms: int) -> tuple[bytes, list] | None:
    """A command moved to another topic (`python -m streams topics migrate`): (value, headers)
    with a fresh expiry, signed with the key `signed`; its nonce is kept, so a command moved
    twice is still applied once. None for a record not signed with the key `checked` (no
    worker wrote it: it would be refused anyway)."""
    if not command_signature_ok(checked, record_key, value, headers):
        return None
    try:
        command = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(command, dict):
        return None
    command["exp"] = now_ms + COMMAND_TTL_MS
    raw = orjson.dumps(command)
    return raw, [(SIGNATURE_HEADER, command_signature(signed, record_key, raw))]
