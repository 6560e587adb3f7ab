"""The byte budget of a user's state (streams.state, CONTRACT 7)."""
from __future__ import annotations

import orjson
import pytest

from streams.config import Limits
from streams.errors import InvalidInput
from streams.state import encode, message_key, new_user_state

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
