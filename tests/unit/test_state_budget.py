"""The byte budget of a user's state and the outbox (streams.state, CONTRACT 7)."""
from __future__ import annotations

import orjson
import pytest

from streams.config import Limits
from streams.errors import InvalidInput
from streams.state import (OUTBOX_BYTES, OUTBOX_MAX, encode, message_key, new_user_state, record_outputs,
                           recorded_outputs)

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


def test_the_outbox_keeps_the_latest_inputs_within_its_bounds():
    state = new_user_state("u1")
    for n in range(OUTBOX_MAX + 5):
        record_outputs(state, f"k{n}", [["surveys.eligibility", "u1", {"n": n}]])
    assert len(state["outbox"]) == OUTBOX_MAX
    assert recorded_outputs(state, "k0") is None
    assert recorded_outputs(state, f"k{OUTBOX_MAX + 4}") == [["surveys.eligibility", "u1", {"n": OUTBOX_MAX + 4}]]
    big = [["segment.outbound", "u1", {"pad": "x" * (OUTBOX_BYTES // 2)}]]
    record_outputs(state, "big1", big)
    record_outputs(state, "big2", big)
    record_outputs(state, "big3", big)
    assert sum(entry[1] for entry in state["outbox"]) <= OUTBOX_BYTES or len(state["outbox"]) == 1
    assert recorded_outputs(state, "big3") == big  # the newest is always kept
    assert recorded_outputs(state, "big1") is None
