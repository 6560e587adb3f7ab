"""Synthetic Segment traffic and user states, deterministic for a seed.

The mix of the pipeline benchmark: 20% identify (10-30 traits), 80% track, 10% of the
users anonymous first (tracks under an anonymousId, then an identify carrying both ids),
about 1 KB per message, 1% exact redeliveries (same messageId: Segment retries), keyed
by userId else anonymousId and put on the topic of their type (docs/reference.md#3-topics).
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

import orjson

from streams.core import seen
from streams.core.timeutil import iso

PLANS = ("free", "pro", "team", "enterprise")
EVENTS = (  # (name, weight): "Report Exported" is csat-export's trigger
    ("Page Viewed", 30), ("Button Clicked", 20), ("Dashboard Opened", 15), ("Search Performed", 10),
    ("Report Exported", 10), ("Item Added", 8), ("Settings Changed", 7),
)
_EVENT_NAMES = [name for name, _ in EVENTS]
_EVENT_WEIGHTS = [weight for _, weight in EVENTS]
USER_AGENT = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
              "Chrome/124.0.0.0 Safari/537.36")
DAY_MS = 86_400_000


class Synth:
    def __init__(self, seed: int, tag: str, now_ms: int | None = None):
        self.rng = random.Random(seed)
        self.tag = tag
        self.now = now_ms or int(time.time() * 1000)
        self._message = 0

    def user_id(self, i: int) -> str:
        return f"{self.tag}-u{i}"

    def anonymous_id(self, i: int) -> str:
        return f"{self.tag}-a{i}"

    def message_id(self) -> str:
        self._message += 1
        return f"{self.tag}-m{self._message}-{self.rng.getrandbits(64):016x}"

    def _context(self, with_page: bool) -> dict:
        rng = self.rng
        context = {
            "library": {"name": "analytics.js", "version": "next-1.70.0"},
            "ip": f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}",
            "locale": rng.choice(("en-US", "de-DE", "fr-FR", "ja-JP")),
            "timezone": rng.choice(("Europe/Berlin", "America/New_York", "Asia/Tokyo")),
            "userAgent": USER_AGENT,
            "os": {"name": "Mac OS", "version": "10.15.7"},
            "screen": {"width": 1920, "height": 1080, "density": 2},
        }
        if with_page:
            path = f"/app/{rng.choice(('reports', 'dashboards', 'settings', 'billing'))}/{rng.randrange(10_000)}"
            context["page"] = {"path": path, "referrer": "https://app.example.com/app/home", "search": "",
                               "title": "Example App", "url": f"https://app.example.com{path}"}
        return context

    def traits(self, i: int, count: int) -> dict:
        rng = self.rng
        traits = {
            "email": f"user{i}@example-{i % 997}.com",
            "name": f"User {i}",
            "plan": rng.choice(PLANS),
            "createdAt": iso(self.now - rng.randrange(400) * DAY_MS - rng.randrange(DAY_MS)),
            "company": {"id": f"c{i % 5000}", "name": f"Company {i % 5000}", "employees": rng.randrange(1, 5000)},
            "role": rng.choice(("admin", "member", "viewer")),
            "logins": rng.randrange(1, 500),
        }
        for k in range(count - len(traits)):
            traits[f"attr_{k}"] = rng.choice((rng.randrange(1_000_000), f"value-{rng.getrandbits(32):08x}",
                                              rng.random() < 0.5))
        return traits

    def identify(self, i: int, at: int, user_id: str | None, anonymous_id: str | None,
                 traits: int | None = None) -> dict:
        message = self._envelope("identify", at, user_id, anonymous_id, with_page=False)
        message["traits"] = self.traits(i, traits or self.rng.randint(10, 30))
        return message

    def track(self, at: int, user_id: str | None, anonymous_id: str | None) -> dict:
        rng = self.rng
        event = rng.choices(_EVENT_NAMES, _EVENT_WEIGHTS)[0]
        properties = {"category": rng.choice(("navigation", "engagement", "reports")),
                      "label": f"label-{rng.randrange(1000)}", "value": rng.randrange(100),
                      "source": rng.choice(("web", "desktop")), "experiment": f"exp-{rng.randrange(20)}"}
        if event == "Report Exported":
            properties["format"] = rng.choice(("pdf", "csv", "xlsx"))
            properties["rows"] = rng.randrange(1, 100_000)
        message = self._envelope("track", at, user_id, anonymous_id, with_page=True)
        message["event"] = event
        message["properties"] = properties
        return message

    def _envelope(self, kind: str, at: int, user_id: str | None, anonymous_id: str | None,
                  with_page: bool) -> dict:
        """The fields every synthetic Segment message shares (library-like times and context)."""
        message = {
            "type": kind,
            "messageId": self.message_id(),
            "timestamp": iso(at),
            "originalTimestamp": iso(at),
            "sentAt": iso(at + 20),
            "receivedAt": iso(at + 35),
            "integrations": {"All": True},
            "version": 2,
            "context": self._context(with_page=with_page),
        }
        if user_id is not None:
            message["userId"] = user_id
        if anonymous_id is not None:
            message["anonymousId"] = anonymous_id
        return message


@dataclass
class Traffic:
    records: list  # (logical topic, key bytes, value bytes), in produce order
    users: int
    anonymous_first: int
    identifies: int
    tracks: int
    duplicates: int
    bytes: int
    user_ids: list = field(default_factory=list)

    @property
    def unique(self) -> int:
        return len(self.records) - self.duplicates


def pipeline_traffic(n: int, seed: int, tag: str, per_user: int = 10) -> Traffic:
    """n messages over n // per_user users in time order (the last 1% are redeliveries)."""
    synth = Synth(seed, tag)
    rng = synth.rng
    users = max(1, n // per_user)
    duplicates = n // 100
    fresh = n - duplicates
    anonymous_first = set(rng.sample(range(users), max(1, users // 10)))
    identified: set = set()
    start = synth.now - 3_600_000
    records, sent_plain = [], []
    identifies = tracks = total_bytes = 0
    for k in range(fresh):
        i = rng.randrange(users)
        at = start + k * 3_600_000 // max(1, fresh)
        user_id, anonymous_id = synth.user_id(i), None
        is_identify = rng.random() < 0.2
        if i in anonymous_first:
            anonymous_id = synth.anonymous_id(i)
            if i not in identified and not is_identify:
                user_id = None  # still anonymous: tracks under the anonymousId only
        if is_identify:
            message = synth.identify(i, at, user_id, anonymous_id)
            identified.add(i)
            identifies += 1
        else:
            message = synth.track(at, user_id, anonymous_id)
            tracks += 1
        value = orjson.dumps(message)
        key = (user_id or anonymous_id).encode()
        record = ("segment.identify" if is_identify else "segment.track", key, value)
        records.append(record)
        if i not in anonymous_first:
            sent_plain.append(record)
        total_bytes += len(value)
    for _ in range(duplicates):  # redeliveries of identified users' messages (safe to dedupe anywhere)
        record = rng.choice(sent_plain)
        records.append(record)
        total_bytes += len(record[2])
        if record[0] == "segment.identify":
            identifies += 1
        else:
            tracks += 1
    return Traffic(records, users, len(anonymous_first), identifies, tracks, duplicates, total_bytes,
                   [synth.user_id(i) for i in range(users)])


def identify_stream(seed: int, tag: str):
    """Identify messages for new users, one per user: (userId, message dict) forever."""
    synth = Synth(seed, tag)
    i = 0
    while True:
        user_id = synth.user_id(i)
        yield user_id, synth.identify(i, synth.now, user_id, None)
        i += 1


def state_templates(count: int, seed: int, config, messages_per_user: int = 10) -> list[dict]:
    """Realistic user states, made by the real pure logic (userstate + targeting) from traffic."""
    from streams.core import targeting, userstate

    synth = Synth(seed, "tmpl")
    rng = synth.rng
    templates = []
    now = synth.now
    for i in range(count):
        user_id = synth.user_id(i)
        anonymous = rng.random() < 0.1
        state = None
        first = rng.randrange(messages_per_user)
        for k in range(messages_per_user):
            at = now - 3_600_000 + k * 60_000
            if k == first:
                message = synth.identify(i, at, user_id, synth.anonymous_id(i) if anonymous else None)
            else:
                message = synth.track(at, user_id, None)
            state = userstate.apply(state, message, user_id, config, now).state
        decision = targeting.decide(state, config, now, user_id)
        state["decision"] = {"eligible": decision.eligible, "surveyId": decision.survey.id if decision.survey else None,
                             "reason": decision.reason, "eligibleAt": decision.eligible_at}
        templates.append(state)
    return templates


def states_from_templates(templates: list[dict], n: int, seed: int, tag: str):
    """n (user id, state JSON) pairs: template states under fresh ids, message ids and traits."""
    rng = random.Random(seed)
    for i in range(n):
        template = templates[i % len(templates)]
        user_id = f"{tag}-u{i}"
        state = dict(template)
        state["userId"] = user_id
        traits = dict(template["traits"])
        traits["email"] = f"user{i}@example-{i % 997}.com"
        traits["name"] = f"User {i}"
        state["traits"] = traits
        window, base = {}, (template.get("seen") or {}).get("base") or 0
        for k in range(seen.size(template.get("seen"))):  # as many ids as the template's, fresh ones
            window, _ = seen.remember(window, f"{tag}-m{i}-{k}-{rng.getrandbits(64):016x}", base)
        state["seen"] = window
        if template["anonymousIds"]:
            state["anonymousIds"] = [f"{tag}-a{i}"]
        yield user_id, orjson.dumps(state)
