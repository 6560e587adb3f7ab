"""Scripted widget sessions, each on the display GET /v1/eligibility/{userId} hands out.

Today's sessions go through the bridge as the widget would: one POST /v1/widget/events
per click, with the display's id and token, no `timestamp` (the bridge stamps the time).

The earlier ones (days_ago > 0) give the scores report a trend, and the bridge cannot
take them: it stamps `receivedAt` now, and the worker dates a widget event no earlier than
receivedAt - (display_token_minutes + display_timeout_minutes), so that a browser cannot
move a response into a past day's score. They are imported as an operator with cluster
access would import history: produced straight onto the lifecycle topic, keyed by userId,
with `receivedAt` and `timestamp` at the past instant. They still carry the display id and
token from eligibility: the worker checks the token on every event.
"""
from __future__ import annotations

import random
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from streams.core import topics as names
from streams.core.config import Config
from streams.runtime.httpjson import request as http
from streams.core.timeutil import DAY_MS, HOUR_MS, SECOND_MS, iso
from streams.demo import kafka_io
from streams.demo.console import Console, DemoError

# Scripted widget sessions per survey type: (days ago, action, score, comment). Actions:
# "complete" (score, comment, submitted), "answer_close" (score, then closed without the
# comment: Completed all the same), "dismiss" (closed without answering: Dismissed).
# For pmf the score is an index into the question's choices.
SCRIPTS = {
    "nps": [
        (6, "complete", 10, "Reports that took me a day now take ten minutes."),
        (6, "complete", 7, "Solid, but the dashboard gets slow on big projects."),
        (5, "complete", 9, "The Slack integration keeps the whole team in the loop."),
        (5, "dismiss", None, None),
        (4, "complete", 3, "Exports break when a report has more than a few thousand rows."),
        (4, "complete", 9, "Support answered within the hour."),
        (3, "complete", 8, "Does what we need; per-seat pricing hurts as we grow."),
        (3, "answer_close", 6, None),
        (2, "complete", 10, "Our board meetings run on these reports now."),
        (2, "dismiss", None, None),
        (1, "complete", 0, "Lost a week of data after the last import."),
        (1, "complete", 9, "Cohort reports are exactly what we were missing."),
        (0, "complete", 10, "Love the new funnel template!"),
        (0, "complete", 5, "Too many clicks to share a report with a client."),
        (0, "dismiss", None, None),
    ],
    "csat": [
        (1, "complete", 5, "The PDF looks exactly like the screen."),
        (1, "complete", 4, "CSV is fine; let me pick the columns."),
        (0, "complete", 2, "The PDF cut off my wide table."),
        (0, "answer_close", 5, None),
        (0, "dismiss", None, None),
    ],
    "ces": [
        (2, "complete", 6, "Found it right away."),
        (1, "complete", 3, "Took a while to find the setting."),
        (0, "dismiss", None, None),
    ],
    "pmf": [
        (2, "complete", 0, "It is our single source of truth."),
        (1, "complete", 1, "We could live with spreadsheets, barely."),
        (0, "dismiss", None, None),
    ],
}
CLICK_SPACING_MS = 4 * SECOND_MS  # between the events of an imported session
FIRST_SESSION_HOUR = 9  # UTC: imported sessions of a day start at 09:00, one an hour


@dataclass
class SessionsOutcome:
    """What the sessions leave for the next steps: responses to wait for, example users."""

    responses: int = 0  # sessions with an answer: Completed, one response each
    through_bridge: int = 0
    imported: int = 0
    imported_days: set = field(default_factory=set)
    example_users: dict = field(default_factory=dict)  # surveyId -> an eligible user left untouched


def run_sessions(out: Console, config: Config, bootstrap: str, url: str) -> SessionsOutcome:
    decisions = kafka_io.latest_decisions(bootstrap, config.topics[names.ELIGIBILITY])
    now = int(time.time() * 1000)
    by_survey: dict[str, list[str]] = defaultdict(list)
    for user, decision in sorted(decisions.items()):
        if decision.get("eligible") and decision.get("surveyId"):
            by_survey[decision["surveyId"]].append(user)
    rng = random.Random(7)
    outcome, history = SessionsOutcome(), []
    for survey in config.surveys:
        candidates = by_survey.get(survey.id, [])
        rng.shuffle(candidates)
        script = list(SCRIPTS.get(survey.type, ()))
        done = 0
        for user in candidates:
            answer = eligible_display(url, user, survey.id)
            if answer is None:
                continue
            if survey.id not in outcome.example_users:  # kept for the example page
                outcome.example_users[survey.id] = user
                continue
            if done >= len(script):
                break
            days_ago, action, score, comment = script[done]
            events = session_events(user, answer["survey"], answer["display"], action, score, comment)
            if days_ago:
                # History: the bridge would date it now, so it is imported as an operator
                # would (module docstring).
                history.extend((user, event) for event in backdated(events, past_instant(now, days_ago, done)))
                outcome.imported += 1
                outcome.imported_days.add(days_ago)
            else:
                post_through_bridge(url, events)
                outcome.through_bridge += 1
            if any(event["type"] == "answered" for event in events):
                outcome.responses += 1
            done += 1
        if done:
            out.note(f"{survey.id}: {done} sessions ({len(candidates)} eligible users)")
        elif script:
            out.note(f"{survey.id}: no eligible user right now, no session")
    lifecycle_topic = config.topics[names.LIFECYCLE]
    if history:
        kafka_io.produce(bootstrap, lifecycle_topic, history)
    out.step(f"drove {outcome.through_bridge} widget sessions through GET /v1/eligibility and POST /v1/widget/events")
    if outcome.imported:
        days = f"{min(outcome.imported_days)}-{max(outcome.imported_days)} days ago"
        out.note(f"imported {outcome.imported} earlier sessions ({days}) as an operator with cluster access would: "
                 f"onto {lifecycle_topic} keyed by userId, receivedAt and timestamp backdated")
    return outcome


def eligible_display(url: str, user: str, survey_id: str) -> dict | None:
    """The eligibility answer when it offers `survey_id` with a display to open, else None."""
    status, body = http("GET", f"{url}/v1/eligibility/{user}")
    if status != 200 or not isinstance(body, dict) or not body.get("eligible"):
        return None
    if (body.get("survey") or {}).get("id") != survey_id or not isinstance(body.get("display"), dict):
        return None
    return body


def session_events(user: str, survey: dict, display: dict, action: str, score, comment: str | None) -> list[dict]:
    """The widget events of one scripted session on `display`, in order, undated."""
    questions = survey.get("questions") or []
    score_question = next((q for q in questions if q.get("kind") in ("scale", "choice")), None)
    text_question = next((q for q in questions if q.get("kind") == "text"), None)
    if score_question and score_question.get("kind") == "choice" and score is not None:
        choices = score_question.get("choices") or []
        score = choices[min(score, len(choices) - 1)] if choices else None
    elif score_question and score is not None:
        score = max(score_question.get("min", score), min(score_question.get("max", score), score))
    steps = [("shown", None, None)]
    if action in ("complete", "answer_close") and score_question:
        steps.append(("answered", score_question["id"], score))
    if action == "complete" and text_question and comment:
        steps.append(("answered", text_question["id"], comment))
    steps.append(("submitted" if action == "complete" else "closed", None, None))
    events = []
    for kind, question, value in steps:
        event = {"messageId": str(uuid.uuid4()), "userId": user, "surveyId": survey["id"],
                 "displayId": display["id"], "displayToken": display["token"], "type": kind}
        if kind == "answered":
            event.update(questionId=question, value=value)
        events.append(event)
    return events


def past_instant(now: int, days_ago: int, index: int) -> int:
    """An office hour on the UTC day `days_ago` days before now's: the day the scores count
    the response on (an offset back from now would cross midnight early in the UTC day)."""
    return now - now % DAY_MS - days_ago * DAY_MS + (FIRST_SESSION_HOUR + index % 6) * HOUR_MS


def backdated(events: list[dict], at: int) -> list[dict]:
    """The events as received at `at` and a few seconds apart: how history is imported."""
    stamped = []
    for index, event in enumerate(events):
        instant = iso(at + index * CLICK_SPACING_MS)
        stamped.append({**event, "timestamp": instant, "receivedAt": instant})
    return stamped


def post_through_bridge(url: str, events: list[dict]) -> None:
    # One request per event, as the widget posts them while the user clicks.
    for event in events:
        status, body = http("POST", f"{url}/v1/widget/events", event)
        if status != 202:
            raise DemoError(f"POST /v1/widget/events answered {status}: {body}")


def wait_for_responses(out: Console, config: Config, bootstrap: str, start_offsets: dict, expected: int) -> None:
    """Until this run's responses and scores are all on their topics (or 30 s)."""
    targets = {config.topics[names.RESPONSES]: expected, config.topics[names.SCORES]: expected}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        grown = Counter()
        for tp, end in kafka_io.end_offsets(bootstrap, list(targets)).items():
            grown[tp.topic] += end - start_offsets.get(tp, 0)
        if all(grown[topic] >= count for topic, count in targets.items()):
            return
        time.sleep(0.3)
    out.note("warning: not every response reached the topics within 30s")
