"""Applying Segment messages to the user state (docs/reference.md#inbound-segment-messages,
docs/reference.md#user-state) and folding identities."""
from __future__ import annotations

import copy
import itertools

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.config import parse_config
from streams.schemas.segment import validate
from streams.core import seen
from streams.core.seen import WINDOW_MS as SEEN_WINDOW_MS
from streams.core.state import latest_group, new_user_state, trait_snapshot
from streams.core.timeutil import DAY_MS, HOUR_MS, iso, parse_iso
from streams.core.userstate import (
    ANONYMOUS_IDS_MAX,
    GROUPS_MAX,
    apply,
    fold_into,
    merge_traits,
    redirect_state,
    remember,
)

NOW = parse_iso("2024-06-01T00:00:00Z")
CONFIG = parse_config({"surveys": [
    {"id": "csat-export", "type": "csat", "name": "Exports",
     "targeting": {"trigger": {"event": "Report Exported",
                               "where": [{"property": "format", "op": "in", "value": ["pdf", "csv"]}]}}},
    {"id": "ces-export", "type": "ces", "name": "Any export",
     "targeting": {"trigger": {"event": "Report Exported"}}},
    {"id": "nps-big", "type": "nps", "name": "Big carts",
     "targeting": {"trigger": {"event": "Checkout", "where": [{"property": "total", "op": "gte", "value": 100}]}}},
    {"id": "nps-main", "type": "nps", "name": "No trigger"},
]})

_ids = itertools.count()


def msg(kind: str, at: int | None = None, message_id: str | None = None, **fields) -> dict:
    """A validated message; `at` is its event time (epoch ms), `message_id` defaults to unique.

    userId defaults to "u1"; anonymous messages pass userId=None.
    """
    message = {"type": kind, "messageId": message_id or f"m{next(_ids)}", **fields}
    if at is not None:
        message["timestamp"] = iso(at)
    if kind != "alias":
        message.setdefault("userId", "u1")
    return validate(message)


def identify(traits: dict, at: int, **fields) -> dict:
    return msg("identify", at, traits=traits, **fields)


def run(messages, key="u1", state=None, now=NOW):
    """Apply messages in order; returns the final state and every fold requested."""
    folds = []
    for message in messages:
        result = apply(state, message, key, CONFIG, now)
        state = result.state
        folds += result.folds
    return state, folds


# --- seen times, userId ----------------------------------------------------------------

def test_new_user_from_first_message():
    result = apply(None, msg("track", NOW - HOUR_MS, event="Opened"), "u1", CONFIG, NOW)
    assert result.changed and not result.duplicate and result.folds == []
    state = result.state
    assert state["userId"] == "u1" and state["identified"] is False
    assert state["firstSeen"] == state["lastSeen"] == NOW - HOUR_MS
    assert state["triggers"] == {}  # not a configured trigger event


def test_first_and_last_seen_are_min_and_max_over_all_types():
    times = [NOW - 5 * DAY_MS, NOW - 9 * DAY_MS, NOW - DAY_MS, NOW - 3 * DAY_MS]
    kinds = [("page", {}), ("identify", {"traits": {}}), ("group", {"groupId": "g"}), ("track", {"event": "x"})]
    state, _ = run(msg(kind, at, **fields) for at, (kind, fields) in zip(times, kinds))
    assert (state["firstSeen"], state["lastSeen"]) == (NOW - 9 * DAY_MS, NOW - DAY_MS)


def test_message_without_time_is_seen_now():
    state, _ = run([msg("page")])
    assert state["firstSeen"] == state["lastSeen"] == NOW


def test_anonymous_key_keeps_user_id_none():
    state, _ = run([msg("track", NOW, userId=None, anonymousId="a1", event="x")], key="a1")
    assert state["userId"] is None and not state["identified"]


def test_page_changes_only_seen_times():
    state, _ = run([identify({"plan": "pro"}, NOW - DAY_MS)])
    before = copy.deepcopy(state)
    result = apply(state, msg("page", NOW - 2 * DAY_MS, name="Home", properties={"plan": "x"}), "u1", CONFIG, NOW)
    assert result.changed
    changed_fields = {k for k in before if before[k] != result.state[k]}
    assert changed_fields == {"firstSeen", "seen"}


def test_group_traits_are_not_user_traits():
    state, _ = run([msg("group", NOW, groupId="g1", traits={"name": "Acme", "plan": "enterprise"})])
    assert state["traits"] == {} and state["lastSeen"] == NOW and not state["identified"]


# --- duplicates and bounds -------------------------------------------------------------

def test_duplicate_within_24h_is_skipped():
    first = identify({"plan": "pro"}, NOW - HOUR_MS, message_id="dup")
    state, _ = run([first])
    before = copy.deepcopy(state)
    retry = identify({"plan": "free"}, NOW, message_id="dup")  # same id, other content
    result = apply(state, retry, "u1", CONFIG, NOW + SEEN_WINDOW_MS - 1)
    assert result.duplicate and not result.changed and result.folds == []
    assert result.state == before


def test_same_message_id_after_24h_is_handled_again():
    state, _ = run([identify({"plan": "pro"}, NOW - HOUR_MS, message_id="dup")])
    later = NOW + SEEN_WINDOW_MS + 1000  # ids are kept to the second, rounded up
    result = apply(state, identify({"plan": "team"}, later, message_id="dup"), "u1", CONFIG, later)
    assert not result.duplicate and result.changed
    assert result.state["traits"]["plan"] == "team"
    assert seen.size(result.state["seen"]) == 1 and seen.handled_within(result.state["seen"], "dup", later)


def test_message_without_id_is_never_a_duplicate():
    message = validate({"type": "track", "userId": "u1", "event": "Report Exported"})
    state, _ = run([message, dict(message)])
    assert state["triggers"]["ces-export"]["count"] == 2 and seen.size(state["seen"]) == 0


def test_the_window_is_bounded_by_bytes_dropping_the_oldest():
    keep = seen.WINDOW_CHARS // seen.ENTRY_CHARS
    state = None
    for i in range(keep + 10):
        state = apply(state, msg("page", message_id=f"id{i}"), "u1", CONFIG, NOW + i).state
    assert seen.size(state["seen"]) == keep and len(state["seen"]["ids"]) <= seen.WINDOW_CHARS
    # A dropped id is no longer detected; a kept one still is.
    assert not apply(state, msg("page", message_id="id0"), "u1", CONFIG, NOW + 1000).duplicate
    assert apply(state, msg("page", message_id="id200"), "u1", CONFIG, NOW + 1000).duplicate


def test_remember_is_the_dedupe_other_inputs_share():
    state = new_user_state("u1")
    assert remember(state, "w1", NOW)
    assert not remember(state, "w1", NOW + SEEN_WINDOW_MS - 1)
    assert seen.size(state["seen"]) == 1  # a duplicate does not refresh the handled time
    assert remember(state, "w1", NOW + SEEN_WINDOW_MS)
    assert seen.size(state["seen"]) == 1  # the expired entry went


def test_seen_entries_older_than_24h_are_pruned():
    state, _ = run([msg("page", message_id="old")], now=NOW)
    state, _ = run([msg("page", message_id="mid")], state=state, now=NOW + 12 * HOUR_MS)
    state, _ = run([msg("page", message_id="new")], state=state, now=NOW + SEEN_WINDOW_MS)
    window = state["seen"]
    assert seen.size(window) == 2
    assert [seen.handled_within(window, i, NOW + SEEN_WINDOW_MS) for i in ("old", "mid", "new")] == [False, True, True]


# --- traits and createdAt --------------------------------------------------------------

def test_later_identify_wins_and_older_one_does_not_roll_back():
    state, _ = run([
        identify({"plan": "free", "name": "Ann"}, NOW - 3 * DAY_MS),
        identify({"plan": "pro"}, NOW - DAY_MS),
        identify({"plan": "trial", "email": "a@x.io"}, NOW - 2 * DAY_MS),  # late arrival
    ])
    assert state["traits"] == {"plan": "pro", "name": "Ann", "email": "a@x.io"}
    assert state["traitTimes"] == {"plan": NOW - DAY_MS, "name": NOW - 3 * DAY_MS, "email": NOW - 2 * DAY_MS}
    assert state["identified"] and state["userId"] == "u1"


def test_context_traits_merge_and_message_traits_win():
    state, _ = run([identify({"plan": "pro"}, NOW, context={"traits": {"plan": "free", "city": "Oslo"}})])
    assert state["traits"] == {"plan": "pro", "city": "Oslo"}


def test_identify_with_no_new_trait_value_on_tie_is_unchanged():
    state, _ = run([identify({"plan": "pro"}, NOW, message_id="a")])
    result = apply(state, validate({"type": "identify", "userId": "u1", "traits": {"plan": "pro"},
                                    "timestamp": iso(NOW)}), "u1", CONFIG, NOW)
    assert not result.changed


def test_tie_is_decided_by_json_value_not_python_equality():
    # True == 1 == 1.0 in Python; as JSON they differ, and the winner must not depend on order.
    results = []
    for order in itertools.permutations([True, 1, 1.0]):
        state = new_user_state("u1")
        for value in order:
            merge_traits(state, {"x": value}, NOW, NOW)
        results.append(repr(state["traits"]["x"]))
    assert len(set(results)) == 1


@pytest.mark.parametrize("created_at, expected", [
    ("2024-01-15", parse_iso("2024-01-15T00:00:00Z")),
    ("2024-01-15T10:30:00Z", parse_iso("2024-01-15T10:30:00Z")),
    ("2024-01-15T10:30:00.250Z", parse_iso("2024-01-15T10:30:00Z") + 250),
    ("2024-01-15T12:30:00+02:00", parse_iso("2024-01-15T10:30:00Z")),
    ("2024-01-15T05:30:00-05:00", parse_iso("2024-01-15T10:30:00Z")),
    (1705314600, 1705314600_000),            # epoch seconds
    (1705314600123, 1705314600123),          # epoch milliseconds
    (1705314600.5, 1705314600_500),
    ("1705314600", 1705314600_000),
    ("1705314600123", 1705314600123),
    ("last tuesday", None),
    ("", None),
    (True, None),
    ({"date": "2024-01-15"}, None),
    (None, None),
])
def test_created_at_forms(created_at, expected):
    state, _ = run([identify({"createdAt": created_at}, NOW)])
    assert state["createdAt"] == expected
    assert state["traits"]["createdAt"] == created_at  # kept as a trait even if unparseable


def test_created_at_follows_the_winning_trait():
    state, _ = run([
        identify({"createdAt": "2023-01-01"}, NOW - DAY_MS),
        identify({"createdAt": "2022-01-01"}, NOW - 2 * DAY_MS),  # older identify: ignored
    ])
    assert state["createdAt"] == parse_iso("2023-01-01")
    state, _ = run([identify({"createdAt": "garbage"}, NOW)], state=state)
    assert state["traits"]["createdAt"] == "garbage" and state["createdAt"] is None


trait_values = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([1.0, 2.5]),
                         st.sampled_from(["pro", "free", "", "2024-01-01", "1700000000"]),
                         st.lists(st.integers(0, 2), max_size=2),
                         st.dictionaries(st.sampled_from(["a", "b"]), st.integers(0, 1), max_size=2))
# Few distinct times and keys, so ties and overlaps are common.
identifies = st.lists(
    st.tuples(st.sampled_from([NOW - 2 * DAY_MS, NOW - DAY_MS, NOW]),
              st.dictionaries(st.sampled_from(["plan", "name", "createdAt", "seats"]), trait_values, max_size=3)),
    min_size=1, max_size=7)


def _trait_view(state: dict) -> tuple:
    # JSON with sorted keys: {"a": 0, "b": 1} and {"b": 1, "a": 0} are one value (a tie keeps
    # whichever came first), while 1, 1.0 and true stay apart as JSON keeps them.
    return (orjson.dumps(state["traits"], option=orjson.OPT_SORT_KEYS), sorted(state["traitTimes"].items()),
            state["createdAt"])


@settings(max_examples=300, deadline=None)
@given(identifies, st.randoms(use_true_random=False))
def test_trait_merge_is_independent_of_arrival_order(calls, random):
    messages = [identify(traits, at) for at, traits in calls]
    shuffled = messages[:]
    random.shuffle(shuffled)
    in_order, _ = run(copy.deepcopy(messages))
    reordered, _ = run(copy.deepcopy(shuffled))
    assert _trait_view(in_order) == _trait_view(reordered)
    # Every trait holds a value some identify with the latest time for that key sent.
    for name, value in in_order["traits"].items():
        latest = max(at for at, traits in calls if name in traits)
        assert in_order["traitTimes"][name] == latest
        assert any(at == latest and traits.get(name, object()) == value and name in traits
                   for at, traits in calls)


@settings(max_examples=200, deadline=None)
@given(identifies, st.lists(st.booleans(), min_size=7, max_size=7))
def test_folding_gives_the_same_traits_as_one_history(calls, on_anonymous_side):
    """Identifies split between an anonymous id and the user, then folded = all on the user."""
    single, _ = run(identify(traits, at) for at, traits in calls)
    anonymous, user = None, None
    for (at, traits), anon in zip(calls, on_anonymous_side):
        if anon:
            anonymous, _ = run([identify(traits, at, userId=None, anonymousId="a1")], key="a1", state=anonymous)
        else:
            user, _ = run([identify(traits, at)], state=user)
    folded = fold_into(user, anonymous or new_user_state(), "a1", "u1", NOW)
    assert _trait_view(folded) == _trait_view(single)
    assert (folded["firstSeen"], folded["lastSeen"]) == (single["firstSeen"], single["lastSeen"])


# --- triggers --------------------------------------------------------------------------

def test_triggers_count_per_survey_with_where_filters():
    state, _ = run([
        msg("track", NOW - 3 * DAY_MS, event="Report Exported", properties={"format": "pdf"}),
        msg("track", NOW - DAY_MS, event="Report Exported", properties={"format": "xlsx"}),
        msg("track", NOW - 2 * DAY_MS, event="Report Exported", properties={"format": "csv"}),
        msg("track", NOW, event="Report Exported"),  # no properties at all
    ])
    assert state["triggers"] == {
        "csat-export": {"count": 2, "last": NOW - 2 * DAY_MS},
        "ces-export": {"count": 4, "last": NOW},
    }


@pytest.mark.parametrize("total, counted", [(100, True), ("250", True), (99.99, False), ("lots", False), (None, False)])
def test_trigger_filters_are_typed(total, counted):
    state, _ = run([msg("track", NOW, event="Checkout", properties={"total": total})])
    assert ("nps-big" in state["triggers"]) is counted


def test_unconfigured_events_are_not_counted():
    state, _ = run([msg("track", NOW, event=f"Event {i}") for i in range(50)])
    assert state["triggers"] == {}


def test_trigger_index_follows_the_config():
    other = parse_config({"surveys": [{"id": "pmf", "type": "pmf", "name": "PMF",
                                       "targeting": {"trigger": {"event": "Opened"}}}]})
    message = msg("track", NOW, event="Opened")
    assert apply(None, message, "u1", other, NOW).state["triggers"] == {"pmf": {"count": 1, "last": NOW}}
    assert apply(None, msg("track", NOW, event="Opened"), "u1", CONFIG, NOW).state["triggers"] == {}


# --- identity --------------------------------------------------------------------------

def test_identify_with_both_ids_asks_for_one_fold():
    first = identify({"plan": "pro"}, NOW, anonymousId="a1")
    result = apply(None, first, "u1", CONFIG, NOW)
    assert result.folds == [("a1", "u1")]
    assert result.state["anonymousIds"] == ["a1"]
    again = apply(result.state, identify({}, NOW, anonymousId="a1"), "u1", CONFIG, NOW)
    assert again.folds == []  # analytics.js repeats the anonymousId on every identify


def test_identify_with_equal_ids_does_not_fold():
    result = apply(None, identify({}, NOW, anonymousId="u1"), "u1", CONFIG, NOW)
    assert result.folds == [] and result.state["anonymousIds"] == []


def test_anonymous_only_identify_does_not_identify():
    result = apply(None, identify({"plan": "pro"}, NOW, userId=None, anonymousId="a1"), "a1", CONFIG, NOW)
    assert result.folds == [] and not result.state["identified"]
    assert result.state["traits"] == {"plan": "pro"}


def test_alias_asks_for_a_fold():
    result = apply(None, msg("alias", NOW, previousId="a9", userId="u1"), "u1", CONFIG, NOW)
    assert result.folds == [("a9", "u1")]
    assert result.state["anonymousIds"] == ["a9"] and result.state["userId"] == "u1"
    assert not result.state["identified"]


def test_anonymous_ids_are_bounded():
    state, folds = run(msg("alias", NOW, previousId=f"a{i}", userId="u1") for i in range(ANONYMOUS_IDS_MAX + 5))
    assert len(folds) == ANONYMOUS_IDS_MAX + 5
    assert state["anonymousIds"] == [f"a{i}" for i in range(5, ANONYMOUS_IDS_MAX + 5)]


def _anonymous_history() -> dict:
    state, _ = run([
        msg("page", NOW - 10 * DAY_MS, userId=None, anonymousId="a1", message_id="anon-1"),
        msg("track", NOW - 9 * DAY_MS, userId=None, anonymousId="a1", event="Report Exported", properties={"format": "pdf"}),
        identify({"plan": "free", "utm": "ad"}, NOW - 8 * DAY_MS, userId=None, anonymousId="a1"),
    ], key="a1")
    state["surveys"]["nps-main"] = {"displays": 2, "displaysSinceResponse": 2, "lastShownAt": NOW - 8 * DAY_MS,
                                    "lastRespondedAt": None, "lastDismissedAt": NOW - 8 * DAY_MS, "responses": 0}
    state["lastSurveyShownAt"] = NOW - 8 * DAY_MS
    return state


def _user_history() -> dict:
    state, _ = run([
        identify({"plan": "pro", "name": "Ann"}, NOW - 2 * DAY_MS, message_id="user-1"),
        msg("track", NOW - DAY_MS, event="Report Exported", properties={"format": "csv"}),
    ])
    state["surveys"]["nps-main"] = {"displays": 1, "displaysSinceResponse": 0, "lastShownAt": NOW - DAY_MS,
                                    "lastRespondedAt": NOW - DAY_MS, "lastDismissedAt": None, "responses": 1}
    state["lastSurveyShownAt"] = NOW - DAY_MS
    return state


def test_fold_merges_the_anonymous_history():
    anonymous = _anonymous_history()
    anonymous_before = copy.deepcopy(anonymous)
    user = fold_into(_user_history(), anonymous, "a1", "u1", NOW)
    assert anonymous == anonymous_before  # never mutated
    assert (user["firstSeen"], user["lastSeen"]) == (NOW - 10 * DAY_MS, NOW - DAY_MS)
    assert user["triggers"] == {"csat-export": {"count": 2, "last": NOW - DAY_MS},
                                "ces-export": {"count": 2, "last": NOW - DAY_MS}}
    assert user["traits"] == {"plan": "pro", "name": "Ann", "utm": "ad"}  # newer "pro" beats "free"
    assert user["traitTimes"]["utm"] == NOW - 8 * DAY_MS
    assert user["surveys"]["nps-main"] == {"displays": 3, "displaysSinceResponse": 2, "lastShownAt": NOW - DAY_MS,
                                           "lastRespondedAt": NOW - DAY_MS, "lastDismissedAt": NOW - 8 * DAY_MS,
                                           "responses": 1}
    assert user["lastSurveyShownAt"] == NOW - DAY_MS
    assert seen.handled_within(user["seen"], "anon-1", NOW) and seen.handled_within(user["seen"], "user-1", NOW)
    assert user["anonymousIds"] == ["a1"]
    assert user["userId"] == "u1" and user["identified"]


def test_fold_newer_anonymous_trait_wins_and_sets_created_at():
    anonymous, _ = run([identify({"createdAt": "2024-02-01", "plan": "team"}, NOW,
                                 userId=None, anonymousId="a1")], key="a1")
    user = fold_into(_user_history(), anonymous, "a1", "u1", NOW)
    assert user["traits"]["plan"] == "team" and user["createdAt"] == parse_iso("2024-02-01")


def test_fold_into_missing_user_creates_it():
    user = fold_into(None, _anonymous_history(), "a1", "u1", NOW)
    assert user["userId"] == "u1" and user["firstSeen"] == NOW - 10 * DAY_MS
    assert user["triggers"]["csat-export"]["count"] == 1 and not user["identified"]


def test_fold_copies_nested_counters():
    anonymous = _anonymous_history()
    user = fold_into(None, anonymous, "a1", "u1", NOW)
    user["triggers"]["csat-export"]["count"] += 5
    assert anonymous["triggers"]["csat-export"]["count"] == 1


def test_fold_of_a_former_user_id_keeps_identified_and_its_ids():
    old, _ = run([identify({"plan": "pro"}, NOW - DAY_MS, userId="old", anonymousId="a0")], key="old")
    user = fold_into(new_user_state("new"), old, "old", "new", NOW)
    assert user["identified"] and user["anonymousIds"] == ["a0", "old"]


def test_fold_caps_seen_keeping_the_newest():
    keep = seen.WINDOW_CHARS // seen.ENTRY_CHARS
    anonymous, user = new_user_state(), new_user_state("u1")
    for i in range(keep):
        remember(anonymous, f"a{i}", NOW + 2000 * i)
        remember(user, f"u{i}", NOW + 2000 * i + 1000)
    merged = fold_into(user, anonymous, "a1", "u1", NOW + 2000 * keep)["seen"]
    assert seen.size(merged) == keep
    late = NOW + 2000 * keep
    assert seen.handled_within(merged, f"a{keep - 1}", late) and seen.handled_within(merged, f"u{keep - 1}", late)
    assert not seen.handled_within(merged, "a0", late) and not seen.handled_within(merged, "u0", late)


def test_redirect_then_fold_again_moves_only_new_history():
    anonymous = _anonymous_history()
    user = fold_into(_user_history(), anonymous, "a1", "u1", NOW)
    redirect = redirect_state("u1", anonymous)
    assert redirect["aliasOf"] == "u1" and redirect["firstSeen"] is None and redirect["triggers"] == {}

    # A retry of an already folded message is still recognised under the old key.
    assert apply(redirect, msg("page", NOW, userId=None, anonymousId="a1", message_id="anon-1"), "a1", CONFIG, NOW).duplicate
    # New history under the old key asks for another fold, which adds just that history.
    late = apply(redirect, msg("track", NOW, userId=None, anonymousId="a1", event="Report Exported"), "a1", CONFIG, NOW)
    assert late.folds == [("a1", "u1")]
    user = fold_into(user, late.state, "a1", "u1", NOW)
    assert user["triggers"]["ces-export"] == {"count": 3, "last": NOW}
    assert user["triggers"]["csat-export"]["count"] == 2
    assert user["anonymousIds"] == ["a1"]


def test_folding_an_empty_redirect_changes_no_history():
    user = _user_history()
    before = copy.deepcopy(user)
    fold_into(user, redirect_state("u1"), "a1", "u1", NOW)
    assert {k: v for k, v in user.items() if k != "anonymousIds"} == {k: v for k, v in before.items() if k != "anonymousIds"}


# --- group traits (docs/reference.md#inbound-segment-messages) ---------------------------

def test_group_traits_are_kept_per_group_latest_by_event_time():
    state, _ = run([
        msg("group", NOW - 3 * HOUR_MS, groupId="acme", traits={"plan": "enterprise", "seats": 40}),
        msg("group", NOW - 2 * HOUR_MS, groupId="beta", traits={"plan": "free"}),
        msg("group", NOW - 4 * HOUR_MS, groupId="acme", traits={"plan": "starter", "region": "eu"}),  # older
    ])
    assert state["traits"] == {}  # group traits describe the group, not the user
    assert state["groups"]["acme"]["traits"] == {"plan": "enterprise", "seats": 40, "region": "eu"}
    assert state["groups"]["acme"]["at"] == NOW - 3 * HOUR_MS
    assert latest_group(state) == ("beta", {"plan": "free"})  # the group the user was last seen in
    assert trait_snapshot(state)["group.plan"] == "free"


def test_groups_are_bounded_dropping_the_least_recent():
    state, _ = run([msg("group", NOW - (100 - i) * HOUR_MS, groupId=f"g{i}", traits={"n": i}) for i in range(15)])
    assert len(state["groups"]) == GROUPS_MAX
    assert "g0" not in state["groups"] and "g14" in state["groups"]


def test_folding_merges_the_anonymous_groups():
    anonymous, _ = run([msg("group", NOW - HOUR_MS, userId=None, anonymousId="a1", groupId="acme",
                            traits={"seats": 5})], key="a1")
    user, _ = run([msg("group", NOW - 2 * HOUR_MS, groupId="acme", traits={"seats": 3, "plan": "team"})])
    merged = fold_into(user, anonymous, "a1", "u1", NOW)
    assert merged["groups"]["acme"]["traits"] == {"seats": 5, "plan": "team"}
