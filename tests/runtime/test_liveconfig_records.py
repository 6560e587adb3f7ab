"""Records on the config topic are trusted only once they parse and validate whole
(streams.runtime.liveconfig, docs/reference.md#live-config): any other is skipped, logged with its offset
and reason and counted once, and the latest valid version stays the active one, for the
workers and for `surveys apply|show|diff` alike.

A non-string `version` or `text` used to pass Version.of and then raise AttributeError in
every worker that started and in every `surveys` command; records that were not JSON were
dropped without a word. The topic is simulated here (read_to_end patched); the real broker
is in tests/integration/test_live_config.py."""
from __future__ import annotations

import argparse
import logging
from types import SimpleNamespace

import orjson
import pytest
import yaml

from streams.core.config import ConfigError
from streams.cli import surveys
from streams.runtime import liveconfig
from streams.runtime.metrics import registry

TOPIC = "t.streams.config"
GOOD_TEXT = yaml.safe_dump({"surveys": [{"id": "nps-a", "type": "nps", "name": "A"}]})
OTHER_TEXT = yaml.safe_dump({"surveys": [{"id": "nps-b", "type": "nps", "name": "B"}]})


def record(version="abc.1", text=GOOD_TEXT, **changes) -> bytes:
    body = {"version": version, "appliedAt": "2026-12-01T00:00:00.000Z", "source": "surveys.yaml", "text": text}
    body.update(changes)
    return orjson.dumps(body)


BAD = [
    ("version a number", record(version=42), "version"),
    ("version null", record(version=None), "version"),
    ("version empty", record(version=""), "version"),
    ("version of 10,000 characters", record(version="v" * 10_000), "version"),
    ("text a number", record(text=7), "text"),
    ("text a list", record(text=["surveys: []"]), "text"),
    ("appliedAt an object", record(appliedAt={"a": 1}), "appliedAt"),
    ("source missing", orjson.dumps({"version": "v", "appliedAt": "x", "text": GOOD_TEXT}), "source"),
    ("not JSON", b"\xff not json {", "(record)"),
    ("JSON, not an object", b"[1, 2, 3]", "(record)"),
    ("JSON null", b"null", "(record)"),
    ("a tombstone", None, "(record)"),
    ("YAML that does not parse", record(text="surveys: [\n  - {id: a"), "(yaml)"),
    ("YAML that does not validate", record(text="surveys: [{id: a, type: xps, name: A}]"), "type"),
    ("recontact_days .inf", record(text="project: {recontact_days: .inf}\n"), "project.recontact_days"),
    ("sample_percent .nan", record(text="surveys: [{id: a, type: nps, name: A, targeting: {sample_percent: .nan}}]"),
     "targeting.sample_percent"),
    ("1e300 days", record(text="surveys: [{id: a, type: nps, name: A, targeting: {recontact_after_response_days: 1.0e+300}}]"),
     "targeting.recontact_after_response_days"),
]


@pytest.mark.parametrize("raw, field", [case[1:] for case in BAD], ids=[case[0] for case in BAD])
def test_a_record_that_does_not_parse_or_validate_is_a_config_error_naming_where_it_is(raw, field):
    with pytest.raises(ConfigError) as caught:
        liveconfig.Version.parse(raw, f"{TOPIC}@12")
    assert caught.value.field == field, str(caught.value)
    assert str(caught.value).startswith(f"{TOPIC}@12"), str(caught.value)


def test_a_valid_record_is_parsed_once_with_its_config():
    version = liveconfig.Version.parse(record(), f"{TOPIC}@0")
    assert (version.version, version.source) == ("abc.1", "surveys.yaml")
    assert version.config() is version.parsed and [s.id for s in version.config().surveys] == ["nps-a"]
    assert version.config().version == "abc.1"


def test_an_empty_text_is_a_config_without_surveys():
    assert liveconfig.Version.parse(record(text=""), f"{TOPIC}@0").config().surveys == ()


def test_a_skipped_record_is_logged_with_its_offset_and_counted_once(caplog):
    topic = f"{TOPIC}.once"
    before = registry.value(liveconfig.SKIPPED_METRIC)
    with caplog.at_level(logging.ERROR, logger="streams.runtime.liveconfig"):
        for _ in range(3):  # a worker reads the topic at start, then follows it from the beginning
            kind, error = liveconfig.classify(topic, 5, liveconfig.KEY, record(version=42))
            assert kind == "skipped" and isinstance(error, ConfigError)
    assert registry.value(liveconfig.SKIPPED_METRIC) == before + 1
    logged = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(logged) == 1 and (logged[0].topic, logged[0].offset) == (topic, 5)
    assert "field 'version'" in logged[0].reason
    assert liveconfig.SKIPPED_METRIC in registry.render()


def test_classify_tells_versions_markers_and_junk_apart():
    assert liveconfig.classify(TOPIC, 0, liveconfig.KEY, record())[0] == "version"
    assert liveconfig.classify(TOPIC, 1, b"redecided/3", b'{"version": "abc.1"}') == ("marker", (3, "abc.1"))
    assert liveconfig.classify(TOPIC, 2, b"redecided/3", b'{"version": 3}')[0] == "skipped"
    assert liveconfig.classify(TOPIC, 3, None, record())[0] == "skipped"


# --- the topic read to its end (read_to_end simulated) ---------------------------------------

def _topic(monkeypatch, records: list) -> None:
    """The config topic holds `records`: (key, value) in offset order."""
    def read_to_end(bootstrap, topic, **kwargs):
        for offset, (key, value) in enumerate(records):
            yield SimpleNamespace(offset=offset, key=key, value=value, partition=0)
    monkeypatch.setattr(liveconfig.topicread, "read_to_end", read_to_end)


K = liveconfig.KEY
V1, V2 = record("v1.1", GOOD_TEXT), record("v2.2", OTHER_TEXT)


@pytest.mark.parametrize("records, active, skipped, on_top", [
    ([], None, 0, True),
    ([(K, V1)], "v1.1", 0, True),
    ([(K, V1), (K, V2)], "v2.2", 0, True),
    ([(K, V1), (K, record(version=42)), (K, b"not json"), (K, record(text=".inf"))], "v1.1", 3, False),
    ([(K, V1), (K, record(version=42)), (K, V2)], "v2.2", 1, True),
    ([(K, V1), (K, V2), (K, record(text="project: {recontact_days: .nan}"))], "v2.2", 1, False),
    ([(K, V1), (b"redecided/0", b'{"version": "v1.1"}'), (b"junk", b"x")], "v1.1", 1, True),
    ([(K, record(version=42)), (K, None)], None, 2, False),
], ids=["empty", "one", "two", "bad after one", "good after bad", "bad after two", "junk key", "only bad"])
def test_the_active_version_is_the_latest_valid_one(monkeypatch, records, active, skipped, on_top):
    _topic(monkeypatch, records)
    state = liveconfig.read_active("kafka:9092", f"{TOPIC}.{id(records)}")
    assert (state.version.version if state.version else None, len(state.skipped), state.on_top) == \
        (active, skipped, on_top)
    assert liveconfig.latest("kafka:9092", TOPIC) == state.version


# --- `surveys show|diff|apply` over bad records -----------------------------------------------

@pytest.fixture
def cli(monkeypatch, tmp_path):
    """Run `surveys <action> [file]` against a simulated topic; returns (code, out, err, published)."""
    published = []

    def publish(bootstrap, topic, text, source, now_ms):
        published.append(text)
        return liveconfig.Version(f"new.{len(published)}", "now", source, text)

    monkeypatch.setattr(liveconfig, "publish", publish)
    # No cluster to ask whether the app is on the legacy topic names: it is not.
    monkeypatch.setattr(surveys.kafka_topics, "existing_topics", lambda bootstrap: set())
    default = tmp_path / "surveys.yaml"
    default.write_text(GOOD_TEXT)
    settings = SimpleNamespace(config_path=str(default), bootstrap_servers="kafka:9092", app_id="app")

    def run(capsys, action, text=None):
        path = None
        if text is not None:
            path = tmp_path / f"{action}.yaml"
            path.write_text(text)
        code = surveys.run(argparse.Namespace(action=action, file=str(path) if path else None, dry_run=False),
                               settings)
        out, err = capsys.readouterr()
        return code, out, err, published

    return run


BAD_RECORDS = [(K, record(version=42)), (K, record(text=12)), (K, b"{not json"), (K, b"[]"),
               (K, record(text="project: {recontact_days: .inf}"))]


def test_show_reads_past_bad_records_and_says_so(monkeypatch, cli, capsys):
    _topic(monkeypatch, [(K, V1)] + BAD_RECORDS)
    code, out, err, _ = cli(capsys, "show")
    assert code == 0 and out.startswith("active version v1.1"), (out, err)
    assert err.count("warning: skipped a record") == len(BAD_RECORDS), err
    assert "@1: field 'version'" in err and "@2: field 'text'" in err and "project.recontact_days" in err


def test_diff_compares_with_the_latest_valid_version(monkeypatch, cli, capsys):
    _topic(monkeypatch, [(K, V1)] + BAD_RECORDS)
    code, out, err, _ = cli(capsys, "diff", OTHER_TEXT)
    assert code == 0 and "against v1.1" in out and "survey nps-b: added" in out, (out, err)


def test_apply_works_over_bad_records(monkeypatch, cli, capsys):
    _topic(monkeypatch, BAD_RECORDS)  # no valid version at all: the STREAMS_CONFIG file is the baseline
    code, out, err, published = cli(capsys, "apply", OTHER_TEXT)
    assert code == 0 and published == [OTHER_TEXT] and "published version" in out, (out, err)


def test_applying_the_active_file_again_puts_it_back_on_top_of_bad_records(monkeypatch, cli, capsys):
    """Compaction keeps only the last `surveys` record: left under a bad one, the active
    version would be gone from the topic, and workers would start on their file."""
    _topic(monkeypatch, [(K, V1)] + BAD_RECORDS)
    code, out, err, published = cli(capsys, "apply", GOOD_TEXT)
    assert code == 0 and published == [GOOD_TEXT] and "publishing it again" in err, (out, err)
    _topic(monkeypatch, [(K, V1), (b"redecided/1", b'{"version": "v1.1"}')])
    code, out, err, published = cli(capsys, "apply", GOOD_TEXT)
    assert code == 0 and len(published) == 1 and "nothing published" in out, (out, err)


@pytest.mark.parametrize("text, field", [
    ("project: {recontact_days: .inf}\n", "project.recontact_days"),
    ("project: {display_timeout_minutes: .inf}\n", "project.display_timeout_minutes"),
    ("surveys: [{id: a, type: nps, name: A, targeting: {recontact_after_response_days: .nan}}]\n",
     "targeting.recontact_after_response_days"),
    ("surveys: [{id: a, type: nps, name: A, targeting: {sample_percent: .nan}}]\n", "targeting.sample_percent"),
    ("surveys: [{id: a, type: nps, name: A, targeting: {recontact_after_dismissal_days: 1.0e+300}}]\n",
     "targeting.recontact_after_dismissal_days"),
], ids=["recontact_days .inf", "display_timeout_minutes .inf", "response days .nan",
        "sample_percent .nan", "1e300 days"])
def test_apply_refuses_a_file_with_a_non_finite_value_naming_the_field(monkeypatch, cli, capsys, text, field):
    _topic(monkeypatch, [(K, V1)])
    code, out, err, published = cli(capsys, "apply", text)
    assert (code, published) == (2, []) and f"field '{field}'" in err and "nothing published" in err, (out, err)
