"""Display tokens (CONTRACT 7): only a display the bridge opened can get a response.

`/v1/eligibility` answers an eligible user with a fresh display id and a token that binds
user, survey and display to an expiry instant, signed with the app's display secret
(streams.secrets): HMAC-SHA256 over the four values, cut to 128 bits. The widget sends it
back as `displayToken` on every event of the display. The bridge refuses an event without
a valid token (403) and the users agent checks again, so a record written straight to
`surveys.lifecycle` cannot open a display either.

Pure: the secret and `now` are arguments.

    token = "<expires, epoch ms, base 16>.<mac, base64url>"

Choices:
- The token opens its display until it expires (`project.display_token_minutes` after
  it was issued). Events for a display that is already open are accepted until the
  display itself ends (its timeout), so the bridge accepts a well-signed token up to
  `display_timeout_minutes` after its expiry, and the agent refuses only the event that
  would open the display after expiry, judged by the time the bridge received it.
- Display ids are random (128 bits): two polls give two displays, and the lifecycle's
  one-response-per-window rule keeps them to one response.
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
import secrets

import orjson

from .errors import INVALID_TOKEN, InvalidInput
from .timeutil import MINUTE_MS, RECEIPT_SKEW_MS, parse_iso

_MAC_BYTES = 16
_MAX_TOKEN_CHARS = 64
# The expiry as `issue` writes it: lowercase hex, at most 64 bits. int(text, 16) alone also
# reads "0x..", "+", "_" and any length, and an expiry over 64 bits made orjson (in _mac)
# raise: a 500 at the bridge for any holder of the widget key.
_EXPIRY = re.compile(r"[0-9a-f]{1,16}")


def new_display_id() -> str:
    return "d-" + secrets.token_hex(16)


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


def check_in_agent(secret: bytes, event: dict, opens_display: bool, now: int) -> None:
    """Raise InvalidInput `invalid_token` unless the event may be applied.

    Every event needs a valid signature; the one that opens its display must also have
    reached the bridge (`receivedAt`, else now) before the token expired.
    """
    expires = expiry(secret, event.get("displayToken"), event["userId"], event["surveyId"], event["displayId"])
    if expires is None:
        raise InvalidInput(INVALID_TOKEN, "displayToken", None,
                           "no valid display token: only a display from /v1/eligibility can be opened")
    received = parse_iso(event.get("receivedAt"))
    if opens_display and (received if received is not None else now) > expires:
        raise InvalidInput(INVALID_TOKEN, "displayToken", None, "the display token expired before the display opened")
