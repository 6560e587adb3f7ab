"""The insights store: one DuckDB file with the responses, the lifecycle events, the surveys
seen, and the Kafka offsets the rows were read up to.

Exactly once: every batch of rows is written in one transaction together with the next
offset of each partition it came from, so after a crash (SIGKILL included) the file holds
either the whole batch and its offsets or neither; the reader seeks to the offsets the file
holds (never to the consumer group's). Rows are also keyed by their ids (responseId,
messageId) and inserted with ON CONFLICT DO NOTHING: a response produced twice (a worker's
replay) or a file read from the beginning again is still counted once.

One writer (the reader's thread, `ingest`); queries use cursors of their own (`cursor()`),
which DuckDB's MVCC lets read while a batch is written.
"""
from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

import duckdb

from streams.insights.records import EVENT_COLUMNS, RESPONSE_COLUMNS, Batch

log = logging.getLogger(__name__)
SCHEMA_VERSION = "1"

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS offsets (
        topic VARCHAR NOT NULL, partition INTEGER NOT NULL, next_offset BIGINT NOT NULL,
        PRIMARY KEY (topic, partition))""",
    """CREATE TABLE IF NOT EXISTS surveys (
        survey_id VARCHAR PRIMARY KEY, survey_type VARCHAR NOT NULL, name VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS responses (
        response_id VARCHAR PRIMARY KEY,
        survey_id VARCHAR NOT NULL,
        survey_type VARCHAR NOT NULL,
        user_id VARCHAR,
        score JSON,             -- as the response carried it
        score_key VARCHAR,      -- streams.core.scoring's key; NULL: not counted in scores
        category VARCHAR,
        comment VARCHAR,
        locale VARCHAR,
        completed_at TIMESTAMP NOT NULL,  -- UTC
        day DATE NOT NULL,                -- UTC day of completed_at, as surveys.scores counts it
        answers JSON,
        traits JSON,
        created_at VARCHAR,
        first_seen VARCHAR,
        src_partition INTEGER,
        src_offset BIGINT)""",
    """CREATE TABLE IF NOT EXISTS events (
        message_id VARCHAR PRIMARY KEY,
        survey_id VARCHAR NOT NULL,
        kind VARCHAR NOT NULL,  -- viewed | answered | completed | dismissed
        display_id VARCHAR,
        user_id VARCHAR,
        happened_at TIMESTAMP NOT NULL,
        day DATE NOT NULL)""",
)

# Columns are passed as lists and unnested: one statement per table per batch, tens of
# thousands of rows a second (a row-by-row executemany manages a few thousand).
_INSERT_RESPONSES = f"""
    INSERT INTO responses (response_id, survey_id, survey_type, user_id, score, score_key, category, comment, locale, completed_at, day, answers, traits,
        created_at, first_seen, src_partition, src_offset)
    SELECT c0, c1, c2, c3, c4::JSON, c5, c6, c7, c8, epoch_ms(c9::BIGINT), c10::DATE, c11::JSON, c12::JSON,
        c13, c14, c15::INTEGER, c16::BIGINT
    FROM (SELECT {", ".join(f"unnest(${i + 1}) AS c{i}" for i in range(len(RESPONSE_COLUMNS)))})
    ON CONFLICT (response_id) DO NOTHING"""
_INSERT_EVENTS = f"""
    INSERT INTO events (message_id, survey_id, kind, display_id, user_id, happened_at, day)
    SELECT c0, c1, c2, c3, c4, epoch_ms(c5::BIGINT), c6::DATE
    FROM (SELECT {", ".join(f"unnest(${i + 1}) AS c{i}" for i in range(len(EVENT_COLUMNS)))})
    ON CONFLICT (message_id) DO NOTHING"""
_UPSERT_SURVEYS = """
    INSERT INTO surveys (survey_id, survey_type, name)
    SELECT * FROM (SELECT unnest($1) AS survey_id, unnest($2) AS survey_type, unnest($3) AS name)
    ON CONFLICT (survey_id) DO UPDATE SET survey_type = excluded.survey_type,
        name = coalesce(excluded.name, surveys.name)"""
_UPSERT_OFFSETS = """
    INSERT INTO offsets (topic, partition, next_offset)
    SELECT * FROM (SELECT unnest($1) AS topic, unnest($2)::INTEGER AS partition, unnest($3)::BIGINT AS next_offset)
    ON CONFLICT (topic, partition) DO UPDATE SET next_offset = greatest(excluded.next_offset, offsets.next_offset)"""


def _columns(rows) -> list[list]:
    return [list(column) for column in zip(*rows)]


class Store:
    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._db = duckdb.connect(self.path)
        self._lock = threading.Lock()  # one writer; the connection's own cursor is the writer's
        self._db.execute("SET TimeZone = 'UTC'")
        for statement in SCHEMA:
            self._db.execute(statement)
        self._db.execute("INSERT INTO meta VALUES ('schema_version', ?) ON CONFLICT DO NOTHING", [SCHEMA_VERSION])

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own to the same database, for one query (any thread)."""
        cursor = self._db.cursor()
        cursor.execute("SET TimeZone = 'UTC'")
        return cursor

    def offsets(self) -> dict:
        """{(topic, partition): next offset to read} as the file holds them."""
        with self._lock:
            rows = self._db.execute("SELECT topic, partition, next_offset FROM offsets").fetchall()
        return {(topic, partition): offset for topic, partition, offset in rows}

    def ingest(self, batch: Batch, offsets: dict) -> tuple[int, int]:
        """The batch's rows and `offsets` ({(topic, partition): next offset}) in one
        transaction; (responses, events) newly inserted (duplicates are not)."""
        with self._lock:
            db = self._db
            db.execute("BEGIN TRANSACTION")
            try:
                responses = events = 0
                if batch.responses:
                    responses = db.execute(_INSERT_RESPONSES, _columns(batch.responses.values())).fetchone()[0]
                if batch.events:
                    events = db.execute(_INSERT_EVENTS, _columns(batch.events.values())).fetchone()[0]
                if batch.surveys:
                    ids = list(batch.surveys)
                    db.execute(_UPSERT_SURVEYS, [ids, [batch.surveys[i][0] for i in ids],
                                                 [batch.surveys[i][1] for i in ids]])
                if offsets:
                    keys = list(offsets)
                    db.execute(_UPSERT_OFFSETS, [[t for t, _ in keys], [p for _, p in keys],
                                                 [offsets[k] for k in keys]])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return responses, events

    def seed_surveys(self, surveys) -> None:
        """Surveys the config names (id, type, name), so that one without a response yet
        is known (its scores are empty rather than 404); the records' names win later."""
        rows = [(s.id, s.type, s.name) for s in surveys]
        if not rows:
            return
        with self._lock:
            self._db.execute("""
                INSERT INTO surveys (survey_id, survey_type, name)
                SELECT * FROM (SELECT unnest($1) AS a, unnest($2) AS b, unnest($3) AS c)
                ON CONFLICT (survey_id) DO NOTHING""", _columns(rows))

    def counts(self) -> dict:
        with self._lock:
            responses = self._db.execute("SELECT count(*) FROM responses").fetchone()[0]
            events = self._db.execute("SELECT count(*) FROM events").fetchone()[0]
        return {"responses": responses, "events": events}
