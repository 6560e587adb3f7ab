"""User commands moved to another topic (`python -m streams topics migrate`): resealed."""
from __future__ import annotations

import orjson
import pytest

from streams.runtime import signing

OLD = signing.derived_key(b"o" * 32, "user-command")
NEW = signing.derived_key(b"n" * 32, "user-command")
NOW = 1_800_000_000_000


def signed(key: bytes, user: bytes, command: dict) -> tuple[bytes, list]:
    raw = orjson.dumps(command)
    return raw, [(signing.SIGNATURE_HEADER, signing.command_signature(key, user, raw))]


def test_a_moved_command_gets_a_fresh_expiry_and_the_new_signature_and_keeps_its_nonce():
    command = signing.seal_command({"kind": "tick"}, NOW - 2 * signing.COMMAND_TTL_MS)
    raw, headers = signed(OLD, b"u1", command)
    value, new_headers = signing.resealed(OLD, NEW, b"u1", raw, headers, NOW)
    moved = orjson.loads(value)
    assert moved == {**command, "exp": NOW + signing.COMMAND_TTL_MS}
    assert signing.command_signature_ok(NEW, b"u1", value, new_headers)
    assert not signing.command_signature_ok(OLD, b"u1", value, new_headers)
    assert not signing.command_expired(moved, NOW + 1000)


@pytest.mark.parametrize("user, value, headers", [
    (b"u1", orjson.dumps({"kind": "tick"}), []),  # unsigned
    (b"u2", *signed(OLD, b"u1", {"kind": "tick"})),  # signed for another user
    (b"u1", *signed(NEW, b"u1", {"kind": "tick"})),  # not with the key it is checked with
    (b"u1", *signed(OLD, b"u1", ["tick"])),  # signed, but no command
])
def test_a_record_no_worker_signed_is_not_moved(user, value, headers):
    assert signing.resealed(OLD, NEW, user, value, headers, NOW) is None
