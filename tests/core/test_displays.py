"""Display tokens and ids (streams.core.displays, docs/security.md "Display tokens"): signed,
bound, expiring; one display per slot, the same one for every poll."""
from __future__ import annotations

import pytest
from hypothesis import example, given, settings, strategies as st

from streams.core import displays
from streams.core.errors import InvalidInput
from streams.core.timeutil import MINUTE_MS, iso

SECRET = b"k" * 32
ID_KEY = b"i" * 32
NOW = 1_800_000_000_000
D0 = displays.display_id(ID_KEY, "u1", "nps", 0)  # u1's first display of nps
OPEN = {"displays": {D0: {"surveyId": "nps", "end": None}}}  # a state where D0 is open


def check(e: dict, state: dict | None = None, now: int = NOW) -> None:
    displays.check_in_agent(SECRET, ID_KEY, e, state, now)


def event(token: str | None, user: str = "u1", survey: str = "nps", display: str = D0, received: int | None = None) -> dict:
    e = {"userId": user, "surveyId": survey, "displayId": display}
    if token is not None:
        e["displayToken"] = token
    if received is not None:
        e["receivedAt"] = iso(received)
    return e


def token(user="u1", survey="nps", display=D0, now=NOW, ttl=60, secret=SECRET) -> str:
    issued = displays.issue(secret, user, survey, display, now, ttl)
    assert set(issued) == {"id", "token"} and issued["id"] == display
    return issued["token"]


def test_a_token_verifies_for_its_own_user_survey_and_display_only():
    good = token()
    assert displays.expiry(SECRET, good, "u1", "nps", D0) == NOW + 60 * MINUTE_MS
    for user, survey, display in (("u2", "nps", D0), ("u1", "csat", D0), ("u1", "nps", "d2")):
        assert displays.expiry(SECRET, good, user, survey, display) is None
    assert displays.expiry(b"other" * 8, good, "u1", "nps", D0) is None


@pytest.mark.parametrize("bad", [None, "", ".", "zz.zz", "ff", "ff.", ".AAAA", "1.2.3", 42, "x" * 100,
                                 "ffffffffff.!!!!", "\udcff.abc",
                                 # expiries orjson cannot write (over 64 bits): once a TypeError, a 500
                                 "f" * 20 + ".AAAAAAAAAAAAAAAAAAAAAA", "-" + "f" * 20 + ".AAAA", "1" * 40 + ".AAAA",
                                 "0x10.AAAA", "1_0.AAAA", " 10.AAAA", "+10.AAAA"])
def test_malformed_tokens_never_verify_and_never_raise(bad):
    assert displays.expiry(SECRET, bad, "u1", "nps", D0) is None


def test_a_token_with_an_expiry_over_64_bits_is_refused_not_raised():
    refused = displays.check_at_bridge(SECRET, event("f" * 30 + ".AAAAAAAAAAAAAAAAAAAAAA"), 30, NOW)
    assert refused is not None and refused.code == "invalid_token"
    with pytest.raises(InvalidInput) as caught:
        check(event("-" + "f" * 30 + ".AAAA"))
    assert caught.value.code == "invalid_token"


def test_a_changed_expiry_breaks_the_signature():
    expires, mac = token().split(".")
    assert displays.expiry(SECRET, f"{int(expires, 16) + 1:x}.{mac}", "u1", "nps", D0) is None


def test_ids_that_would_run_together_do_not_share_a_token():
    # "u1" + "nps-x" and "u1nps" + "-x": the signed message keeps the fields apart.
    assert displays.expiry(SECRET, token(user="u1", survey="nps-x"), "u1nps", "-x", D0) is None


def test_bridge_refuses_missing_invalid_and_long_expired_tokens():
    assert displays.check_at_bridge(SECRET, event(token()), 30, NOW) is None
    assert displays.check_at_bridge(SECRET, event(None), 30, NOW).field == "displayToken"
    assert displays.check_at_bridge(SECRET, event("ff.AAAA"), 30, NOW) is not None
    expired = NOW + 60 * MINUTE_MS
    assert displays.check_at_bridge(SECRET, event(token()), 30, expired + 30 * MINUTE_MS) is None  # display still open
    assert displays.check_at_bridge(SECRET, event(token()), 30, expired + 30 * MINUTE_MS + 1) is not None


def test_agent_lets_an_open_display_go_on_after_expiry_but_opens_none_after_it():
    expired = NOW + 60 * MINUTE_MS
    check(event(token(), received=expired), now=expired + 10**9)
    check(event(token(), received=expired + 1), OPEN, now=expired + 10**9)
    with pytest.raises(InvalidInput) as caught:
        check(event(token(), received=expired + 1), now=expired + 10**9)
    assert caught.value.code == "invalid_token"
    with pytest.raises(InvalidInput):
        check(event(None), OPEN)


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_any_ids_round_trip(user, survey, display):
    issued = displays.issue(SECRET, user, survey, display, NOW, 60)
    assert displays.expiry(SECRET, issued["token"], user, survey, display) == NOW + 60 * MINUTE_MS


# --- receivedAt is the writer's: the broker's append time is not ------------------------------------

def test_a_token_long_expired_when_the_broker_got_the_record_is_refused_whatever_receivedat_says():
    expired = NOW + 60 * MINUTE_MS
    forged = event(token(), received=NOW)  # "received" while the token was fresh...
    check(forged, now=expired + 10**9)  # ...which alone passes
    appended = expired + 30 * MINUTE_MS + displays.RECEIPT_SKEW_MS + 1  # appended days later
    refused = displays.check_appended(SECRET, forged, 30, appended)
    assert refused is not None and refused.code == "invalid_token"


def test_a_record_appended_while_the_bridge_would_take_it_passes():
    expired = NOW + 60 * MINUTE_MS
    for appended in (NOW, expired, expired + 30 * MINUTE_MS + displays.RECEIPT_SKEW_MS):
        assert displays.check_appended(SECRET, event(token(), received=NOW - 10**9), 30, appended) is None


def test_without_an_append_time_nothing_is_checked_here():
    # A topic with CreateTime: the producer's clock, anyone's; the agent's own check remains.
    assert displays.check_appended(SECRET, event("ff.AAAA"), 30, None) is None


# --- display ids: one per user, survey and slot ------------------------------------------------------

def test_a_display_id_is_the_same_for_the_same_user_survey_and_slot_only():
    assert D0 == displays.display_id(ID_KEY, "u1", "nps", 0)
    assert D0.startswith("d-") and len(D0) == 34 and int(D0[2:], 16) >= 0
    others = {displays.display_id(ID_KEY, "u2", "nps", 0), displays.display_id(ID_KEY, "u1", "csat", 0),
              displays.display_id(ID_KEY, "u1", "nps", 1), displays.display_id(b"j" * 32, "u1", "nps", 0),
              displays.display_id(ID_KEY, "u1nps", "", 0), displays.display_id(ID_KEY, "u1", "nps0", 0)}
    assert D0 not in others and len(others) == 6


@given(st.text(max_size=20), st.text(max_size=20), st.integers(0, 10**6),
       st.text(max_size=20), st.text(max_size=20), st.integers(0, 10**6))
def test_different_user_survey_or_slot_give_different_ids(user, survey, slot, user2, survey2, slot2):
    same = (user, survey, slot) == (user2, survey2, slot2)
    assert (displays.display_id(ID_KEY, user, survey, slot) == displays.display_id(ID_KEY, user2, survey2, slot2)) \
        is same


@pytest.mark.parametrize("state, slot", [
    (None, 0), ({}, 0), ({"surveys": {}}, 0), ({"surveys": {"nps": {"displays": 3}}}, 3),
    ({"surveys": {"csat": {"displays": 3}}}, 0), ({"surveys": {"nps": {"displays": -1}}}, 0),
    ({"surveys": {"nps": {"displays": "2"}}}, 0), ({"surveys": {"nps": None}}, 0),
])
def test_the_slot_is_how_many_displays_of_the_survey_were_opened(state, slot):
    assert displays.slot(state, "nps") == slot


# --- the agent opens only the current slot's display ----------------------------------------------

def opened(count: int, *open_ids: str) -> dict:
    """A state where `count` displays of nps were opened, `open_ids` still kept."""
    return {"surveys": {"nps": {"displays": count}},
            "displays": {display_id: {"surveyId": "nps", "end": None} for display_id in open_ids}}


def slot_id(n: int, user: str = "u1") -> str:
    return displays.display_id(ID_KEY, user, "nps", n)


def test_only_the_current_slots_display_opens():
    check(event(token(display=slot_id(0)), display=slot_id(0)), opened(0))
    check(event(token(display=slot_id(3)), display=slot_id(3)), opened(3))
    for state, display in ((opened(0), slot_id(1)),   # a slot not handed out yet
                           (opened(1), slot_id(0)),   # a slot opened already (dropped from the state)
                           (opened(5), slot_id(4)),   # a token in flight when a fold added history
                           (opened(0), "d-made-up"), (opened(0), slot_id(0, "u2"))):
        with pytest.raises(InvalidInput) as caught:
            check(event(token(display=display), display=display), state)
        assert caught.value.code == "invalid_token" and caught.value.field == "displayId", display
        assert "ask /v1/eligibility again" in caught.value.detail


def test_an_open_display_goes_on_whatever_the_slot_is_now():
    # The slot moved on when it opened (and a fold may have moved it further): its events apply.
    check(event(token(display=slot_id(0)), display=slot_id(0)), opened(1, slot_id(0)))
    check(event(token(display=slot_id(0)), display=slot_id(0)), opened(7, slot_id(0)))


# --- what /v1/eligibility hands out -----------------------------------------------------------------

from streams.core import lifecycle, targeting  # noqa: E402
from streams.core.config import parse_config  # noqa: E402
from streams.core.state import new_user_state  # noqa: E402
from streams.core.timeutil import DAY_MS, HOUR_MS  # noqa: E402

REDISPLAY_HOURS, MAX_DISPLAYS, TIMEOUT_MINUTES = 2, 3, 30
CONFIG = parse_config({
    "project": {"display_timeout_minutes": TIMEOUT_MINUTES, "display_token_minutes": 60},
    "surveys": [{"id": "nps", "type": "nps", "name": "NPS",
                 "targeting": {"min_days_since_signup": 0, "redisplay_after_hours": REDISPLAY_HOURS,
                               "max_displays": MAX_DISPLAYS, "recontact_after_response_days": 0,
                               "recontact_after_dismissal_days": 0}}],
})
NPS = CONFIG.surveys[0]


def known_user() -> dict:
    state = new_user_state("u1")
    state.update(identified=True, firstSeen=NOW - 100 * DAY_MS, lastSeen=NOW - DAY_MS)
    return state


def widget_event(display: dict, kind: str, at: int, n: int) -> dict:
    return {"messageId": f"m{n}", "userId": "u1", "surveyId": "nps", "displayId": display["id"],
            "displayToken": display["token"], "type": kind, "timestamp": iso(at), "receivedAt": iso(at)}


def poll(state: dict, now: int, config=CONFIG) -> tuple[targeting.Decision, dict | None]:
    decision, display_id = displays.hand_out(ID_KEY, state, config, "u1", now)
    if display_id is None:
        return decision, None
    return decision, displays.issue(SECRET, "u1", decision.survey.id, display_id, now, 60)


def apply(state: dict, display: dict, kind: str, at: int, n: int = 0) -> list:
    """What the users agent does with a widget event: check, then the lifecycle."""
    e = widget_event(display, kind, at, n)
    check(e, state, now=at)
    return lifecycle.apply_event(state, e, NPS, CONFIG.project, at)


def test_six_polls_hand_out_one_display_and_a_reload_continues_it():
    state = known_user()
    handed = [poll(state, NOW + n * 1000)[1] for n in range(6)]
    assert len({d["id"] for d in handed}) == 1 and len({d["token"] for d in handed}) == 6
    assert handed[0]["id"] == slot_id(0)
    outputs = apply(state, handed[3], "shown", NOW + 10_000)  # any of the six tokens opens it
    assert [o.kind for o in outputs] == ["viewed"]
    # The rules now say recently_displayed; the bridge still hands out the open display.
    assert targeting.decide(state, CONFIG, NOW + 20_000, "u1").reason == "recently_displayed"
    decision, again = poll(state, NOW + 20_000)
    assert decision.eligible and decision.survey.id == "nps" and decision.reason == "eligible"
    assert again["id"] == slot_id(0) and again["token"] != handed[0]["token"]
    # The other tokens of slot 0 open nothing more: their display is open.
    for display in handed:
        assert [o.kind for o in apply(state, display, "shown", NOW + 40_000)] == []
    assert state["surveys"]["nps"]["displays"] == 1


def test_an_ended_display_is_not_continued_and_the_next_slot_waits_for_the_rules():
    state = known_user()
    _, display = poll(state, NOW)
    apply(state, display, "shown", NOW)
    deadline = NOW + TIMEOUT_MINUTES * 60_000
    assert poll(state, deadline - 1)[1]["id"] == slot_id(0)
    decision, nothing = poll(state, deadline)  # deadline passed (the timer may not have run yet)
    assert nothing is None and decision.reason == "recently_displayed"
    lifecycle.expire_displays(state, CONFIG, deadline)
    assert poll(state, NOW + REDISPLAY_HOURS * HOUR_MS - 1)[1] is None
    _, following = poll(state, NOW + REDISPLAY_HOURS * HOUR_MS)
    assert following["id"] == slot_id(1)


def test_an_open_display_of_a_survey_switched_off_is_not_handed_out():
    state = known_user()
    _, display = poll(state, NOW)
    apply(state, display, "shown", NOW)
    inactive = parse_config({"project": {"display_timeout_minutes": TIMEOUT_MINUTES},
                             "surveys": [{"id": "nps", "type": "nps", "name": "NPS", "active": False}]})
    decision, nothing = poll(state, NOW + 1000, inactive)
    assert nothing is None and not decision.eligible
    gone = parse_config({"project": {"recontact_days": 0}, "surveys": [{"id": "csat", "type": "csat", "name": "CSAT",
                                      "targeting": {"min_days_since_signup": 0}}]})
    decision, other = poll(state, NOW + 1000, gone)
    assert decision.survey.id == "csat" and other["id"] == displays.display_id(ID_KEY, "u1", "csat", 0)


def test_a_user_who_is_not_eligible_gets_no_display():
    assert poll(None, NOW) == (targeting.decide(None, CONFIG, NOW, "u1"), None)
    state = known_user()
    state["surveys"]["nps"] = {**lifecycle.new_survey_history(), "displays": 9,
                               "displaysSinceResponse": MAX_DISPLAYS}
    decision, nothing = poll(state, NOW)
    assert nothing is None and decision.reason == "max_displays_reached"


ACTIONS = st.lists(st.one_of(
    st.just(("poll",)),
    st.tuples(st.just("send"), st.integers(0, 50), st.sampled_from(["shown", "answered", "closed", "submitted"])),
    st.tuples(st.just("wait"), st.sampled_from([1, 31, 121, 121, 24 * 60])),
), max_size=80)
# A client that polls, opens with the newest token and waits out each display: it reaches the cap.
TO_THE_CAP = [("poll",), ("send", -1, "shown"), ("wait", 121)] * (MAX_DISPLAYS + 2)


@settings(max_examples=300, deadline=None)
@given(ACTIONS)
@example(TO_THE_CAP)
def test_a_client_with_every_token_it_ever_got_cannot_beat_max_displays_or_redisplay(actions):
    """Polls, openings with any token collected so far (in any order, again and again), and
    time passing: at most one display open, each slot opened once, displaysSinceResponse
    within max_displays, and a display after an ignored one no sooner than redisplay allows."""
    state, now, tokens, views = known_user(), NOW, [], []
    for n, action in enumerate(actions):
        now += 1000  # a second per step: the rules compare instants, and a dismissal and the
        # next display at one millisecond would not tell which came last
        if action[0] == "poll":
            display = poll(state, now)[1]
            if display is not None:
                tokens.append(display)
        elif action[0] == "send" and tokens:
            display = tokens[action[1] % len(tokens)]
            try:
                outputs = apply(state, display, action[2], now, n)
            except InvalidInput:  # the agent dead-letters it
                outputs = []
            views += [(o.display_id, o.at) for o in outputs if o.kind == "viewed"]
        elif action[0] == "wait":
            now += action[1] * 60_000
            lifecycle.expire_displays(state, CONFIG, now)
        history = state["surveys"].get("nps") or lifecycle.new_survey_history()
        assert history["displaysSinceResponse"] <= MAX_DISPLAYS
        assert len(lifecycle.open_displays(state, now)) <= 1
        assert [display_id for display_id, _ in views] == [slot_id(k) for k in range(len(views))]
        assert history["displays"] == len(views)
    if actions == TO_THE_CAP:
        assert len(views) == MAX_DISPLAYS
    for (earlier, shown), (later, next_shown) in zip(views, views[1:]):
        ended = state["displays"].get(earlier, {}).get("end")
        if ended == "expired":  # ignored: the next one waits redisplay_after_hours
            assert next_shown - shown >= REDISPLAY_HOURS * HOUR_MS, (earlier, later)
