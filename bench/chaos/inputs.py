"""The fault suite's input: a seeded, deterministic Segment stream plus widget sessions.

Every user follows one script, drawn from the seed:

- phase A (before any widget session): an identify with traits (plan, createdAt, ...),
  tracks and pages; anonymous visitors first track and page under an anonymousId, then
  identify with userId + anonymousId, or identify with userId and send an alias; users
  of the trigger survey send its trigger event (`Report Exported`, format=pdf);
- a widget session for the users that fit a survey: `nps` users (plan and account age fit
  the survey without a trigger) and `trigger` users (too new for it, but sent the trigger);
- phase B (after the session ends, or at its time for users without a session): more
  tracks (some the trigger again: its count must survive), pages, a re-identify with the
  same traits, and redeliveries (the same message, same messageId, sent again). Users
  without a session also change their plan and send an older, out-of-order identify.

A user's session waits until the worker's state shows phase A fully applied (the gate),
so the survey picked and the traits copied into the outputs do not depend on timing;
phase B of a session user is held back until the session ended for the same reason.
Event times and widget timestamps are fixed by the plan (never in the future, never more
than a few minutes old), and messageIds are explicit: a replay of the same plan yields
the same outputs.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from bench.gen import Synth
from streams.core import topics as names
from streams.core.config import Config, Survey, load_config
from streams.core.timeutil import DAY_MS, iso, parse_iso

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "surveys.yaml"
EVENT_LAG_MS = 120_000  # a message's event time is this long before its planned send
WIDGET_LAG_MS = 60_000  # widget timestamps: this long before the session's planned start
PLAIN_EVENTS = ("Dashboard Opened", "Button Clicked", "Search Performed", "Item Added", "Settings Changed")


@dataclass
class Send:
    """One Segment message to produce."""

    at: float  # seconds after the pass started
    topic: str  # logical topic
    key: str
    value: bytes
    user: str  # the userId the message ends up with
    kind: str  # identify / track / trigger / page / alias / redelivery
    held: bool = False  # phase B of a session user: only after the session ended


@dataclass
class SessionPlan:
    user: str
    number: int  # the user's session number (1-based)
    at: float  # earliest start, seconds after the pass started
    survey: str  # the survey the plan expects the bridge to offer
    ending: str  # submit_all | submit_first | close_after_answer | dismiss
    ts0: int  # epoch ms of the first widget event's timestamp
    gate: dict  # the public user state fields phase A must have produced


@dataclass
class Inputs:
    seed: int
    tag: str
    base_ms: int
    seconds: float
    sends: list
    sessions: list
    users: list  # userIds
    anonymous: list  # anonymousIds
    kinds: dict = field(default_factory=dict)  # userId -> script kind
    trigger_survey: str | None = None

    def expected_triggers(self) -> dict:
        """userId -> how many distinct trigger-matching tracks the input holds for the user:
        what its final `triggers` count must be (an oracle independent of the workers)."""
        ids: dict = {}
        for send in self.sends:
            if send.kind == "trigger":
                ids.setdefault(send.user, set()).add(orjson.loads(send.value)["messageId"])
        return {user: len(ids.get(user, ())) for user in self.users}

    def counts(self) -> dict:
        by_kind: dict = {}
        for send in self.sends:
            by_kind[send.kind] = by_kind.get(send.kind, 0) + 1
        return {"messages": len(self.sends), "sessions": len(self.sessions), "users": len(self.users),
                "anonymous": len(self.anonymous), **dict(sorted(by_kind.items()))}


@dataclass(frozen=True)
class Targets:
    """What the config asks of a user, read from it so the scripts fit it."""

    account_survey: Survey  # no trigger: plan and account age
    plans_ok: tuple
    plans_no: tuple
    min_days: float
    trigger_survey: Survey | None
    trigger_event: str | None
    trigger_props: dict
    miss_props: dict  # the trigger event with properties that do not match


def targets(config: Config) -> Targets:
    plain = [s for s in config.surveys if s.active and s.targeting.trigger is None]
    triggered = [s for s in config.surveys if s.active and s.targeting.trigger is not None]
    if not plain:
        raise SystemExit("chaos: the config needs an active survey without a trigger (plan and account age)")
    account = max(plain, key=lambda s: s.priority)
    plans_ok = ("pro", "team")
    for rule in account.targeting.traits:
        if rule.name == "plan" and rule.op in ("in", "eq"):
            plans_ok = tuple(rule.value) if rule.op == "in" else (rule.value,)
    plans_no = tuple(p for p in ("free", "starter", "enterprise") if p not in plans_ok)
    trigger = max(triggered, key=lambda s: s.priority) if triggered else None
    props, miss = {}, {}
    if trigger is not None:
        for rule in trigger.targeting.trigger.where:
            if rule.op == "eq":
                props[rule.name], miss[rule.name] = rule.value, f"not-{rule.value}"
            elif rule.op == "in":
                props[rule.name], miss[rule.name] = list(rule.value)[0], "xlsx-nomatch"
            elif rule.op == "exists":
                props[rule.name] = "yes"
    return Targets(account, plans_ok, plans_no, account.targeting.min_days_since_signup, trigger,
                   trigger.targeting.trigger.event if trigger else None, props, miss)


class _Script:
    """Builds one user's messages; times are seconds after the pass started."""

    def __init__(self, synth: Synth, rng: random.Random, base_ms: int, out: list, user: str):
        self.synth, self.rng, self.base_ms, self.out, self.user = synth, rng, base_ms, out, user
        self.phase_a: list = []  # (event ms, message) applied to the user before the session
        self.sent: list = []  # Sends, for redeliveries

    def ms(self, at: float) -> int:
        return self.base_ms + int(at * 1000) - EVENT_LAG_MS

    def emit(self, at, message, kind, held=False, phase_a=False) -> None:
        topic = names.TOPIC_FOR_TYPE[message["type"]]
        key = message.get("userId") or message["anonymousId"]
        send = Send(at, topic, key, orjson.dumps(message), self.user, kind, held)
        self.out.append(send)
        self.sent.append(send)
        if phase_a:
            self.phase_a.append(message)

    def identify(self, at, index, plan, created_ms, anonymous=None, user=True, **kw):
        message = self.synth.identify(index, self.ms(at), self.user if user else None, anonymous,
                                      traits=self.rng.randint(8, 14))
        message["traits"]["plan"] = plan
        message["traits"]["createdAt"] = iso(created_ms)
        self.emit(at, message, "identify", **kw)
        return message

    def track(self, at, event, props=None, anonymous=None, user=True, kind="track", **kw):
        message = self.synth.track(self.ms(at), self.user if user else None, anonymous)
        message["event"] = event
        if props:
            message["properties"].update(props)
        self.emit(at, message, kind, **kw)

    def page(self, at, anonymous=None, user=True, **kw):
        message = self.synth._envelope("page", self.ms(at), self.user if user else None, anonymous, with_page=True)
        message["name"] = self.rng.choice(("Home", "Reports", "Billing", "Settings"))
        message["properties"] = {"path": message["context"]["page"]["path"]}
        self.emit(at, message, "page", **kw)

    def alias(self, at, previous, **kw):
        message = self.synth._envelope("alias", self.ms(at), self.user, None, with_page=False)
        message["previousId"] = previous
        self.emit(at, message, "alias", **kw)


def generate(seed: int, users: int, seconds: float, base_ms: int, config_path: Path = DEFAULT_CONFIG) -> Inputs:
    """The plan for `users` users over `seconds` seconds, the same for the same arguments."""
    config = load_config(config_path)
    t = targets(config)
    tag = f"chaos{seed}"
    synth = Synth(seed, tag, now_ms=base_ms)
    rng = random.Random(seed * 7919 + 1)
    sends: list = []
    sessions: list = []
    anonymous_ids: list = []
    kinds: dict = {}
    kind_weights = [("nps", 35), ("trigger", 25 if t.trigger_survey else 0), ("none", 25), ("anon", 15)]
    start_span = max(5.0, seconds * 0.55)
    for i in range(users):
        user = synth.user_id(i)
        kind = rng.choices([k for k, _ in kind_weights], [w for _, w in kind_weights])[0]
        kinds[user] = kind
        script = _Script(synth, rng, base_ms, sends, user)
        start = rng.uniform(0, start_span)
        times = sorted(start + rng.uniform(0, 8) for _ in range(rng.randint(3, 6)))
        old_ms = base_ms - int((rng.randint(int(t.min_days) + 10, 400) + 0.5) * DAY_MS)
        new_ms = base_ms - int((rng.randint(1, max(2, int(t.min_days) - 10)) + 0.5) * DAY_MS)
        anonymous = None
        if kind == "anon":
            anonymous = synth.anonymous_id(i)
            anonymous_ids.append(anonymous)
            for at in times[:-1]:  # browsing before signing up, under the anonymousId only
                if rng.random() < 0.5:
                    script.page(at, anonymous=anonymous, user=False, phase_a=True)
                else:
                    script.track(at, rng.choice(PLAIN_EVENTS), anonymous=anonymous, user=False, phase_a=True)
            if rng.random() < 0.5:
                script.identify(times[-1], i, rng.choice(t.plans_ok), old_ms, anonymous=anonymous, phase_a=True)
            else:
                script.identify(times[-1], i, rng.choice(t.plans_ok), old_ms, phase_a=True)
                script.alias(times[-1] + 0.5, anonymous, phase_a=True)
        else:
            plan = rng.choice(t.plans_ok if kind == "nps" else (t.plans_no if kind == "none" else t.plans_ok + t.plans_no))
            script.identify(times[0], i, plan, new_ms if kind == "trigger" else old_ms, phase_a=True)
            for at in times[1:]:
                if rng.random() < 0.3:
                    script.page(at, phase_a=True)
                elif t.trigger_event and rng.random() < 0.3:  # the trigger event, not matching
                    script.track(at, t.trigger_event, t.miss_props, phase_a=True)
                else:
                    script.track(at, rng.choice(PLAIN_EVENTS), phase_a=True)
            if kind == "trigger":
                for _ in range(rng.randint(1, 2)):
                    script.track(times[-1] + rng.uniform(0.1, 1.0), t.trigger_event, t.trigger_props,
                                 kind="trigger", phase_a=True)
        a_end = max(s.at for s in script.sent)
        session = None
        if kind in ("nps", "anon", "trigger"):
            survey = t.trigger_survey.id if kind == "trigger" else t.account_survey.id
            session = SessionPlan(user, 1, a_end + 3.0, survey,
                                  rng.choices(("submit_all", "submit_first", "close_after_answer", "dismiss"),
                                              (55, 15, 15, 15))[0],
                                  base_ms + int((a_end + 3.0) * 1000) - WIDGET_LAG_MS,
                                  _gate(script.phase_a, t, kind, anonymous))
            sessions.append(session)
        _phase_b(script, rng, t, i, kind, a_end, seconds, session is not None, old_ms, new_ms)
    sends.sort(key=lambda s: s.at)
    sessions.sort(key=lambda s: s.at)
    return Inputs(seed, tag, base_ms, seconds, sends, sessions, [synth.user_id(i) for i in range(users)],
                  anonymous_ids, kinds, t.trigger_survey.id if t.trigger_survey else None)


def _gate(phase_a: list, t: Targets, kind: str, anonymous: str | None) -> dict:
    """Public state fields that show every phase A message was applied (folds included)."""
    times = [parse_iso(m["timestamp"]) for m in phase_a]
    gate = {"firstSeen": iso(min(times)), "lastSeen": iso(max(times)),
            "anonymousIds": [anonymous] if anonymous else []}
    if t.trigger_survey is not None:
        triggers = sum(1 for m in phase_a if m.get("event") == t.trigger_event
                       and all(m["properties"].get(k) == v for k, v in t.trigger_props.items()))
        gate["triggers"] = {t.trigger_survey.id: triggers}
    return gate


def _phase_b(script: _Script, rng, t: Targets, i: int, kind: str, a_end: float, seconds: float,
             held: bool, old_ms: int, new_ms: int) -> None:
    end = max(a_end + 8.0, seconds)
    times = sorted(rng.uniform(a_end + 6.0, min(end, a_end + 6.0 + seconds * 0.4)) for _ in range(rng.randint(2, 6)))
    earlier = list(script.sent)
    for at in times:
        roll = rng.random()
        if roll < 0.25 and t.trigger_event:
            script.track(at, t.trigger_event, t.trigger_props, kind="trigger", held=held)
        elif roll < 0.45:
            script.page(at, held=held)
        else:
            script.track(at, rng.choice(PLAIN_EVENTS), held=held)
    last = times[-1] if times else a_end + 6.0
    first_identify = next((orjson.loads(s.value) for s in earlier if s.kind == "identify"), None)
    if first_identify is not None and rng.random() < 0.4:  # server-side identify, same traits
        again = dict(first_identify, messageId=script.synth.message_id(),
                     timestamp=iso(script.ms(last + 0.5)), receivedAt=iso(script.ms(last + 0.5) + 35))
        script.emit(last + 0.5, again, "identify", held=held)
    if kind == "none":
        # an upgrade (the user may fit the survey now), then an older identify arriving late
        script.identify(last + 1.0, i, rng.choice(t.plans_ok + t.plans_no), old_ms)
        late = script.identify(last + 1.5, i, "late-plan-must-lose", new_ms)
        late_ms = script.ms(a_end) - 1000  # older than every other identify of the user
        late.update(timestamp=iso(late_ms), originalTimestamp=iso(late_ms), sentAt=iso(late_ms + 20),
                    receivedAt=iso(late_ms + 35))
        script.out[-1].value = orjson.dumps(late)
    for _ in range(rng.randint(1, 2)):  # redeliveries: Segment retries, same bytes
        original = rng.choice(script.sent)
        at = max(original.at + 1.0, rng.uniform(a_end + 6.0, end))
        script.out.append(Send(at, original.topic, original.key, original.value, original.user, "redelivery",
                               held or original.held))
