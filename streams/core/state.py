"""The per-user state kept in the `users` table, its shape, and its byte budget.

Every instant is epoch milliseconds (UTC). The value is plain JSON so the changelog is
readable with any Kafka tool. Bounds keep one user's state small (docs/security.md):
`seen` holds the ids of the last 24 h within a byte budget (streams.core.seen), `displays` at most DISPLAYS_MAX entries,
and `encode` refuses a state over the project's limits (docs/reference.md#project-settings) before it is written
anywhere.

    {
      "userId": str | None,           # None while only anonymous ids were seen
      "identified": bool,             # an identify carrying this userId was processed
      "traits": {name: value},
      "traitTimes": {name: ms},       # event time of the identify that set each trait
      "groups": {groupId: {"traits": {...}, "traitTimes": {...}, "at": ms}},  # group calls
      "createdAt": ms | None,         # parsed from traits.createdAt
      "firstSeen": ms | None, "lastSeen": ms | None,
      "anonymousIds": [str],
      "triggers": {surveyId: {"count": int, "last": ms}},
      "surveys": {surveyId: {"displays": int, "displaysSinceResponse": int,
                             "lastShownAt": ms|None, "lastRespondedAt": ms|None,
                             "lastDismissedAt": ms|None, "responses": int}},
      "lastSurveyShownAt": ms | None,
      "displays": {displayId: {...}},  # lifecycle state per display (streams.core.lifecycle)
      "seen": {"base": ms, "ids": str},  # ids handled in the last 24 h (streams.core.seen)
      "applied": {"<topic>/<partition>": offset},  # the last record applied from each (streams.core.seen)
      "decision": {"eligible", "surveyId", "reason", "eligibleAt"} | None,  # last emitted
      "aliasOf": str | None,          # this key was folded into that user
    }
"""
from __future__ import annotations

import hashlib

import orjson

from streams.core.errors import INVALID_FIELD, TOO_LARGE, InvalidInput

DISPLAYS_MAX = 32
# Displays open at once: one poll of an eligible user opens one, and the first Viewed makes
# the user ineligible for a while, so more than a few open means someone is forging them.
OPEN_DISPLAYS_MAX = 4


def message_key(message_id: str) -> str:
    """What the state remembers of a message id: 16 hex chars of its BLAKE2b hash, so an
    id's length costs the state nothing (ids are up to 256 bytes)."""
    return hashlib.blake2b(message_id.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def _trait_sets(state: dict):
    """(field, traits) for the user's traits and each group's, each bounded alike."""
    yield "traits", state.get("traits") or {}
    for group_id, group in (state.get("groups") or {}).items():
        yield f"groups.{group_id[:64]}.traits", group.get("traits") or {}


def latest_group(state: dict | None) -> tuple[str, dict] | None:
    """(groupId, its traits) of the group the user was last seen in, or None."""
    groups = (state or {}).get("groups") or {}
    if not groups:
        return None
    group_id = max(groups, key=lambda gid: (groups[gid].get("at") or -(2**63), gid))
    return group_id, groups[group_id].get("traits") or {}


GROUP_PREFIX = "group."


def trait_snapshot(state: dict | None) -> dict:
    """The user's traits, with the most recent group's as "group.<name>"
    (docs/reference.md#inbound-segment-messages): what targeting filters, `trait:` properties
    and responses' trait snapshots see. The user's own traits dict itself when there is no
    group (the hot path copies nothing)."""
    traits = (state or {}).get("traits") or {}
    latest = latest_group(state)
    if latest is None:
        return traits
    return {**traits, **{GROUP_PREFIX + name: value for name, value in latest[1].items()}}


def _shed_groups(state: dict, trait_bytes: int) -> None:
    """Drop the least recent groups while all groups' traits together take more than
    `trait_bytes`; the most recent one is kept (targeting reads only it). Groups share one
    trait budget, so group calls alone cannot fill a user's state up to its budget."""
    groups = state.get("groups")
    if not groups or len(groups) < 2:
        return
    sizes = {group_id: len(orjson.dumps(group.get("traits") or {})) for group_id, group in groups.items()}
    total = sum(sizes.values())
    by_age = sorted(groups, key=lambda gid: (groups[gid].get("at") or -(2**63), gid))
    for group_id in by_age[:-1]:
        if total <= trait_bytes:
            break
        total -= sizes[group_id]
        del groups[group_id]


def _dump(state: dict) -> bytes:
    try:
        return orjson.dumps(state)
    except orjson.JSONEncodeError as exc:  # nesting orjson can read but not write
        raise InvalidInput(INVALID_FIELD, "state", None, f"the state cannot be stored: {exc}") from None


def encode(state: dict, limits, room: int = 0) -> bytes:
    """The state as stored (JSON), or InvalidInput `too_large` naming the limit it breaks.

    The one place the byte budget is enforced: every write of a user's state goes through
    here first, so nothing over the budget reaches the store or the changelog. The one thing
    it changes: groups beyond their shared trait budget are dropped, least recent first.
    """
    for field, traits in _trait_sets(state):
        if len(traits) > limits.traits:
            raise InvalidInput(TOO_LARGE, field, len(traits),
                               f"{field} would hold {len(traits)} traits, the limit is {limits.traits}")
    data = _dump(state)
    if len(data) > limits.trait_bytes:  # the traits are a part of it: measure them only then
        groups = state.get("groups")
        if groups and len(groups) > 1:
            _shed_groups(state, limits.trait_bytes)
            data = _dump(state)
        for field, traits in _trait_sets(state):
            trait_bytes = len(orjson.dumps(traits))
            if trait_bytes > limits.trait_bytes:
                raise InvalidInput(TOO_LARGE, field, trait_bytes,
                                   f"{field} would take {trait_bytes} bytes, the limit is {limits.trait_bytes}")
    if len(data) + room > limits.state_bytes:  # room: bytes the caller will still add (a decision)
        raise InvalidInput(TOO_LARGE, "state", len(data) + room,
                           f"the user's state would take {len(data) + room} bytes, the limit is {limits.state_bytes}")
    return data


def new_user_state(user_id: str | None = None) -> dict:
    return {
        "userId": user_id,
        "identified": False,
        "traits": {},
        "traitTimes": {},
        "groups": {},
        "createdAt": None,
        "firstSeen": None,
        "lastSeen": None,
        "anonymousIds": [],
        "triggers": {},
        "surveys": {},
        "lastSurveyShownAt": None,
        "displays": {},
        "seen": {},
        "applied": {},
        "decision": None,
        "aliasOf": None,
    }


def new_survey_history() -> dict:
    return {
        "displays": 0,
        "displaysSinceResponse": 0,
        "lastShownAt": None,
        "lastRespondedAt": None,
        "lastDismissedAt": None,
        "responses": 0,
    }


def public_user(state: dict, user_id: str) -> dict:
    """The user state as `GET /v1/users/{userId}` shows it (docs/reference.md#user-state): ISO times."""
    from streams.core.timeutil import iso

    return {
        "userId": state.get("userId") or user_id,
        "traits": state.get("traits", {}),
        "createdAt": iso(state.get("createdAt")),
        "firstSeen": iso(state.get("firstSeen")),
        "lastSeen": iso(state.get("lastSeen")),
        "anonymousIds": list(state.get("anonymousIds", [])),
        "triggers": {sid: {"count": t["count"], "last": iso(t.get("last"))}
                     for sid, t in state.get("triggers", {}).items()},
        "surveys": {sid: {
            "displays": h.get("displays", 0),
            "displaysSinceResponse": h.get("displaysSinceResponse", 0),
            "lastShownAt": iso(h.get("lastShownAt")),
            "lastRespondedAt": iso(h.get("lastRespondedAt")),
            "lastDismissedAt": iso(h.get("lastDismissedAt")),
            "responses": h.get("responses", 0),
        } for sid, h in state.get("surveys", {}).items()},
        "lastSurveyShownAt": iso(state.get("lastSurveyShownAt")),
        "groups": {group_id: {"traits": group.get("traits") or {}, "lastSeen": iso(group.get("at"))}
                   for group_id, group in (state.get("groups") or {}).items()},
    }
