"""The rules of survey authoring, in the order of docs/reference.md#7-reason-codes: pages,
devices, the delay, response limits and the per-user cap (docs/configuration.md, "Pages and
devices", "Delays", "Response limits"). Each gives an outcome (passed, unblock, detail) as
every rule of streams.core.targeting does; `user` is targeting's per-decision view of the
user's state and the request.
"""
from __future__ import annotations

from streams.core import pages, quotas
from streams.core.timeutil import iso

SECOND_MS = 1000
_NOTHING: dict = {}
Outcome = tuple  # (passed, unblock: epoch ms | None, detail: str | a function making it)


def pages_rule(survey, user) -> Outcome:
    rules = survey.targeting.pages
    if not rules:
        return True, None, "no page rules"
    url = user.url
    if url is None:
        return False, None, "no page URL known (no ?url= and no page message)"
    passed = pages.matches(rules, url)
    return passed, None, lambda: f"page {url[:200]!r} {'matches' if passed else 'does not match'} " + \
        ", ".join(f"{rule.op} {rule.value!r}" for rule in rules)


def devices_rule(survey, user) -> Outcome:
    wanted = survey.targeting.devices
    if not wanted:
        return True, None, "no device rule"
    device = user.device
    return device in wanted, None, lambda: f"device {device or 'unknown'}, wants {', '.join(wanted)}"


def delay_rule(survey, user, now: int) -> Outcome:
    """`delay_seconds` after the trigger's last match, or, without a trigger, after the
    latest page view; a `cancel_on` event inside the delay cancels it (until the next
    trigger or page view starts another)."""
    targeting = survey.targeting
    if not targeting.delay_seconds:
        return True, None, "no delay"
    if targeting.trigger is not None:
        start, what = (user.triggers.get(survey.id) or _NOTHING).get("last"), targeting.trigger.event
    else:
        start, what = user.client.get("pageAt"), "page view"
    if start is None:
        return False, None, f"no {what} to count the delay from"
    until = start + round(targeting.delay_seconds * SECOND_MS)
    cancelled = next((t for t in user.cancels.get(survey.id) or () if start <= t < until), None)
    if cancelled is not None:
        return False, None, lambda: f"the delay after {what} at {iso(start)} was cancelled at {iso(cancelled)}"
    if now < until:
        return False, until, lambda: f"{what} at {iso(start)}, waits {targeting.delay_seconds:g} s until {iso(until)}"
    return True, None, lambda: f"{what} at {iso(start)}, {targeting.delay_seconds:g} s passed"


def quota_rule(survey, user, now: int) -> Outcome:
    counts = user.counts.get(survey.id, quotas.NONE_YET) if user.counts is not None else None
    reached, unblock, detail = quotas.quota_reached(survey, counts, now)
    return not reached, unblock, detail


def responses_rule(survey, history: dict) -> Outcome:
    cap = survey.targeting.max_responses_per_user
    if not cap:
        return True, None, "max_responses_per_user 0: no cap"
    given = history.get("responses") or 0
    return given < cap, None, lambda: f"{given} responses from this user, max {cap}"
