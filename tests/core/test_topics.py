"""Topic names (streams/core/topics.py): internal topics named from the app id, public ones
kept, the config's renames first, and the rule that keeps an app that ran before on the
legacy shared names (docs/reference.md#internal-topics)."""
from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from streams.core import topics as names
from streams.core.config import parse_config

UNBOUND = names.TopicNames({})
ACME = UNBOUND.for_app("acme")


@pytest.mark.parametrize("logical, physical", [
    (names.USER_COMMANDS, "acme-user-commands"),
    (names.CONFIG, "acme-config"),
    (names.SECRETS, "acme-secrets"),
    # Public topics keep their names: other systems (Segment, analysts) read and write them.
    (names.SEGMENT_IDENTIFY, "segment.identify"),
    (names.LIFECYCLE, "surveys.lifecycle"),
    (names.SCORES, "surveys.scores"),
    (names.DEADLETTER, "streams.deadletter"),
])
def test_internal_topics_are_named_from_the_app_id_public_ones_keep_theirs(logical, physical):
    assert ACME[logical] == physical
    assert ACME.logical(physical) == logical


def test_the_app_id_prefixes_internal_topics_as_it_does_the_changelogs():
    for logical in names.INTERNAL:
        assert ACME[logical].startswith("acme-")
    assert names.changelog("acme", "users") == "acme-users-changelog"


@pytest.mark.parametrize("renames, logical, physical", [
    ({names.CONFIG: "ops.surveys-config"}, names.CONFIG, "ops.surveys-config"),
    ({names.USER_COMMANDS: "streams.user-commands"}, names.USER_COMMANDS, "streams.user-commands"),
    ({names.SEGMENT_TRACK: "acme.track"}, names.SEGMENT_TRACK, "acme.track"),
    ({names.CONFIG: "ops.surveys-config"}, names.SECRETS, "acme-secrets"),  # only what is renamed
])
def test_the_configs_renames_come_first(renames, logical, physical):
    bound = names.TopicNames(renames).for_app("acme")
    assert bound[logical] == physical
    assert bound.logical(physical) == logical


def test_unbound_names_refuse_an_internal_topic_but_name_public_ones():
    with pytest.raises(names.UnboundTopicName) as raised:
        UNBOUND[names.CONFIG]
    assert raised.value.logical == names.CONFIG
    assert UNBOUND[names.SEGMENT_ALIAS] == "segment.alias"
    assert UNBOUND.logical("segment.alias") == names.SEGMENT_ALIAS
    assert names.TopicNames({names.CONFIG: "x"})[names.CONFIG] == "x"  # renamed: no app id needed


def test_legacy_names_are_the_shared_ones_of_before():
    legacy = UNBOUND.for_app("acme", legacy=True)
    assert [legacy[n] for n in names.INTERNAL] == ["streams.user-commands", "streams.secrets", "streams.config"]
    assert legacy.logical("streams.config") == names.CONFIG


def test_a_config_binds_to_an_app_and_renames_stay():
    config = parse_config({"topics": {names.SECRETS: "vault.secrets"}})
    bound = config.topics.for_app("prod")
    assert (bound[names.SECRETS], bound[names.CONFIG]) == ("vault.secrets", "prod-config")
    assert config.topics.renames == {names.SECRETS: "vault.secrets"}  # for_app copies


APP_IDS = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


@given(APP_IDS, APP_IDS)
def test_two_apps_share_no_internal_topic(first, second):
    ours = {UNBOUND.for_app(first)[n] for n in names.INTERNAL}
    theirs = {UNBOUND.for_app(second)[n] for n in names.INTERNAL}
    assert len(ours) == len(names.INTERNAL)
    assert (ours & theirs == set()) == (first != second)
    assert not ours & set(names.ALL)  # never a public name, nor a legacy one


LEGACY = {"streams.user-commands", "streams.config", "streams.secrets"}
OWN = {"acme-user-commands", "acme-config", "acme-secrets"}
RAN_BEFORE = {"acme-users-changelog", "acme-scores-changelog"}


@pytest.mark.parametrize("existing, renames, keeps", [
    # an app that ran before the upgrade, on the shared names: keeps them (nothing lost)
    (LEGACY | RAN_BEFORE, {}, True),
    ({"streams.config", "streams.secrets"} | RAN_BEFORE, {}, True),
    # a new app beside others on the legacy names: its own
    (LEGACY, {}, False),
    (LEGACY | {"acme-staging-users-changelog"}, {}, False),  # another app's changelog
    # a fresh cluster, or an app made since the upgrade, or moved by `topics migrate`
    (set(), {}, False),
    (RAN_BEFORE | OWN, {}, False),
    (LEGACY | RAN_BEFORE | OWN, {}, False),
    (LEGACY | RAN_BEFORE | {"acme-config"}, {}, False),  # migrate made one: the move has begun
    # what the config renames is not concerned
    (LEGACY | RAN_BEFORE, {n: f"ops.{n}" for n in names.INTERNAL}, False),
    (LEGACY | RAN_BEFORE, {names.USER_COMMANDS: "ops.commands"}, True),
    (LEGACY | RAN_BEFORE | {"acme-config"}, {names.USER_COMMANDS: "ops.commands"}, False),
    ({"streams.user-commands"} | RAN_BEFORE, {names.USER_COMMANDS: "ops.commands"}, False),
])
def test_an_app_keeps_the_legacy_names_only_if_it_ran_on_them_and_has_none_of_its_own(existing, renames, keeps):
    assert names.keeps_legacy_names(names.TopicNames(renames), "acme", existing) is keeps
