"""The reference widget's pure logic (SurveyStreams.logic in streams/web/static/widget.js) under node.

No browser and no server: widget.js is loaded into a bare node `vm` context and its functions
are called on tables of cases. The score categories and the show_if operators are checked
against the server's own functions (streams.core.questions: category_of and asked, and
streams.core.filters.evaluate), so that the widget never asks a follow-up the workers would
drop, or skips one they expect.
"""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from streams.core import questions
from streams.core.config import Filter, parse_config
from streams.core.filters import evaluate
from tests.harness import REPO

WIDGET = REPO / "streams" / "web" / "static" / "widget.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the widget's logic runs under node")

# Loads widget.js into a context with no DOM, then answers [[function, ...args], ...] from stdin.
RUNNER = r"""
const vm = require("vm"), fs = require("fs");
const sandbox = {window: {}};
vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8"), sandbox, {filename: "widget.js"});
const logic = sandbox.window.SurveyStreams.logic;
const calls = JSON.parse(fs.readFileSync(0, "utf8"));
const out = calls.map(([name, ...args]) => {
  const r = logic[name](...args);
  return r === undefined ? null : r;
});
process.stdout.write(JSON.stringify(out));
"""


def js(*calls: list) -> list:
    done = subprocess.run([NODE, "-e", RUNNER, str(WIDGET)], input=json.dumps(list(calls)), capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


CONFIG = parse_config({"surveys": [
    {"id": "nps", "type": "nps", "name": "NPS"},
    {"id": "csat", "type": "csat", "name": "CSAT"},
    {"id": "ces", "type": "ces", "name": "CES"},
    {"id": "pmf", "type": "pmf", "name": "PMF"},
    {"id": "pmf-de", "type": "pmf", "name": "PMF DE",
     "questions": [{"id": "feel", "kind": "choice", "text": "?",
                    "choices": ["Sehr enttäuscht", "Etwas enttäuscht", "Nicht enttäuscht"]}]},
]})


@pytest.mark.parametrize("survey", CONFIG.surveys[:3], ids=lambda s: s.type)
def test_scale_categories_match_the_server(survey):
    question = survey.score_question
    values = [*range(-2, 13), 9.5, "9", None, True]
    got = js(*(["category", survey.type, question.as_dict(), v] for v in values))
    expected = [questions.category_of(survey, question, v) for v in values]
    assert got == expected
    # Each band is reached: the thresholds are not all the same category.
    assert len(set(expected) - {None}) == 3


@pytest.mark.parametrize("survey", CONFIG.surveys[3:], ids=lambda s: s.id)
def test_pmf_categories_match_the_server(survey):
    question = survey.score_question
    values = [*question.choices, "very_disappointed", " Not  Disappointed ", "SOMEWHAT disappointed", "something else", 3]
    got = js(*(["category", "pmf", question.as_dict(), v] for v in values))
    assert got == [questions.category_of(survey, question, v) for v in values]
    assert got[:3] == ["very_disappointed", "somewhat_disappointed", "not_disappointed"]


def test_only_scale_and_choice_answers_have_a_category():
    survey = CONFIG.surveys[0]
    text = survey.comment_question
    as_scale = questions.Question("n", "multi", "?", choices=("9",))
    cases = [(text, 9), (text, "9"), (as_scale, ["9"]), (None, 9)]
    got = js(*(["category", "nps", q.as_dict() if q else None, v] for q, v in cases))
    assert got == [questions.category_of(survey, q, v) for q, v in cases] == [None] * 4


# (op, operand, answer); an answer of MISSING means the question was not answered.
MISSING = object()
FILTER_CASES = [
    ("eq", 3, 3), ("eq", 3, "3"), ("eq", "3", 3), ("eq", "3", "03"), ("eq", 3, 4), ("eq", "api", "api"),
    ("eq", "api", "API"), ("eq", True, True), ("eq", True, 1), ("eq", 1, True), ("eq", 3, MISSING),
    ("neq", 3, 4), ("neq", 3, 3), ("neq", 3, MISSING), ("neq", "a", ["a"]),
    ("in", [1, 2, 3], 2), ("in", [1, 2, 3], "2"), ("in", [1, 2, 3], 5), ("in", ["api", "exports"], "api"),
    ("in", [1], MISSING), ("nin", [1, 2], 5), ("nin", [1, 2], 1), ("nin", [1, 2], MISSING),
    ("gt", 6, 7), ("gt", 6, 6), ("gte", 6, 6), ("lt", 7, 6), ("lte", 6, 6), ("lte", 6, 7), ("gt", "6", 7),
    ("gt", 6, "7"), ("gt", "b", "c"), ("lt", "b", "a"), ("gt", 6, "seven"), ("gt", 6, True), ("gt", 6, MISSING),
    ("gt", 6, [7]), ("exists", None, "x"), ("exists", None, ""), ("exists", None, MISSING),
    ("not_exists", None, MISSING), ("not_exists", None, 0),
    ("contains", "api", ["exports", "api"]), ("contains", "api", ["exports"]), ("contains", "slow", "too slow"),
    ("contains", "slow", "fast"), ("contains", 5, "a5b"), ("contains", 5, [5, 6]), ("contains", "5", [5]),
    ("contains", "api", MISSING), ("starts_with", "too", "too slow"), ("starts_with", "slow", "too slow"),
    ("starts_with", 1, "10"), ("starts_with", "a", ["a"]), ("eq", ["a", "b"], ["a", "b"]), ("eq", ["a"], ["b"]),
]  # older_than_days / newer_than_days compare dates of traits; an answer is no date, the widget never holds them


def test_show_if_operators_match_the_server_filters():
    calls = [["matches", op, operand, answer is not MISSING, None if answer is MISSING else answer]
             for op, operand, answer in FILTER_CASES]
    expected = [evaluate(Filter("q", op, operand), answer is not MISSING, None if answer is MISSING else answer, 0)
                for op, operand, answer in FILTER_CASES]
    got = js(*calls)
    wrong = [(case, g, e) for case, g, e in zip(FILTER_CASES, got, expected) if g != e]
    assert not wrong


BRANCHING = parse_config({"surveys": [{"id": "nps-main", "type": "nps", "name": "NPS", "locales": ["en", "de"],
    "questions": [
        {"id": "score", "kind": "scale", "min": 0, "max": 10, "text": {"en": "How likely ...?", "de": "Wie wahrscheinlich ...?"}},
        {"id": "fix", "kind": "text", "text": "What should we fix first?",
         "show_if": {"question": "score", "category": ["detractor", "passive"]}},
        {"id": "love", "kind": "text", "text": "What do you love most?", "show_if": {"question": "score", "category": ["promoter"]}},
        {"id": "uses", "kind": "multi", "text": "Which do you use?", "choices": ["exports", "dashboards", "api"]},
        {"id": "api_ok", "kind": "choice", "text": "API good?", "choices": ["yes", "no"],
         "show_if": {"question": "uses", "op": "contains", "value": "api"}},
        {"id": "why_not", "kind": "text", "text": "Why not?", "show_if": {"question": "api_ok", "op": "eq", "value": "no"}},
    ]}]}).surveys[0]
SURVEY = BRANCHING.public("de")  # what the widget gets from the bridge


def asked(draft: dict) -> tuple[list, dict, str | None]:
    walked, following = js(["walk", SURVEY, draft], ["next", SURVEY, draft])
    return [q["id"] for q in walked["asked"]], walked["answers"], following and following["id"]


@pytest.mark.parametrize("draft, asked_ids, answers, following", [
    ({}, ["score", "uses"], {}, "score"),
    ({"score": 3}, ["score", "fix", "uses"], {"score": 3}, "fix"),
    ({"score": 7}, ["score", "fix", "uses"], {"score": 7}, "fix"),
    ({"score": 8, "fix": "x"}, ["score", "fix", "uses"], {"score": 8, "fix": "x"}, "uses"),
    ({"score": 9}, ["score", "love", "uses"], {"score": 9}, "love"),
    ({"score": 10, "love": "y"}, ["score", "love", "uses"], {"score": 10, "love": "y"}, "uses"),
    # The score changed from 3 to 10 after the detractor follow-up was written: that text is no answer.
    ({"score": 10, "fix": "x"}, ["score", "love", "uses"], {"score": 10}, "love"),
    ({"score": 0, "uses": ["api"]}, ["score", "fix", "uses", "api_ok"], {"score": 0, "uses": ["api"]}, "fix"),
    ({"score": 0, "fix": "x", "uses": ["exports"], "api_ok": "no", "why_not": "z"},
     ["score", "fix", "uses"], {"score": 0, "fix": "x", "uses": ["exports"]}, None),
    ({"score": 9, "love": "y", "uses": ["api", "exports"], "api_ok": "no", "why_not": "z"},
     ["score", "love", "uses", "api_ok", "why_not"],
     {"score": 9, "love": "y", "uses": ["api", "exports"], "api_ok": "no", "why_not": "z"}, None),
    # A condition on a question that is not asked fails too: why_not depends on api_ok.
    ({"score": 9, "uses": ["exports"], "api_ok": "no", "why_not": "z"},
     ["score", "love", "uses"], {"score": 9, "uses": ["exports"]}, "love"),
    ({"score": 9, "uses": ["api"], "api_ok": "yes", "why_not": "z"},
     ["score", "love", "uses", "api_ok"], {"score": 9, "uses": ["api"], "api_ok": "yes"}, "love"),
], ids=lambda v: json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else None)
def test_questions_asked_follow_the_answers_as_on_the_server(draft, asked_ids, answers, following):
    assert asked(draft) == (asked_ids, answers, following)
    # The workers keep the same answers (Completed, the response), and ask the same questions.
    assert questions.asked(BRANCHING, draft, 0) == answers
    assert [q.id for q in BRANCHING.questions if questions.is_asked(BRANCHING, q, draft, 0)] == asked_ids


def test_a_survey_without_conditions_asks_everything():
    plain = {"id": "s", "type": "csat", "questions": [{"id": "a", "kind": "scale", "min": 1, "max": 5},
                                                     {"id": "b", "kind": "text"}]}
    walked, = js(["walk", plain, {"b": "ok"}])
    assert [q["id"] for q in walked["asked"]] == ["a", "b"] and walked["answers"] == {"b": "ok"}


@pytest.mark.parametrize("locale, direction", [
    ("en", "ltr"), ("en-US", "ltr"), ("de-DE", "ltr"), ("de_AT", "ltr"), ("ja", "ltr"), ("", "ltr"), (None, "ltr"),
    ("ar", "rtl"), ("ar-EG", "rtl"), ("AR", "rtl"), ("he", "rtl"), ("he-IL", "rtl"), ("iw", "rtl"), ("fa-IR", "rtl"),
    ("ur-PK", "rtl"), ("ps", "rtl"), ("yi", "rtl"), ("ckb", "rtl"), ("dv", "rtl"), ("ug", "rtl"), ("ku", "ltr"),
    ("az-Arab", "rtl"), ("az-Latn-AZ", "ltr"), ("pa-Arab-PK", "rtl"), ("pa-IN", "ltr"), ("sd-Deva-IN", "ltr"),
    ("uz-Arab-AF", "rtl"), ("en-Hebr", "rtl"),
])
def test_direction_from_locale(locale, direction):
    assert js(["dirFor", locale]) == [direction]


NAV = {"language": "de-DE"}
LOC = {"href": "https://app.example.com/billing?tab=1#top"}


@pytest.mark.parametrize("options, expected", [
    ({}, "?locale=de-DE&url=https%3A%2F%2Fapp.example.com%2Fbilling%3Ftab%3D1%23top"),
    ({"userHash": "ab12"}, "?userHash=ab12&locale=de-DE&url=https%3A%2F%2Fapp.example.com%2Fbilling%3Ftab%3D1%23top"),
    ({"locale": "ar", "url": "/x y", "device": "tablet"}, "?locale=ar&url=%2Fx%20y&device=tablet"),
    ({"locale": "", "url": None}, ""),
])
def test_eligibility_query(options, expected):
    assert js(["query", options, NAV, LOC]) == [expected]


def test_eligibility_query_without_a_browser_and_a_long_address():
    assert js(["query", {}, None, None]) == [""]
    long_url = "https://a.example/" + "x" * 5000
    sent, = js(["query", {"url": long_url}, None, None])
    assert sent == "?url=" + "https%3A%2F%2Fa.example%2F" + "x" * (2000 - len("https://a.example/"))


def test_labels_by_language_with_overrides():
    de, unknown, region, custom = js(["labelsFor", "de-AT", None], ["labelsFor", "xx", None],
                                     ["labelsFor", "he-IL", None], ["labelsFor", "de", {"submit": "Los"}])
    assert de["submit"] == "Absenden" and de["of"] == "{v} von {max}"
    assert unknown["submit"] == "Submit" and unknown["nps"] == ["Not at all likely", "Extremely likely"]
    assert region["submit"] == "שליחה"
    assert custom["submit"] == "Los" and custom["close"] == "Umfrage schließen"


def test_widget_js_is_ascii():
    """Sites copy widget.js to their own hosts, which may serve it without a charset (then the page's
    applies): ASCII reads the same in every one. Non-ASCII texts are \\u escapes."""
    text = WIDGET.read_bytes()
    assert all(byte < 128 for byte in text), [line for line in text.decode().splitlines() if not line.isascii()][:3]
