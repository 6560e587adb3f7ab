"""Which inputs a user's state has applied: exactly, by offset, and for 24 h, by id.

Two mechanisms, because inputs come back in two ways (docs/processing.md, "Once per message"):

- **Replays** (a kill, a rebalance, a commit that did not happen): the same record, at the
  same offset of the same partition, read again. A user's records of one partition are
  applied in offset order, so the state keeps, per partition it was changed from, the
  highest offset applied (`applied`); a record at or below it is a replay, however long the
  replay is. Exact, and a few bytes per input partition.
- **Retries** (Segment's delivery, an SDK after a timeout or a 5xx, the bridge's client): the
  same message again as a new record. The state keeps the ids of the messages it handled in
  the last 24 h (`seen`), bounded by bytes, not by count: each id costs 12 characters (a
  48-bit hash of the id and the second it was handled, base64), and the window holds
  WINDOW_CHARS of them (10,922 ids: 24 h of one message every 8 s from one user). A user who
  sends more within 24 h shortens only their own window, oldest first (the caller counts
  it); replays stay exact whatever the volume.

Pure: every time is an argument (the input's own time, never a clock), so a replay of the
same inputs yields the same window.

    state["applied"] = {"<topic>/<partition>": offset}
    state["seen"] = {"base": ms, "ids": "<12 chars per id: 8 of hash, 4 of seconds since base>"}

A state written before this module kept `seen` as {16-hex blake2b-64 of the id: ms}; it is
read as is and rewritten in the new form at its next write (the hash here is the first 48
bits of that same hash, so no id is forgotten).
"""
from __future__ import annotations

import base64
import hashlib
from functools import lru_cache

WINDOW_MS = 24 * 60 * 60 * 1000
ENTRY_CHARS = 12
_HASH_CHARS = 8  # 6 bytes of hash, base64: exactly 8 characters, no padding
_SECONDS_MAX = 2**24 - 1  # 3 bytes of seconds since base: 194 days
WINDOW_CHARS = 128 * 1024 // ENTRY_CHARS * ENTRY_CHARS


def id_hash(input_id: str) -> bytes:
    """48 bits of the id's BLAKE2b-64: two ids collide with probability 2^-48 (with a full
    window, a new id is taken for a duplicate with probability ~4e-11)."""
    return hashlib.blake2b(input_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()[:6]


@lru_cache(maxsize=4096)  # an input's id is looked for, then remembered: hashed once
def _needle(input_id: str) -> str:
    return base64.b64encode(id_hash(input_id)).decode("ascii")


def _entry(hash_chars: str, seconds: int) -> str:
    return hash_chars + base64.b64encode(seconds.to_bytes(3, "big")).decode("ascii")


def _seconds(ids: str, position: int) -> int:
    return int.from_bytes(base64.b64decode(ids[position + _HASH_CHARS:position + ENTRY_CHARS]), "big")


def _entries(window) -> tuple[int, list[tuple[str, int]]]:
    """(base, [(hash chars, handled ms)]) of a window in either form, in handling order."""
    if not window:
        return 0, []
    if "ids" not in window:  # the form before this module: {hex of blake2b-64: ms}
        entries = []
        for key, handled in window.items():
            try:
                chars = base64.b64encode(bytes.fromhex(key)[:6]).decode("ascii")
            except ValueError:
                continue
            if isinstance(handled, int) and len(chars) == _HASH_CHARS:
                entries.append((chars, handled))
        entries.sort(key=lambda entry: entry[1])
        return (entries[0][1] if entries else 0), entries
    base, ids = window.get("base") or 0, window.get("ids") or ""
    return base, [(ids[i:i + _HASH_CHARS], base + _seconds(ids, i) * 1000)
                  for i in range(0, len(ids) - ENTRY_CHARS + 1, ENTRY_CHARS)]


def _encode(entries: list[tuple[str, int]]) -> dict:
    if not entries:
        return {"base": 0, "ids": ""}
    base = min(handled for _, handled in entries) // 1000 * 1000
    return {"base": base, "ids": "".join(_entry(chars, min(-(-(handled - base) // 1000), _SECONDS_MAX))
                                        for chars, handled in entries)}


def handled_within(window, input_id: str, now: int) -> bool:
    """Whether `input_id` was handled less than 24 h before `now`."""
    if not window:
        return False
    if "ids" not in window:
        return any(now - handled < WINDOW_MS for chars, handled in _entries(window)[1] if chars == _needle(input_id))
    needle, ids, base = _needle(input_id), window.get("ids") or "", window.get("base") or 0
    position = ids.find(needle)
    while position >= 0:
        if position % ENTRY_CHARS == 0 and now - (base + _seconds(ids, position) * 1000) < WINDOW_MS:
            return True
        position = ids.find(needle, position + 1)
    return False


def remember(window, input_id: str, now: int, max_chars: int = WINDOW_CHARS) -> tuple[dict, bool]:
    """The window with `input_id` handled at `now` (a new dict), and whether ids younger than
    24 h had to be dropped to stay within `max_chars`. Ids older than 24 h at `now` go; the
    time kept is rounded up to the second, so an id is held for 24 h to 24 h + 1 s."""
    if window and "ids" in window and window.get("ids") is not None:
        base, ids = window.get("base") or 0, window["ids"]
        start = 0
        # Every id was handled at or after the base: none has expired while the base has not.
        while now - base >= WINDOW_MS and start < len(ids) and now - (base + _seconds(ids, start) * 1000) >= WINDOW_MS:
            start += ENTRY_CHARS
        ids = ids[start:]
        if not ids:
            base = now // 1000 * 1000
        seconds = -(-(now - base) // 1000)
        if 0 <= seconds <= _SECONDS_MAX:
            ids += _entry(_needle(input_id), seconds)
            shortened = False
            if len(ids) > max_chars:
                cut = -(-(len(ids) - max_chars) // ENTRY_CHARS) * ENTRY_CHARS
                ids, shortened = ids[cut:], True
            return {"base": base, "ids": ids}, shortened
    # the old form, or a time before the base or over 194 days after it: rebuilt
    entries = [entry for entry in _entries(window)[1] if now - entry[1] < WINDOW_MS]
    entries.append((_needle(input_id), now))
    return _capped(entries, max_chars)


def _capped(entries: list[tuple[str, int]], max_chars: int) -> tuple[dict, bool]:
    keep = max(max_chars // ENTRY_CHARS, 1)
    shortened = len(entries) > keep
    return _encode(entries[-keep:]), shortened


def merge(window, other, now: int, max_chars: int = WINDOW_CHARS) -> dict:
    """The union of two windows (an identity fold), the ids of the last 24 h at `now`,
    oldest first, the newest kept within `max_chars`."""
    entries = [entry for entry in (*_entries(window)[1], *_entries(other)[1]) if now - entry[1] < WINDOW_MS]
    entries.sort(key=lambda entry: entry[1])
    return _capped(entries, max_chars)[0]


def size(window) -> int:
    """How many ids the window holds."""
    if not window:
        return 0
    return len(window.get("ids") or "") // ENTRY_CHARS if "ids" in window else len(window)


# --- replays, by offset ----------------------------------------------------------------------

def partition_key(topic: str, partition: int) -> str:
    return f"{topic}/{partition}"


def replayed(state: dict | None, topic: str, partition: int, offset: int, end_offset: int | None = None) -> bool:
    """Whether the record at `offset` of `topic`/`partition` is already applied to `state`.

    `end_offset` (the partition's high watermark, when known) guards a topic deleted and made
    again: its offsets start over, and an applied offset at or past the end of the log is one
    of the old topic's, not a reason to skip new records."""
    applied = ((state or {}).get("applied") or {}).get(partition_key(topic, partition))
    if not isinstance(applied, int) or offset > applied:
        return False
    return end_offset is None or applied < end_offset


def mark_applied(state: dict, topic: str, partition: int, offset: int) -> None:
    applied = state.get("applied")
    if not isinstance(applied, dict):
        applied = state["applied"] = {}
    applied[partition_key(topic, partition)] = offset
