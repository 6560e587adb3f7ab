"""Which survey a user should see now, and why (docs/reference.md#7-reason-codes; the records:
docs/reference.md#decisions, docs/reference.md#eligibility, docs/reference.md#admin).

Pure: user state (streams.core.state, instants in epoch ms), the typed config and `now` in,
a `Decision` out. No clock, no I/O, so the worker, the timer, the HTTP bridge and the
tests all get the same answer for the same inputs.

Per survey every rule is evaluated (explain shows them all); the reason is the first
failing rule in the order of docs/reference.md#7-reason-codes. When every failing rule is one that time alone lifts,
`eligible_at` is the first instant at which all of them pass, confirmed by deciding again
at that instant (the survey's window or the trigger's window may have closed by then).

A survey whose rules raise (a config value no validation foresaw) is isolated: it gets the
reason `config_error`, is logged once per config version and counted (survey_errors, shown
on /metrics), and the other surveys decide as if it were not there.
"""
from __future__ import annotations

import hashlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterator, Optional, Union

import orjson

from streams.core import authoringrules as authoring, client as clients, filters, locales
from streams.core.config import Config, Survey
from streams.core.state import trait_snapshot
from streams.core.timeutil import DAY_MS, FORMAT_MAX_MS, HOUR_MS, iso

RULES = (
    "survey_inactive", "not_identified", "traits_mismatch", "page_mismatch", "device_mismatch",
    "not_sampled", "too_new", "awaiting_trigger", "delayed", "max_displays_reached", "quota_reached",
    "max_responses_reached", "recently_responded", "recently_dismissed", "recently_displayed", "global_wait",
)
ELIGIBLE = "eligible"
CONFIG_ERROR = "config_error"  # the survey's rules raised (docs/configuration.md)
SAMPLE_BUCKETS = 10_000  # sample_percent has two decimals of resolution

_NO_HISTORY: dict = {}
log = logging.getLogger(__name__)
# Decisions in which a survey's rules raised, per survey id (streams.runtime.metrics reads it).
survey_errors: Counter = Counter()
_reported: set = set()  # (config version, survey id) already logged


@dataclass(frozen=True)
class SurveyVerdict:
    survey_id: str
    eligible: bool
    reason: str
    eligible_at: int | None  # None when eligible now, or when time alone will not do it
    outcomes: tuple = field(repr=False, compare=False)  # (passed, unblock, detail) in RULES order
    error: str | None = field(default=None, compare=False)  # why the rules raised (reason config_error)

    @property
    def rules(self) -> list[dict]:
        """Every rule's verdict, {"rule", "passed", "detail"}, in RULES order."""
        if self.error is not None:
            return [{"rule": CONFIG_ERROR, "passed": False, "detail": self.error}]
        return [{"rule": name, "passed": passed, "detail": _detail(detail)}
                for name, (passed, _, detail) in zip(RULES, self.outcomes)]


def _detail(detail) -> str:
    if isinstance(detail, str):
        return detail
    try:
        return detail()
    except Exception as error:  # explain must answer whatever a detail trips on
        return f"(no detail: {error!r})"


@dataclass(frozen=True)
class Decision:
    eligible: bool
    survey: Survey | None
    reason: str
    eligible_at: int | None  # earliest over all surveys; None when eligible
    verdicts: tuple[SurveyVerdict, ...]  # one per configured survey, in file order
    config_version: str = "unversioned"  # the surveys config it was decided with


def sample_bucket(survey_id: str, user_id: str) -> int:
    """A user's sticky bucket for a survey in [0, SAMPLE_BUCKETS): the same on every machine."""
    digest = hashlib.sha256(f"{survey_id}:{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % SAMPLE_BUCKETS


class _User:
    """The parts of a user's state every survey's rules read, looked up once per decision."""

    __slots__ = ("user_id", "identified", "traits", "base_name", "base", "triggers", "history",
                 "latest_shown", "runner_up_shown", "client", "request", "cancels", "counts", "_device")

    def __init__(self, state: dict | None, user_id: str | None, request: clients.Request = clients.NO_REQUEST,
                 counts=None):
        state = state or _NO_HISTORY
        self.client = state.get("client") or _NO_HISTORY
        self.request = request
        self.cancels = state.get("cancels") or _NO_HISTORY
        self.counts = counts  # surveyId -> quotas.Counts, or None: not counted (streams.core.quotas)
        self._device = False  # not looked up yet
        self.user_id = user_id if user_id is not None else state.get("userId")
        self.identified = bool(state.get("identified"))
        self.traits = trait_snapshot(state) or _NO_HISTORY  # with the latest group's, as "group.<name>"
        created_at = state.get("createdAt")
        self.base_name, self.base = ("createdAt", created_at) if created_at is not None else ("firstSeen", state.get("firstSeen"))
        self.triggers = state.get("triggers") or _NO_HISTORY
        self.history = state.get("surveys") or _NO_HISTORY
        # The two most recent displays of distinct surveys: enough to find, for any survey,
        # the latest display of another one (global wait) without a pass per survey.
        latest = runner_up = (None, None)
        for survey_id, history in self.history.items():
            shown = history.get("lastShownAt") if history else None
            if shown is None:
                continue
            if latest[0] is None or shown > latest[0]:
                latest, runner_up = (shown, survey_id), latest
            elif runner_up[0] is None or shown > runner_up[0]:
                runner_up = (shown, survey_id)
        self.latest_shown, self.runner_up_shown = latest, runner_up

    def latest_other_shown(self, survey_id: str) -> tuple[int | None, str | None]:
        return self.runner_up_shown if self.latest_shown[1] == survey_id else self.latest_shown

    @property
    def url(self) -> str | None:
        return self.request.url or self.client.get("url")

    @property
    def device(self) -> str | None:
        """The request's device, else the latest page message's (its User-Agent parsed on
        demand: only a survey with a device rule asks)."""
        if self._device is False:
            self._device = self.request.device or clients.stored_device(self.client)
        return self._device


def _days(ms: float) -> str:
    return f"{round(ms / DAY_MS, 1):g}"


def _ms(amount: float, unit_ms: int) -> int:
    return round(amount * unit_ms)


# A rule's outcome: (passed, unblock, detail). `unblock` is, for a failing rule that time
# alone lifts, the first instant it passes; None otherwise (and ignored when passing).
# `detail` is a string, or a function making it: decide() runs after every event, and
# only explain reads details, so the costly ones (dates to ISO) are made on demand.
Detail = Union[str, Callable[[], str]]
Outcome = tuple[bool, Optional[int], Detail]


def _window(survey: Survey, now: int) -> Outcome:
    starts, ends = survey.starts_at, survey.ends_at
    if not survey.active:
        return False, None, "active is false"
    if ends is not None and now >= ends:
        return False, None, lambda: f"ended at {iso(ends)}"
    if starts is not None and now < starts:
        return False, starts, lambda: f"starts at {iso(starts)}"
    if starts is None and ends is None:
        return True, None, "active, no date window"
    return True, None, lambda: f"active from {iso(starts) or 'the start'} until {iso(ends) or 'no end'}"


def in_window(survey: Survey, now: int) -> bool:
    """Whether the survey runs at `now` (active, inside its dates): its first rule."""
    return _window(survey, now)[0]


def _identified(user: _User) -> Outcome:
    if user.identified:
        return True, None, "identify received"
    return False, None, "no identify received for this user"


def _traits(survey: Survey, user: _User, now: int) -> Outcome:
    trait_filters = survey.targeting.traits
    if not trait_filters:
        return True, None, "no trait filters"
    failing, unblocks = [], []
    for f in trait_filters:
        value = user.traits.get(f.name)
        present = value is not None
        if not filters.evaluate(f, present, value, now):
            failing.append((f, present, value))
            unblocks.append(filters.unblock_at(f, present, value, now))
    if not failing:
        return True, None, lambda: f"all {len(trait_filters)} trait filters hold"
    unblock = None if None in unblocks else max(unblocks)
    return False, unblock, lambda: "; ".join(
        f"{filters.describe(f)} fails ({f.name} is {value!r})" if present else f"{filters.describe(f)} fails ({f.name} missing)"
        for f, present, value in failing)


def _sampled(survey: Survey, user: _User) -> Outcome:
    percent = survey.targeting.sample_percent
    if percent >= 100:
        return True, None, "sample_percent 100"
    if user.user_id is None:
        return False, None, lambda: f"sample_percent {percent:g}, no userId to sample"
    bucket, cutoff = sample_bucket(survey.id, user.user_id), percent * SAMPLE_BUCKETS / 100
    passed = bucket < cutoff
    return passed, None, lambda: f"bucket {bucket} of {SAMPLE_BUCKETS}, {'within' if passed else 'outside'} the first {cutoff:g}"


def _account_age(survey: Survey, user: _User, now: int) -> Outcome:
    needed_days, base, base_name = survey.targeting.min_days_since_signup, user.base, user.base_name
    if base is None:
        return False, None, "no createdAt nor firstSeen"
    age, needed = now - base, _ms(needed_days, DAY_MS)
    passed = age >= needed
    return passed, None if passed else base + needed, \
        lambda: f"{base_name} {iso(base)} is {_days(age)} days old, needs {needed_days:g}"


def _trigger(survey: Survey, user: _User, now: int) -> Outcome:
    trigger = survey.targeting.trigger
    if trigger is None:
        return True, None, "no trigger configured"
    seen = user.triggers.get(survey.id) or _NO_HISTORY
    count, last, within = seen.get("count") or 0, seen.get("last"), trigger.within_days
    if count < trigger.min_count or within is None:
        return count >= trigger.min_count, None, lambda: f"{trigger.event} seen {count} times, needs {trigger.min_count}"
    if last is None:
        return False, None, lambda: f"{trigger.event} has no last time, needs within {within:g} days"
    passed = now - last <= _ms(within, DAY_MS)
    return passed, None, lambda: f"{trigger.event} seen {count} times, last {_days(now - last)} days ago, needs within {within:g}"


def _displays(survey: Survey, history: dict) -> Outcome:
    shown, cap = history.get("displaysSinceResponse") or 0, survey.targeting.max_displays
    return shown < cap, None, lambda: f"{shown} displays without a response, max {cap}"


def _wait(what: str, since: int | None, amount: float, unit: str, unit_ms: int, now: int) -> Outcome:
    """A wait of `amount` units after the instant `since`; lifted by time alone."""
    if since is None:
        return True, None, f"no {what}"
    until = since + _ms(amount, unit_ms)
    if now < until:
        return False, until, lambda: f"{what} at {iso(since)}, waits {amount:g} {unit} until {iso(until)}"
    return True, None, lambda: f"{what} at {iso(since)}, {amount:g} {unit} passed"


def _ignored_display(history: dict) -> int | None:
    """lastShownAt when the last display got neither a response nor a dismissal."""
    shown = history.get("lastShownAt")
    if shown is None:
        return None
    for later in (history.get("lastRespondedAt"), history.get("lastDismissedAt")):
        if later is not None and later >= shown:
            return None
    return shown


def _global_wait(survey: Survey, user: _User, recontact_days: float, now: int) -> Outcome:
    shown, other_id = user.latest_other_shown(survey.id)
    return _wait(f"survey {other_id} shown" if other_id else "other survey shown",
                 shown, recontact_days, "days", DAY_MS, now)


def _outcomes(survey: Survey, user: _User, recontact_days: float, now: int) -> Iterator[Outcome]:
    """Every rule's outcome, in RULES order; lazily, so a yes/no check can stop early."""
    targeting = survey.targeting
    history = user.history.get(survey.id) or _NO_HISTORY
    yield _window(survey, now)
    yield _identified(user)
    yield _traits(survey, user, now)
    yield authoring.pages_rule(survey, user)
    yield authoring.devices_rule(survey, user)
    yield _sampled(survey, user)
    yield _account_age(survey, user, now)
    yield _trigger(survey, user, now)
    yield authoring.delay_rule(survey, user, now)
    yield _displays(survey, history)
    yield authoring.quota_rule(survey, user, now)
    yield authoring.responses_rule(survey, history)
    yield _wait("response", history.get("lastRespondedAt"), targeting.recontact_after_response_days, "days", DAY_MS, now)
    yield _wait("dismissal", history.get("lastDismissedAt"), targeting.recontact_after_dismissal_days, "days", DAY_MS, now)
    yield _wait("ignored display", _ignored_display(history), targeting.redisplay_after_hours, "hours", HOUR_MS, now)
    yield _global_wait(survey, user, recontact_days, now)


def _verdict(survey: Survey, user: _User, recontact_days: float, now: int, every_rule: bool) -> SurveyVerdict:
    """The survey's verdict. Without `every_rule` (explain wants them all) it stops at the
    first failing rule that time alone does not lift: the reason is already known (the
    first failing rule) and no eligibleAt can come (decide runs once per input)."""
    outcomes, failing = [], []
    for name, outcome in zip(RULES, _outcomes(survey, user, recontact_days, now)):
        outcomes.append(outcome)
        if not outcome[0]:
            failing.append((name, outcome[1]))
            if outcome[1] is None and not every_rule:
                break
    outcomes = tuple(outcomes)
    if not failing:
        return SurveyVerdict(survey.id, True, ELIGIBLE, None, outcomes)
    eligible_at = None
    unblocks = [unblock for _, unblock in failing]
    if None not in unblocks and max(unblocks) <= FORMAT_MAX_MS:  # not by year 9999: not by time
        candidate = max(unblocks)
        # Rules lifted by time stay lifted, but the survey window and the trigger window
        # close with time: the candidate holds only if the survey passes everything then.
        if all(passed for passed, _, _ in _outcomes(survey, user, recontact_days, candidate)):
            eligible_at = candidate
    return SurveyVerdict(survey.id, False, failing[0][0], eligible_at, outcomes)


def _isolated(survey: Survey, user: _User, recontact_days: float, now: int, every_rule: bool,
              config_version: str) -> SurveyVerdict:
    """The survey's verdict; `config_error` if its rules raise, so that one survey cannot
    take the decision (and every other survey) down with it."""
    try:
        return _verdict(survey, user, recontact_days, now, every_rule)
    except Exception as error:
        survey_errors[survey.id] += 1
        if (config_version, survey.id) not in _reported:
            _reported.add((config_version, survey.id))
            log.error("a survey's rules failed: it is left out of decisions under this config version",
                      extra={"survey": survey.id, "configVersion": config_version, "error": repr(error)},
                      exc_info=True)
        return SurveyVerdict(survey.id, False, CONFIG_ERROR, None, (), error=f"the survey's rules failed: {error!r}")


def _rank(survey: Survey) -> tuple[int, int]:
    return -survey.priority, survey.order


def decide(state: dict | None, config: Config, now: int, user_id: str | None = None,
           every_rule: bool = False, request: clients.Request = clients.NO_REQUEST,
           response_counts=None) -> Decision:
    """The decision for one user at `now`; `user_id` defaults to state["userId"].
    `every_rule`: evaluate every rule of every survey (what explain shows). `request`: what
    an eligibility request says of the page, device and locale (else the state's).
    `response_counts`: surveyId -> quotas.Counts, for the response limits (None: not counted)."""
    user = _User(state, user_id, request, response_counts)
    recontact_days = config.project.recontact_days
    verdicts = tuple(_isolated(survey, user, recontact_days, now, every_rule, config.version)
                     for survey in config.surveys)
    eligible = [survey for survey, verdict in zip(config.surveys, verdicts) if verdict.eligible]
    if eligible:
        return Decision(True, min(eligible, key=_rank), ELIGIBLE, None, verdicts, config.version)
    eligible_at = min((v.eligible_at for v in verdicts if v.eligible_at is not None), default=None)
    if not user.identified:
        # docs/reference.md#eligibility: an unknown user reads not_identified, whatever the surveys' windows.
        reason = "not_identified"
    else:
        active = [(survey, verdict) for survey, verdict in zip(config.surveys, verdicts) if survey.active]
        # A failed survey does not speak for the decision while another active one decided.
        decided = [pair for pair in active if pair[1].reason != CONFIG_ERROR] or active
        reason = min(decided, key=lambda pair: _rank(pair[0]))[1].reason if decided else "survey_inactive"
    return Decision(False, None, reason, eligible_at, verdicts, config.version)


NO_DECISION = (False, None, "not_identified")  # the outcome an unknown user implicitly has


def stored_outcome(state: dict) -> tuple:
    """The outcome of the decision last emitted for a user, kept in its state."""
    decided = state.get("decision")
    return (decided["eligible"], decided["surveyId"], decided["reason"]) if decided else NO_DECISION


def stored_decision(decision: Decision) -> dict:
    """What a user's state keeps of the decision last made (streams.core.state)."""
    return {"eligible": decision.eligible, "surveyId": decision.survey.id if decision.survey else None,
            "reason": decision.reason, "eligibleAt": decision.eligible_at}


_REASONS = (*RULES, ELIGIBLE, CONFIG_ERROR)
_LONGEST_MS = -(2 ** 63)  # an instant as stored: a 64-bit integer at most


def stored_decision_bound(config: Config) -> int:
    """The most bytes (JSON) a stored decision can take under `config`: the room a state's
    byte budget keeps for a decision not made yet."""
    longest = lambda texts: max(texts, key=lambda text: len(orjson.dumps(text)))  # noqa: E731
    survey_id = longest([survey.id for survey in config.surveys]) if config.surveys else None
    return len(orjson.dumps({"eligible": False, "surveyId": survey_id, "reason": longest(_REASONS),
                             "eligibleAt": _LONGEST_MS}))


def outcome(decision: Decision) -> tuple[bool, str | None, str]:
    """What a decision change is detected on (docs/reference.md#decisions): (eligible, surveyId, reason)."""
    return decision.eligible, decision.survey.id if decision.survey else None, decision.reason


def decision_record(decision: Decision, user_id: str | None, now: int) -> dict:
    """The `surveys.eligibility` message (docs/reference.md#decisions)."""
    return {
        "userId": user_id,
        "eligible": decision.eligible,
        "surveyId": decision.survey.id if decision.survey else None,
        "reason": decision.reason,
        "eligibleAt": iso(decision.eligible_at),
        "decidedAt": iso(now),
        "configVersion": decision.config_version,  # docs/reference.md#decisions: which surveys decided it
    }


def eligibility_response(decision: Decision, user_id: str | None, now: int, locale: str | None = None) -> dict:
    """The body of `GET /v1/eligibility/{userId}` (docs/reference.md#eligibility): the survey itself, not its id,
    every text in `locale` (one of the survey's; its first when None)."""
    body = decision_record(decision, user_id, now)
    del body["surveyId"], body["configVersion"]
    body["survey"] = decision.survey.public(locale) if decision.survey else None
    return body


def survey_locale(survey: Survey, state: dict | None, requested=None) -> str:
    """The locale a user gets a survey in (streams.core.locales: the request's, the `locale`
    trait, the latest context.locale, matched by language; else the survey's first)."""
    return locales.choose(locales.user_candidates(state, requested), survey.locales)


def explain_record(decision: Decision, user_id: str | None, now: int) -> dict:
    """The body of `GET /v1/users/{userId}/explain` (docs/reference.md#admin)."""
    return {
        "userId": user_id,
        "now": iso(now),
        "decision": decision_record(decision, user_id, now),
        "surveys": [
            {"surveyId": v.survey_id, "eligible": v.eligible, "reason": v.reason,
             "eligibleAt": iso(v.eligible_at), "rules": v.rules}
            for v in decision.verdicts
        ],
    }
