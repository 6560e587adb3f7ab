"""The lifecycle state machine per display (docs/reference.md#widget-events) and the survey history it keeps."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.config import parse_config
from streams.core.lifecycle import MESSAGE_IDS_MAX, Output, apply_event, expire_displays, next_deadline
from streams.core.state import DISPLAYS_MAX, OPEN_DISPLAYS_MAX, new_user_state
from streams.core.timeutil import MINUTE_MS, iso, parse_iso

CONFIG = parse_config({
    "project": {"display_timeout_minutes": 30},
    "surveys": [{"id": "nps-main", "type": "nps", "name": "NPS"},  # questions: score, comment
                {"id": "csat", "type": "csat", "name": "CSAT"}],
})
NPS, CSAT = CONFIG.surveys
TIMEOUT_MS = 30 * MINUTE_MS
T0 = parse_iso("2024-05-01T12:00:00Z")


class Session:
    """One user's widget talking to the machine: each event one minute after the last."""

    def __init__(self, display_id: str = "d1", survey=NPS, state: dict | None = None):
        self.display_id, self.survey = display_id, survey
        self.state = state if state is not None else new_user_state("u1")
        self.clock = T0
        self.sent = 0

    def send(self, kind: str, question_id: str | None = None, value=None, *,
             message_id: str | None = None, at: int | None = None, now: int | None = None) -> list[Output]:
        self.sent += 1
        self.clock = at if at is not None else self.clock + MINUTE_MS
        event = {"messageId": message_id or f"{self.display_id}-m{self.sent}", "userId": "u1",
                 "surveyId": self.survey.id, "displayId": self.display_id, "type": kind,
                 "timestamp": iso(self.clock)}
        if question_id is not None:
            event.update(questionId=question_id, value=value)
        return apply_event(self.state, event, self.survey, CONFIG.project, now if now is not None else self.clock)

    def timeout(self) -> list[Output]:
        """The caller's timer firing at the display's deadline (or a timeout later if none)."""
        display = self.state["displays"].get(self.display_id)
        self.clock = display["deadline"] if display else self.clock + TIMEOUT_MS
        return expire_displays(self.state, CONFIG, self.clock)

    def step(self, spec: str) -> list[Output]:
        """'shown', 'closed', 'submitted', 'timeout' or 'answer <questionId> <value>'."""
        if spec == "timeout":
            return self.timeout()
        if spec.startswith("answer "):
            _, question_id, value = spec.split(" ", 2)
            return self.send("answered", question_id, int(value) if value.isdigit() else value)
        return self.send(spec)

    @property
    def display(self) -> dict:
        return self.state["displays"][self.display_id]

    @property
    def history(self) -> dict:
        return self.state["surveys"][self.survey.id]


def describe(output: Output) -> str:
    if output.kind == "answered":
        return f"answered {output.question_id}={output.value}"
    if output.kind == "completed":
        return "completed " + ",".join(f"{q}={v}" for q, v in sorted(output.answers.items()))
    return output.kind


def run(*steps: str) -> list[str]:
    session = Session()
    return [describe(output) for spec in steps for output in session.step(spec)]


# --- sequences -------------------------------------------------------------------------

@pytest.mark.parametrize("steps, expected", [
    (["shown"], ["viewed"]),
    (["shown", "closed"], ["viewed", "dismissed"]),
    (["shown", "answer score 9", "answer comment great", "closed"],
     ["viewed", "answered score=9", "answered comment=great", "completed comment=great,score=9"]),
    (["shown", "answer score 3", "answer score 8", "closed"],
     ["viewed", "answered score=3", "answered score=8", "completed score=8"]),
    (["shown", "answer score 9", "submitted"], ["viewed", "answered score=9", "completed score=9"]),
    (["shown", "answer comment only", "closed"],
     ["viewed", "answered comment=only", "completed comment=only"]),
    # the first event implies shown, whatever it is
    (["answer score 9"], ["viewed", "answered score=9"]),
    (["answer score 9", "shown", "closed"], ["viewed", "answered score=9", "completed score=9"]),
    (["closed"], ["viewed", "dismissed"]),
    (["submitted"], ["viewed", "completed "]),
    (["shown", "shown"], ["viewed"]),
    # submitted with no answer: still Completed (docs/reference.md#widget-events), with no score
    (["shown", "submitted"], ["viewed", "completed "]),
    # once ended, nothing more
    (["shown", "answer score 9", "submitted", "submitted"], ["viewed", "answered score=9", "completed score=9"]),
    (["shown", "answer score 9", "submitted", "closed"], ["viewed", "answered score=9", "completed score=9"]),
    (["shown", "closed", "closed"], ["viewed", "dismissed"]),
    (["shown", "closed", "answer score 9", "submitted"], ["viewed", "dismissed"]),
    # timeout
    (["shown", "answer score 9", "timeout"], ["viewed", "answered score=9", "completed score=9"]),
    (["shown", "timeout"], ["viewed"]),
    (["shown", "timeout", "answer score 9", "closed"], ["viewed"]),
    (["shown", "answer score 9", "timeout", "answer score 1", "closed", "timeout"],
     ["viewed", "answered score=9", "completed score=9"]),
])
def test_sequence(steps, expected):
    assert run(*steps) == expected


def test_outputs_carry_display_survey_time_and_source():
    session = Session()
    viewed, = session.send("shown", message_id="w1")
    answer, = session.send("answered", "score", 10, message_id="w2")
    completed, = session.send("closed", message_id="w3")
    assert viewed == Output("viewed", "nps-main", "d1", T0 + MINUTE_MS, source_message_id="w1", locale="en")
    assert answer == Output("answered", "nps-main", "d1", T0 + 2 * MINUTE_MS, question_id="score",
                            value=10, source_message_id="w2", locale="en")
    assert completed == Output("completed", "nps-main", "d1", T0 + 3 * MINUTE_MS,
                               answers={"score": 10}, source_message_id="w3", locale="en")


def test_first_answer_gives_viewed_and_answered_from_the_same_widget_event():
    outputs = Session().send("answered", "score", 7, message_id="w1")
    assert [(o.kind, o.source_message_id, o.at) for o in outputs] == [
        ("viewed", "w1", T0 + MINUTE_MS), ("answered", "w1", T0 + MINUTE_MS)]


def test_duplicate_message_id_is_ignored():
    session = Session()
    session.send("shown", message_id="w1")
    assert [o.kind for o in session.send("answered", "score", 9, message_id="w2")] == ["answered"]
    assert session.send("answered", "score", 9, message_id="w2") == []
    assert session.send("closed", message_id="w1") == []
    assert [o.kind for o in session.send("closed", message_id="w3")] == ["completed"]


def test_applied_message_ids_are_bounded_and_dropped_at_the_end():
    session = Session()
    for _ in range(MESSAGE_IDS_MAX + 5):
        session.send("shown", at=T0)
    assert len(session.display["messageIds"]) == MESSAGE_IDS_MAX
    session.send("closed", at=T0)
    assert set(session.display) == {"surveyId", "startedAt", "deadline", "end", "endedAt"}


def test_latest_answer_by_event_time_wins_whatever_the_arrival_order():
    session = Session()
    session.send("answered", "score", 4, at=T0 + 5 * MINUTE_MS)
    late = session.send("answered", "score", 2, at=T0 + 2 * MINUTE_MS, now=T0 + 6 * MINUTE_MS)
    assert [describe(o) for o in late] == ["answered score=2"]  # every answer is reported
    completed, = session.send("closed", at=T0 + 7 * MINUTE_MS)
    assert completed.answers == {"score": 4}


def test_answer_to_a_question_the_survey_does_not_have_is_ignored():
    assert run("answer nope 3", "closed") == ["viewed", "dismissed"]


def test_event_naming_another_survey_for_the_display_is_ignored():
    state = new_user_state("u1")
    Session(survey=NPS, state=state).send("shown")
    assert Session(survey=CSAT, state=state).send("closed") == []
    assert state["displays"]["d1"]["end"] is None
    assert "csat" not in state["surveys"]


# --- time --------------------------------------------------------------------------------

def test_event_time_falls_back_to_now_and_never_exceeds_it():
    state, now = new_user_state("u1"), T0 + 10 * MINUTE_MS
    base = {"messageId": "w1", "userId": "u1", "surveyId": "nps-main", "displayId": "d1", "type": "shown"}
    viewed, = apply_event(state, base, NPS, CONFIG.project, now)
    assert viewed.at == now
    future = dict(base, displayId="d2", timestamp=iso(now + 60 * MINUTE_MS))
    viewed, = apply_event(state, future, NPS, CONFIG.project, now)
    assert viewed.at == now
    assert state["lastSurveyShownAt"] == now


def test_deadline_runs_from_the_first_event_time():
    session = Session()
    session.send("answered", "score", 9, at=T0 + 10 * MINUTE_MS)
    assert next_deadline(session.state) == T0 + 10 * MINUTE_MS + TIMEOUT_MS
    session.send("shown", at=T0 + 8 * MINUTE_MS, now=T0 + 11 * MINUTE_MS)  # arrived late
    assert next_deadline(session.state) == T0 + 8 * MINUTE_MS + TIMEOUT_MS


def test_nothing_expires_before_the_deadline():
    session = Session()
    session.send("shown")
    deadline = next_deadline(session.state)
    assert expire_displays(session.state, CONFIG, deadline - 1) == []
    assert session.display["end"] is None
    assert expire_displays(session.state, CONFIG, deadline) == []  # no answer: ends silently
    assert session.display["end"] == "expired"
    assert next_deadline(session.state) is None


def test_completed_on_timeout_is_dated_at_the_last_answer_and_has_no_source():
    session = Session()
    session.send("shown")
    session.send("answered", "score", 6)
    session.send("answered", "comment", "meh")
    completed, = session.timeout()
    assert completed == Output("completed", "nps-main", "d1", T0 + 3 * MINUTE_MS,
                               answers={"score": 6, "comment": "meh"}, source_message_id=None, locale="en")
    assert session.history["lastRespondedAt"] == T0 + 3 * MINUTE_MS


def test_a_display_of_a_survey_gone_from_the_config_times_out_without_events():
    """Its Completed could not be described (name, type, traits): it ends silently instead
    of failing at every tick (each one a processing_error in the dead letter)."""
    session = Session()
    session.send("answered", "score", 9)
    without = parse_config({"project": {"display_timeout_minutes": 30},
                            "surveys": [{"id": "csat", "type": "csat", "name": "CSAT"}]})
    assert expire_displays(session.state, without, session.display["deadline"]) == []
    assert session.display["end"] == "expired" and next_deadline(session.state) is None


def test_event_after_the_deadline_ends_the_display_even_if_the_timer_has_not_fired():
    session = Session()
    session.send("answered", "score", 9)
    late = session.send("closed", at=session.display["deadline"] + 1)
    assert [(o.kind, o.source_message_id, o.answers) for o in late] == [("completed", None, {"score": 9})]
    assert expire_displays(session.state, CONFIG, session.clock) == []


def test_event_after_the_deadline_of_an_unanswered_display_gives_nothing():
    session = Session()
    session.send("shown")
    assert session.send("closed", at=session.display["deadline"] + 1) == []
    assert session.display["end"] == "expired"
    assert session.history["lastDismissedAt"] is None


def test_expire_ends_every_due_display_earliest_first():
    state = new_user_state("u1")
    for index, display_id in enumerate(["late", "early", "open"]):
        Session(display_id, state=state).send("answered", "score", index, at=T0 + [5, 1, 40][index] * MINUTE_MS)
    outputs = expire_displays(state, CONFIG, T0 + 36 * MINUTE_MS)
    # earliest first; the later one of the same survey comes within the recontact window of
    # the first response: one response per user, survey and window (docs/reference.md#widget-events)
    assert [o.display_id for o in outputs] == ["early"]
    assert state["displays"]["late"]["end"] == "superseded"
    assert next_deadline(state) == T0 + 70 * MINUTE_MS


# --- survey history ------------------------------------------------------------------

def test_viewed_counts_a_display():
    session = Session()
    session.send("shown")
    assert session.history == {"displays": 1, "displaysSinceResponse": 1, "lastShownAt": T0 + MINUTE_MS,
                               "lastRespondedAt": None, "lastDismissedAt": None, "responses": 0}
    assert session.state["lastSurveyShownAt"] == T0 + MINUTE_MS


def test_completed_counts_a_response_and_resets_displays_since_response():
    state = new_user_state("u1")
    Session("d1", state=state).step("shown")
    session = Session("d2", state=state)
    for spec in ["shown", "answer score 9", "submitted"]:
        session.step(spec)
    assert session.history == {"displays": 2, "displaysSinceResponse": 0, "lastShownAt": T0 + MINUTE_MS,
                               "lastRespondedAt": T0 + 3 * MINUTE_MS, "lastDismissedAt": None, "responses": 1}


def test_dismissed_sets_last_dismissed_at_only():
    session = Session()
    session.send("shown")
    session.send("closed")
    assert session.history == {"displays": 1, "displaysSinceResponse": 1, "lastShownAt": T0 + MINUTE_MS,
                               "lastRespondedAt": None, "lastDismissedAt": T0 + 2 * MINUTE_MS, "responses": 0}


def test_history_times_never_go_back_on_out_of_order_displays():
    state = new_user_state("u1")
    Session("d-new", state=state).send("closed", at=T0 + 10 * MINUTE_MS)
    Session("d-old", state=state).send("closed", at=T0 + 2 * MINUTE_MS, now=T0 + 11 * MINUTE_MS)
    history = state["surveys"]["nps-main"]
    assert (history["displays"], history["lastShownAt"], history["lastDismissedAt"]) == (
        2, T0 + 10 * MINUTE_MS, T0 + 10 * MINUTE_MS)
    assert state["lastSurveyShownAt"] == T0 + 10 * MINUTE_MS


def test_last_survey_shown_at_spans_surveys():
    state = new_user_state("u1")
    Session("d1", NPS, state).send("shown", at=T0)
    Session("d2", CSAT, state).send("shown", at=T0 + MINUTE_MS)
    assert state["lastSurveyShownAt"] == T0 + MINUTE_MS
    assert state["surveys"]["csat"]["displays"] == state["surveys"]["nps-main"]["displays"] == 1


# --- bounds ----------------------------------------------------------------------------

def test_oldest_ended_displays_are_dropped_to_keep_the_bound():
    state = new_user_state("u1")
    for index in range(DISPLAYS_MAX):
        Session(f"d{index}", state=state).send("closed", at=T0 + index * MINUTE_MS)
    Session("open", state=state).send("shown", at=T0 + 100 * MINUTE_MS)
    assert len(state["displays"]) == DISPLAYS_MAX
    assert "d0" not in state["displays"] and "d1" in state["displays"]


def test_ended_display_kept_within_the_bound_ignores_late_events():
    state = new_user_state("u1")
    Session("d1", state=state).send("closed")
    assert Session("d1", state=state).send("answered", "score", 9, message_id="other") == []
    assert state["surveys"]["nps-main"]["displays"] == 1


def test_new_display_is_refused_when_every_kept_display_is_open():
    state = new_user_state("u1")
    apart = (CONFIG.project.display_timeout_minutes + 1) * MINUTE_MS  # each past its deadline, never ticked
    for index in range(DISPLAYS_MAX):
        Session(f"d{index}", state=state).send("shown", at=T0 + index * apart)
    assert Session("one-more", state=state).send("shown", at=T0 + DISPLAYS_MAX * apart) == []
    assert "one-more" not in state["displays"]
    assert state["surveys"]["nps-main"]["displays"] == DISPLAYS_MAX


def test_at_most_a_few_displays_run_at_once():
    """Forged displays cannot pile up answers in the state: OPEN_DISPLAYS_MAX run at once."""
    state = new_user_state("u1")
    for index in range(OPEN_DISPLAYS_MAX):
        Session(f"d{index}", state=state).send("shown", at=T0)
    assert Session("one-more", state=state).send("shown", at=T0 + MINUTE_MS) == []
    assert "one-more" not in state["displays"]
    Session("d0", state=state).send("closed", message_id="d0-close", at=T0 + 2 * MINUTE_MS)
    assert Session("after-one-ended", state=state).send("shown", at=T0 + 3 * MINUTE_MS)
    later = T0 + (CONFIG.project.display_timeout_minutes + 1) * MINUTE_MS  # the others are past their deadline
    assert Session("later", state=state).send("shown", at=later)


# --- invariants over any sequence -------------------------------------------------

STEP = st.sampled_from(["shown", "closed", "submitted", "timeout", "answer score 9", "answer comment x"])


@settings(max_examples=300, deadline=None)
@given(st.lists(STEP, max_size=12))
def test_any_sequence_views_once_first_and_ends_at_most_once(steps):
    kinds = [line.split(" ")[0] for line in run(*steps)]
    if any(s != "timeout" for s in steps):
        assert kinds[0] == "viewed" and kinds.count("viewed") == 1
    else:
        assert kinds == []
    ends = [k for k in kinds if k in ("completed", "dismissed")]
    assert len(ends) <= 1
    if ends:
        assert kinds[-1] == ends[0]  # nothing after the end
        if ends[0] == "dismissed":
            assert "answered" not in kinds and "closed" in steps
        elif "answered" not in kinds:
            assert "submitted" in steps  # only a submit completes a display without answers
    assert kinds.count("answered") <= sum(s.startswith("answer") for s in steps)
