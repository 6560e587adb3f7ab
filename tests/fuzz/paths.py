"""Request targets: a {userId} path segment (pooled, fuzzed, raw percent-encodings), the
userHash query of widget calls, and segments for random paths."""
from __future__ import annotations

from urllib.parse import quote

from hypothesis import strategies as st

from tests.fuzz.config import SECURE_SECRET
from tests.fuzz.credentials import user_hash
from tests.fuzz.values import POOL, SIZED_IDS, weighted


def path_segment(user: str) -> bytes:
    """A user id as one percent-encoded path segment."""
    return quote(user, safe="").encode()


def user_segment(draw) -> tuple[bytes, str, bool, str | None]:
    """(path segment, label, routable, decoded user id or None) for a {userId} in a path."""
    choice = draw(weighted((8, "pool"), (4, "fuzzed"), (2, "sized"), (1, "raw")))
    if choice in ("pool", "fuzzed", "sized"):
        strategy = {"pool": st.sampled_from(POOL), "fuzzed": st.text(min_size=1, max_size=40),
                    "sized": st.sampled_from(SIZED_IDS[:12])}[choice]
        user = draw(strategy)
        segment = path_segment(user)
        # aiohttp's `{name}` matches [^{}/]+ on the decoded path: braces never reach the view
        routable = segment not in (b".", b"..") and len(segment) < 7000 and not set("{}") & set(user)
        return segment, f"user-{choice}", routable, user
    raw_label, segment, routable, user = draw(st.sampled_from([
        ("pct-ff", b"%FF", True, None), ("pct-invalid-utf8", b"%C3%28", True, None), ("pct-nul", b"%00", True, "\x00"),
        ("pct-slash", b"a%2Fb", True, "a/b"), ("pct-surrogate", b"%ED%A0%80", True, None),
        ("pct-beyond-unicode", b"%F4%90%80%80", True, None), ("pct-double", b"%252F", True, "%2F"),
        ("pct-dot", b"%2e%2e", False, None), ("dotdot", b"..", False, None), ("dot", b".", False, None),
        ("semicolon", b"u;p=1", True, "u;p=1"), ("tilde", b"~u", True, "~u"), ("plus", b"a+b", True, "a+b"),
        ("pct-lowercase", b"%c3%a9", True, "é"), ("pct-incomplete", b"%E", True, "%E"),
        ("pct-bad-hex", b"%zz", True, "%zz"), ("long-8000", b"u" * 8000, False, None),
        ("raw-utf8", "é😀".encode(), False, None), ("raw-latin1", b"\xe9", False, None),
        ("raw-space", b"a b", False, None), ("empty", b"", False, None), ("slashes", b"a/b/c", False, None),
        ("double-slash", b"/u", False, None), ("backslash", b"a\\b", True, "a\\b"),
    ]))
    return segment, f"raw-{raw_label}", routable, user


def hash_query(draw, secret: str | None, user: str | None) -> tuple[bytes, str, bool]:
    """(query, label, whether aiohttp lets it through) for the userHash of `user`: valid, or broken."""
    good = user_hash(secret or SECURE_SECRET, user) if user is not None else "0" * 64
    label, query = draw(weighted(
        (10, ("valid", b"?userHash=" + good.encode())), (4, ("none", b"")),
        (1, ("valid-upper", b"?userHash=" + good.upper().encode())),
        (1, ("valid-spaces", b"?userHash=%20" + good.encode() + b"%20")),
        (1, ("valid-twice", b"?userHash=" + good.encode() + b"&userHash=x")),
        (1, ("wrong", b"?userHash=" + b"0" * 64)), (1, ("empty", b"?userHash=")), (1, ("bare", b"?userHash")),
        (1, ("pct-ff", b"?userHash=%FF%FE")), (1, ("pct-nul", b"?userHash=%00")),
        (1, ("unicode", b"?userHash=%C3%A9%F0%9F%98%80")), (1, ("long", b"?userHash=" + b"a" * 5000)),
        (1, ("other-params", b"?foo=bar&&&=&userHash=zz&%FF=%FF")), (1, ("just-question-mark", b"?")),
        (1, ("raw-bytes", b"?userHash=\xff")), (1, ("plus", b"?userHash=" + good[:10].encode() + b"+x")),
    ))
    return query, f"hash={label}", label != "raw-bytes"


RANDOM_SEGMENTS = ["v1", "v2", "users", "eligibility", "widget", "events", "explain", "batch", "identify", "..",
                   ".", "", "%2F", "%FF", "%00", "%2e%2e", "a" * 300, "%F0%9F%98%80", "widget.js", "health",
                   "metrics", "static", "admin", "..%2F..%2Fetc%2Fpasswd", "%u0041", "*", "~", "?a=%FF", "#frag"]
