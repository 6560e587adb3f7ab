"""Widget events (docs/reference.md#widget-events): validate what the widget posts, and secure mode's HMAC.

    {"messageId", "userId", "userHash"?, "surveyId", "displayId",
     "type": "shown" | "answered" | "closed" | "submitted",
     "questionId"?, "value"?, "timestamp"?, "locale"?}

Every failure is an InvalidInput naming the field and the offending value; the bridge
answers 400 with it. Checks are plain isinstance tests: this runs on every widget call.

Choices where the contract is silent:
- a field present with the value null is treated as absent (as for Segment messages);
- a numeric `userId` is turned into its string, as the Segment ingestion does, so the
  widget and Segment name the same user;
- ids are capped at 256 UTF-8 bytes (docs/reference.md#widget-events): they become keys of the user's state;
- `displayToken` (docs/reference.md#widget-events) is kept as given, for the bridge and the agent to check
  (streams.core.displays); `receivedAt` is kept when it is a date-time (the bridge stamps it);
- fields not listed above are dropped, and `questionId`/`value` are kept only on
  `answered`, so the lifecycle topic carries clean events;
- `userHash` is kept (the bridge checks it after validation, docs/reference.md#widget-events orders 400
  before 403); the bridge may drop it before producing;
- a text answer may be empty; it still counts as an answer; a `multi` answer is a list of
  distinct choices, possibly empty (streams.core.questions.check_answer);
- `locale`, optional, is the locale the widget shows the survey in: one of the survey's
  (the display keeps the first one it is given; without one the user's is chosen).
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Any

from streams.core import locales
from streams.core.config import Config, Survey
from streams.core.errors import INVALID_FIELD, MISSING_FIELD, NOT_AN_OBJECT, UNKNOWN_TYPE, InvalidInput
from streams.core.questions import MAX_TEXT_CHARS, check_answer
from streams.core.timeutil import parse_iso
from streams.schemas.segment import check_id

EVENT_TYPES = ("shown", "answered", "closed", "submitted")
MAX_BATCH_EVENTS = 100
MAX_TOKEN_CHARS = 64


def user_hash(secret: str, user_id: str) -> str:
    """Secure mode's proof that the caller knows the user: hex HMAC-SHA256(secret, userId)."""
    return hmac.new(secret.encode("utf-8"), user_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def check_user_hash(secret: str, user_id: str, given: Any) -> bool:
    """Whether `given` is the user's hash; constant-time, so timing leaks nothing of it."""
    if not isinstance(given, str) or not given or len(given) > 256:
        return False
    return hmac.compare_digest(user_hash(secret, user_id).encode("ascii"),
                               given.strip().lower().encode("utf-8", "surrogatepass"))


def _missing(field: str) -> InvalidInput:
    return InvalidInput(MISSING_FIELD, field, None, f"'{field}' is required")


def _invalid(field: str, value: Any, message: str) -> InvalidInput:
    return InvalidInput(INVALID_FIELD, field, value, f"'{field}' {message}")


def _text_id(event: dict, field: str) -> str:
    value = event.get(field)
    if value is None or value == "":
        raise _missing(field)
    if not isinstance(value, str) or not value.strip():
        raise _invalid(field, value, "must be a non-empty string")
    return check_id(field, value)


def _user_id(event: dict) -> str:
    value = event.get("userId")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return _text_id(event, "userId")


def validate_event(obj: Any, config: Config) -> dict:
    """One widget event checked against the contract and the configured surveys."""
    if not isinstance(obj, dict):
        raise InvalidInput(NOT_AN_OBJECT, None, type(obj).__name__, "a widget event must be a JSON object")
    event = {"messageId": _text_id(obj, "messageId"), "userId": _user_id(obj)}
    given_hash = obj.get("userHash")
    if given_hash is not None:
        if not isinstance(given_hash, str):
            raise _invalid("userHash", given_hash, "must be a string")
        event["userHash"] = given_hash
    event["surveyId"] = _text_id(obj, "surveyId")
    survey: Survey | None = config.survey(event["surveyId"])
    if survey is None:
        raise _invalid("surveyId", event["surveyId"], "is not a configured survey")
    event["displayId"] = _text_id(obj, "displayId")

    kind = obj.get("type")
    if kind is None:
        raise _missing("type")
    if kind not in EVENT_TYPES:
        raise InvalidInput(UNKNOWN_TYPE, "type", kind, f"'type' must be one of {', '.join(EVENT_TYPES)}")
    event["type"] = kind

    if kind == "answered":
        question_id = _text_id(obj, "questionId")
        question = survey.question(question_id)
        if question is None:
            raise _invalid("questionId", question_id, f"is not a question of survey '{survey.id}'")
        if obj.get("value") is None:
            raise _missing("value")
        event["questionId"] = question_id
        event["value"] = check_answer(question, obj["value"])

    for field in ("timestamp", "receivedAt"):
        value = obj.get(field)
        if value is not None:
            if parse_iso(value) is None:
                raise _invalid(field, value, "must be an ISO 8601 date-time")
            event[field] = value
    locale = obj.get("locale")
    if locale is not None:
        # The locale the widget shows the survey in (the eligibility answer's): one of the survey's.
        tag = locales.normalize(locale)
        if tag is None or tag not in survey.locales:
            raise _invalid("locale", locale, f"must be one of the survey's locales ({', '.join(survey.locales)})")
        event["locale"] = tag
    token = obj.get("displayToken")
    if token is not None:
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise _invalid("displayToken", "...", f"must be a string of at most {MAX_TOKEN_CHARS} characters")
        event["displayToken"] = token
    return event


def parse_body(obj: Any, config: Config) -> list[dict]:
    """A request body (one event or {"batch": [...]}) -> its events, all valid or none.

    The first bad event of a batch fails the whole body, its field prefixed with its
    position ("batch[3].value") so the widget developer finds it.
    """
    if not isinstance(obj, dict):
        raise InvalidInput(NOT_AN_OBJECT, None, type(obj).__name__, "the body must be a JSON object")
    if "batch" not in obj:
        return [validate_event(obj, config)]
    batch = obj["batch"]
    if not isinstance(batch, list) or not batch:
        raise _invalid("batch", batch if not isinstance(batch, list) else [], "must be a non-empty list of events")
    if len(batch) > MAX_BATCH_EVENTS:
        raise _invalid("batch", len(batch), f"holds at most {MAX_BATCH_EVENTS} events")
    events = []
    for index, item in enumerate(batch):
        try:
            events.append(validate_event(item, config))
        except InvalidInput as exc:
            where = f"batch[{index}]" + (f".{exc.field}" if exc.field else "")
            raise InvalidInput(exc.code, where, exc.value, f"{where}: {exc.detail}") from None
    return events
