"""The byte budget of a user's state (streams.core.state, docs/reference.md#project-settings)."""
from __future__ import annotations

import orjson
import pytest

from streams.core.config import Limits
from streams.core.errors import InvalidInput
from streams.core.state import encode, message_key, new_user_state

LIMITS = Limits(state_bytes=16 * 1024, traits=10, trait_bytes=4 * 1024)


def test_a_state_within_its_limits_is_encoded_as_stored():
    state = new_user_state("u1")
    state["traits"] = {"plan": "pro"}
    assert orjson.loads(encode(state, LIMITS)) == state


@pytest.mark.parametrize("traits, field", [
    ({f"t{i}": 1 for i in range(11)}, "traits"),          # too many names
    ({"t": "x" * 5000}, "traits"),                         # too many bytes
])
def test_traits_over_their_limits_are_too_large(traits, field):
    state = new_user_state("u1")
    state["traits"] = traits
    with pytest.raises(InvalidInput) as caught:
        encode(state, LIMITS)
    assert (caught.value.code, caught.value.field) == ("too_large", field)


def test_a_state_over_its_budget_is_too_large_whatever_part_grew():
    state = new_user_state("u1")
    state["anonymousIds"] = ["a" * 250] * 70
    with pytest.raises(InvalidInput) as caught:
        encode(state, LIMITS)
    assert (caught.value.code, caught.value.field) == ("too_large", "state")


def test_nesting_orjson_cannot_write_is_refused_not_raised():
    state = new_user_state("u1")
    deep: dict = {}
    for _ in range(300):
        deep = {"a": deep}
    state["traits"] = {"deep": deep}
    with pytest.raises(InvalidInput) as caught:
        encode(state, Limits())
    assert caught.value.code == "invalid_field"


def test_message_keys_are_fixed_size_whatever_the_id():
    assert len(message_key("m")) == len(message_key("m" * 10_000)) == 16
    assert message_key("a") != message_key("b")


# --- no user can be locked at the budget -----------------------------------------------------
# A write-key holder may fill every part of a user's state that input can grow. The parts are
# each bounded; with the default limits their sum must stay under the state budget, or the
# user would be locked: every later input (even one that only adds its message id) refused.

from streams.core.client import CANCELS_MAX, observe  # noqa: E402
from streams.core.config import load_config  # noqa: E402
from streams.core.devices import MAX_USER_AGENT_CHARS  # noqa: E402
from streams.core.pages import MAX_URL_CHARS  # noqa: E402
from streams.core.lifecycle import MESSAGE_IDS_MAX, apply_event  # noqa: E402
from streams.core.seen import ENTRY_CHARS, WINDOW_CHARS, mark_applied  # noqa: E402
from streams.core.state import DISPLAYS_MAX, OPEN_DISPLAYS_MAX  # noqa: E402
from streams.schemas.widget import MAX_TEXT_CHARS  # noqa: E402
from streams.core.userstate import GROUPS_MAX, merge_group, merge_traits, remember  # noqa: E402

NOW = 1_800_000_000_000
WORST_CHAR = "\x01"  # 6 bytes in JSON ("\u0001"): the most a character can take


def _worst_traits(limits, salt: str) -> dict:
    """As many bytes of traits as the budget lets in, with names as long and costly as they go
    (each name is stored again in traitTimes)."""
    traits, size = {}, 2
    for index in range(limits.traits):
        name = f"{salt}{index:03d}" + WORST_CHAR * 40
        entry = len(orjson.dumps({name: 0})) - 1
        if size + entry > limits.trait_bytes:
            break
        traits[name], size = 0, size + entry
    return traits


def _filled_state(config) -> dict:
    limits = config.project.limits
    state = new_user_state("victim" + "v" * 240)
    state["identified"] = True
    merge_traits(state, _worst_traits(limits, "t"), NOW, NOW)
    for group in range(GROUPS_MAX + 5):  # more groups than kept, each filled
        merge_group(state, f"g{group}" + "g" * 250, _worst_traits(limits, f"g{group}"), NOW + group, NOW + group)
        encode(state, limits)  # as the agent does after every input: groups past their budget go
    state["anonymousIds"] = [f"{i:03d}" + "a" * 253 for i in range(50)]
    # the client's latest page (URL and User-Agent at their caps) and locale, and cancel events
    observe(state, {"type": "page", "context": {"page": {"url": WORST_CHAR * MAX_URL_CHARS},
                                                "userAgent": WORST_CHAR * MAX_USER_AGENT_CHARS,
                                                "device": {"type": WORST_CHAR * 64}, "locale": "zh-Hans-CN"}},
            NOW, False)
    state["cancels"] = {survey.id: [2**62 - i for i in range(CANCELS_MAX)] for survey in config.surveys}
    survey = config.surveys[0]
    text_questions = [q.id for q in survey.questions if q.kind == "text"] or [survey.questions[0].id]
    def widget(display_id: str, kind: str, step: int, **fields) -> None:
        apply_event(state, {"messageId": f"{display_id}-{step}", "userId": state["userId"], "surveyId": survey.id,
                            "displayId": display_id, "type": kind, "timestamp": NOW, **fields},
                    survey, config.project, NOW)

    for index in range(DISPLAYS_MAX):  # ended displays: dismissed (a response would stop new ones)
        widget(f"{index:03d}" + "d" * 253, "shown", 0)
        widget(f"{index:03d}" + "d" * 253, "closed", 1)
    for index in range(OPEN_DISPLAYS_MAX + 2):  # open ones, each holding the longest answers
        display_id = f"open{index:03d}" + "d" * 249
        for step in range(MESSAGE_IDS_MAX + 2):
            widget(display_id, "answered", step, questionId=text_questions[step % len(text_questions)],
                   value=WORST_CHAR * MAX_TEXT_CHARS)
    for index in range(WINDOW_CHARS // ENTRY_CHARS + 10):  # the window full, in the same second
        remember(state, f"m{index}" + "m" * 250, NOW)
    for index in range(12):  # every input topic, renamed to the longest names, on two partitions
        mark_applied(state, f"{index:02d}" + "t" * 247, index % 2, 2**62)
    return state


def test_a_user_filled_by_every_bounded_input_still_fits_the_default_budget():
    config = load_config("config/surveys.yaml")
    state = _filled_state(config)
    data = encode(state, config.project.limits)  # not too_large
    assert len(state["groups"]) >= 1
    assert sum(d["end"] is None for d in state["displays"].values()) == OPEN_DISPLAYS_MAX
    # ... and with room to spare: an ordinary input (a new message id) is taken.
    remember(state, "one-more", NOW + 1)
    assert len(encode(state, config.project.limits)) <= config.project.limits.state_bytes
    assert len(data) < config.project.limits.state_bytes * 0.9, len(data)


def test_groups_share_one_trait_budget_the_least_recent_dropped():
    state = new_user_state("u1")
    for group in range(4):
        merge_group(state, f"g{group}", {"blob": "x" * 1500}, NOW + group, NOW + group)
    encode(state, LIMITS)  # 4 × 1.5 KB of group traits, the budget 4 KB: the two oldest go
    assert sorted(state["groups"]) == ["g2", "g3"]


def test_one_group_over_the_trait_budget_is_too_large():
    state = new_user_state("u1")
    merge_group(state, "g0", {"blob": "x" * 100}, NOW, NOW)
    merge_group(state, "g1", {"blob": "x" * 5000}, NOW + 1, NOW + 1)
    with pytest.raises(InvalidInput) as caught:
        encode(state, LIMITS)
    assert caught.value.code == "too_large" and caught.value.field.startswith("groups.g1")
