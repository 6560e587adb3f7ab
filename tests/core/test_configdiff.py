"""What a config change changes (streams.core.configdiff): lines by survey and rule, moved users."""
from __future__ import annotations

from streams.core.config import parse_config
from streams.core.configdiff import count_moves, diff, moved, structural_changes
from streams.core.state import new_user_state
from streams.core.timeutil import DAY_MS, parse_iso

NOW = parse_iso("2026-03-01T00:00:00Z")


def config(*surveys, **project):
    return parse_config({"project": project, "surveys": list(surveys)})


def survey(survey_id="nps", **fields):
    return {"id": survey_id, "type": "nps", "name": f"Survey {survey_id}", **fields}


def test_nothing_changed_says_nothing():
    assert diff(config(survey()), config(survey())) == []


def test_changes_are_listed_survey_by_survey_and_rule_by_rule():
    before = config(survey("a", targeting={"sample_percent": 100}), survey("b"), recontact_days=7)
    after = config(survey("a", targeting={"sample_percent": 50}, active=False), survey("c"), recontact_days=14)
    lines = diff(before, after)
    assert "project.recontact_days: 7 → 14" in lines
    assert "survey a: changed" in lines
    assert "  targeting.sample_percent: 100 → 50" in lines and "  active: True → False" in lines
    assert "survey b: removed" in lines and "survey c: added" in lines


def test_partitions_and_topics_cannot_change_while_running():
    assert structural_changes(config(survey(), partitions=8), config(survey(), partitions=8)) == []
    assert structural_changes(config(survey(), partitions=8), config(survey(), partitions=4))


def identified(user: str, **traits) -> dict:
    state = new_user_state(user)
    state.update(identified=True, firstSeen=NOW - 100 * DAY_MS, traits=traits,
                 decision={"eligible": True, "surveyId": "nps", "reason": "eligible", "eligibleAt": None})
    return state


def test_a_user_moves_when_the_new_config_changes_the_stored_decision():
    paused = config(survey(active=False))
    assert moved("u1", identified("u1"), config(survey()), NOW) is None
    move = moved("u1", identified("u1"), paused, NOW)
    assert move == ((True, "nps", "eligible"), (False, None, "survey_inactive"))
    assert moved("u1", {"aliasOf": "u2"}, paused, NOW) is None  # a redirect is no user
    assert count_moves([move, move]) == {("eligible for nps", "survey_inactive"): 2}


def test_authoring_rules_are_listed_like_the_others():
    before = config(survey())
    after = config(survey(locales=["en", "de"], limits={"responses_per_day": 50},
                          targeting={"pages": [{"op": "contains", "value": "/billing"}], "devices": ["desktop"],
                                     "delay_seconds": 30, "cancel_on": [{"event": "Checkout Started"}],
                                     "max_responses_per_user": 1},
                          questions=[{"id": "score", "kind": "scale", "min": 0, "max": 10,
                                      "text": {"en": "How likely?", "de": "Wie wahrscheinlich?"}},
                                     {"id": "fix", "kind": "text", "text": "Fix?",
                                      "show_if": {"question": "score", "category": ["detractor"]}}]))
    lines = diff(before, after)
    for expected in ("  locales: ['en'] → ['en', 'de']", "  limits.responses_per_day: 0 → 50",
                     "  targeting.devices: [] → ['desktop']", "  targeting.delay_seconds: 0 → 30",
                     "  targeting.max_responses_per_user: 0 → 1",
                     "  targeting.pages: [] → [{'op': 'contains', 'value': '/billing'}]",
                     "  targeting.cancel_on: [] → [{'event': 'Checkout Started', 'where': []}]"):
        assert expected in lines, lines
    assert any(line.startswith("  questions") and "show_if" in line for line in lines), lines


def test_a_page_rule_moves_the_users_it_no_longer_takes():
    state = identified("u1")
    state["client"] = {"url": "https://app.example.com/settings", "pageAt": NOW - DAY_MS}
    move = moved("u1", state, config(survey(targeting={"pages": [{"op": "starts_with", "value": "https://app.example.com/billing"}]})), NOW)
    assert move == ((True, "nps", "eligible"), (False, None, "page_mismatch"))
