"""The authoring rules of streams.core.targeting: pages, devices, delays and their cancelling,
response limits (the quotas seam) and the per-user cap, in the order of
docs/reference.md#7-reason-codes; the client's page, device and locale kept from Segment
messages (streams.core.client)."""
from __future__ import annotations

import time

import pytest

from streams.core import client as clients
from streams.core.client import Request
from streams.core.quotas import Counts, quota_reached
from streams.core.targeting import RULES, decide
from streams.core.timeutil import DAY_MS, HOUR_MS, parse_iso
from streams.core.userstate import apply
from tests.core.test_targeting import NOW, config, only_verdict, survey, user

SECOND = 1000
BILLING = "https://app.example.com/billing/plans"


def test_new_reasons_sit_where_the_reference_puts_them():
    order = {name: index for index, name in enumerate(RULES)}
    assert order["page_mismatch"] == order["traits_mismatch"] + 1
    assert order["device_mismatch"] == order["page_mismatch"] + 1
    assert order["delayed"] == order["awaiting_trigger"] + 1
    assert order["quota_reached"] == order["max_displays_reached"] + 1
    assert order["max_responses_reached"] == order["quota_reached"] + 1


@pytest.mark.parametrize("rules, url, passed", [
    ([{"op": "contains", "value": "/billing"}], BILLING, True),
    ([{"op": "contains", "value": "/settings"}], BILLING, False),
    ([{"op": "eq", "value": BILLING}], BILLING, True),
    ([{"op": "eq", "value": BILLING}], BILLING + "?tab=2", False),
    ([{"op": "starts_with", "value": "https://app.example.com/"}], BILLING, True),
    ([{"op": "starts_with", "value": "/billing"}], BILLING, False),
    ([{"op": "regex", "value": r"/billing/(plans|invoices)$"}], BILLING, True),
    ([{"op": "regex", "value": r"^/billing"}], BILLING, False),
    ([{"op": "not_contains", "value": "/admin"}], BILLING, True),
    ([{"op": "not_contains", "value": "/billing"}], BILLING, False),
    # positive rules are alternatives; not_contains rules must all hold as well
    ([{"op": "contains", "value": "/settings"}, {"op": "contains", "value": "/plans"}], BILLING, True),
    ([{"op": "contains", "value": "/billing"}, {"op": "not_contains", "value": "/plans"}], BILLING, False),
    ([{"op": "contains", "value": "/billing"}], None, False),  # no URL known
    ([{"op": "not_contains", "value": "/admin"}], None, False),
])
def test_page_rules(rules, url, passed):
    cfg = config(survey(targeting={"pages": rules}))
    state = user(client={"url": url, "pageAt": NOW - HOUR_MS} if url else {})
    assert only_verdict(state, cfg).reason == ("eligible" if passed else "page_mismatch")


def test_a_regex_cannot_backtrack():
    """(a+)+$ against a run of a's and a "!" takes exponential time on a backtracking engine
    (Python's re included); RE2 answers in linear time."""
    cfg = config(survey(targeting={"pages": [{"op": "regex", "value": "^(a+)+$"}]}))
    state = user(client={"url": "a" * 5000 + "!", "pageAt": NOW})
    started = time.perf_counter()
    assert only_verdict(state, cfg).reason == "page_mismatch"
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize("request_url, stored_url, reason", [
    ("https://app.example.com/billing", "https://app.example.com/home", "eligible"),  # ?url= wins
    ("https://app.example.com/home", BILLING, "page_mismatch"),
    (None, BILLING, "eligible"),  # else the latest page message
])
def test_the_request_url_comes_before_the_stored_one(request_url, stored_url, reason):
    cfg = config(survey(targeting={"pages": [{"op": "contains", "value": "/billing"}]}))
    state = user(client={"url": stored_url, "pageAt": NOW - HOUR_MS})
    decision = decide(state, cfg, NOW, request=Request(url=request_url), every_rule=True)
    assert decision.verdicts[0].reason == reason


IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
IPAD = "Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"


@pytest.mark.parametrize("request_device, stored, reason", [
    ("tablet", {"device": "desktop"}, "eligible"),  # the request's device wins
    ("mobile", {"device": "tablet"}, "device_mismatch"),
    (None, {"device": "tablet"}, "eligible"),
    (None, {"userAgent": IPAD}, "eligible"),  # parsed on demand
    (None, {"userAgent": IPHONE}, "device_mismatch"),
    (None, {"userAgent": WINDOWS}, "device_mismatch"),
    (None, {"deviceType": "ipados"}, "eligible"),  # Segment's context.device.type, when no User-Agent
    (None, {"userAgent": "curl/8.0"}, "device_mismatch"),  # no device: no device rule matches
    (None, {}, "device_mismatch"),
])
def test_device_rules(request_device, stored, reason):
    cfg = config(survey(targeting={"devices": ["tablet"]}))
    state = user(client={"pageAt": NOW - HOUR_MS, **stored})
    decision = decide(state, cfg, NOW, request=Request(device=request_device), every_rule=True)
    assert decision.verdicts[0].reason == reason


DELAY = {"delay_seconds": 30}
TRIGGER = {"event": "Invoice Downloaded", "within_days": 1}


@pytest.mark.parametrize("targeting, client, triggers, cancels, now, reason, eligible_at", [
    # without a trigger: from the latest page view
    (DELAY, {"pageAt": NOW - 10 * SECOND}, {}, [], NOW, "delayed", NOW + 20 * SECOND),
    (DELAY, {"pageAt": NOW - 30 * SECOND}, {}, [], NOW, "eligible", None),  # the delay includes its end
    (DELAY, {}, {}, [], NOW, "delayed", None),  # no page view to count from
    # with a trigger: from its last match
    ({**DELAY, "trigger": TRIGGER}, {"pageAt": NOW - HOUR_MS}, {"count": 1, "last": NOW - 5 * SECOND}, [], NOW,
     "delayed", NOW + 25 * SECOND),
    ({**DELAY, "trigger": TRIGGER}, {}, {"count": 1, "last": NOW - 31 * SECOND}, [], NOW, "eligible", None),
    ({**DELAY, "trigger": TRIGGER}, {"pageAt": NOW}, {}, [], NOW, "awaiting_trigger", None),
    # a cancel_on event inside the delay cancels it; before or after it does not
    ({**DELAY, "cancel_on": [{"event": "Checkout Started"}]}, {"pageAt": NOW - 10 * SECOND}, {},
     [NOW - 5 * SECOND], NOW, "delayed", None),
    ({**DELAY, "cancel_on": [{"event": "Checkout Started"}]}, {"pageAt": NOW - 40 * SECOND}, {},
     [NOW - 35 * SECOND], NOW, "delayed", None),  # cancelled then: not shown now either
    ({**DELAY, "cancel_on": [{"event": "Checkout Started"}]}, {"pageAt": NOW - 40 * SECOND}, {},
     [NOW - 50 * SECOND, NOW - 5 * SECOND], NOW, "eligible", None),
    ({**DELAY, "cancel_on": [{"event": "Checkout Started"}]}, {"pageAt": NOW - 10 * SECOND}, {},
     [NOW - 11 * SECOND], NOW, "delayed", NOW + 20 * SECOND),
])
def test_delays(targeting, client, triggers, cancels, now, reason, eligible_at):
    cfg = config(survey(targeting=targeting))
    state = user(client=client, triggers={"s1": triggers} if triggers else {},
                 cancels={"s1": cancels} if cancels else {})
    verdict = only_verdict(state, cfg, now)
    assert (verdict.reason, verdict.eligible_at) == (reason, eligible_at)
    if eligible_at is not None:
        assert decide(state, cfg, eligible_at).eligible and not decide(state, cfg, eligible_at - 1).eligible


@pytest.mark.parametrize("limits, counts, reached, unblock", [
    ({}, None, False, None),
    ({"responses": 10}, None, False, None),  # not counted: never reached
    ({"responses": 10}, Counts(total=9), False, None),
    ({"responses": 10}, Counts(total=10), True, None),
    ({"responses_per_day": 3}, Counts(total=50, days={"2026-03-01": 3}), True, NOW + DAY_MS),
    ({"responses_per_day": 3}, Counts(total=50, days={"2026-02-28": 3}), False, None),
    ({"responses": 100, "responses_per_day": 3}, Counts(total=100, days={"2026-03-01": 3}), True, None),
])
def test_the_quota_seam(limits, counts, reached, unblock):
    cfg = config(survey(limits=limits))
    assert quota_reached(cfg.surveys[0], counts, NOW + HOUR_MS)[:2] == (reached, unblock)
    verdict = decide(user(), cfg, NOW + HOUR_MS, response_counts={"s1": counts} if counts else None,
                     every_rule=True).verdicts[0]
    assert (verdict.reason, verdict.eligible_at) == ("quota_reached" if reached else "eligible", unblock)


@pytest.mark.parametrize("cap, responses, reason", [
    (0, 40, "eligible"), (2, 1, "eligible"), (2, 2, "max_responses_reached"), (1, 3, "max_responses_reached"),
])
def test_max_responses_per_user(cap, responses, reason):
    cfg = config(survey(targeting={"max_responses_per_user": cap, "recontact_after_response_days": 0}))
    assert only_verdict(user({"s1": {"responses": responses}}), cfg).reason == reason


# --- what Segment messages leave in the state --------------------------------------------------

def _apply(state, message, cfg, at):
    return apply(state, {"messageId": f"m{at}", "userId": "u1", "timestamp": parse_iso_ms(at), **message},
                 "u1", cfg, at).state


def parse_iso_ms(ms: int) -> str:
    from streams.core.timeutil import iso
    return iso(ms)


def test_the_latest_page_message_is_kept_and_a_late_one_does_not_roll_it_back():
    cfg = config(survey(targeting={"devices": ["tablet"]}))
    state = user(client={})
    state = _apply(state, {"type": "page", "context": {"page": {"url": BILLING}, "userAgent": IPAD,
                                                        "locale": "de-AT"}}, cfg, NOW)
    assert state["client"] == {"url": BILLING, "userAgent": IPAD, "deviceType": None, "device": "tablet",
                               "pageAt": NOW, "locale": "de-AT", "localeAt": NOW}
    state = _apply(state, {"type": "screen", "properties": {"url": "app://home"}, "context": {"locale": "fr"}},
                   cfg, NOW - HOUR_MS)
    assert (state["client"]["url"], state["client"]["locale"]) == (BILLING, "de-AT")
    state = _apply(state, {"type": "track", "event": "Clicked", "context": {"locale": "pt_BR"}}, cfg, NOW + 1)
    assert state["client"]["locale"] == "pt-BR" and state["client"]["url"] == BILLING  # a track is no page view
    state = _apply(state, {"type": "screen", "properties": {"url": "app://home"},
                           "context": {"device": {"type": "android"}}}, cfg, NOW + 2)
    assert state["client"]["url"] == "app://home" and state["client"]["device"] == "mobile"


def test_cancel_events_are_kept_per_survey_and_bounded():
    cfg = config(survey(targeting={"delay_seconds": 60, "cancel_on": [
        {"event": "Checkout Started", "where": [{"property": "cart", "op": "gt", "value": 0}]}]}),
        survey("s2"))
    state = user()
    for index in range(clients.CANCELS_MAX + 3):
        state = _apply(state, {"type": "track", "event": "Checkout Started", "properties": {"cart": 2}}, cfg,
                       NOW + index)
    state = _apply(state, {"type": "track", "event": "Checkout Started", "properties": {"cart": 0}}, cfg, NOW + 99)
    assert state["cancels"] == {"s1": [NOW + index for index in range(3, clients.CANCELS_MAX + 3)]}


def test_a_cancel_during_the_delay_holds_the_survey_back_end_to_end():
    cfg = config(survey(targeting={"delay_seconds": 30, "cancel_on": [{"event": "Checkout Started"}]}))
    state = _apply(user(client={}), {"type": "page", "context": {"page": {"url": BILLING}}}, cfg, NOW)
    assert (decide(state, cfg, NOW).reason, decide(state, cfg, NOW).eligible_at) == ("delayed", NOW + 30 * SECOND)
    state = _apply(state, {"type": "track", "event": "Checkout Started"}, cfg, NOW + 10 * SECOND)
    assert (decide(state, cfg, NOW + HOUR_MS).reason, decide(state, cfg, NOW + HOUR_MS).eligible_at) == ("delayed", None)
    state = _apply(state, {"type": "page", "context": {"page": {"url": BILLING}}}, cfg, NOW + HOUR_MS)  # a new page view
    assert decide(state, cfg, NOW + HOUR_MS + 30 * SECOND).eligible


def test_a_fold_keeps_the_latest_client_and_every_cancel():
    mine = {"client": {"url": "a", "pageAt": NOW, "locale": "en", "localeAt": NOW}, "cancels": {"s1": [1, 3]}}
    theirs = {"client": {"url": "b", "pageAt": NOW + 1, "locale": "de", "localeAt": NOW - 1}, "cancels": {"s1": [2]}}
    clients.fold(mine, theirs)
    assert (mine["client"]["url"], mine["client"]["locale"], mine["cancels"]) == ("b", "en", {"s1": [1, 2, 3]})
