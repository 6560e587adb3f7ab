"""Config values are finite and bounded (docs/reference.md#the-surveys-file): `.inf`, `.nan`, 1e300 days, a
64-bit overflow or a YAML type JSON cannot carry is refused at load, naming the field,
with a ConfigError (never another exception): each of these used to pass validation and
then make decisions raise for every user."""
from __future__ import annotations

import math

import pytest
import yaml

from streams.core.config import ConfigError, load_config, parse_config_text
from streams.core.configcheck import MAX_DAYS
from tests.core.test_config import _project, _set, base_document, write

INF, NAN = float("inf"), float("nan")


def _filter(where: str, op: str, value):
    name_key = "property" if "where" in where else "trait"
    return _set(where, [{name_key: "x", "op": op, "value": value}])


# (case id, breaker, survey, field, value)
REFUSED = [
    ("recontact_days .inf", _project("recontact_days", INF), None, "project.recontact_days", INF),
    ("recontact_days -.inf", _project("recontact_days", -INF), None, "project.recontact_days", -INF),
    ("recontact_days .nan", _project("recontact_days", NAN), None, "project.recontact_days", NAN),
    ("recontact_days 1e300", _project("recontact_days", 1e300), None, "project.recontact_days", 1e300),
    ("recontact_days past the bound", _project("recontact_days", MAX_DAYS + 1), None, "project.recontact_days", MAX_DAYS + 1),
    ("display_timeout_minutes .inf", _project("display_timeout_minutes", INF), None, "project.display_timeout_minutes", INF),
    ("display_timeout_minutes 1e300", _project("display_timeout_minutes", 1e300), None,
     "project.display_timeout_minutes", 1e300),
    ("display_token_minutes .nan", _project("display_token_minutes", NAN), None, "project.display_token_minutes", NAN),
    ("partitions huge", _project("partitions", 10**7), None, "project.partitions", 10**7),
    ("limits.traits .nan", _project("limits", {"traits": NAN}), None, "project.limits.traits", NAN),
    ("min_days_since_signup .inf", _set("targeting.min_days_since_signup", INF), "nps-main",
     "targeting.min_days_since_signup", INF),
    ("sample_percent .nan", _set("targeting.sample_percent", NAN), "nps-main", "targeting.sample_percent", NAN),
    ("recontact_after_response_days 1e300", _set("targeting.recontact_after_response_days", 1e300), "nps-main",
     "targeting.recontact_after_response_days", 1e300),
    ("recontact_after_dismissal_days .inf", _set("targeting.recontact_after_dismissal_days", INF), "nps-main",
     "targeting.recontact_after_dismissal_days", INF),
    ("redisplay_after_hours .nan", _set("targeting.redisplay_after_hours", NAN), "nps-main",
     "targeting.redisplay_after_hours", NAN),
    ("redisplay_after_hours 1e12", _set("targeting.redisplay_after_hours", 1e12), "nps-main",
     "targeting.redisplay_after_hours", 1e12),
    ("trigger within_days .inf", _set("targeting.trigger.within_days", INF), "nps-main",
     "targeting.trigger.within_days", INF),
    ("trigger min_count huge", _set("targeting.trigger.min_count", 10**30), "nps-main",
     "targeting.trigger.min_count", 10**30),
    ("max_displays huge", _set("targeting.max_displays", 10**7), "nps-main", "targeting.max_displays", 10**7),
    ("priority huge", _set("priority", 10**12), "nps-main", "priority", 10**12),
    ("scale max huge", _set("questions.0.max", 10**9), "nps-main", "questions[0].max", 10**9),
    ("in list holding .inf", _filter("targeting.traits", "in", ["pro", INF]), "nps-main",
     "targeting.traits[0].value[1]", INF),
    ("gt .nan", _filter("targeting.traits", "gt", NAN), "nps-main", "targeting.traits[0].value", NAN),
    ("trigger where eq -.inf", _filter("targeting.trigger.where", "eq", -INF), "nps-main",
     "targeting.trigger.where[0].value", -INF),
    ("older_than_days .inf", _filter("targeting.traits", "older_than_days", INF), "nps-main",
     "targeting.traits[0].value", INF),
    ("older_than_days 1e300", _filter("targeting.traits", "older_than_days", 1e300), "nps-main",
     "targeting.traits[0].value", 1e300),
    ("newer_than_days past the bound", _filter("targeting.traits", "newer_than_days", MAX_DAYS + 0.5), "nps-main",
     "targeting.traits[0].value", MAX_DAYS + 0.5),
    ("eq an integer beyond 64 bits", _filter("targeting.traits", "eq", 2**70), "nps-main",
     "targeting.traits[0].value", 2**70),
    ("segment property .inf", _set("segment.properties", {"area": INF}), "nps-main", "segment.properties.area", INF),
    ("segment property nested .nan", _set("segment.properties", {"area": {"deep": [1, NAN]}}), "nps-main",
     "segment.properties.area.deep[1]", NAN),
    ("segment property beyond 64 bits", _set("segment.properties", {"area": -(2**64)}), "nps-main",
     "segment.properties.area", -(2**64)),
    ("segment property with a non-string key", _set("segment.properties", {1: "one"}), "nps-main",
     "segment.properties.1", 1),
    ("name with a lone surrogate", _set("name", "Recommend \ud800 us"), "nps-main", "name", "Recommend \ud800 us"),
    ("segment property a set", _set("segment.properties", {"area": {"a", "b"}}), "nps-main",
     "segment.properties.area", {"a", "b"}),
]


def _same(left, right) -> bool:
    return (isinstance(left, float) and isinstance(right, float) and math.isnan(left) and math.isnan(right)) \
        or left == right


@pytest.mark.parametrize("breaker, survey, field, value", [case[1:] for case in REFUSED],
                         ids=[case[0] for case in REFUSED])
def test_non_finite_and_unbounded_values_are_refused_naming_the_field(tmp_path, breaker, survey, field, value):
    document = base_document()
    breaker(document)
    # yaml.dump writes .inf / .nan as YAML does; a set as !!set, a surrogate escaped.
    path = write(tmp_path, yaml.dump(document, sort_keys=False))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    error = caught.value
    assert (error.file, error.survey, error.field) == (str(path), survey, field), str(error)
    assert _same(error.value, value), str(error)


@pytest.mark.parametrize("text, field", [
    ("project: {recontact_days: .inf}", "project.recontact_days"),
    ("project: {recontact_days: .NaN}", "project.recontact_days"),
    ("project: {recontact_days: 1.0e+400}", "project.recontact_days"),  # YAML reads it as inf
    ("project: {recontact_days: 2024-13-45}", "(yaml)"),  # PyYAML raised ValueError
    ("project: {partitions: !!int x}", "(yaml)"),
    ("project: {partitions: 0x_}", "(yaml)"),
    ("surveys: " + "[" * 3000 + "]" * 3000, "(yaml)"),  # PyYAML raised RecursionError
    ("surveys: [{id: a, type: nps, name: A, segment: {properties: {b: !!binary aGk=}}}]", "segment.properties.b"),
    ("surveys: [{id: a, type: nps, name: A, segment: {properties: {yes: 1}}}]", "segment.properties.True"),
    ("surveys: [{id: a, type: nps, name: A, segment: {properties: {b: " + "[" * 40 + "]" * 40 + "}}}]",
     "segment.properties.b" + "[0]" * 30),  # depth counted from the survey entry
], ids=["inf", "NaN", "1e400", "bad date", "bad int tag", "bad hex", "deep nesting", "binary", "bool key", "nested 40"])
def test_yaml_that_does_not_load_or_carry_is_a_config_error(text, field):
    with pytest.raises(ConfigError) as caught:
        parse_config_text(text, "x.yaml", "v")
    assert caught.value.field == field, str(caught.value)
    assert caught.value.file == "x.yaml"


def test_aliases_cannot_blow_a_config_up():
    """Each level references the previous one ten times: 10^8 values once expanded (an
    outbound message carrying it, or the walk itself, would never end)."""
    levels = ["a0: &a0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    levels += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 8)]
    text = "project:\n  limits: {}\nsurveys:\n  - id: a\n    type: nps\n    name: A\n    segment:\n      properties:\n" + \
        "\n".join(f"        {line}" for line in levels) + "\n"
    with pytest.raises(ConfigError, match="more than 100000 values"):
        parse_config_text(text, "x.yaml", "v")


@pytest.mark.parametrize("breaker", [
    _project("recontact_days", MAX_DAYS), _set("targeting.redisplay_after_hours", MAX_DAYS * 24),
    _filter("targeting.traits", "older_than_days", MAX_DAYS), _filter("targeting.traits", "eq", 2**63 - 1),
    _set("segment.properties", {"area": -(2**63), "when": "2026-01-01"}),
], ids=["recontact_days at the bound", "hours at the bound", "days operand at the bound", "int64 max", "int64 min"])
def test_values_at_the_bounds_are_accepted(tmp_path, breaker):
    document = base_document()
    breaker(document)
    load_config(write(tmp_path, yaml.dump(document, sort_keys=False)))
