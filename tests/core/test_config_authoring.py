"""Survey authoring fields of the config (docs/configuration.md, "Questions", "Locales", "Pages and
devices", "Delays", "Response limits"): what is accepted, and each bad input refused with a
ConfigError naming the file, the survey and the field."""
from __future__ import annotations

import pytest
import yaml

from streams.core.config import ConfigError, Filter, PageRule, ShowIf, load_config
from streams.core.pages import MAX_PATTERN_CHARS
from tests.core.test_config import _set, base_document, write

INF, NAN = float("inf"), float("nan")
SCORE = {"id": "score", "kind": "scale", "text": "How likely?", "min": 0, "max": 10}


def _questions(*extra, score=SCORE):
    """Breaker replacing the questions (and the traits mapping naming the old ones)."""
    def breaker(doc):
        _set("questions", [score, *extra])(doc)
        _set("segment", {})(doc)
    return breaker


def _text(qid: str, **fields) -> dict:
    return {"id": qid, "kind": "text", "text": f"{qid}?", **fields}


def _load(tmp_path, *breakers):
    document = base_document()
    for breaker in breakers:
        breaker(document)
    return load_config(write(tmp_path, yaml.dump(document, sort_keys=False, allow_unicode=True)))


# (case id, breakers, field named, value named)
REFUSED = [
    # locales
    ("locale not a tag", [_set("locales", ["english"])], "locales[0]", "english"),
    ("locale with underscore", [_set("locales", ["de_AT"])], "locales[0]", "de_AT"),
    ("locale a number", [_set("locales", ["en", 7])], "locales[1]", 7),
    ("locales empty", [_set("locales", [])], "locales", []),
    ("locales a string", [_set("locales", "en")], "locales", "en"),
    ("locale twice", [_set("locales", ["de", "DE"])], "locales[1]", "DE"),
    ("text in a locale the survey lacks", [_set("locales", ["en", "de"]),
                                           _questions(score={**SCORE, "text": {"en": "A", "fr": "B"}})],
     "questions[0].text.fr", "B"),
    ("text map without the first locale", [_set("locales", ["en", "de"]),
                                           _questions(score={**SCORE, "text": {"de": "Wie?"}})],
     "questions[0].text", {"de": "Wie?"}),
    ("empty text in a locale", [_set("locales", ["en", "de"]), _questions(score={**SCORE, "text": {"en": "A", "de": ""}})],
     "questions[0].text.de", ""),
    ("name map with an unknown locale", [_set("name", {"en": "A", "it": "B"})], "name.it", "B"),
    # kinds
    ("unknown kind", [_questions({"id": "x", "kind": "stars", "text": "x"})], "questions[1].kind", "stars"),
    ("multi without choices", [_questions({"id": "x", "kind": "multi", "text": "x"})], "questions[1].choices", None),
    ("multi with a choice twice", [_questions({"id": "x", "kind": "multi", "text": "x", "choices": ["a", "a"]})],
     "questions[1].choices", ["a", "a"]),
    ("only a multi question", [_set("questions", [{"id": "x", "kind": "multi", "text": "x", "choices": ["a"]}])],
     "questions", [{"id": "x", "kind": "multi", "text": "x", "choices": ["a"]}]),
    # show_if
    ("show_if an unknown question", [_questions(_text("fix", show_if={"question": "nope", "category": ["detractor"]}))],
     "questions[1].show_if.question", "nope"),
    ("show_if a later question", [_set("questions", [SCORE, _text("a", show_if={"question": "b", "op": "exists"}),
                                                     _text("b")])], "questions[1].show_if.question", "b"),
    ("show_if itself", [_questions(_text("a", show_if={"question": "a", "op": "exists"}))],
     "questions[1].show_if.question", "a"),
    ("show_if category of a text question", [_questions(_text("a"), _text("b", show_if={"question": "a", "category": ["promoter"]}))],
     "questions[2].show_if.question", "a"),
    ("show_if category of a multi question", [_questions({"id": "m", "kind": "multi", "text": "m", "choices": ["x"]},
                                                         _text("b", show_if={"question": "m", "category": ["promoter"]}))],
     "questions[2].show_if.question", "m"),
    ("show_if category of another type", [_questions(_text("b", show_if={"question": "score", "category": ["satisfied"]}))],
     "questions[1].show_if.category[0]", "satisfied"),
    ("show_if category empty", [_questions(_text("b", show_if={"question": "score", "category": []}))],
     "questions[1].show_if.category", []),
    ("show_if unknown operator", [_questions(_text("b", show_if={"question": "score", "op": "between", "value": 3}))],
     "questions[1].show_if.op", "between"),
    ("show_if in without a list", [_questions(_text("b", show_if={"question": "score", "op": "in", "value": 3}))],
     "questions[1].show_if.value", 3),
    ("show_if both category and op", [_questions(_text("b", show_if={"question": "score", "op": "gt", "value": 3,
                                                                     "category": ["promoter"]}))],
     "questions[1].show_if", {"question": "score", "op": "gt", "value": 3, "category": ["promoter"]}),
    ("show_if value .nan", [_questions(_text("b", show_if={"question": "score", "op": "gt", "value": NAN}))],
     "questions[1].show_if.value", NAN),
    ("show_if unknown field", [_questions(_text("b", show_if={"question": "score", "op": "exists", "when": 1}))],
     "questions[1].show_if.when", 1),
    # pages
    ("page unknown operator", [_set("targeting.pages", [{"op": "matches", "value": "/x"}])], "targeting.pages[0].op", "matches"),
    ("page regex that does not compile", [_set("targeting.pages", [{"op": "regex", "value": "(/billing"}])],
     "targeting.pages[0].value", "(/billing"),
    ("page regex with a backreference", [_set("targeting.pages", [{"op": "regex", "value": r"(a+)+\1"}])],
     "targeting.pages[0].value", r"(a+)+\1"),
    ("page regex too long", [_set("targeting.pages", [{"op": "regex", "value": "a" * (MAX_PATTERN_CHARS + 1)}])],
     "targeting.pages[0].value", "a" * (MAX_PATTERN_CHARS + 1)),
    ("page value empty", [_set("targeting.pages", [{"op": "contains", "value": ""}])], "targeting.pages[0].value", ""),
    ("page value a number", [_set("targeting.pages", [{"op": "eq", "value": 3}])], "targeting.pages[0].value", 3),
    ("pages not a list", [_set("targeting.pages", "/billing")], "targeting.pages", "/billing"),
    # devices
    ("unknown device", [_set("targeting.devices", ["desktop", "phone"])], "targeting.devices[1]", "phone"),
    ("devices empty", [_set("targeting.devices", [])], "targeting.devices", []),
    ("device twice", [_set("targeting.devices", ["tablet", "tablet"])], "targeting.devices", ["tablet", "tablet"]),
    # delay, cancel_on, caps
    ("negative delay", [_set("targeting.delay_seconds", -1)], "targeting.delay_seconds", -1),
    ("delay .inf", [_set("targeting.delay_seconds", INF)], "targeting.delay_seconds", INF),
    ("delay .nan", [_set("targeting.delay_seconds", NAN)], "targeting.delay_seconds", NAN),
    ("delay past a week", [_set("targeting.delay_seconds", 8 * 86400)], "targeting.delay_seconds", 8 * 86400),
    ("cancel_on without a delay", [_set("targeting.cancel_on", [{"event": "Checkout Started"}])],
     "targeting.cancel_on", [{"event": "Checkout Started"}]),
    ("cancel_on without an event", [_set("targeting.delay_seconds", 5), _set("targeting.cancel_on", [{"where": []}])],
     "targeting.cancel_on[0].event", None),
    ("cancel_on bad where", [_set("targeting.delay_seconds", 5),
                             _set("targeting.cancel_on", [{"event": "E", "where": [{"property": "p", "op": "like"}]}])],
     "targeting.cancel_on[0].where[0].op", "like"),
    ("negative max_responses_per_user", [_set("targeting.max_responses_per_user", -1)],
     "targeting.max_responses_per_user", -1),
    ("fractional max_responses_per_user", [_set("targeting.max_responses_per_user", 1.5)],
     "targeting.max_responses_per_user", 1.5),
    ("negative limits.responses", [_set("limits", {"responses": -5})], "limits.responses", -5),
    ("limits.responses_per_day .inf", [_set("limits", {"responses_per_day": INF})], "limits.responses_per_day", INF),
    ("unknown limits field", [_set("limits", {"per_week": 3})], "limits.per_week", 3),
]


def _same(left, right) -> bool:
    return left == right or (left != left and right != right)  # NaN


@pytest.mark.parametrize("breakers, field, value", [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED])
def test_bad_authoring_input_is_refused_naming_file_survey_and_field(tmp_path, breakers, field, value):
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, *breakers)
    error = caught.value
    assert (error.file, error.survey, error.field) == (str(tmp_path / "surveys.yaml"), "nps-main", field), str(error)
    assert _same(error.value, value), str(error)


def test_every_authoring_field_is_read(tmp_path):
    config = _load(tmp_path, _set("locales", ["en", "de-at", "pt-BR"]),
                   _set("name", {"en": "Recommend?", "de-AT": "Empfehlen?"}),
                   _questions(_text("fix", text={"en": "Fix?", "pt-br": "Corrigir?"},
                                    show_if={"question": "score", "category": ["detractor", "passive"]}),
                              {"id": "uses", "kind": "multi", "text": "Uses?", "choices": ["a", "b"]},
                              _text("why", show_if={"question": "uses", "op": "contains", "value": "a"}),
                              score={**SCORE, "text": {"en": "How likely?", "de-AT": "Wie wahrscheinlich?"}}),
                   _set("targeting.pages", [{"op": "regex", "value": r"^https://[^/]+/billing(/.*)?$"},
                                            {"op": "not_contains", "value": "/admin"}]),
                   _set("targeting.devices", ["mobile", "tablet"]), _set("targeting.delay_seconds", 12.5),
                   _set("targeting.cancel_on", [{"event": "Checkout Started"}]),
                   _set("targeting.max_responses_per_user", 3),
                   _set("limits", {"responses": 100, "responses_per_day": 0}),
                   _set("segment", {}))
    survey = config.surveys[0]
    assert survey.locales == ("en", "de-AT", "pt-BR")  # written in their usual case
    assert (survey.name, survey.name_in("de-AT"), survey.name_in("pt-BR")) == ("Recommend?", "Empfehlen?", "Recommend?")
    score, fix, uses, why = survey.questions
    assert (score.text_in("de-AT"), score.text_in("pt-BR")) == ("Wie wahrscheinlich?", "How likely?")
    assert fix.show_if == ShowIf("score", categories=("detractor", "passive"))
    assert why.show_if == ShowIf("uses", filter=Filter("uses", "contains", "a"))
    assert uses.kind == "multi" and uses.choices == ("a", "b")
    assert survey.score_question is score  # a multi question is never the score
    targeting = survey.targeting
    assert targeting.pages[1] == PageRule("not_contains", "/admin")
    assert (targeting.devices, targeting.delay_seconds, targeting.max_responses_per_user) == (("mobile", "tablet"), 12.5, 3)
    assert (survey.limits.responses, survey.limits.responses_per_day) == (100, 0)
    assert survey.public("de-AT")["questions"][0]["text"] == "Wie wahrscheinlich?"
    assert survey.public("de-AT")["questions"][1]["show_if"] == {"question": "score", "category": ["detractor", "passive"]}
    assert config.uses_devices


def test_defaults_leave_every_new_rule_off(tmp_path):
    survey = _load(tmp_path).surveys[0]
    targeting = survey.targeting
    assert survey.locales == ("en",)
    assert (targeting.pages, targeting.devices, targeting.delay_seconds, targeting.cancel_on,
            targeting.max_responses_per_user) == ((), (), 0, (), 0)
    assert (survey.limits.responses, survey.limits.responses_per_day) == (0, 0)


@pytest.mark.parametrize("show_if", [
    {"question": "score", "op": "lte", "value": 6},
    {"question": "score", "op": "exists"},
    {"question": "score", "category": ["promoter"]},
])
def test_show_if_on_an_earlier_question_is_accepted(tmp_path, show_if):
    assert _load(tmp_path, _questions(_text("b", show_if=show_if))).surveys[0].question("b").show_if is not None


def test_pmf_choices_have_categories(tmp_path):
    config = _load(tmp_path, _set("type", "pmf"), _set("segment", {}),
                   _set("questions", [{"id": "feel", "kind": "choice", "text": "Feel?",
                                       "choices": ["Very disappointed", "Somewhat disappointed", "Not disappointed"]},
                                      _text("why", show_if={"question": "feel", "category": ["very_disappointed"]})]))
    assert config.surveys[0].question("why").show_if.categories == ("very_disappointed",)
