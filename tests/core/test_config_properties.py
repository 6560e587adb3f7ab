"""Properties of the validator (docs/reference.md#the-surveys-file): every config it accepts decides, for any
user state and instant, without raising and without a survey falling back to
`config_error`, and every answer built from the decision serialises; every config it
refuses is refused with a ConfigError, never another exception."""
from __future__ import annotations

import os

import orjson
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core import targeting
from streams.core.config import ConfigError, parse_config, parse_config_text
from tests.strategies import NOW, config_documents, user_states

# CONFIG_PROPERTY_EXAMPLES=5000 for a longer hunt.
EXAMPLES = int(os.environ.get("CONFIG_PROPERTY_EXAMPLES", "300"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _validated(document):
    """The config, or None when refused: a refusal must be a ConfigError."""
    try:
        return parse_config(document, "prop.yaml")
    except ConfigError as error:
        assert error.file == "prop.yaml" and error.field and error.message
        return None


def _decides(config, state, now) -> None:
    for every_rule in (False, True):
        decision = targeting.decide(state, config, now, state.get("userId"), every_rule=every_rule)
        failed = [v.survey_id for v in decision.verdicts if v.reason == targeting.CONFIG_ERROR]
        assert not failed, f"an accepted config failed surveys {failed}: {decision.verdicts}"
        user = state.get("userId")
        orjson.dumps(targeting.decision_record(decision, user, now))
        orjson.dumps(targeting.eligibility_response(decision, user, now))
        orjson.dumps(targeting.explain_record(decision, user, now))


@PROPERTY
@given(st.data())
def test_every_accepted_config_decides_for_every_user(data):
    config = _validated(data.draw(config_documents()))
    if config is None:
        return
    for survey in config.surveys:  # static Segment properties go out in outbound messages
        orjson.dumps(survey.segment.properties)
    ids = [s.id for s in config.surveys]
    for _ in range(3):
        _decides(config, data.draw(user_states(ids)), data.draw(NOW))


@PROPERTY
@given(config_documents())
def test_the_yaml_text_of_a_document_validates_the_same(document):
    """Through YAML text (`.inf`, `.nan`, dates as YAML writes them), as load_config and
    `surveys apply` read it: accepted or refused alike, refused only with a ConfigError."""
    try:
        text = yaml.dump(document, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        return
    try:
        from_text = parse_config_text(text, "prop.yaml", "v")
    except ConfigError:
        from_text = None
    assert (from_text is None) == (_validated(document) is None)


@PROPERTY
@given(st.text(max_size=200))
def test_any_text_is_a_config_or_a_config_error(text):
    try:
        parse_config_text(text, "prop.yaml", "v")
    except ConfigError:
        pass
