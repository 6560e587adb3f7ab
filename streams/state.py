"""The per-user state kept in the `users` table, and its shape.

Every instant is epoch milliseconds (UTC). The value is plain JSON so the changelog is
readable with any Kafka tool. Bounds keep one user's state small (docs/state.md):
`seen` holds at most SEEN_MAX message ids, `displays` at most DISPLAYS_MAX entries.

    {
      "userId": str | None,           # None while only anonymous ids were seen
      "identified": bool,             # an identify carrying this userId was processed
      "traits": {name: value},
      "traitTimes": {name: ms},       # event time of the identify that set each trait
      "createdAt": ms | None,         # parsed from traits.createdAt
      "firstSeen": ms | None, "lastSeen": ms | None,
      "anonymousIds": [str],
      "triggers": {surveyId: {"count": int, "last": ms}},
      "surveys": {surveyId: {"displays": int, "displaysSinceResponse": int,
                             "lastShownAt": ms|None, "lastRespondedAt": ms|None,
                             "lastDismissedAt": ms|None, "responses": int}},
      "lastSurveyShownAt": ms | None,
      "displays": {displayId: {...}},  # lifecycle state per display (streams.lifecycle)
      "seen": {messageId: handled_ms}, # duplicate detection, 24 h
      "decision": {"eligible", "surveyId", "reason", "eligibleAt"} | None,  # last emitted
      "aliasOf": str | None,          # this key was folded into that user
    }
"""
from __future__ import annotations

SEEN_WINDOW_MS = 24 * 60 * 60 * 1000
SEEN_MAX = 256
DISPLAYS_MAX = 32


def new_user_state(user_id: str | None = None) -> dict:
    return {
        "userId": user_id,
        "identified": False,
        "traits": {},
        "traitTimes": {},
        "createdAt": None,
        "firstSeen": None,
        "lastSeen": None,
        "anonymousIds": [],
        "triggers": {},
        "surveys": {},
        "lastSurveyShownAt": None,
        "displays": {},
        "seen": {},
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
    """The user state as `GET /v1/users/{userId}` shows it (CONTRACT 4.2): ISO times."""
    from .timeutil import iso

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
    }
