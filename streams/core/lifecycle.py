"""The survey lifecycle per display (docs/reference.md#widget-events): widget events in, Viewed / Answered /
Completed / Dismissed out, and the user's survey history kept up to date.

Pure: the caller passes `now` (epoch ms) and persists the mutated state.

    state["displays"][displayId] = {
      "surveyId": str,
      "startedAt": ms,            # earliest event time seen for the display
      "deadline": ms,             # startedAt + display_timeout_minutes
      "locale": str,              # the survey's locale the display is in (the first event's, else the user's)
      "answers": {questionId: value},   # the latest answer per question
      "answeredAt": {questionId: ms},
      "messageIds": [str],        # hashes (state.message_key) of the widget messageIds
                                  # applied, the last MESSAGE_IDS_MAX
      "end": None | "completed" | "dismissed" | "expired",
      "endedAt": ms | None,
    }

An ended display keeps only surveyId/startedAt/deadline/end/endedAt: it is kept so that
late events are ignored, and it no longer needs its answers (nor its locale).

Choices where the contract is silent:
- `submitted` is Completed even with no answer (docs/reference.md#widget-events);
  such a response has a null score and is left out of the scores.
- Event time is the event's `timestamp`, else `now`, and never later than `now`: a
  widget clock running ahead must not put lastShownAt in the future. A timestamp earlier
  than the receipt time (`receivedAt`, else `now`) minus the longest a display can have
  been open by then (display_token_minutes + display_timeout_minutes) is a broken or
  forged clock (it would move a response into a past day's score): the receipt time is used.
- At most MAX_ANSWERS per display are applied; later answers of that display are ignored
  (each would be an Answered event sent to Segment).
- One response per user, survey and recontact window (docs/reference.md#widget-events): a display of a survey
  the user responded to less than `recontact_after_response_days` earlier is not opened,
  and one that would complete within that window of another response ends as
  `superseded`, with no Completed and no response. Two tabs share one display (the bridge
  hands out the open one: streams.core.displays), so only a fold brings a second one in.
- A display ends at its deadline (now >= deadline). An event whose time is after the
  deadline ends the display first (as the timer would have) and is then ignored, so the
  outcome does not depend on when the timer fires.
- Completed on timeout is dated at the latest answer: that is when the user responded.
- An event for an existing display naming another survey is ignored; so is an answer
  to a question the survey no longer has (the config changed since the bridge checked).
- `show_if` (streams.core.questions): an answer to a question whose condition fails on the
  answers so far is ignored (no Answered); Completed carries only the answers to questions
  asked, judged again at the end (a changed earlier answer may drop a later one).
- Locale: the display's is the `locale` of its first event that carries one, else the
  user's (streams.core.locales: `locale` trait, then the latest context.locale, matched
  to the survey's locales, else its first); every output of the display carries it.
- At most DISPLAYS_MAX displays are kept: the oldest ended ones are dropped first; when
  all are open, a new display is refused (its events are ignored) rather than losing
  an open one. Only a flood of fake displays gets there: each ends within the timeout.
  At most OPEN_DISPLAYS_MAX run at once (the users agent opens one display per survey
  at a time: streams.core.displays.check_in_agent).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streams.core import locales, questions
from streams.core.config import Config, Project, Survey
from streams.core.state import DISPLAYS_MAX, OPEN_DISPLAYS_MAX, message_key, new_survey_history
from streams.core.timeutil import DAY_MS, MINUTE_MS, parse_iso

VIEWED, ANSWERED, COMPLETED, DISMISSED = "viewed", "answered", "completed", "dismissed"
EXPIRED = "expired"  # an end state, not an output: a display timed out with no answer
SUPERSEDED = "superseded"  # an end state, not an output: another response came first
MESSAGE_IDS_MAX = 32
MAX_ANSWERS = 50


@dataclass(frozen=True)
class Output:
    """One lifecycle event to publish (docs/reference.md#outbound and docs/reference.md#responses are
    built from it)."""

    kind: str  # viewed | answered | completed | dismissed
    survey_id: str
    display_id: str
    at: int  # epoch ms
    question_id: str | None = None  # answered
    value: Any = None  # answered
    answers: dict | None = None  # completed: question id -> latest value
    source_message_id: str | None = None  # the widget messageId; None for a timeout
    locale: str | None = None  # the display's (the module doc)


def _event_time(event: dict, project: Project, now: int) -> int:
    received = min(parse_iso(event.get("receivedAt")) or now, now)
    parsed = parse_iso(event.get("timestamp"))
    earliest = received - round((project.display_token_minutes + project.display_timeout_minutes) * MINUTE_MS)
    if parsed is None or parsed < earliest:
        return received
    return min(parsed, now)


def _responded_within(state: dict, survey: Survey, at: int) -> bool:
    """Whether the user has a response to `survey` less than its recontact window from `at`."""
    responded = state.get("surveys", {}).get(survey.id, {}).get("lastRespondedAt")
    window = round(survey.targeting.recontact_after_response_days * DAY_MS)
    return responded is not None and abs(at - responded) < window


def _history(state: dict, survey_id: str) -> dict:
    return state.setdefault("surveys", {}).setdefault(survey_id, new_survey_history())


def _latest(current: int | None, at: int) -> int:
    # Out-of-order arrival must not roll a time back.
    return at if current is None else max(current, at)


def _record_viewed(state: dict, survey_id: str, at: int) -> None:
    history = _history(state, survey_id)
    history["displays"] += 1
    history["displaysSinceResponse"] += 1
    history["lastShownAt"] = _latest(history["lastShownAt"], at)
    state["lastSurveyShownAt"] = _latest(state.get("lastSurveyShownAt"), at)


def _record_end(state: dict, survey_id: str, kind: str, at: int) -> None:
    history = _history(state, survey_id)
    if kind == COMPLETED:
        history["responses"] += 1
        history["displaysSinceResponse"] = 0
        history["lastRespondedAt"] = _latest(history["lastRespondedAt"], at)
    elif kind == DISMISSED:
        history["lastDismissedAt"] = _latest(history["lastDismissedAt"], at)


def _end(state: dict, display_id: str, display: dict, kind: str, at: int,
         source_message_id: str | None, survey: Survey | None = None) -> list[Output]:
    """Close the display as `kind`; returns its output (none for EXPIRED and SUPERSEDED).

    A completion needs the survey, to hold the one-response-per-window rule.
    """
    if kind == COMPLETED and survey is not None and _responded_within(state, survey, at):
        kind = SUPERSEDED
    answers = display["answers"]
    if kind == COMPLETED and survey is not None:
        answers = questions.asked(survey, answers, at)
    locale = display.get("locale")
    for key in ("answers", "answeredAt", "messageIds", "answered", "locale"):
        display.pop(key, None)
    display["end"], display["endedAt"] = kind, at
    if kind in (EXPIRED, SUPERSEDED):
        return []
    _record_end(state, display["surveyId"], kind, at)
    return [Output(kind, display["surveyId"], display_id, at,
                   answers=dict(answers) if kind == COMPLETED else None,
                   source_message_id=source_message_id, locale=locale)]


def _time_out(state: dict, display_id: str, display: dict, survey: Survey | None) -> list[Output]:
    if display["answers"] and survey is not None:  # a survey gone from the config: nothing to describe it by
        return _end(state, display_id, display, COMPLETED, max(display["answeredAt"].values()), None, survey)
    return _end(state, display_id, display, EXPIRED, display["deadline"], None)


def _make_room(displays: dict, at: int) -> bool:
    """Drop the oldest ended displays until one more fits; False if all are open, or if
    OPEN_DISPLAYS_MAX are still running at `at` (each holds answers: this bounds them)."""
    if sum(1 for d in displays.values() if d["end"] is None and d["deadline"] > at) >= OPEN_DISPLAYS_MAX:
        return False
    while len(displays) >= DISPLAYS_MAX:
        ended = [(d["endedAt"], key) for key, d in displays.items() if d["end"] is not None]
        if not ended:
            return False
        del displays[min(ended)[1]]
    return True


def apply_event(state: dict, event: dict, survey: Survey, project: Project, now: int) -> list[Output]:
    """Apply one validated widget event; returns the lifecycle events it causes, in order."""
    display_id, message_id, kind = event["displayId"], event.get("messageId"), event["type"]
    message_hash = message_key(message_id) if message_id is not None else None
    at = _event_time(event, project, now)
    displays = state.setdefault("displays", {})
    display = displays.get(display_id)
    outputs: list[Output] = []

    if display is None:
        if _responded_within(state, survey, at) or not _make_room(displays, at):
            return []
        locale = event.get("locale") if event.get("locale") in survey.locales else \
            locales.choose(locales.user_candidates(state), survey.locales)
        display = displays[display_id] = {
            "surveyId": survey.id, "startedAt": at, "locale": locale,
            "deadline": at + round(project.display_timeout_minutes * MINUTE_MS),
            "answers": {}, "answeredAt": {}, "messageIds": [], "answered": 0, "end": None, "endedAt": None,
        }
        # Whatever the first event is, the survey was on screen.
        _record_viewed(state, survey.id, at)
        outputs.append(Output(VIEWED, survey.id, display_id, at, source_message_id=message_id, locale=locale))
    else:
        if display["end"] is not None or display["surveyId"] != survey.id:
            return []
        if message_hash is not None and message_hash in display["messageIds"]:
            return []
        if at > display["deadline"]:
            return _time_out(state, display_id, display, survey)
        if at < display["startedAt"]:  # a late `shown`, say: the display began earlier
            display["deadline"] -= display["startedAt"] - at
            display["startedAt"] = at

    if message_hash is not None:
        display["messageIds"] = (display["messageIds"] + [message_hash])[-MESSAGE_IDS_MAX:]

    if kind == "answered":
        question_id = event.get("questionId")
        display["answered"] = display.get("answered", 0) + 1
        question = survey.question(question_id)
        if question is not None and display["answered"] <= MAX_ANSWERS and \
                questions.is_asked(survey, question, display["answers"], at):
            value = event.get("value")
            if at >= display["answeredAt"].get(question_id, at):
                display["answers"][question_id] = value
                display["answeredAt"][question_id] = at
            outputs.append(Output(ANSWERED, survey.id, display_id, at, question_id=question_id,
                                  value=value, source_message_id=message_id, locale=display.get("locale")))
    elif kind in ("closed", "submitted"):
        outcome = COMPLETED if kind == "submitted" or display["answers"] else DISMISSED
        outputs.extend(_end(state, display_id, display, outcome, at, message_id, survey))
    return outputs


def expire_displays(state: dict, config: Config, now: int) -> list[Output]:
    """End every open display whose deadline is at or before `now`, earliest first.

    `config` is not consulted for the timeout: the deadline was fixed when the display
    began, so a config reload does not move it.
    """
    due = sorted((display["deadline"], display_id) for display_id, display in state.get("displays", {}).items()
                 if display["end"] is None and display["deadline"] <= now)
    outputs: list[Output] = []
    for _, display_id in due:
        display = state["displays"][display_id]
        outputs.extend(_time_out(state, display_id, display, config.survey(display["surveyId"])))
    return outputs


def open_displays(state: dict | None, now: int) -> list[tuple[str, dict]]:
    """(displayId, display) of every display still running at `now` (not ended, deadline
    not passed), the latest started first (ties by id, for one order on every worker)."""
    running = [(display_id, display) for display_id, display in ((state or {}).get("displays") or {}).items()
               if display.get("end") is None and display.get("deadline", now) > now]
    return sorted(running, key=lambda item: (item[1].get("startedAt", 0), item[0]), reverse=True)


def next_deadline(state: dict) -> int | None:
    """The earliest deadline of an open display, for the caller's timer; None if none is open."""
    return min((d["deadline"] for d in state.get("displays", {}).values() if d["end"] is None), default=None)
