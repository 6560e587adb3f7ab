"""The reference widget in headless Chromium against a stand-in bridge (playwright routes, no worker).

Every question kind (scale, text, choice, multi) and every kind of `show_if` in the shape of
docs/reference.md#eligibility; what the widget asks and what it posts is checked request by
request: the eligibility query (locale, url), and the answered / submitted events.
tests/browser/test_widget_authoring.py drives the same against a real worker.
"""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.harness import REPO

pytestmark = pytest.mark.browser

ORIGIN = "http://widget.test"
WIDGET = (REPO / "streams" / "web" / "static" / "widget.js").read_bytes()
PAGE = """<!doctype html><html><body><button id="before">before</button>
<script src="/widget.js"></script>
<script>window.log = []; window.widget = SurveyStreams.init({userId: "u1", pollSeconds: 1, OPTIONS
  onComplete: e => log.push(["complete", e.answers]), onDismiss: e => log.push(["dismiss"])});</script>
</body></html>"""
SURVEY = {"id": "pmf-main", "type": "pmf", "name": "PMF", "locale": "fr", "questions": [
    {"id": "feel", "kind": "choice", "text": "Que ressentiriez-vous ?", "min": None, "max": None,
     "choices": ["Très déçu", "Assez déçu", "Pas déçu"], "show_if": None},
    {"id": "why", "kind": "text", "text": "Pourquoi ?", "show_if": {"question": "feel", "category": ["very_disappointed"]}},
    {"id": "ease", "kind": "scale", "text": "Facile ?", "min": 1, "max": 5,
     "show_if": {"question": "feel", "op": "in", "value": ["Assez déçu", "Pas déçu"]}},
    {"id": "hard", "kind": "text", "text": "Qu'est-ce qui est difficile ?", "show_if": {"question": "ease", "op": "lte", "value": 2}},
    {"id": "uses", "kind": "multi", "text": "Vous utilisez ?", "choices": ["exports", "api"]},
    {"id": "api", "kind": "text", "text": "Et l'API ?", "show_if": {"question": "uses", "op": "contains", "value": "api"}},
]}


class Bridge:
    """Answers eligibility with SURVEY once, then not eligible; keeps every widget event."""

    def __init__(self, page, survey: dict, options: str = ""):
        self.survey, self.queries, self.events, self.served = survey, [], [], False
        page.route(f"{ORIGIN}/**", self.handle)
        self.options = options

    def handle(self, route):
        request = route.request
        path = urlsplit(request.url).path
        if path == "/page.html":
            return route.fulfill(body=PAGE.replace("OPTIONS", self.options), content_type="text/html")
        if path == "/widget.js":
            return route.fulfill(body=WIDGET, content_type="application/javascript")
        if path.startswith("/v1/eligibility/"):
            self.queries.append(parse_qs(urlsplit(request.url).query))
            body = {"userId": "u1", "eligible": not self.served, "survey": None}
            if not self.served:
                body.update(survey=self.survey, display={"id": "d-1", "token": "t-1"})
                self.served = True
            return route.fulfill(body=json.dumps(body), content_type="application/json")
        if path == "/v1/widget/events":
            sent = json.loads(request.post_data)
            self.events.extend(sent["batch"] if "batch" in sent else [sent])
            return route.fulfill(status=202, body='{"accepted": 1}', content_type="application/json")
        return route.fulfill(status=404, body="{}")

    def wait_for(self, page, kind: str, timeout_ms: int = 5000) -> None:
        """Until an event of `kind` reached the bridge: the widget posts after it updates the
        page (a closed card is gone before its `closed` is sent), and playwright handles the
        route only while the test waits on the page."""
        waited = 0
        while not any(e["type"] == kind for e in self.events) and waited < timeout_ms:
            page.wait_for_timeout(50)
            waited += 50

    def answers(self) -> list:
        return [(e["questionId"], e["value"]) for e in self.events if e["type"] == "answered"]


def _open(browser, locale="fr-FR", survey=SURVEY, options=""):
    context = browser.new_context(locale=locale, reduced_motion="reduce", viewport={"width": 900, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    bridge = Bridge(page, survey, options)
    page.goto(f"{ORIGIN}/page.html?tab=2")
    page.get_by_role("dialog").wait_for(state="visible", timeout=10_000)
    return context, page, bridge, errors


def _visible(page) -> list[str]:
    return [box.get_attribute("data-testid").removeprefix("ssw-question-")
            for box in page.locator("[data-testid^=ssw-question-]").all() if box.is_visible()]


def test_every_kind_and_condition(browser):
    context, page, bridge, errors = _open(browser)
    card = page.get_by_role("dialog")
    assert bridge.queries[0] == {"locale": ["fr-FR"], "url": [f"{ORIGIN}/page.html?tab=2"]}
    assert (card.get_attribute("lang"), card.get_attribute("dir")) == ("fr", "ltr")
    assert _visible(page) == ["feel", "uses"]
    submit = page.get_by_test_id("ssw-submit")
    assert submit.inner_text() == "Envoyer" and submit.is_disabled()
    assert page.get_by_role("radiogroup", name="Que ressentiriez-vous ?").is_visible()

    page.get_by_label("Très déçu").check()
    assert _visible(page) == ["feel", "why", "uses"] and submit.is_enabled()
    page.get_by_label("Assez déçu").check()  # a different category: `why` goes, `ease` comes
    assert _visible(page) == ["feel", "ease", "uses"] and submit.is_disabled()  # ease is a scale: required
    page.get_by_role("button", name="2 sur 5").click()
    assert _visible(page) == ["feel", "ease", "hard", "uses"] and submit.is_enabled()
    page.get_by_role("button", name="4 sur 5").click()
    assert _visible(page) == ["feel", "ease", "uses"]
    page.get_by_label("api", exact=True).check()
    assert _visible(page) == ["feel", "ease", "uses", "api"]
    page.get_by_test_id("ssw-text-api").fill("rapide")
    page.get_by_label("exports", exact=True).check()
    submit.click()
    page.get_by_test_id("ssw-thanks").wait_for(state="visible")
    assert page.get_by_test_id("ssw-thanks").inner_text() == "Merci pour votre avis !"
    assert page.evaluate("() => log") == [
        ["complete", {"feel": "Assez déçu", "ease": 4, "uses": ["exports", "api"], "api": "rapide"}]]
    bridge.wait_for(page, "submitted")
    answers = bridge.answers()
    # Each scale click is posted; choices, checkboxes and text once the user leaves them (or settles).
    assert [value for question, value in answers if question == "ease"] == [2, 4]
    assert dict(answers) == {"feel": "Assez déçu", "ease": 4, "uses": ["exports", "api"], "api": "rapide"}
    assert bridge.events[-1]["type"] == "submitted"
    assert all(e["displayId"] == "d-1" and e["displayToken"] == "t-1" and e["locale"] == "fr" for e in bridge.events)
    assert not errors, errors
    context.close()


def test_answers_to_questions_no_longer_asked_are_not_answers(browser):
    context, page, bridge, errors = _open(browser)
    page.get_by_label("Très déçu").check()
    page.get_by_test_id("ssw-text-why").fill("tout")  # leaving the radio group posts its answer
    page.get_by_label("Pas déçu").check()  # leaving the text box posts it; then `why` is no longer asked
    page.get_by_test_id("ssw-text-why").evaluate("t => { t.value = 'encore'; t.dispatchEvent(new Event('input')); }")
    page.keyboard.press("Escape")
    page.get_by_test_id("ssw-card").wait_for(state="detached")
    bridge.wait_for(page, "closed")
    # What the widget reports, and what the workers keep (they drop answers to questions not asked).
    assert page.evaluate("() => log") == [["complete", {"feel": "Pas déçu"}]]
    # A hidden question's text is not posted at the end (`encore`), the settled choice is.
    assert bridge.answers() == [("feel", "Très déçu"), ("why", "tout"), ("feel", "Pas déçu")]
    assert bridge.events[-1]["type"] == "closed"
    assert not errors, errors
    context.close()


def test_unticking_every_box_answers_an_empty_list(browser):
    context, page, bridge, errors = _open(browser)
    page.get_by_label("Pas déçu").check()
    page.get_by_label("api", exact=True).check()
    page.get_by_role("button", name="3 sur 5").click()  # leaves the checkboxes: ["api"] is posted
    page.get_by_label("api", exact=True).uncheck()
    assert _visible(page) == ["feel", "ease", "uses"]
    page.get_by_test_id("ssw-submit").click()
    page.get_by_test_id("ssw-thanks").wait_for(state="visible")
    assert page.evaluate("() => log") == [["complete", {"feel": "Pas déçu", "ease": 3, "uses": []}]]
    assert [value for question, value in bridge.answers() if question == "uses"] == [["api"], []]
    assert not errors, errors
    context.close()


def test_options_override_locale_and_url_and_rtl_from_locale(browser):
    survey = dict(SURVEY, locale="he")  # no `dir`: derived from the locale
    context, page, bridge, errors = _open(browser, locale="en-US", survey=survey,
                                          options='locale: "he-IL", url: "https://shop.example/cart", device: "tablet",')
    card = page.get_by_role("dialog")
    assert bridge.queries[0] == {"locale": ["he-IL"], "url": ["https://shop.example/cart"], "device": ["tablet"]}
    assert (card.get_attribute("lang"), card.get_attribute("dir")) == ("he", "rtl")
    assert page.get_by_role("button", name="סגירת הסקר").is_visible()
    page.keyboard.press("Escape")
    page.get_by_test_id("ssw-card").wait_for(state="detached")
    assert page.evaluate("() => log") == [["dismiss"]]
    bridge.wait_for(page, "closed")
    assert [e["type"] for e in bridge.events] == ["shown", "closed"]
    assert not errors, errors
    context.close()


def test_an_old_bridge_without_locale_or_conditions_still_works(browser):
    survey = {"id": "nps", "type": "nps", "name": "NPS", "questions": [
        {"id": "score", "kind": "scale", "text": "How likely?", "min": 0, "max": 10, "choices": None},
        {"id": "reason", "kind": "text", "text": "Why?", "min": None, "max": None, "choices": None}]}
    context, page, bridge, errors = _open(browser, survey=survey)
    card = page.get_by_role("dialog")
    assert card.get_attribute("lang") is None and card.get_attribute("dir") is None
    assert _visible(page) == ["score", "reason"]
    page.get_by_role("button", name="7 of 10").click()
    page.get_by_test_id("ssw-submit").click()
    page.get_by_test_id("ssw-thanks").wait_for(state="visible")
    assert bridge.answers() == [("score", 7)]
    assert not any("locale" in e for e in bridge.events)  # an old bridge would refuse a field it does not know
    assert not errors, errors
    context.close()
