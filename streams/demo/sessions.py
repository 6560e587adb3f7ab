"""Widget sessions, each on the display GET /v1/eligibility/{userId} hands out.

Today's sessions (a few scripted ones, TODAY, on users of the sample stream) go through
the bridge as the widget would: one POST /v1/widget/events per click, with the display's
id and token and the answer's locale, no `timestamp` (the bridge stamps the time).

The month before (streams.demo.history: 15-40 NPS responses a weekday, a release that
lifts the scores) is answered by the demo's customers (streams.demo.population), and the
bridge cannot take it: it stamps `receivedAt` now, and the worker dates a widget event no
earlier than receivedAt - (display_token_minutes + display_timeout_minutes), so that a
browser cannot move a response into a past day's score. It is imported as an operator with
cluster access would import history: produced straight onto the lifecycle topic, keyed by
userId, with `receivedAt` and `timestamp` at the past instant. Each session still carries
the display id and token from eligibility: the worker checks the token on every event.
"""
from __future__ import annotations

import random
import time
import uuid
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from streams.core import topics as names
from streams.core.config import Config
from streams.runtime.httpjson import request as http
from streams.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, SECOND_MS, iso
from streams.demo import kafka_io
from streams.demo.console import Console, DemoError
from streams.demo.history import HISTORY_DAYS, day_plan, session, spread
from streams.demo.population import Customer

# Today's scripted sessions per survey type, through the bridge on users of the sample
# stream: (action, score, comment). Actions: "complete" (score, comment, submitted),
# "answer_close" (score, then closed without the comment: Completed all the same),
# "dismiss" (closed without answering: Dismissed). For pmf the score is an index into the
# question's choices. The month before comes from streams.demo.history.
TODAY = {
    "nps": [("complete", 10, "Love the new funnel template!"),
            ("complete", 5, "Too many clicks to share a report with a client."),
            ("complete", 9, "The faster dashboard made my week."),
            ("dismiss", None, None)],
    "csat": [("complete", 2, "The PDF cut off my wide table."), ("answer_close", 5, None), ("dismiss", None, None)],
    "ces": [("dismiss", None, None)],
    "pmf": [("dismiss", None, None)],
}
CLICK_SPACING_MS = 4 * SECOND_MS  # between the events of an imported session
FIRST_SESSION_HOUR = 7  # UTC: imported sessions of a day fall between 07:00 and 19:00
LOOKUPS_AT_ONCE = 8  # concurrent GET /v1/eligibility while collecting the customers' displays


@dataclass
class SessionsOutcome:
    """What the sessions leave for the next steps: responses to wait for, example users."""

    responses: int = 0  # sessions with an answer: Completed, one response each
    through_bridge: int = 0
    imported: int = 0
    imported_days: set = field(default_factory=set)
    already_answered: int = 0  # customers with sessions on the lifecycle topic: an earlier run's history
    example_users: dict = field(default_factory=dict)  # surveyId -> an eligible user left untouched

    def count(self, events: list[dict]) -> None:
        if any(event["type"] == "answered" for event in events):
            self.responses += 1


def run_sessions(out: Console, config: Config, bootstrap: str, url: str, people: list[Customer]) -> SessionsOutcome:
    decisions = kafka_io.latest_decisions(bootstrap, config.topics[names.ELIGIBILITY])
    now = int(time.time() * 1000)
    customers = {person.user_id: person for person in people}
    by_survey: dict[str, list[str]] = defaultdict(list)
    for user, decision in sorted(decisions.items()):
        if decision.get("eligible") and decision.get("surveyId"):
            by_survey[decision["surveyId"]].append(user)
    rng = random.Random(7)
    lifecycle_topic = config.topics[names.LIFECYCLE]
    # An earlier run's month is on the topics already: a second one would be dated around its
    # sessions (the worker ignores events older than a display it has seen) and double the days.
    earlier = {key for key, _ in kafka_io.read_topic(bootstrap, lifecycle_topic) if key in customers}
    outcome, history = SessionsOutcome(already_answered=len(earlier)), []
    for survey in config.surveys:
        candidates = by_survey.get(survey.id, [])
        rng.shuffle(candidates)
        today = _today(url, survey, [u for u in candidates if u not in customers], outcome)
        audience = [] if earlier else [u for u in candidates if u in customers]
        past = _history(rng, url, survey, audience, customers, now, outcome)
        history.extend(past)
        if today or past:
            out.note(f"{survey.id}: {today} sessions today, {len({u for u, _ in past})} in the last "
                     f"{HISTORY_DAYS} days ({len(candidates)} eligible users)")
        elif TODAY.get(survey.type):
            out.note(f"{survey.id}: no eligible user right now, no session")
    if history:
        kafka_io.produce(bootstrap, lifecycle_topic, history)
    out.step(f"drove {outcome.through_bridge} widget sessions through GET /v1/eligibility and POST /v1/widget/events")
    if outcome.imported:
        days = f"{min(outcome.imported_days)}-{max(outcome.imported_days)} days ago"
        out.note(f"imported {outcome.imported} earlier sessions ({days}) as an operator with cluster access would: "
                 f"onto {lifecycle_topic} keyed by userId, receivedAt and timestamp backdated")
    if earlier:
        out.note(f"{lifecycle_topic} holds events of {len(earlier)} of the {len(customers)} demo customers already: "
                 f"an earlier run on this cluster imported their month, no second one")
    return outcome


def _today(url: str, survey, users: list[str], outcome: SessionsOutcome) -> int:
    """Today's scripted sessions of `survey` through the bridge; the first user with a display
    is kept for the example page. Returns how many sessions ran."""
    script, done = TODAY.get(survey.type, []), 0
    for user in users:
        if done >= len(script):
            break
        answer = eligible_display(url, user, survey.id)
        if answer is None:
            continue
        if survey.id not in outcome.example_users:
            outcome.example_users[survey.id] = user
            continue
        events = session_events(user, answer["survey"], answer["display"], *script[done])
        post_through_bridge(url, events)
        outcome.through_bridge += 1
        outcome.count(events)
        done += 1
    return done


def _history(rng: random.Random, url: str, survey, users: list[str], customers: dict, now: int,
             outcome: SessionsOutcome) -> list[tuple[str, dict]]:
    """The month before today for `survey`: one imported session per eligible customer,
    dated by streams.demo.history's plan. Returns the (userId, event) records to produce."""
    with ThreadPoolExecutor(LOOKUPS_AT_ONCE) as pool:
        answers = [(user, answer) for user, answer in zip(users, pool.map(lambda u: eligible_display(url, u, survey.id), users))
                   if answer is not None]
    weekdays = [time.gmtime((now - days_ago * DAY_MS) / 1000).tm_wday for days_ago in range(HISTORY_DAYS + 1)]
    plan = spread(rng, day_plan(rng, survey.type, weekdays), len(answers))
    records, per_day = [], Counter()
    for (user, answer), days_ago in zip(answers, plan):
        person = customers[user]
        script = session(rng, survey.type, days_ago, person.plan, person.size, answer["survey"].get("locale") or "en")
        events = session_events(user, answer["survey"], answer["display"], script.action, script.score, script.comment)
        at = past_instant(now, days_ago, per_day[days_ago])
        per_day[days_ago] += 1
        # The bridge would date it now, so it is imported as an operator would (module docstring).
        records.extend((user, event) for event in backdated(events, at))
        outcome.imported += 1
        outcome.imported_days.add(days_ago)
        outcome.count(events)
    return records


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
        if survey.get("locale"):  # the locale the widget shows it in: the eligibility answer's
            event["locale"] = survey["locale"]
        if kind == "answered":
            event.update(questionId=question, value=value)
        events.append(event)
    return events


def past_instant(now: int, days_ago: int, index: int) -> int:
    """An office hour on the UTC day `days_ago` days before now's: the day the scores count
    the response on (an offset back from now would cross midnight early in the UTC day)."""
    minute = (index * 17) % (12 * 60)  # spread over the office day, a session every few minutes
    return now - now % DAY_MS - days_ago * DAY_MS + FIRST_SESSION_HOUR * HOUR_MS + minute * MINUTE_MS + index * SECOND_MS


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
    """Until this run's responses and scores are all on their topics (or 30 s and more for many)."""
    targets = {config.topics[names.RESPONSES]: expected, config.topics[names.SCORES]: expected}
    wait_s = 30 + expected / 50
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        grown = Counter()
        for tp, end in kafka_io.end_offsets(bootstrap, list(targets)).items():
            grown[tp.topic] += end - start_offsets.get(tp, 0)
        if all(grown[topic] >= count for topic, count in targets.items()):
            return
        time.sleep(0.3)
    out.note(f"warning: not every response reached the topics within {wait_s:.0f}s")
