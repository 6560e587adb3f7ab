"""streams.core.targeting: per-survey rules, reasons, eligibleAt, and the choice between surveys."""
from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings, strategies as st

from streams.core.config import parse_config
from streams.core.quotas import Counts
from streams.core.state import new_survey_history, new_user_state
from streams.core.targeting import (
    RULES, decide, decision_record, eligibility_response, explain_record, outcome, sample_bucket,
)
from streams.core.timeutil import DAY_MS, HOUR_MS, iso, parse_iso

NOW = parse_iso("2026-03-01T00:00:00Z")


def survey(survey_id="s1", **fields) -> dict:
    """A survey definition that every default user passes, with `fields` laid over it."""
    targeting = {"min_days_since_signup": 0, **fields.pop("targeting", {})}
    return {"id": survey_id, "type": "nps", "name": f"Survey {survey_id}", "targeting": targeting, **fields}


def config(*surveys: dict, recontact_days: float = 7):
    return parse_config({"project": {"recontact_days": recontact_days}, "surveys": list(surveys or [survey()])})


def user(history: dict | None = None, **fields) -> dict:
    """An identified user, 100 days old; survey history (`history` and `surveys=`, by survey
    id) is laid over empty histories."""
    history = {**fields.pop("surveys", {}), **(history or {})}
    state = new_user_state("u1")
    state.update(identified=True, firstSeen=NOW - 100 * DAY_MS, lastSeen=NOW, traits={"plan": "pro"},
                 client={"url": "https://app.example.com/billing/plans", "device": "desktop", "pageAt": NOW - HOUR_MS})
    state.update(fields)
    state["surveys"] = {survey_id: {**new_survey_history(), **changes} for survey_id, changes in history.items()}
    return state


# The response counts every test decides with: only a survey with `limits` reads them.
COUNTS = {"s1": Counts(total=5, days={"2026-03-01": 2})}


def only_verdict(state, cfg, now=NOW):
    decision = decide(state, cfg, now, every_rule=True, response_counts=COUNTS)
    assert len(decision.verdicts) == 1
    return decision.verdicts[0]


def failing_rules(verdict) -> list[str]:
    return [rule["rule"] for rule in verdict.rules if not rule["passed"]]


# For each rule, how to make it fail (survey fields, user fields, survey history), chosen so
# that any combination of them fails exactly the rules combined.
FAILURES = {
    "survey_inactive": ({"active": False}, {}, {}),
    "not_identified": ({}, {"identified": False}, {}),
    "traits_mismatch": ({"targeting": {"traits": [{"trait": "plan", "op": "eq", "value": "team"}]}}, {}, {}),
    "page_mismatch": ({"targeting": {"pages": [{"op": "contains", "value": "/settings"}]}}, {}, {}),
    "device_mismatch": ({"targeting": {"devices": ["tablet", "mobile"]}}, {}, {}),
    "not_sampled": ({"targeting": {"sample_percent": 0}}, {}, {}),
    "too_new": ({"targeting": {"min_days_since_signup": 30}}, {"createdAt": NOW - DAY_MS}, {}),
    "awaiting_trigger": ({"targeting": {"trigger": {"event": "Report Exported"}}}, {}, {}),
    "delayed": ({"targeting": {"delay_seconds": 7200}}, {}, {}),  # the page view was an hour ago
    "max_displays_reached": ({"targeting": {"max_displays": 2}}, {}, {"displaysSinceResponse": 2}),
    "quota_reached": ({"limits": {"responses": 5}}, {}, {}),
    "max_responses_reached": ({"targeting": {"max_responses_per_user": 1}}, {}, {"responses": 1}),
    "recently_responded": ({}, {}, {"lastRespondedAt": NOW - 2 * HOUR_MS}),
    "recently_dismissed": ({}, {}, {"lastDismissedAt": NOW - 90 * 60_000}),
    "recently_displayed": ({}, {}, {"lastShownAt": NOW - HOUR_MS}),
    "global_wait": ({}, {"surveys": {"other": {"lastShownAt": NOW - DAY_MS}}}, {}),
}


def failing_setup(rules) -> tuple:
    survey_fields, user_fields, history = {"targeting": {}}, {}, {}
    for rule in rules:
        fields, state_fields, history_fields = FAILURES[rule]
        survey_fields["targeting"].update(fields.get("targeting", {}))
        survey_fields.update({k: v for k, v in fields.items() if k != "targeting"})
        user_fields.update(state_fields)
        history.update(history_fields)
    return config(survey(**survey_fields)), user({"s1": history}, **user_fields)


def test_rules_are_the_reference_reason_codes_in_order():
    assert RULES == ("survey_inactive", "not_identified", "traits_mismatch", "page_mismatch", "device_mismatch",
                     "not_sampled", "too_new", "awaiting_trigger", "delayed", "max_displays_reached",
                     "quota_reached", "max_responses_reached", "recently_responded", "recently_dismissed",
                     "recently_displayed", "global_wait")


def test_default_user_and_survey_are_eligible():
    cfg, state = failing_setup(())
    decision = decide(state, cfg, NOW, response_counts=COUNTS)
    assert (decision.eligible, decision.survey.id, decision.reason, decision.eligible_at) == (True, "s1", "eligible", None)
    assert failing_rules(decision.verdicts[0]) == []


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_alone_gives_its_reason(rule):
    cfg, state = failing_setup([rule])
    verdict = only_verdict(state, cfg)
    assert (verdict.eligible, verdict.reason) == (False, rule)
    assert failing_rules(verdict) == [rule]


@pytest.mark.parametrize("first", range(len(RULES)))
def test_reason_is_the_first_failing_rule_and_every_rule_is_evaluated(first):
    cfg, state = failing_setup(RULES[first:])
    verdict = only_verdict(state, cfg)
    assert verdict.reason == RULES[first]
    assert failing_rules(verdict) == list(RULES[first:])


@pytest.mark.parametrize("fields, now, reason", [
    ({"starts_at": "2026-03-02T00:00:00Z"}, NOW, "survey_inactive"),
    ({"starts_at": "2026-03-01T00:00:00Z"}, NOW, "eligible"),  # the window includes its start
    ({"ends_at": "2026-03-01T00:00:00Z"}, NOW, "survey_inactive"),  # ... and excludes its end
    ({"ends_at": "2026-03-01T00:00:00Z"}, NOW - 1, "eligible"),
    ({"starts_at": "2026-01-01", "ends_at": "2026-12-31"}, NOW, "eligible"),
    ({"active": False, "starts_at": "2026-01-01"}, NOW, "survey_inactive"),
])
def test_survey_window(fields, now, reason):
    assert only_verdict(user(), config(survey(**fields)), now).reason == reason


def test_unknown_user_is_not_identified():
    decision = decide(None, config(), NOW, user_id="ghost")
    assert (decision.eligible, decision.reason, decision.eligible_at) == (False, "not_identified", None)


def test_unknown_user_reads_not_identified_even_when_the_top_survey_is_out_of_its_window():
    cfg = config(survey("later", priority=50, starts_at="2026-04-01"), survey("now"))
    assert decide(None, cfg, NOW, user_id="ghost").reason == "not_identified"
    assert decide(user(identified=False), cfg, NOW).reason == "not_identified"
    assert decide(user(), cfg, NOW).survey.id == "now"


@pytest.mark.parametrize("trait_filters, traits, reason", [
    ([{"trait": "plan", "op": "in", "value": ["pro", "team"]}], {"plan": "team"}, "eligible"),
    ([{"trait": "plan", "op": "in", "value": ["pro", "team"]}], {"plan": "free"}, "traits_mismatch"),
    ([{"trait": "plan", "op": "in", "value": ["pro", "team"]}], {}, "traits_mismatch"),
    ([{"trait": "seats", "op": "gte", "value": 10}], {"seats": "12"}, "eligible"),
    ([{"trait": "seats", "op": "gte", "value": 10}, {"trait": "plan", "op": "eq", "value": "pro"}],
     {"seats": 12, "plan": "free"}, "traits_mismatch"),
    ([{"trait": "churned", "op": "not_exists"}], {"churned": None}, "eligible"),
])
def test_trait_filters_all_must_hold(trait_filters, traits, reason):
    cfg = config(survey(targeting={"traits": trait_filters}))
    assert only_verdict(user(traits=traits), cfg).reason == reason


@pytest.mark.parametrize("fields, reason", [
    ({"createdAt": NOW - 10 * DAY_MS, "firstSeen": NOW - 100 * DAY_MS}, "too_new"),  # createdAt wins
    ({"createdAt": NOW - 30 * DAY_MS, "firstSeen": NOW - DAY_MS}, "eligible"),  # exactly 30 days is enough
    ({"createdAt": None, "firstSeen": NOW - 31 * DAY_MS}, "eligible"),  # firstSeen stands in
    ({"createdAt": None, "firstSeen": NOW - 29 * DAY_MS}, "too_new"),
    ({"createdAt": None, "firstSeen": None}, "too_new"),
])
def test_account_age_uses_created_at_else_first_seen(fields, reason):
    cfg = config(survey(targeting={"min_days_since_signup": 30}))
    assert only_verdict(user(**fields), cfg).reason == reason


TRIGGER = {"event": "Report Exported", "min_count": 2, "within_days": 7}


@pytest.mark.parametrize("trigger, seen, reason", [
    (TRIGGER, None, "awaiting_trigger"),
    (TRIGGER, {"count": 1, "last": NOW - HOUR_MS}, "awaiting_trigger"),
    (TRIGGER, {"count": 2, "last": NOW - HOUR_MS}, "eligible"),
    (TRIGGER, {"count": 5, "last": NOW - 7 * DAY_MS}, "eligible"),  # the window includes its edge
    (TRIGGER, {"count": 5, "last": NOW - 7 * DAY_MS - 1}, "awaiting_trigger"),
    (TRIGGER, {"count": 5, "last": None}, "awaiting_trigger"),
    ({**TRIGGER, "within_days": None}, {"count": 2, "last": NOW - 400 * DAY_MS}, "eligible"),
])
def test_trigger_count_and_window(trigger, seen, reason):
    cfg = config(survey(targeting={"trigger": trigger}))
    triggers = {"s1": seen} if seen else {}
    assert only_verdict(user(triggers=triggers), cfg).reason == reason


@pytest.mark.parametrize("history, reason", [
    ({"displaysSinceResponse": 2}, "eligible"),
    ({"displaysSinceResponse": 3}, "max_displays_reached"),
    ({"lastRespondedAt": NOW - 89 * DAY_MS}, "recently_responded"),
    ({"lastRespondedAt": NOW - 90 * DAY_MS}, "eligible"),
    ({"lastDismissedAt": NOW - 29 * DAY_MS}, "recently_dismissed"),
    ({"lastDismissedAt": NOW - 30 * DAY_MS}, "eligible"),
    ({"lastShownAt": NOW - 23 * HOUR_MS}, "recently_displayed"),
    ({"lastShownAt": NOW - 24 * HOUR_MS}, "eligible"),
    # a display that was answered or dismissed is not an ignored one: only its own wait applies
    ({"lastShownAt": NOW - 100 * DAY_MS, "lastRespondedAt": NOW - 100 * DAY_MS}, "eligible"),
    ({"lastShownAt": NOW - 40 * DAY_MS, "lastDismissedAt": NOW - 40 * DAY_MS + HOUR_MS}, "eligible"),
    ({"lastShownAt": NOW - HOUR_MS, "lastDismissedAt": NOW - 40 * DAY_MS}, "recently_displayed"),
])
def test_survey_history_waits(history, reason):
    cfg = config(survey(targeting={"max_displays": 3}))
    assert only_verdict(user({"s1": history}), cfg).reason == reason


@pytest.mark.parametrize("history, reason", [
    ({"other": {"lastShownAt": NOW - 6 * DAY_MS}}, "global_wait"),
    ({"other": {"lastShownAt": NOW - 7 * DAY_MS}}, "eligible"),
    ({"s1": {"lastShownAt": NOW - 2 * DAY_MS, "lastDismissedAt": NOW - 2 * DAY_MS}}, "eligible"),  # own display
    ({"s1": {"lastShownAt": NOW - HOUR_MS, "lastDismissedAt": NOW - HOUR_MS},
      "a": {"lastShownAt": NOW - 9 * DAY_MS}, "b": {"lastShownAt": NOW - 3 * DAY_MS}}, "global_wait"),
    ({"removed-survey": {"lastShownAt": NOW - DAY_MS}}, "global_wait"),  # any survey id in the state
])
def test_global_wait_after_another_survey(history, reason):
    cfg = config(survey(targeting={"recontact_after_dismissal_days": 0}))
    assert only_verdict(user(history), cfg).reason == reason


# eligibleAt: (survey fields, user fields, history of s1, expected instant or None)
@pytest.mark.parametrize("fields, user_fields, history, expected", [
    ({"starts_at": "2026-03-10T12:00:00Z"}, {}, {}, parse_iso("2026-03-10T12:00:00Z")),
    ({"targeting": {"min_days_since_signup": 30}}, {"createdAt": NOW - 10 * DAY_MS}, {}, NOW + 20 * DAY_MS),
    ({"targeting": {"min_days_since_signup": 30}}, {"firstSeen": NOW - 10 * DAY_MS}, {}, NOW + 20 * DAY_MS),
    ({"targeting": {"min_days_since_signup": 0.5}}, {"firstSeen": NOW - 1}, {}, NOW - 1 + 12 * HOUR_MS),
    ({}, {}, {"lastRespondedAt": NOW - DAY_MS}, NOW + 89 * DAY_MS),
    ({}, {}, {"lastDismissedAt": NOW - DAY_MS}, NOW + 29 * DAY_MS),
    ({}, {}, {"lastShownAt": NOW - HOUR_MS}, NOW + 23 * HOUR_MS),
    ({}, {"surveys": {"other": {"lastShownAt": NOW - DAY_MS}}}, {}, NOW + 6 * DAY_MS),
    ({"targeting": {"traits": [{"trait": "createdAt", "op": "older_than_days", "value": 30}]}},
     {"traits": {"createdAt": iso(NOW - 10 * DAY_MS)}}, {}, NOW + 20 * DAY_MS + 1),
    # several time-only blocks: the last to lift
    ({"targeting": {"min_days_since_signup": 30}}, {"createdAt": NOW - 25 * DAY_MS},
     {"lastDismissedAt": NOW - 20 * DAY_MS}, NOW + 10 * DAY_MS),
    ({"starts_at": "2026-03-03T00:00:00Z"}, {"surveys": {"other": {"lastShownAt": NOW - 6 * DAY_MS}}},
     {"lastShownAt": NOW - 12 * HOUR_MS}, parse_iso("2026-03-03T00:00:00Z")),
    # the wait lifts only after the survey ends, or after the trigger window closes: never
    ({"ends_at": "2026-03-05T00:00:00Z"}, {}, {"lastDismissedAt": NOW - DAY_MS}, None),
    ({"ends_at": "2026-03-30T00:00:00Z"}, {}, {"lastDismissedAt": NOW - DAY_MS}, None),  # ends as it lifts
    ({"ends_at": "2026-03-30T00:00:00.001Z"}, {}, {"lastDismissedAt": NOW - DAY_MS}, NOW + 29 * DAY_MS),
    ({"targeting": {"trigger": {"event": "Export", "within_days": 2}}},
     {"triggers": {"s1": {"count": 1, "last": NOW - HOUR_MS}}}, {"lastDismissedAt": NOW - HOUR_MS}, None),
    ({"targeting": {"trigger": {"event": "Export", "within_days": 2}}},
     {"triggers": {"s1": {"count": 1, "last": NOW - HOUR_MS}}}, {"lastShownAt": NOW - 20 * HOUR_MS}, NOW + 4 * HOUR_MS),
    ({"targeting": {"min_days_since_signup": 30, "traits": [{"trait": "createdAt", "op": "newer_than_days", "value": 20}]}},
     {"createdAt": NOW - 10 * DAY_MS, "traits": {"createdAt": NOW - 10 * DAY_MS}}, {}, None),
    # something time will not fix
    ({"targeting": {"min_days_since_signup": 30, "traits": [{"trait": "plan", "op": "eq", "value": "team"}]}},
     {"createdAt": NOW - 10 * DAY_MS}, {}, None),
    ({"targeting": {"min_days_since_signup": 30}}, {"createdAt": None, "firstSeen": None}, {}, None),
    ({"targeting": {"max_displays": 1}}, {}, {"displaysSinceResponse": 1, "lastShownAt": NOW - HOUR_MS}, None),
    ({"targeting": {"sample_percent": 0}}, {}, {"lastShownAt": NOW - HOUR_MS}, None),
    ({"active": False}, {}, {}, None),
    ({"ends_at": "2026-02-01"}, {}, {}, None),
    ({}, {"identified": False}, {}, None),
    ({}, {}, {}, None),  # eligible now
])
def test_eligible_at(fields, user_fields, history, expected):
    cfg = config(survey(**fields))
    state = user({"s1": history}, **user_fields)
    verdict = only_verdict(state, cfg)
    assert verdict.eligible_at == expected
    assert decide(state, cfg, NOW).eligible_at == expected
    if expected is not None:
        assert decide(state, cfg, expected).eligible
        assert not decide(state, cfg, expected - 1).eligible


def test_eligible_at_of_the_decision_is_the_earliest_over_surveys():
    cfg = config(
        survey("a", priority=30, targeting={"min_days_since_signup": 30}),
        survey("b", priority=20, starts_at="2026-03-04T00:00:00Z"),
        survey("c", priority=10, targeting={"sample_percent": 0}),
    )
    decision = decide(user(createdAt=NOW - 25 * DAY_MS), cfg, NOW)
    assert [v.eligible_at for v in decision.verdicts] == [NOW + 5 * DAY_MS, parse_iso("2026-03-04T00:00:00Z"), None]
    assert (decision.eligible, decision.reason, decision.eligible_at) == (False, "too_new", parse_iso("2026-03-04T00:00:00Z"))


@pytest.mark.parametrize("surveys, winner", [
    ([survey("a", priority=10), survey("b", priority=20)], "b"),
    ([survey("a", priority=20), survey("b", priority=20)], "a"),  # tie: file order
    ([survey("b", priority=20), survey("a", priority=20)], "b"),
    ([survey("a", priority=5), survey("b", priority=-1), survey("c", priority=5)], "a"),
    ([survey("a", priority=99, active=False), survey("b", priority=1)], "b"),
    ([survey("a", priority=99, targeting={"sample_percent": 0}), survey("b", priority=1)], "b"),
])
def test_highest_priority_eligible_survey_wins(surveys, winner):
    decision = decide(user(), config(*surveys), NOW)
    assert (decision.eligible, decision.survey.id, decision.reason) == (True, winner, "eligible")


@pytest.mark.parametrize("surveys, reason", [
    # the reason of the highest-priority survey whose active flag is true
    ([survey("a", priority=10, targeting={"sample_percent": 0}),
      survey("b", priority=20, targeting={"min_days_since_signup": 500})], "too_new"),
    ([survey("a", priority=20, targeting={"sample_percent": 0}),
      survey("b", priority=20, targeting={"min_days_since_signup": 500})], "not_sampled"),
    ([survey("a", priority=99, active=False),
      survey("b", priority=1, targeting={"min_days_since_signup": 500})], "too_new"),
    ([survey("a", priority=20, ends_at="2026-02-01"),
      survey("b", priority=10, targeting={"sample_percent": 0})], "survey_inactive"),
    # no active survey at all
    ([survey("a", active=False), survey("b", active=False)], "survey_inactive"),
])
def test_reason_when_no_survey_is_eligible(surveys, reason):
    decision = decide(user(), config(*surveys), NOW)
    assert (decision.eligible, decision.survey, decision.reason) == (False, None, reason)


def test_no_surveys_configured():
    decision = decide(user(), parse_config({}), NOW)
    assert (decision.eligible, decision.survey, decision.reason, decision.eligible_at, decision.verdicts) == \
        (False, None, "survey_inactive", None, ())


def test_sample_bucket_is_pinned():
    # Changing the hash would re-roll every user's sampling: these values must never move.
    assert sample_bucket("nps-main", "u1") == 7844
    assert sample_bucket("csat-export", "u1") == 5095
    assert sample_bucket("nps-main", "user-42") == 7206


USERS = [f"user-{n}" for n in range(20_000)]


def sampled(survey_id: str, percent: float) -> set[str]:
    cfg = config(survey(survey_id, targeting={"sample_percent": percent}))
    return {u for u in USERS if decide(user(userId=u), cfg, NOW).eligible}


def test_sampling_proportion_and_independence():
    first, second = sampled("a", 30), sampled("b", 30)
    assert abs(len(first) / len(USERS) - 0.30) <= 0.015
    assert abs(len(second) / len(USERS) - 0.30) <= 0.015
    # independent surveys: the same users are not always picked
    assert abs(len(first & second) / len(USERS) - 0.09) <= 0.015


def test_sampling_is_sticky_and_uses_the_given_user_id():
    cfg = config(survey(targeting={"sample_percent": 50}))
    verdicts = [decide(user(userId=u), cfg, NOW).eligible for u in USERS[:200]]
    assert verdicts == [decide(user(userId=u), cfg, NOW + 9 * DAY_MS).eligible for u in USERS[:200]]
    assert verdicts == [decide(user(userId=None), cfg, NOW, user_id=u).eligible for u in USERS[:200]]
    assert 50 < sum(verdicts) < 150


@pytest.mark.parametrize("percent, expected", [(100, True), (0, False)])
def test_sampling_extremes(percent, expected):
    cfg = config(survey(targeting={"sample_percent": percent}))
    assert all(decide(user(userId=u), cfg, NOW).eligible is expected for u in USERS[:100])


def test_records():
    cfg = config(survey("a", priority=1), survey("b", priority=2, targeting={"sample_percent": 0}))
    decision = decide(user(), cfg, NOW)
    assert outcome(decision) == (True, "a", "eligible")
    assert decision_record(decision, "u1", NOW) == {
        "userId": "u1", "eligible": True, "surveyId": "a", "reason": "eligible",
        "eligibleAt": None, "decidedAt": "2026-03-01T00:00:00.000Z", "configVersion": cfg.version}
    body = eligibility_response(decision, "u1", NOW)
    assert body["survey"] == cfg.surveys[0].public()
    assert {k: body[k] for k in ("userId", "eligible", "reason", "eligibleAt", "decidedAt")} == \
        {"userId": "u1", "eligible": True, "reason": "eligible", "eligibleAt": None, "decidedAt": "2026-03-01T00:00:00.000Z"}
    assert set(body) == {"userId", "eligible", "survey", "reason", "eligibleAt", "decidedAt"}


def test_records_of_a_blocked_user():
    cfg = config(survey(targeting={"min_days_since_signup": 30}))
    decision = decide(user(createdAt=parse_iso("2026-02-20T00:00:00Z")), cfg, NOW)
    assert outcome(decision) == (False, None, "too_new")
    record = decision_record(decision, "u1", NOW)
    assert (record["surveyId"], record["eligibleAt"]) == (None, "2026-03-22T00:00:00.000Z")
    assert eligibility_response(decision, "u1", NOW)["survey"] is None


def test_explain_record_shows_every_rule_with_details():
    cfg = config(survey("a", targeting={"min_days_since_signup": 30}), survey("b", priority=1))
    state = user({"b": {"lastDismissedAt": NOW - DAY_MS}}, createdAt=parse_iso("2026-02-17T00:00:00Z"))
    explained = explain_record(decide(state, cfg, NOW, every_rule=True), "u1", NOW)
    json.dumps(explained)  # ready to serve
    assert explained["userId"] == "u1" and explained["now"] == "2026-03-01T00:00:00.000Z"
    assert explained["decision"] == decision_record(decide(state, cfg, NOW), "u1", NOW)
    first, second = explained["surveys"]
    assert (first["surveyId"], first["eligible"], first["reason"], first["eligibleAt"]) == \
        ("a", False, "too_new", "2026-03-19T00:00:00.000Z")
    assert (second["surveyId"], second["reason"], second["eligibleAt"]) == ("b", "recently_dismissed", "2026-03-30T00:00:00.000Z")
    for entry in (first, second):
        assert [rule["rule"] for rule in entry["rules"]] == list(RULES)
        assert all(isinstance(rule["detail"], str) and rule["detail"] for rule in entry["rules"])
    too_new = next(rule for rule in first["rules"] if rule["rule"] == "too_new")
    assert too_new == {"rule": "too_new", "passed": False,
                       "detail": "createdAt 2026-02-17T00:00:00.000Z is 12 days old, needs 30"}


# Property tests: instants around NOW, in hours, so that boundaries are hit often.
hours = st.integers(min_value=-2000, max_value=2000).map(lambda h: NOW + h * HOUR_MS)
maybe_hours = st.none() | hours


@st.composite
def time_blocked_cases(draw):
    """A survey and user that only time-based rules can block (plus windows that close)."""
    starts = draw(maybe_hours)
    ends = draw(maybe_hours)
    if starts is not None and ends is not None and ends <= starts:
        ends = None
    trigger_last = draw(maybe_hours)
    fields = {
        "starts_at": iso(starts), "ends_at": iso(ends),
        "targeting": {
            "min_days_since_signup": draw(st.sampled_from([0, 1, 30, 0.25])),
            "recontact_after_response_days": draw(st.sampled_from([0, 2, 90])),
            "recontact_after_dismissal_days": draw(st.sampled_from([0, 3, 30])),
            "redisplay_after_hours": draw(st.sampled_from([0, 5, 24])),
            "traits": [{"trait": "signup", "op": "older_than_days", "value": draw(st.sampled_from([0, 10]))}],
        },
    }
    if trigger_last is not None:
        fields["targeting"]["trigger"] = {"event": "Export", "within_days": draw(st.sampled_from([1, 20]))}
    history = {"lastShownAt": draw(maybe_hours), "lastRespondedAt": draw(maybe_hours), "lastDismissedAt": draw(maybe_hours)}
    other = {"lastShownAt": draw(maybe_hours)}
    state = user({"s1": history, "other": other}, createdAt=draw(hours), traits={"signup": draw(hours)},
                 triggers={"s1": {"count": 1, "last": trigger_last}} if trigger_last is not None else {})
    return config(survey(**fields), recontact_days=draw(st.sampled_from([0, 7]))), state


@settings(max_examples=300, deadline=None)
@given(time_blocked_cases())
def test_eligible_at_is_the_first_eligible_instant(case):
    cfg, state = case
    decision = decide(state, cfg, NOW)
    if decision.eligible:
        assert decision.eligible_at is None
        return
    if decision.eligible_at is not None:
        assert decision.eligible_at > NOW
        assert decide(state, cfg, decision.eligible_at).eligible
        assert not decide(state, cfg, decision.eligible_at - 1).eligible
    else:
        # never by time alone: not at any of the instants where a rule could flip
        instants = {NOW + h * HOUR_MS for h in range(0, 4201, 7)}
        assert not any(decide(state, cfg, t).eligible for t in instants)


@settings(max_examples=100, deadline=None)
@given(time_blocked_cases(), st.integers(min_value=-(10**6), max_value=10**6))
def test_decide_is_deterministic_and_does_not_touch_the_state(case, offset):
    cfg, state = case
    before = copy.deepcopy(state)
    first, second = decide(state, cfg, NOW + offset), decide(state, cfg, NOW + offset)
    assert first == second
    assert [v.rules for v in first.verdicts] == [v.rules for v in second.verdicts]
    assert state == before


@settings(max_examples=300, deadline=None)
@given(time_blocked_cases(), st.integers(min_value=-(10**9), max_value=10**9))
def test_stopping_at_the_first_rule_time_does_not_lift_decides_the_same(case, offset):
    """decide() stops early on the hot path; explain evaluates every rule: same decision."""
    cfg, state = case
    short, full = decide(state, cfg, NOW + offset), decide(state, cfg, NOW + offset, every_rule=True)
    assert (short.eligible, short.survey, short.reason, short.eligible_at) == \
        (full.eligible, full.survey, full.reason, full.eligible_at)
    assert [(v.eligible, v.reason, v.eligible_at) for v in short.verdicts] == \
        [(v.eligible, v.reason, v.eligible_at) for v in full.verdicts]


def test_group_traits_are_targetable_as_group_dot_name():
    cfg = config(survey(targeting={"traits": [{"trait": "group.plan", "op": "eq", "value": "enterprise"},
                                              {"trait": "group.seats", "op": "gte", "value": 10}]}))
    state = user()
    assert only_verdict(state, cfg).reason == "traits_mismatch"  # no group yet
    state["groups"] = {"small": {"traits": {"plan": "enterprise", "seats": 3}, "traitTimes": {}, "at": NOW - DAY_MS},
                       "big": {"traits": {"plan": "enterprise", "seats": 40}, "traitTimes": {}, "at": NOW - HOUR_MS}}
    assert only_verdict(state, cfg).eligible  # the most recent group is "big"
    state["groups"]["small"]["at"] = NOW
    assert only_verdict(state, cfg).reason == "traits_mismatch"
