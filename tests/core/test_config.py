"""Config validation and defaults (docs/reference.md#6-config).

Every wrong field must give its own error naming the file, the survey and the field; a
worker started on such a config must stop before it contacts Kafka.
"""
from __future__ import annotations

import copy
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from streams.runtime import topics as names
from streams.core.config import (
    DEFAULT_EVENT_NAMES,
    ConfigError,
    Filter,
    Targeting,
    Trigger,
    load_config,
    parse_config,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "config" / "surveys.yaml"


def base_document() -> dict:
    """A valid config with one survey carrying every section, to break one field at a time."""
    return {
        "project": {"recontact_days": 7, "display_timeout_minutes": 30, "partitions": 8},
        "surveys": [{
            "id": "nps-main",
            "type": "nps",
            "name": "How likely are you to recommend us?",
            "questions": [
                {"id": "score", "kind": "scale", "text": "How likely?", "min": 0, "max": 10},
                {"id": "reason", "kind": "text", "text": "Why?"},
            ],
            "targeting": {
                "traits": [{"trait": "plan", "op": "in", "value": ["pro", "team"]}],
                "trigger": {"event": "Report Exported",
                            "where": [{"property": "format", "op": "eq", "value": "pdf"}]},
            },
            "segment": {"traits": {"NPS_rating": "score", "NPS_comment": "reason", "NPS_date": "completed_at"}},
        }],
    }


def write(tmp_path: Path, document, name: str = "surveys.yaml") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else yaml.safe_dump(document, sort_keys=False))
    return path


# --- one wrong field, one error ---------------------------------------------------------
# (case id, how to break the document, survey named in the error, field named, value)

def _survey(doc) -> dict:
    return doc["surveys"][0]


def _set(path: str, value):
    """Breaker setting survey[0].<dotted path> (list indexes as ints) to `value`."""
    def breaker(doc):
        target = _survey(doc)
        parts = path.split(".")
        for part in parts[:-1]:
            target = target[int(part)] if part.isdigit() else target.setdefault(part, {})
        target[int(parts[-1]) if parts[-1].isdigit() else parts[-1]] = value
    return breaker


def _duplicate(doc):
    doc["surveys"].append(copy.deepcopy(_survey(doc)))


def _del_min(doc):
    del _survey(doc)["questions"][0]["min"]


def _del_max(doc):
    del _survey(doc)["questions"][0]["max"]


def _ends_before_starts(doc):
    _survey(doc)["starts_at"] = "2026-03-01T00:00:00Z"
    _survey(doc)["ends_at"] = "2026-02-01T00:00:00Z"


def _ends_equal_starts(doc):
    _survey(doc)["starts_at"] = "2026-03-01T00:00:00Z"
    _survey(doc)["ends_at"] = "2026-03-01T00:00:00Z"


def _topic_rename(doc):
    doc["topics"] = {"segment.identfy": "x.identify"}


def _project(key, value):
    def breaker(doc):
        doc["project"][key] = value
    return breaker


INVALID = [
    ("bad id (uppercase, space)", _set("id", "NPS Main"), "NPS Main", "id", "NPS Main"),
    ("bad id (number)", _set("id", 42), "#1", "id", 42),
    ("duplicate id", _duplicate, "nps-main", "id", "nps-main"),
    ("bad type", _set("type", "survey"), "nps-main", "type", "survey"),
    ("unknown survey field", _set("colour", "red"), "nps-main", "colour", "red"),
    ("unknown targeting field", _set("targeting.min_days_since_sigup", 3), "nps-main",
     "targeting.min_days_since_sigup", 3),
    ("unknown filter field", _set("targeting.traits.0.values", ["pro"]), "nps-main", "targeting.traits[0].values", ["pro"]),
    ("bad operator", _set("targeting.traits.0.op", "like"), "nps-main", "targeting.traits[0].op", "like"),
    ("in without a list", _set("targeting.traits.0.value", "pro"), "nps-main", "targeting.traits[0].value", "pro"),
    ("nin without a list (trigger where)", _set("targeting.trigger.where", [{"property": "format", "op": "nin", "value": "pdf"}]),
     "nps-main", "targeting.trigger.where[0].value", "pdf"),
    ("sample_percent 150", _set("targeting.sample_percent", 150), "nps-main", "targeting.sample_percent", 150),
    ("negative min_days_since_signup", _set("targeting.min_days_since_signup", -1), "nps-main",
     "targeting.min_days_since_signup", -1),
    ("negative recontact_after_response_days", _set("targeting.recontact_after_response_days", -5), "nps-main",
     "targeting.recontact_after_response_days", -5),
    ("negative trigger within_days", _set("targeting.trigger.within_days", -2), "nps-main",
     "targeting.trigger.within_days", -2),
    ("days as a string", _set("targeting.recontact_after_dismissal_days", "30"), "nps-main",
     "targeting.recontact_after_dismissal_days", "30"),
    ("max_displays 0", _set("targeting.max_displays", 0), "nps-main", "targeting.max_displays", 0),
    ("max_displays not an integer", _set("targeting.max_displays", 2.5), "nps-main", "targeting.max_displays", 2.5),
    ("starts_at unparseable", _set("starts_at", "next tuesday"), "nps-main", "starts_at", "next tuesday"),
    ("ends_at before starts_at", _ends_before_starts, "nps-main", "ends_at", "2026-02-01T00:00:00Z"),
    ("ends_at equal to starts_at", _ends_equal_starts, "nps-main", "ends_at", "2026-03-01T00:00:00Z"),
    ("scale question without min", _del_min, "nps-main", "questions[0].min", None),
    ("scale question without max", _del_max, "nps-main", "questions[0].max", None),
    ("scale max not above min", _set("questions.0.max", 0), "nps-main", "questions[0].max", 0),
    ("unknown question kind", _set("questions.1.kind", "essay"), "nps-main", "questions[1].kind", "essay"),
    ("bad segment.traits source", _set("segment.traits", {"NPS_rating": "scroe"}), "nps-main",
     "segment.traits.NPS_rating", "scroe"),
    ("unknown segment event", _set("segment.events", {"opened": {"enabled": True}}), "nps-main",
     "segment.events.opened", {"enabled": True}),
    ("active not a boolean", _set("active", "yes"), "nps-main", "active", "yes"),
    ("unknown topic rename", _topic_rename, None, "topics.segment.identfy", "x.identify"),
    ("negative project.recontact_days", _project("recontact_days", -1), None, "project.recontact_days", -1),
    ("project.partitions 0", _project("partitions", 0), None, "project.partitions", 0),
]


@pytest.mark.parametrize("breaker, survey, field, value", [case[1:] for case in INVALID],
                         ids=[case[0] for case in INVALID])
def test_each_wrong_field_has_its_own_error(tmp_path, breaker, survey, field, value):
    document = base_document()
    breaker(document)
    path = write(tmp_path, document)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert (error.file, error.survey, error.field) == (str(path), survey, field), str(error)
    assert error.value == value
    assert error.message  # what was expected, in words
    text = str(error)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert f"field '{field}'" in text
    if survey is not None:
        assert f"survey '{survey}'" in text
    else:
        assert "survey '" not in text


def test_the_base_document_is_valid(tmp_path):
    """The breakers above break a valid document: without them it loads."""
    config = load_config(write(tmp_path, base_document()))
    assert [s.id for s in config.surveys] == ["nps-main"]


def test_error_messages_say_what_was_expected(tmp_path):
    document = base_document()
    _survey(document)["targeting"]["sample_percent"] = 150
    with pytest.raises(ConfigError, match=r"between 0 and 100 \(got 150\)"):
        load_config(write(tmp_path, document))
    document = base_document()
    _duplicate(document)
    with pytest.raises(ConfigError, match="duplicate survey id"):
        load_config(write(tmp_path, document))
    document = base_document()
    _survey(document)["targeting"]["traits"][0]["op"] = "like"
    with pytest.raises(ConfigError, match="must be one of eq, neq, in"):
        load_config(write(tmp_path, document))


def test_the_second_survey_is_named_when_it_is_the_wrong_one(tmp_path):
    document = base_document()
    second = copy.deepcopy(_survey(document))
    second["id"] = "nps-second"
    second["targeting"]["max_displays"] = 0
    document["surveys"].append(second)
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, document))
    assert caught.value.survey == "nps-second"


def test_not_yaml(tmp_path):
    path = write(tmp_path, "surveys: [\n  - id: nps-main\n    type: {nps\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.file == str(path)
    assert caught.value.survey is None
    assert caught.value.field == "(yaml)"
    assert "not valid YAML" in str(caught.value)


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert (caught.value.file, caught.value.survey, caught.value.field) == (str(path), None, "(file)")
    assert "cannot be read" in str(caught.value)
    assert str(path) in str(caught.value)


# --- defaults ------------------------------------------------------------------------------

def test_defaults_filled_in(tmp_path):
    config = load_config(write(tmp_path, {"surveys": [
        {"id": "nps-min", "type": "nps", "name": "NPS"},
        {"id": "csat-min", "type": "csat", "name": "CSAT",
         "targeting": {"trigger": {"event": "Report Exported"}}},
    ]}))
    assert (config.project.recontact_days, config.project.display_timeout_minutes, config.project.partitions) == (7, 30, 8)
    assert all(config.topics[name] == name for name in names.ALL)

    nps, csat = config.surveys
    assert (nps.order, csat.order) == (0, 1)
    assert nps.active is True
    assert nps.starts_at is None and nps.ends_at is None
    assert nps.priority == 10
    assert nps.targeting == Targeting(
        min_days_since_signup=30, sample_percent=100, traits=(), trigger=None,
        recontact_after_response_days=90, recontact_after_dismissal_days=30,
        redisplay_after_hours=24, max_displays=3)
    # questions: a 0-10 scale for nps, a 1-5 scale for csat, each followed by a text question
    assert (nps.score_question.kind, nps.score_question.min, nps.score_question.max) == ("scale", 0, 10)
    assert (csat.score_question.min, csat.score_question.max) == (1, 5)
    assert nps.comment_question is not None and nps.comment_question.kind == "text"
    # segment: every lifecycle event enabled under its default name; traits per type
    for survey in (nps, csat):
        assert {k: (e.enabled, e.name) for k, e in survey.segment.events.items()} == {
            "viewed": (True, "Survey Viewed"), "answered": (True, "Survey Answered"),
            "completed": (True, "Survey Completed"), "dismissed": (True, "Survey Dismissed")}
        assert survey.segment.properties == {}
    assert DEFAULT_EVENT_NAMES["viewed"] == "Survey Viewed"
    assert nps.segment.traits == {"NPS_rating": "score", "NPS_comment": "comment", "NPS_date": "completed_at"}
    assert csat.segment.traits == {"CSAT_rating": "score", "CSAT_comment": "comment", "CSAT_date": "completed_at"}
    # a trigger with only its event: min_count 1, within 7 days, no property filter
    assert csat.targeting.trigger == Trigger(event="Report Exported", where=(), min_count=1, within_days=7)
    assert config.trigger_events == frozenset({"Report Exported"})


@pytest.mark.parametrize("survey_type, low, high, choices", [
    ("ces", 1, 7, None),
    ("pmf", None, None, ("Very disappointed", "Somewhat disappointed", "Not disappointed")),
])
def test_default_questions_per_type(survey_type, low, high, choices):
    survey = parse_config({"surveys": [{"id": "s", "type": survey_type, "name": "S"}]}).surveys[0]
    score = survey.score_question
    assert (score.min, score.max, score.choices) == (low, high, choices)
    assert survey.segment.traits[f"{survey_type.upper()}_rating"] == "score"


def test_an_empty_file_is_a_config_with_no_surveys(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.surveys == ()
    assert config.project.partitions == 8


def test_unquoted_yaml_dates_are_accepted(tmp_path):
    """YAML turns an unquoted 2026-01-01 into a date object; it must still parse."""
    path = write(tmp_path, "surveys:\n  - {id: s, type: nps, name: S, starts_at: 2026-01-01, ends_at: 2026-02-01T00:00:00Z}\n")
    survey = load_config(path).surveys[0]
    assert survey.starts_at == 1767225600000
    assert survey.ends_at == 1769904000000


def test_topic_renames_apply(tmp_path):
    config = load_config(write(tmp_path, {"topics": {"segment.identify": "acme.identify"}, "surveys": []}))
    assert config.topics["segment.identify"] == "acme.identify"
    assert config.topics["segment.track"] == "segment.track"
    assert config.topics.logical("acme.identify") == "segment.identify"


# --- the shipped config ---------------------------------------------------------------------

def test_shipped_config_loads():
    config = load_config(SHIPPED)
    assert config.path == str(SHIPPED)
    assert [s.id for s in config.surveys] == ["nps-main", "csat-export", "nps-billing"]
    nps, csat, billing = config.surveys
    # survey authoring: every feature has an example (docs/configuration.md)
    assert billing.locales == ("en", "de") and billing.names["de"].startswith("Wie")
    assert {q.kind for q in billing.questions} == {"scale", "text", "multi", "choice"}
    assert billing.question("fix").show_if.categories == ("detractor", "passive")
    assert billing.question("cycle").show_if.filter == Filter(name="uses", op="contains", value="invoices")
    assert {rule.op for rule in billing.targeting.pages} == {"contains", "regex"}
    assert billing.targeting.devices == ("desktop", "tablet") and billing.targeting.delay_seconds == 30
    assert [c.event for c in billing.targeting.cancel_on] == ["Checkout Started"]
    assert billing.targeting.max_responses_per_user == 2 and billing.limits.responses_per_day == 200
    assert billing.priority < nps.priority  # whoever nps-main takes keeps getting it
    assert nps.type == "nps" and csat.type == "csat"
    assert nps.targeting.traits == (Filter(name="plan", op="in", value=["pro", "team"]),)
    assert nps.segment.traits["NPS_comment"] == "reason"
    assert nps.question("reason").kind == "text"
    assert csat.priority > nps.priority
    trigger = csat.targeting.trigger
    assert trigger.event == "Report Exported"
    assert trigger.where == (Filter(name="format", op="in", value=["pdf", "csv"]),)
    assert (trigger.min_count, trigger.within_days) == (1, 2)


# --- the worker stops at start on a bad config ------------------------------------------

def test_worker_with_bad_config_exits_with_one_line_before_contacting_kafka(tmp_path):
    document = base_document()
    _survey(document)["targeting"]["sample_percent"] = 150
    path = write(tmp_path, document)
    # A listening socket posing as the broker: a worker that contacts Kafka connects to it.
    with socket.socket() as broker:
        broker.bind(("127.0.0.1", 0))
        broker.listen(8)
        env = {**os.environ, "STREAMS_CONFIG": str(path), "STREAMS_DATA_DIR": str(tmp_path / "data"),
               "KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{broker.getsockname()[1]}", "STREAMS_STORE": "memory://"}
        result = subprocess.run([sys.executable, "-m", "streams", "worker"], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=60)
        broker.settimeout(0.2)
        with pytest.raises(socket.timeout):
            broker.accept()
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert str(path) in lines[0]
    assert "survey 'nps-main'" in lines[0]
    assert "targeting.sample_percent" in lines[0]
    assert result.stdout == ""
    assert not (tmp_path / "data").exists()
