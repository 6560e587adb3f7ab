"""Display tokens and display ids (docs/security.md, "Display tokens"): only a display the
bridge opened can get a response, and a user has one display per survey at a time.

`/v1/eligibility` answers an eligible user with a display id and a token that binds user,
survey and display to an expiry instant, signed with the app's display secret
(its `<app id>-secrets` topic): HMAC-SHA256 over the four values, cut to 128 bits. The widget sends it
back as `displayToken` on every event of the display. The bridge refuses an event without
a valid token (403) and the users agent checks again, so a record written straight to
`surveys.lifecycle` cannot open a display either.

One display per open survey (`hand_out`, `check_in_agent`): a display id is not random but
made from the user, the survey and the *slot*, how many displays of that survey the user
has opened so far (`surveys[surveyId].displays` in the state):

    displayId = "d-" + hex(HMAC-SHA256(display-id key, [userId, surveyId, slot]))[:32]

so every poll between two openings hands out the same id, and the users agent opens only
the display of the current slot: however many tokens a client collects, each slot opens
once, and the next slot's id is handed out only once that display has ended (while a
display is open, /v1/eligibility hands out that one again, with a fresh token) and only
while the rules say the user is eligible. `max_displays` and `redisplay_after_hours` hold
whatever a client does with its tokens.

Pure: the secrets, the state and `now` are arguments.

    token = "<expires, epoch ms, base 16>.<mac, base64url>"

Choices:
- The token opens its display until it expires (`project.display_token_minutes` after
  it was issued). Events for a display that is already open are accepted until the
  display itself ends (its timeout), so the bridge accepts a well-signed token up to
  `display_timeout_minutes` after its expiry, and the agent refuses only the event that
  would open the display after expiry, judged by the time the bridge received it.
- An event that would open a display of another slot than the current one is refused
  (`invalid_token`): a token of a display already opened and dropped from the state
  (DISPLAYS_MAX), or one handed out before the user's history changed. A fold sums the
  survey histories (streams.core.userstate.fold_into), so a token in flight when the user's
  anonymous history is folded in names a slot that has passed: it opens nothing, and the
  next poll hands out the new slot's display.
- While a display is open (not ended, deadline not passed) /v1/eligibility answers with it,
  even though the rules now say `recently_displayed`: a page reload continues the display.
  Not when its survey is gone from the config or outside its window (`active: false`,
  `ends_at` passed): the operator stopped it. With several open (two surveys, only when a
  fold brings one in), the latest started.
- `receivedAt` is written by whoever writes to `surveys.lifecycle` (an operator importing
  history backdates it on purpose: streams.demo.sessions), so it cannot tell when a token
  was used. Where the topic keeps the broker's append time (LogAppendTime, as `topics
  create` makes it), the agent holds the record to the bridge's rule at that time
  (check_appended): a token harvested once opens nothing days later.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re

import dataclasses

import orjson

from streams.core import client as clients, lifecycle, targeting
from streams.core.config import Config
from streams.core.errors import INVALID_TOKEN, InvalidInput
from streams.core.timeutil import MINUTE_MS, RECEIPT_SKEW_MS, parse_iso

_MAC_BYTES = 16
_MAX_TOKEN_CHARS = 64
# The expiry as `issue` writes it: lowercase hex, at most 64 bits. int(text, 16) alone also
# reads "0x..", "+", "_" and any length, and an expiry over 64 bits made orjson (in _mac)
# raise: a 500 at the bridge for any holder of the widget key.
_EXPIRY = re.compile(r"[0-9a-f]{1,16}")


def display_id(key: bytes, user_id: str, survey_id: str, slot: int) -> str:
    """The id of the user's display of `survey_id` in `slot` (the module doc)."""
    message = orjson.dumps([user_id, survey_id, slot])
    return "d-" + hmac.new(key, message, hashlib.sha256).digest()[:_MAC_BYTES].hex()


def slot(state: dict | None, survey_id: str) -> int:
    """How many displays of the survey the user has opened: the slot of the next one."""
    history = ((state or {}).get("surveys") or {}).get(survey_id) or {}
    count = history.get("displays")
    return count if isinstance(count, int) and count >= 0 else 0


def current_display_id(key: bytes, state: dict | None, user_id: str, survey_id: str) -> str:
    """The one display of the survey the user may open now."""
    return display_id(key, user_id, survey_id, slot(state, survey_id))


def hand_out(key: bytes, state: dict | None, config: Config, user_id: str, now: int,
             request: clients.Request = clients.NO_REQUEST,
             response_counts=None) -> tuple[targeting.Decision, str | None]:
    """What /v1/eligibility answers: the decision, and the id of the display to hand out
    (None when not eligible). An open display is handed out again, eligible whatever the
    rules now say (the module doc; so it may still be answered after the survey reached a
    response limit); else the current slot's display when the rules say eligible.
    `response_counts`: targeting.decide's. Polling changes nothing: the same state gives the same id."""
    decision = targeting.decide(state, config, now, user_id, request=request, response_counts=response_counts)
    continued = _continued(state, config, now)
    if continued is not None:
        survey, open_id = continued
        return dataclasses.replace(decision, eligible=True, survey=survey, reason=targeting.ELIGIBLE,
                                   eligible_at=None), open_id
    if decision.survey is None:
        return decision, None
    return decision, current_display_id(key, state, user_id, decision.survey.id)


def locale_of(state: dict | None, survey, display_id: str | None, requested=None) -> str:
    """The locale a handed-out display is shown in: the one an open display has, else the
    user's for the survey (targeting.survey_locale)."""
    display = ((state or {}).get("displays") or {}).get(display_id) if display_id else None
    if display is not None and display.get("locale") in survey.locales:
        return display["locale"]
    return targeting.survey_locale(survey, state, requested)


def _continued(state: dict | None, config: Config, now: int):
    """(survey, display id) of the open display the bridge hands out again, or None."""
    for open_id, display in lifecycle.open_displays(state, now):  # latest started first
        survey = config.survey(display["surveyId"])
        if survey is not None and targeting.in_window(survey, now):
            return survey, open_id
    return None


def _mac(secret: bytes, user_id: str, survey_id: str, display_id: str, expires: int) -> bytes:
    # A JSON array keeps the fields apart whatever characters the ids hold.
    message = orjson.dumps([user_id, survey_id, display_id, expires])
    return hmac.new(secret, message, hashlib.sha256).digest()[:_MAC_BYTES]


def issue(secret: bytes, user_id: str, survey_id: str, display_id: str, now: int, ttl_minutes: float) -> dict:
    """The `display` object of an eligible answer: {"id", "token"}."""
    expires = now + round(ttl_minutes * MINUTE_MS)
    mac = base64.urlsafe_b64encode(_mac(secret, user_id, survey_id, display_id, expires)).rstrip(b"=").decode()
    return {"id": display_id, "token": f"{expires:x}.{mac}"}


def expiry(secret: bytes, token, user_id: str, survey_id: str, display_id: str) -> int | None:
    """The token's expiry (epoch ms) if it is a valid signature for these ids, else None."""
    if not isinstance(token, str) or not secret or len(token) > _MAX_TOKEN_CHARS or token.count(".") != 1:
        return None
    expires_text, mac_text = token.split(".")
    if not _EXPIRY.fullmatch(expires_text):
        return None
    try:
        expires = int(expires_text, 16)
        given = base64.urlsafe_b64decode(mac_text + "=" * (-len(mac_text) % 4))
    except ValueError:  # binascii.Error is a ValueError
        return None
    if not hmac.compare_digest(given, _mac(secret, user_id, survey_id, display_id, expires)):
        return None
    return expires


def check_at_bridge(secret: bytes, event: dict, display_timeout_minutes: float, now: int) -> InvalidInput | None:
    """Why the bridge must refuse this widget event (403), or None if its token is good."""
    token = event.get("displayToken")
    if token is None:
        return InvalidInput(INVALID_TOKEN, "displayToken", None,
                            "'displayToken' is required: use the display from /v1/eligibility")
    expires = expiry(secret, token, event["userId"], event["surveyId"], event["displayId"])
    if expires is None:
        return InvalidInput(INVALID_TOKEN, "displayToken", None,
                            "'displayToken' is not valid for this user, survey and display")
    if now > expires + round(display_timeout_minutes * MINUTE_MS):
        return InvalidInput(INVALID_TOKEN, "displayToken", None, "'displayToken' has expired")
    return None


def check_appended(secret: bytes, event: dict, display_timeout_minutes: float,
                   appended_ms: int | None) -> InvalidInput | None:
    """The bridge's rule (check_at_bridge) at the broker's append time of the record, less
    RECEIPT_SKEW_MS; None when the record's timestamp is the producer's (CreateTime:
    anyone's, nothing to go by) or the token passes."""
    if appended_ms is None:
        return None
    return check_at_bridge(secret, event, display_timeout_minutes, appended_ms - RECEIPT_SKEW_MS)


def check_in_agent(secret: bytes, id_key: bytes, event: dict, state: dict | None, now: int) -> None:
    """Raise InvalidInput `invalid_token` unless the event may be applied to `state`.

    Every event needs a valid signature. The one that opens its display (its id is not in
    the state) must also have reached the bridge (`receivedAt`, else now) before the token
    expired, and be the display of the user's current slot for its survey: each slot opens
    once, and since the next slot is handed out only when no display of the survey is open,
    at most one is open at once.
    """
    expires = expiry(secret, event.get("displayToken"), event["userId"], event["surveyId"], event["displayId"])
    if expires is None:
        raise InvalidInput(INVALID_TOKEN, "displayToken", None,
                           "no valid display token: only a display from /v1/eligibility can be opened")
    if event["displayId"] in ((state or {}).get("displays") or {}):
        return
    received = parse_iso(event.get("receivedAt"))
    if (received if received is not None else now) > expires:
        raise InvalidInput(INVALID_TOKEN, "displayToken", None, "the display token expired before the display opened")
    if event["displayId"] != current_display_id(id_key, state, event["userId"], event["surveyId"]):
        raise InvalidInput(INVALID_TOKEN, "displayId", event["displayId"],
                           f"display {event['displayId']} cannot be opened: it is not the display of survey "
                           f"{event['surveyId']} that /v1/eligibility hands out now (one was opened since, or the "
                           "user's history changed); ask /v1/eligibility again")
