"""Display tokens (streams.displays, CONTRACT 7): signed, bound, expiring."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from streams import displays
from streams.errors import InvalidInput
from streams.timeutil import MINUTE_MS, iso

SECRET = b"k" * 32
NOW = 1_800_000_000_000


def event(token: str | None, user: str = "u1", survey: str = "nps", display: str = "d1", received: int | None = None) -> dict:
    e = {"userId": user, "surveyId": survey, "displayId": display}
    if token is not None:
        e["displayToken"] = token
    if received is not None:
        e["receivedAt"] = iso(received)
    return e


def token(user="u1", survey="nps", display="d1", now=NOW, ttl=60, secret=SECRET) -> str:
    issued = displays.issue(secret, user, survey, display, now, ttl)
    assert set(issued) == {"id", "token"} and issued["id"] == display
    return issued["token"]


def test_a_token_verifies_for_its_own_user_survey_and_display_only():
    good = token()
    assert displays.expiry(SECRET, good, "u1", "nps", "d1") == NOW + 60 * MINUTE_MS
    for user, survey, display in (("u2", "nps", "d1"), ("u1", "csat", "d1"), ("u1", "nps", "d2")):
        assert displays.expiry(SECRET, good, user, survey, display) is None
    assert displays.expiry(b"other" * 8, good, "u1", "nps", "d1") is None


@pytest.mark.parametrize("bad", [None, "", ".", "zz.zz", "ff", "ff.", ".AAAA", "1.2.3", 42, "x" * 100,
                                 "ffffffffff.!!!!", "\udcff.abc",
                                 # expiries orjson cannot write (over 64 bits): once a TypeError, a 500
                                 "f" * 20 + ".AAAAAAAAAAAAAAAAAAAAAA", "-" + "f" * 20 + ".AAAA", "1" * 40 + ".AAAA",
                                 "0x10.AAAA", "1_0.AAAA", " 10.AAAA", "+10.AAAA"])
def test_malformed_tokens_never_verify_and_never_raise(bad):
    assert displays.expiry(SECRET, bad, "u1", "nps", "d1") is None


def test_a_token_with_an_expiry_over_64_bits_is_refused_not_raised():
    refused = displays.check_at_bridge(SECRET, event("f" * 30 + ".AAAAAAAAAAAAAAAAAAAAAA"), 30, NOW)
    assert refused is not None and refused.code == "invalid_token"
    with pytest.raises(InvalidInput) as caught:
        displays.check_in_agent(SECRET, event("-" + "f" * 30 + ".AAAA"), opens_display=True, now=NOW)
    assert caught.value.code == "invalid_token"


def test_a_changed_expiry_breaks_the_signature():
    expires, mac = token().split(".")
    assert displays.expiry(SECRET, f"{int(expires, 16) + 1:x}.{mac}", "u1", "nps", "d1") is None


def test_ids_that_would_run_together_do_not_share_a_token():
    # "u1" + "nps-x" and "u1nps" + "-x": the signed message keeps the fields apart.
    assert displays.expiry(SECRET, token(user="u1", survey="nps-x"), "u1nps", "-x", "d1") is None


def test_bridge_refuses_missing_invalid_and_long_expired_tokens():
    assert displays.check_at_bridge(SECRET, event(token()), 30, NOW) is None
    assert displays.check_at_bridge(SECRET, event(None), 30, NOW).field == "displayToken"
    assert displays.check_at_bridge(SECRET, event("ff.AAAA"), 30, NOW) is not None
    expired = NOW + 60 * MINUTE_MS
    assert displays.check_at_bridge(SECRET, event(token()), 30, expired + 30 * MINUTE_MS) is None  # display still open
    assert displays.check_at_bridge(SECRET, event(token()), 30, expired + 30 * MINUTE_MS + 1) is not None


def test_agent_lets_an_open_display_go_on_after_expiry_but_opens_none_after_it():
    expired = NOW + 60 * MINUTE_MS
    displays.check_in_agent(SECRET, event(token(), received=expired), opens_display=True, now=expired + 10**9)
    displays.check_in_agent(SECRET, event(token(), received=expired + 1), opens_display=False, now=expired + 10**9)
    with pytest.raises(InvalidInput) as caught:
        displays.check_in_agent(SECRET, event(token(), received=expired + 1), opens_display=True, now=expired + 10**9)
    assert caught.value.code == "invalid_token"
    with pytest.raises(InvalidInput):
        displays.check_in_agent(SECRET, event(None), opens_display=False, now=NOW)


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_any_ids_round_trip(user, survey, display):
    issued = displays.issue(SECRET, user, survey, display, NOW, 60)
    assert displays.expiry(SECRET, issued["token"], user, survey, display) == NOW + 60 * MINUTE_MS


# --- receivedAt is the writer's: the broker's append time is not ------------------------------------

def test_a_token_long_expired_when_the_broker_got_the_record_is_refused_whatever_receivedat_says():
    expired = NOW + 60 * MINUTE_MS
    forged = event(token(), received=NOW)  # "received" while the token was fresh...
    displays.check_in_agent(SECRET, forged, opens_display=True, now=expired + 10**9)  # ...which alone passes
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
