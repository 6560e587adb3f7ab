"""Apply Segment messages to the per-user state (docs/reference.md#inbound-segment-messages,
docs/reference.md#user-state). Pure: `now` is an argument.

`apply` is called once per inbound event, so it mutates the state it is given in place
(no copy of the whole state) and returns it; a caller that needs the previous value must
copy it first. `fold_into` mutates and returns the user state, never the anonymous one.

Identity. An identify carrying a userId and a different anonymousId, or an alias, asks the
caller to fold the other id's state (which lives under another key, maybe on another
partition) into this user: `Applied.folds` lists (anonymousId, userId) pairs. Folding sums
counters, so it is not idempotent; the caller makes it once-only by replacing the folded
key's state with `redirect_state(userId)`. Messages that later arrive under a redirected
key belong to the user (the agent forwards them there); if one is applied to the redirect
anyway, it is recorded as usual and another fold is requested, which would move just the
new history. A fold is requested the first time an
anonymous id is seen for the user; repeats (analytics.js sends the anonymousId on every
identify) are left out, the redirect mechanism covers anything that arrives later.
"""
from __future__ import annotations

from typing import NamedTuple

import orjson

from streams.core import client as clients, filters, seen
from streams.core.config import Config
from streams.core.state import new_survey_history, new_user_state
from streams.core.timeutil import event_time, parse_created_at, plausible_created_at

GROUPS_MAX = 10  # groups kept per user (B2B: a user is in one account, rarely a few)
# Oldest ids are dropped beyond this; a dropped id that shows up again only costs a
# no-op fold of its redirect state.
ANONYMOUS_IDS_MAX = 50

_SURVEY_COUNTERS = ("displays", "displaysSinceResponse", "responses")
_SURVEY_TIMES = ("lastShownAt", "lastRespondedAt", "lastDismissedAt")
_NO_TIME = -(2**63)  # a trait without a recorded time loses to any timed value


class Applied(NamedTuple):
    state: dict  # the state passed in (mutated), or a new one
    changed: bool  # the state differs and must be written back
    duplicate: bool  # messageId already handled within 24 h: nothing changed
    folds: list  # [(anonymousId, userId)] the caller must fold
    # The event time was implausible and replaced (docs/reference.md#inbound-segment-messages).
    time_corrected: bool = False


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None or (b is not None and b < a) else a


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None or (b is not None and b > a) else a


def _canonical(value) -> bytes:
    """Total order on JSON values, to break ties between equal times whatever the arrival order."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except TypeError:  # ints beyond 64 bits, only possible from non-JSON callers
        return repr(value).encode()


def merge_traits(state: dict, traits: dict, times: dict | int, now: int) -> bool:
    """Merge `traits` into the state per key: the value with the latest time wins.

    `times` is one event time for all keys (an identify) or a per-key mapping (a folded
    state's traitTimes). Equal times are broken by the canonical JSON of the value, so the
    result is the maximum of (time, value) and does not depend on arrival order.
    Recomputes `createdAt` when that trait changes (ignored outside [1970, now + 1 day]).
    Returns True if anything changed.
    """
    changed_names = _merge(state["traits"], state["traitTimes"], traits, times)
    if "createdAt" in changed_names:
        state["createdAt"] = plausible_created_at(parse_created_at(state["traits"]["createdAt"]), now)
    return bool(changed_names)


def _merge(current_traits: dict, current_times: dict, traits: dict, times: dict | int) -> set:
    """The latest-time-wins merge of merge_traits into any traits/times pair; the names changed."""
    uniform = not isinstance(times, dict)
    changed = set()
    for name, value in traits.items():
        time = times if uniform else times.get(name, _NO_TIME)
        if name in current_traits:
            current_time = current_times.get(name, _NO_TIME)
            if time < current_time:
                continue
            # Not `value == current`: Python has 1 == 1.0 == True, JSON does not.
            if time == current_time and _canonical(value) <= _canonical(current_traits[name]):
                continue
        current_traits[name] = value
        current_times[name] = time
        changed.add(name)
    return changed


def merge_group(state: dict, group_id: str, traits: dict, times: dict | int, at: int | None) -> bool:
    """Keep a group's traits for the user (docs/reference.md#inbound-segment-messages): per group,
    each trait's latest value by event time, and the group's latest event time (`at`: the most recent group is the
    one the user was last seen in). At most GROUPS_MAX groups, the least recent dropped."""
    groups = state.setdefault("groups", {})
    group = groups.get(group_id)
    changed = group is None
    if group is None:
        group = groups[group_id] = {"traits": {}, "traitTimes": {}, "at": at}
    if at is not None and (group["at"] is None or at > group["at"]):
        group["at"] = at
        changed = True
    changed = bool(_merge(group["traits"], group["traitTimes"], traits, times)) or changed
    while len(groups) > GROUPS_MAX:
        del groups[min(groups, key=lambda gid: (groups[gid]["at"] or _NO_TIME, gid))]
    return changed


def _add_anonymous_id(state: dict, anonymous_id: str) -> bool:
    """Remember an id folded into this user; False if it was already known."""
    ids = state["anonymousIds"]
    if anonymous_id in ids or anonymous_id == state["userId"]:
        return False
    ids.append(anonymous_id)
    if len(ids) > ANONYMOUS_IDS_MAX:
        del ids[: len(ids) - ANONYMOUS_IDS_MAX]
    return True


def seen_recently(state: dict | None, input_id: str, now: int) -> bool:
    """Whether `input_id` was handled for this state within 24 h (streams.core.seen)."""
    return seen.handled_within((state or {}).get("seen"), input_id, now)


def remember_input(state: dict, input_id: str, now: int) -> tuple[bool, bool]:
    """Record a handled input id: (False, False) if it was handled within 24 h already (a
    duplicate), else (True, whether the window had to drop ids younger than 24 h to stay
    within its byte budget). `seen` keeps a 48-bit hash of the id, never the id itself."""
    if seen.handled_within(state.get("seen"), input_id, now):
        return False, False
    state["seen"], shortened = seen.remember(state.get("seen"), input_id, now)
    return True, shortened


def remember(state: dict, input_id: str, now: int) -> bool:
    """Record a handled input id; False if it was already handled within 24 h (a duplicate)."""
    return remember_input(state, input_id, now)[0]


_trigger_index: tuple = (None, {})


def _triggers_by_event(config: Config) -> dict:
    """event name -> [(surveyId, Trigger)], cached for the current config object."""
    global _trigger_index
    cached_config, index = _trigger_index
    if cached_config is not config:
        index = {}
        for survey in config.surveys:
            trigger = survey.targeting.trigger
            if trigger is not None:
                index.setdefault(trigger.event, []).append((survey.id, trigger))
        _trigger_index = (config, index)
    return index


def _count_triggers(state: dict, message: dict, config: Config, at: int, now: int) -> bool:
    candidates = _triggers_by_event(config).get(message["event"])
    if not candidates:
        return False
    properties = message.get("properties") or {}
    changed = False
    for survey_id, trigger in candidates:
        if trigger.where and not filters.matches_all(trigger.where, properties, now):
            continue
        counter = state["triggers"].get(survey_id)
        if counter is None:
            state["triggers"][survey_id] = {"count": 1, "last": at}
        else:
            counter["count"] += 1
            counter["last"] = _max(counter["last"], at)
        changed = True
    return changed


def _identify_traits(message: dict) -> dict:
    context = message.get("context")
    context_traits = context.get("traits") if context else None
    traits = message.get("traits") or {}
    if context_traits:
        return {**context_traits, **traits}  # the message's own traits win
    return traits


def apply(state: dict | None, message: dict, key: str, config: Config, now: int,
          input_id: str | None = None, dedupe: bool = True) -> Applied:
    """Apply one validated Segment message to the state stored under `key` (mutated in place).

    Duplicates are found by `input_id`: the messageId by default; the caller passes the
    record's coordinates for a message without one, so that a replay is still found.
    `dedupe=False`: the caller found and remembers duplicates itself (the users agent).
    """
    if state is None:
        state = new_user_state()
    input_id = message.get("messageId") if input_id is None else input_id
    if dedupe and input_id is not None and not remember(state, input_id, now):
        return Applied(state, False, True, [])
    changed = input_id is not None
    folds: list = []

    at, time_corrected = event_time(message, now)
    if state["firstSeen"] is None or at < state["firstSeen"]:
        state["firstSeen"] = at
        changed = True
    if state["lastSeen"] is None or at > state["lastSeen"]:
        state["lastSeen"] = at
        changed = True
    user_id = message.get("userId")
    if user_id == key and state["userId"] != key:
        state["userId"] = key
        changed = True

    kind = message["type"]
    # The page, device and locale the client reports (streams.core.client).
    changed = clients.observe(state, message, at, config.uses_devices) or changed
    if kind == "track":
        changed = _count_triggers(state, message, config, at, now) or changed
        changed = clients.count_cancels(state, message, config, at, now) or changed
    elif kind == "identify":
        traits = _identify_traits(message)
        if traits:
            changed = merge_traits(state, traits, at, now) or changed
        if user_id == key:
            if not state["identified"]:
                state["identified"] = changed = True
            anonymous_id = message.get("anonymousId")
            if anonymous_id is not None and anonymous_id != key and _add_anonymous_id(state, anonymous_id):
                folds.append((anonymous_id, key))
                changed = True
    elif kind == "alias":
        previous_id = message["previousId"]
        if previous_id != key and _add_anonymous_id(state, previous_id):
            folds.append((previous_id, key))
            changed = True
    elif kind == "group" and message.get("groupId") is not None:
        changed = merge_group(state, message["groupId"], message.get("traits") or {}, at, at) or changed
    # page and screen: only the seen times

    if changed and state["aliasOf"] is not None:
        folds.append((key, state["aliasOf"]))
    return Applied(state, changed, False, folds, time_corrected)


def redirect_state(user_id: str, previous: dict | None = None) -> dict:
    """What replaces a folded key's state: no history, a pointer to the user.

    The folded state's `seen` and `applied` (streams.core.seen) are kept: retries and replays
    that still arrive under the old key are found as such.
    """
    state = new_user_state()
    state["aliasOf"] = user_id
    if previous:
        if previous.get("seen"):
            state["seen"] = previous["seen"]
        if previous.get("applied"):
            state["applied"] = dict(previous["applied"])
    return state


def _merge_survey_history(into: dict, other: dict) -> None:
    for survey_id, history in other.items():
        mine = into.get(survey_id)
        if mine is None:
            mine = into[survey_id] = new_survey_history()
        for name in _SURVEY_COUNTERS:
            mine[name] = mine.get(name, 0) + history.get(name, 0)
        for name in _SURVEY_TIMES:
            mine[name] = _max(mine.get(name), history.get(name))


def fold_into(user: dict | None, anonymous: dict, anonymous_id: str, user_id: str, now: int) -> dict:
    """Merge the state of `anonymous_id` into the user's (mutated and returned).

    Not idempotent (counters sum): the caller replaces the anonymous key with
    `redirect_state(user_id)` in the same step. Lifecycle `displays` and the last
    `decision` stay the user's own: the widget only ever talks to the userId.
    """
    if user is None:
        user = new_user_state(user_id)
    elif user["userId"] is None:
        user["userId"] = user_id
    user["firstSeen"] = _min(user["firstSeen"], anonymous.get("firstSeen"))
    user["lastSeen"] = _max(user["lastSeen"], anonymous.get("lastSeen"))
    # An alias's previousId may be an earlier, identified userId.
    user["identified"] = user["identified"] or bool(anonymous.get("identified"))

    merge_traits(user, anonymous.get("traits") or {}, anonymous.get("traitTimes") or {}, now)
    for group_id, group in (anonymous.get("groups") or {}).items():
        merge_group(user, group_id, group.get("traits") or {}, group.get("traitTimes") or {}, group.get("at"))

    triggers = user["triggers"]
    for survey_id, counter in (anonymous.get("triggers") or {}).items():
        mine = triggers.get(survey_id)
        if mine is None:
            triggers[survey_id] = dict(counter)
        else:
            mine["count"] += counter["count"]
            mine["last"] = _max(mine["last"], counter["last"])

    _merge_survey_history(user["surveys"], anonymous.get("surveys") or {})
    clients.fold(user, anonymous)
    user["lastSurveyShownAt"] = _max(user["lastSurveyShownAt"], anonymous.get("lastSurveyShownAt"))
    user["seen"] = seen.merge(user.get("seen"), anonymous.get("seen"), now)
    for other_id in (*(anonymous.get("anonymousIds") or ()), anonymous_id):
        _add_anonymous_id(user, other_id)
    return user
