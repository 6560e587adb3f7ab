"""The odd values the fuzzer draws from, and the leaf strategies built on them: ids,
timestamps, createdAt values, traits and arbitrary JSON."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import strategies as st

from tests.fuzz.config import NOW
from tests.fuzz.jsontext import Deep, Raw


def weighted(*pairs):
    """st.sampled_from over (weight, value) pairs, as a list with repeats (deterministic)."""
    return st.sampled_from([value for weight, value in pairs for _ in range(weight)])


# Users that many requests share, so that reads meet the state the writes left.
POOL = ["fuzz-pool-0", "fuzz-pool-1", "fuzz-pool-2", "fuzz-pool-3", "42", "Zoë-pool", "é" * 128,
        "😀" * 64, "😀" * 65, "池" * 86, "x" * 300, "a/b?c#d", "sp ace", "nul\x00byte", "rtl\u202eid", "%2F"]
ODD_STRINGS = ["", " ", "\x00", "\ufeff", "\u202e", "\\", "\"", "null", "undefined", "NaN", "0", "-1",
               "💥" * 3, "A\u0301", "\U0010ffff", "\r\n", "<script>alert(1)</script>", "%s%n", "../../etc/passwd",
               "ä" * 300]
SIZED_IDS = ["a" * 255, "a" * 256, "a" * 257, "é" * 127 + "a", "é" * 128, "é" * 129, "池" * 85, "池" * 86,
             "😀" * 63, "😀" * 64, "😀" * 65, "😀" * 1000, "x" * 5000, "y" * 40000]
RAW_NUMBERS = [Raw("1e400"), Raw("-1e400"), Raw("1e-400"), Raw("-0"), Raw("-0.0"),
               Raw("123456789012345678901234567890"),
               Raw("-99999999999999999999999"), Raw("18446744073709551616"), Raw("9223372036854775808"),
               Raw("1.7976931348623157e308"), Raw("5e-324"), Raw("NaN"), Raw("Infinity"), Raw("-Infinity")]
RAW_STRINGS = [Raw('"\\ud800"'), Raw('"\\udc80x"'), Raw('"a\\u0000b"'), Raw('"\\ud83d\\ude00"'),
               Raw('"\\uDFFF\\uD800"')]
TIMESTAMPS = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z", "0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00-14:00",
    "0001-01-01", "0001-01-02T00:00:00Z", "9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59-14:00",
    "9999-12-31T23:59:59+14:00", "9999-12-31", "0000-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
    "1969-12-31T23:59:59.999Z", "1900-01-01T00:00:00Z", "1999-12-31T23:59:59Z", "2000-01-01T00:00:00Z",
    "2038-01-19T03:14:08Z", "2024-02-29T12:00:00Z", "2026-02-29T00:00:00Z", "2020-13-01T00:00:00Z",
    "2020-01-01T24:00:00Z", "2020-01-01T00:00:00.123456789Z", "2020-01-01T00:00:00+99:99", "2020-01-01 00:00:00",
    "20200101T000000Z", "2020-W01-1", "２０２０-01-01T00:00:00Z", "2020-01-01T00:00:00Z" + " " * 30, "now",
    "", "garbage-timestamp", "2020-01-01T00:00:00Zjunk", "2100-01-01T00:00:00Z",
]
CREATED_AT_NUMBERS = [0, -1, 1, 10**11, 10**11 - 1, 10**15, 10**17, 10**20, -10**20, 253402300800, 253402300800000,
                      -62135596801, -62135596800000, 1.5e300, -1.5e300, "99999999999999999999", "-99999999999",
                      "1700000000", "1700000000000", "0", "1e5", " 42 "]
EVENTS = ["Report Exported", "Signed Up", "", " ", "x" * 3000, "Report Exported\x00", "😀"]
KINDS = ["identify", "track", "page", "group", "alias", "screen"]
TYPE_VALUES = KINDS + ["batch", "import", "", "IDENTIFY", "Identify ", "widget", "unknown"]
SURVEYS = ["nps-main", "csat-export"]
QUESTIONS = {"nps-main": ["score", "reason"], "csat-export": ["score", "comment"]}
WIDGET_TYPES = ["shown", "answered", "closed", "submitted"]


def recent(draw) -> str:
    moment = NOW - timedelta(seconds=draw(st.integers(0, 20 * 86400)))
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(-2**70, 2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
    st.sampled_from(ODD_STRINGS), st.sampled_from(RAW_NUMBERS + RAW_STRINGS))
json_any = st.recursive(json_leaf, lambda children: st.lists(children, max_size=4)
                        | st.dictionaries(st.text(max_size=8), children, max_size=4), max_leaves=14)
any_id = st.one_of(
    st.sampled_from(POOL), st.text(min_size=1, max_size=16), st.text(max_size=64),
    st.text(st.characters(min_codepoint=0x80), min_size=1, max_size=90), st.sampled_from(SIZED_IDS),
    st.integers(), st.sampled_from([2**63, 2**64, -2**63 - 1, 10**30]), st.floats(), st.booleans(), st.none(),
    st.sampled_from(ODD_STRINGS), st.sampled_from(RAW_NUMBERS + RAW_STRINGS),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))
user_id = st.one_of(st.sampled_from(POOL), st.sampled_from(POOL), any_id)
EXTREME_TIMESTAMPS = [t for t in TIMESTAMPS if t.startswith(("0001", "9999", "0000"))]
timestamp = st.one_of(
    st.sampled_from(TIMESTAMPS), st.sampled_from(TIMESTAMPS), st.sampled_from(EXTREME_TIMESTAMPS),
    st.sampled_from(EXTREME_TIMESTAMPS),
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59),
                 timezones=st.sampled_from([timezone.utc, timezone(timedelta(hours=14)),
                                            timezone(timedelta(hours=-14))])).map(lambda d: d.isoformat()),
    st.integers(-2**40, 2**60), st.floats(), st.none(), st.booleans(), st.just([]), st.just({}), st.text(max_size=45))
created_at = st.one_of(timestamp, st.sampled_from(CREATED_AT_NUMBERS), st.sampled_from(RAW_NUMBERS))
trait_key = st.one_of(st.sampled_from(["plan", "createdAt", "email", "company", "", "__proto__", "a.b", "\x00",
                                       "😀", "k" * 300, "group.plan", "constructor"]), st.text(max_size=12))
DEPTHS = [3, 64, 200, 253, 254, 255, 256, 300, 500, 1000, 1023, 1024, 1025, 3000, 100_000]
many_keys = st.sampled_from([50, 500, 2500, 3500, 20_000]).map(lambda n: {f"k{i}": i for i in range(n)})
traits = st.one_of(
    st.dictionaries(trait_key, json_any, max_size=6),
    st.fixed_dictionaries({"plan": st.sampled_from(["pro", "team", "free", 1, None]), "createdAt": created_at}),
    st.fixed_dictionaries({"createdAt": created_at}),
    st.tuples(st.sampled_from(DEPTHS), st.booleans()).map(lambda d: {"plan": "pro", "nest": Deep(*d)}),
    many_keys,
    st.sampled_from([[], "traits", 1, True, [1, 2], Raw("1e400")]),
)
