"""Hypothesis strategies shared by property tests: surveys config documents as YAML parses
them (dicts, lists, scalars; nasty numbers included) and user states as targeting reads
them (streams.core.state's shape, every instant and count from a wide range).

The documents are YAML-ish on purpose: most are close to valid (so that the validator
accepts many and the decision rules run on them), each field now and then replaced by
a nasty value (inf, nan, 1e300, a 2**70 integer, a wrong type).
"""
from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import strategies as st

from streams.core.config import OPERATORS, SURVEY_TYPES
from streams.core.configcheck import MAX_DAYS
from streams.core.timeutil import FORMAT_MAX_MS, FORMAT_MIN_MS

# Numbers that broke, or could break, time arithmetic, formatting or JSON.
NON_FINITE = st.sampled_from([float("inf"), float("-inf"), float("nan"), 1e308])  # 1e308 days: inf ms
NASTY_NUMBERS = st.one_of(
    NON_FINITE, NON_FINITE,
    st.sampled_from([1e300, -1e300, 5e-324, -0.0, 2**63, 2**64, -(2**63) - 1, 2**70, 10**30, MAX_DAYS,
                     MAX_DAYS + 1, MAX_DAYS * 24, MAX_DAYS * 24 + 1, 1e16, 7 * 24 * 60 + 1, 10**6, 10**6 + 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**72), max_value=2**72),
)
# Anything a YAML document may hold where a number is expected, nasty or not.
ANY_SCALAR = st.one_of(NASTY_NUMBERS, st.none(), st.booleans(), st.text(max_size=8),
                       st.sampled_from(["30", "1e300", ".inf", "2026-01-01", "\ud800"]),
                       st.dates(), st.datetimes(timezones=st.just(timezone.utc)))
INSTANTS = st.integers(min_value=2 * FORMAT_MIN_MS, max_value=2 * FORMAT_MAX_MS)
ISO_EDGES = st.sampled_from(["0001-01-01", "0001-01-01T00:00:00Z", "9999-12-31", "9999-12-31T23:59:59.999Z",
                             "1970-01-01T00:00:00Z", "2026-06-01", "2026-06-01T12:00:00+14:00"])
TRAIT_NAMES = st.sampled_from(["plan", "seats", "createdAt", "group.plan", "country", "score"])


def sometimes(valid, nasty=ANY_SCALAR, weight: int = 15):
    """`valid` most of the time, a nasty value once in `weight` + 1 (so that a good share
    of whole documents is valid and their rules run)."""
    return st.sampled_from([True] * weight + [False]).flatmap(lambda good: valid if good else nasty)


# Mostly numbers a config would hold, sometimes nasty ones.
NUMBERS = sometimes(st.one_of(st.integers(-1000, 1000), st.floats(-1e6, 1e6)), NASTY_NUMBERS, 8)


def json_values(numbers=None):
    """A JSON-ish value (what traits, properties and filter operands hold), nested a little."""
    leaves = st.one_of(NUMBERS if numbers is None else numbers, st.none(), st.booleans(), st.text(max_size=12), ISO_EDGES,
                       st.sampled_from(["42", "-1.5", "02139", "pro", "team", "1e400", "soon"]))
    return st.recursive(leaves, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                        st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                        max_leaves=8)


def number(valid):
    """A numeric setting: `valid`, or a nasty number once in six."""
    return sometimes(valid, NASTY_NUMBERS, 5)


def _days():
    return number(st.one_of(st.integers(0, 400), st.floats(0, MAX_DAYS)))


@st.composite
def filters(draw, name_key: str):
    op = draw(sometimes(st.sampled_from(OPERATORS), st.just("like"), 20))
    item = {name_key: draw(TRAIT_NAMES), "op": op}
    if op in ("older_than_days", "newer_than_days"):
        item["value"] = draw(_days())
    elif op in ("in", "nin"):
        item["value"] = draw(sometimes(st.lists(json_values(), max_size=4), json_values()))
    elif op in ("contains", "starts_with"):
        item["value"] = draw(sometimes(st.one_of(st.text(max_size=6), NUMBERS), json_values()))
    elif op not in ("exists", "not_exists") or draw(st.booleans()):
        item["value"] = draw(json_values())
    return item


@st.composite
def targeting(draw) -> dict:
    result = {}
    optional = {
        "min_days_since_signup": _days(),
        "sample_percent": number(st.floats(0, 100)),
        "recontact_after_response_days": _days(),
        "recontact_after_dismissal_days": _days(),
        "redisplay_after_hours": number(st.floats(0, MAX_DAYS * 24)),
        "max_displays": number(st.integers(1, 10)),
        "traits": st.lists(filters("trait"), max_size=3),
        "trigger": st.fixed_dictionaries({"event": st.sampled_from(["Report Exported", "Upgraded"])}, optional={
            "where": st.lists(filters("property"), max_size=2),
            "min_count": number(st.integers(1, 5)),
            "within_days": number(st.one_of(st.none(), st.floats(0, MAX_DAYS)))}),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            result[key] = draw(strategy)
    return result


@st.composite
def questions(draw) -> list | None:
    if draw(st.booleans()):
        return None  # the type's defaults
    low = draw(number(st.integers(-5, 5)))
    high = draw(number(st.integers(6, 12)))
    return [{"id": "score", "kind": "scale", "text": "How likely?", "min": low, "max": high},
            {"id": "comment", "kind": "text", "text": "Why?"}]


@st.composite
def survey(draw, index: int) -> dict:
    kind = draw(st.sampled_from(SURVEY_TYPES))
    result = {"id": f"s{index}-{kind}", "type": kind, "name": draw(sometimes(st.just("A survey"), ANY_SCALAR, 30))}
    asked = draw(questions())
    if asked is not None and kind != "pmf":
        result["questions"] = asked
    if draw(st.booleans()):
        result["priority"] = draw(number(st.integers(-20, 20)))
    if draw(st.booleans()):
        result["active"] = draw(sometimes(st.booleans(), ANY_SCALAR, 30))
    for key in ("starts_at", "ends_at"):
        if draw(st.integers(0, 3)) == 0:
            result[key] = draw(st.one_of(ISO_EDGES, st.dates(), st.datetimes(min_value=datetime(1, 1, 2)))) \
                if draw(sometimes(st.just(True), st.just(False), 20)) else draw(ANY_SCALAR)
    result["targeting"] = draw(targeting())
    if draw(st.integers(0, 3)) == 0:
        result["segment"] = {"properties": draw(st.dictionaries(st.text(min_size=1, max_size=6), json_values(), max_size=3))}
    return result


@st.composite
def config_documents(draw) -> dict:
    """A surveys config document as yaml.safe_load returns it."""
    project = {}
    for key, strategy in {
        "recontact_days": _days(),
        "display_timeout_minutes": number(st.floats(0.01, 7 * 24 * 60)),
        "display_token_minutes": number(st.floats(1, 7 * 24 * 60)),
        "partitions": number(st.integers(1, 16)),
    }.items():
        if draw(st.booleans()):
            project[key] = draw(strategy)
    count = draw(sometimes(st.integers(1, 3), st.just(0), 7))
    return {"project": project, "surveys": [draw(survey(i)) for i in range(count)]}


@st.composite
def user_states(draw, survey_ids: list[str]) -> dict:
    """A user's state as targeting reads it, for the given surveys (and one since removed)."""
    known = survey_ids + ["removed-survey"]
    maybe_instant = sometimes(INSTANTS, st.none(), 3)
    # History for most surveys, its instants mostly set: a wait rule computes only with one.
    history = st.fixed_dictionaries({
        "lastShownAt": maybe_instant, "lastRespondedAt": maybe_instant, "lastDismissedAt": maybe_instant}, optional={
        "displays": st.integers(0, 2**40), "displaysSinceResponse": st.integers(0, 2**40)})
    state = {
        "userId": draw(st.one_of(st.none(), st.text(max_size=10))),
        "identified": draw(st.booleans()),
        "traits": draw(st.dictionaries(TRAIT_NAMES, json_values(), max_size=4)),
        "createdAt": draw(maybe_instant),
        "firstSeen": draw(maybe_instant),
        "triggers": draw(st.dictionaries(st.sampled_from(known), st.fixed_dictionaries(
            {"count": st.integers(0, 2**40), "last": maybe_instant}), max_size=3)),
        "surveys": {survey_id: draw(history) for survey_id in known if draw(sometimes(st.just(True), st.just(False), 3))},
    }
    if draw(st.booleans()):
        state["groups"] = draw(st.dictionaries(st.text(min_size=1, max_size=4), st.fixed_dictionaries(
            {"at": maybe_instant, "traits": st.dictionaries(st.sampled_from(["plan", "seats"]), json_values(), max_size=2)}),
            max_size=2))
    return state


# The instant a decision is made for: a clock, or the time an input carries.
NOW = st.integers(min_value=0, max_value=FORMAT_MAX_MS)
