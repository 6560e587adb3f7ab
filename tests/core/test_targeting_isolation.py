"""One survey whose rules raise does not take the decision down (docs/configuration.md,
`config_error`): it reads config_error in explain, is counted and logged once per config
version, and the other surveys decide as if it were not there.

The validator refuses every value known to make rules raise (test_config_finite.py), so
these configs are built past it, as a value no validation foresaw would be."""
from __future__ import annotations

import dataclasses
import logging

import pytest

from streams.core import targeting
from streams.core.config import Trigger, parse_config
from streams.core.timeutil import DAY_MS

NOW = 1_800_000_000_000
# Every rule of `broken` is reached: a response, a dismissal and a later ignored display.
USER = {"userId": "u1", "identified": True, "createdAt": NOW - 400 * DAY_MS, "traits": {"plan": "pro"},
        "surveys": {"broken": {"lastRespondedAt": NOW - 3 * DAY_MS, "lastDismissedAt": NOW - 3 * DAY_MS,
                               "lastShownAt": NOW - 2 * DAY_MS}}}


def _config(version: str = "v1"):
    config = parse_config({"project": {"recontact_days": 0}, "surveys": [
        {"id": "broken", "type": "nps", "name": "Broken", "priority": 30},
        {"id": "healthy", "type": "csat", "name": "Healthy", "priority": 10},
    ]})
    return dataclasses.replace(config, version=version)


def _targeting(**changes):
    def breaker(survey):
        return dataclasses.replace(survey, targeting=dataclasses.replace(survey.targeting, **changes))
    return breaker


BREAKERS = [
    ("recontact_after_response_days inf", _targeting(recontact_after_response_days=float("inf"))),
    ("recontact_after_dismissal_days nan", _targeting(recontact_after_dismissal_days=float("nan"))),
    ("redisplay_after_hours 1e308", _targeting(redisplay_after_hours=1e308)),
    ("min_days_since_signup inf", _targeting(min_days_since_signup=float("inf"))),
    ("a trigger count that is no number", _targeting(trigger=Trigger("Exported", min_count="one"))),
    ("max_displays not a number", _targeting(max_displays="three")),
]


def _broken(breaker, version: str = "v1"):
    config = _config(version)
    return dataclasses.replace(config, surveys=(breaker(config.surveys[0]), config.surveys[1]))


@pytest.mark.parametrize("breaker", [b for _, b in BREAKERS], ids=[name for name, _ in BREAKERS])
def test_a_survey_whose_rules_raise_leaves_the_others_deciding(breaker):
    config = _broken(breaker, version=f"v-{id(breaker)}")
    before = targeting.survey_errors["broken"]
    decision = targeting.decide(USER, config, NOW, "u1")
    assert (decision.eligible, decision.survey.id, decision.reason) == (True, "healthy", "eligible")
    assert targeting.survey_errors["broken"] == before + 1
    explained = targeting.explain_record(targeting.decide(USER, config, NOW, "u1", every_rule=True), "u1", NOW)
    broken, healthy = explained["surveys"]
    assert (broken["surveyId"], broken["eligible"], broken["reason"], broken["eligibleAt"]) == \
        ("broken", False, "config_error", None)
    assert broken["rules"][0]["rule"] == "config_error" and "failed" in broken["rules"][0]["detail"]
    assert healthy["reason"] == "eligible"


def test_no_survey_decided_reads_the_reason_of_one_that_did():
    """The failed survey has the higher priority; the decision speaks for the healthy one."""
    config = _broken(_targeting(recontact_after_response_days=float("inf")))
    user = {**USER, "surveys": {**USER["surveys"], "healthy": {"lastRespondedAt": NOW - DAY_MS}}}
    decision = targeting.decide(user, config, NOW, "u1")
    assert (decision.eligible, decision.reason) == (False, "recently_responded")


def test_every_survey_failing_reads_config_error():
    config = _config()
    broken = _targeting(recontact_after_response_days=float("inf"))
    config = dataclasses.replace(config, surveys=tuple(broken(s) for s in config.surveys))
    user = {**USER, "surveys": {"broken": {"lastRespondedAt": NOW}, "healthy": {"lastRespondedAt": NOW}}}
    decision = targeting.decide(user, config, NOW, "u1")
    assert (decision.eligible, decision.survey, decision.reason) == (False, None, "config_error")


def test_logged_once_per_config_version(caplog):
    breaker = _targeting(min_days_since_signup=float("nan"))
    with caplog.at_level(logging.ERROR, logger="streams.core.targeting"):
        for _ in range(3):
            targeting.decide(USER, _broken(breaker, version="once-a"), NOW, "u1")
        targeting.decide(USER, _broken(breaker, version="once-b"), NOW, "u1")
    logged = [r for r in caplog.records if "rules failed" in r.getMessage()]
    assert [(r.survey, r.configVersion) for r in logged] == [("broken", "once-a"), ("broken", "once-b")]


def test_an_explain_detail_that_raises_reads_as_no_detail():
    verdict = targeting.SurveyVerdict("s", False, "too_new", None, ((False, None, lambda: 1 / 0),))
    assert verdict.rules == [{"rule": "survey_inactive", "passed": False, "detail": "(no detail: ZeroDivisionError('division by zero'))"}]
