"""Hostile and malformed input against a real broker (issue 11, docs/security.md).

Each test is an attack that broke the worker before: after it, the worker is alive, a
normal user on the same partition as the attacked one is processed, nothing is produced
for a forged display, and the attacked user's endpoints answer 200.

One worker for the module (widget key, admin key, write key); every test uses its own ids.
"""
from __future__ import annotations

import gzip
import http.client
import socket
import time
import uuid
from urllib.parse import urlsplit

import orjson
import pytest
import yaml
from aiokafka.partitioner import murmur2

from streams.web import ingestion
from streams.core import displays
from streams.core.displays import RECEIPT_SKEW_MS
from streams.runtime.signing import derived_key
from streams.core.timeutil import iso, parse_iso
from tests.harness import DEFAULT_CONFIG, Worker, basic_auth

pytestmark = pytest.mark.integration

WIDGET_KEY = "hostile-widget-key"
KEY = {"X-Widget-Key": WIDGET_KEY}
ADMIN = {"Authorization": "Bearer test-admin-key"}
PARTITIONS = 8  # config/surveys.yaml, which the worker runs with
PRO = {"plan": "pro", "createdAt": "2020-01-01T00:00:00Z"}


@pytest.fixture(scope="module")
def worker(kafka_bootstrap, tmp_path_factory):
    w = Worker(kafka_bootstrap, tmp_path_factory.mktemp("hostile"), env={"STREAMS_WIDGET_KEY": WIDGET_KEY})
    try:
        w.start()
        yield w
    finally:
        w.stop()


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def partition_of(key: str) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS


def neighbour_of(user: str) -> str:
    """Another user id on the same partition as `user`."""
    while True:
        candidate = new_id("neighbour")
        if partition_of(candidate) == partition_of(user):
            return candidate


def now_ms() -> int:
    return int(time.time() * 1000)


def identify(worker: Worker, user: str, traits: dict, **fields) -> None:
    message = {"type": "identify", "userId": user, "messageId": new_id("m"), "timestamp": iso(now_ms()),
               "traits": traits, **fields}
    worker.produce("segment.identify", message, key=user)


def assert_healthy_after(worker: Worker, attacked: str) -> None:
    """The worker is up, a normal user on the attacked user's partition is processed, and the
    attacked user's endpoints answer (never a 5xx)."""
    assert worker.alive(), worker.log_tail()
    neighbour = neighbour_of(attacked)
    identify(worker, neighbour, {"plan": "team", "marker": neighbour})
    worker.state_when(neighbour, lambda s: s["traits"].get("marker") == neighbour)
    for path, headers in ((f"/v1/users/{attacked}", ADMIN), (f"/v1/users/{attacked}/explain", ADMIN),
                          (f"/v1/eligibility/{attacked}", KEY)):
        status, body = worker.get(path, headers)
        assert status in (200, 404) and status < 500, (path, status, body)
    assert worker.get(f"/v1/users/{attacked}/explain", ADMIN)[0] == 200
    assert worker.get(f"/v1/eligibility/{attacked}", KEY)[0] == 200


def dead_letters(worker: Worker, code: str, where=lambda record: True, count: int = 1, timeout_s: float = 30.0):
    return [v for _, v in worker.read("streams.deadletter", count=count, timeout_s=timeout_s,
                                      where=lambda v: v.get("error") == code and where(v))]


def raw_request(worker: Worker, method: str, path: str, body: bytes = b"", headers=()) -> tuple[int, dict]:
    """A request with header values as raw bytes (e.g. not UTF-8), which urllib refuses to send."""
    parts = urlsplit(worker.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.putrequest(method, path)
        for name, value in headers:
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body)
        response = connection.getresponse()
        payload = response.read()
        return response.status, orjson.loads(payload) if payload.startswith(b"{") else {"raw": payload[:200]}
    finally:
        connection.close()


# --- 1. a user's state cannot outgrow its budget ----------------------------------------------

def test_long_ids_and_growing_traits_are_refused_and_the_partition_keeps_flowing(worker):
    victim = new_id("budget")
    identify(worker, victim, {"plan": "pro"})
    worker.state_when(victim, lambda s: s["traits"].get("plan") == "pro")
    # Forty identifies with 31 KB messageIds: once a crash loop; now each is an invalid id.
    for n in range(40):
        identify(worker, victim, {"n": n}, messageId=f"{n}-" + "x" * 31_000)
    letters = dead_letters(worker, "invalid_field", lambda v: v.get("field") == "messageId" and victim in v["payload"],
                           count=40, timeout_s=60)
    assert len(letters) == 40
    # Traits that grow by 30 KB a message: refused once the traits pass their 64 KB budget.
    for n in range(4):
        identify(worker, victim, {f"t{n}-{i}": "y" * 1000 for i in range(30)})
    letters = dead_letters(worker, "too_large", lambda v: victim in v["payload"], timeout_s=60)
    assert letters and letters[0]["field"] == "traits", letters
    state = worker.state_when(victim, lambda s: "t1-0" in s["traits"])
    assert "t3-0" not in state["traits"]  # the refused input changed nothing
    assert_healthy_after(worker, victim)


# --- 2. forged widget events open no display --------------------------------------------------

def widget(user: str, survey: str, display: dict | str, kind: str, **fields) -> dict:
    event = {"messageId": new_id("w"), "userId": user, "surveyId": survey, "type": kind, **fields}
    if isinstance(display, dict):
        event["displayId"], event["displayToken"] = display["id"], display["token"]
    else:
        event["displayId"] = display
    return event


def test_forged_widget_events_never_make_a_response(worker):
    victim, stranger = new_id("forged"), new_id("never-identified")
    identify(worker, victim, PRO)
    assert worker.wait_for(lambda: worker.get(f"/v1/eligibility/{victim}", KEY)[1].get("eligible"))
    answer = {"questionId": "score", "value": 0}
    # No token, a made-up display, a user never identified: 403 at the bridge.
    for user in (victim, stranger):
        for kind, extra in (("shown", {}), ("answered", answer), ("submitted", {})):
            status, body = worker.post("/v1/widget/events", widget(user, "nps-main", new_id("d"), kind, **extra), KEY)
            assert status == 403 and body["code"] == "invalid_token", body
    # Another user's token does not open this user's display.
    other = new_id("other")
    identify(worker, other, PRO)
    assert worker.wait_for(lambda: worker.get(f"/v1/eligibility/{other}", KEY)[1].get("eligible"))
    display = worker.display(other, KEY)
    status, _ = worker.post("/v1/widget/events", widget(victim, "nps-main", display, "submitted"), KEY)
    assert status == 403
    # Straight onto the lifecycle topic, no token or a forged one: the agent refuses too.
    worker.produce("surveys.lifecycle", widget(victim, "nps-main", "d-straight", "answered", **answer), key=victim)
    worker.produce("surveys.lifecycle", widget(victim, "nps-main", {"id": "d-straight-2", "token": "ffff.AAAA"},
                                               "submitted"), key=victim)
    letters = dead_letters(worker, "invalid_token", lambda v: victim in v["payload"], count=2)
    assert len(letters) == 2
    assert_healthy_after(worker, victim)
    assert worker.read("segment.outbound", timeout_s=3, where=lambda v: v.get("userId") in (victim, stranger)) == []
    assert worker.read("surveys.responses", timeout_s=3, where=lambda v: v.get("userId") in (victim, stranger)) == []
    assert worker.user(stranger)[0] == 404  # a refused event made no state either


def test_two_tabs_share_one_display_and_make_one_response(worker):
    user = new_id("two-tabs")
    identify(worker, user, PRO)
    assert worker.wait_for(lambda: worker.get(f"/v1/eligibility/{user}", KEY)[1].get("eligible"))
    first, second = worker.display(user, KEY), worker.display(user, KEY)  # two tabs polled
    assert first["id"] == second["id"]  # one display per open survey; the second tab's events come after its end
    for display, score in ((first, 9), (second, 0)):
        for kind, extra in (("shown", {}), ("answered", {"questionId": "score", "value": score}), ("submitted", {})):
            status, body = worker.post("/v1/widget/events", widget(user, "nps-main", display, kind, **extra), KEY)
            assert status == 202, body
    [response] = [v for _, v in worker.read("surveys.responses", count=1, where=lambda v: v["userId"] == user)]
    assert response["score"] == 9
    time.sleep(2)
    assert len(worker.read("surveys.responses", timeout_s=3, where=lambda v: v["userId"] == user)) == 1
    completed = worker.read("segment.outbound", timeout_s=3,
                            where=lambda v: v["userId"] == user and v.get("event") == "Survey Completed")
    assert len(completed) == 1


# --- 2b. one display per open survey: polling mints nothing ---------------------------------------

def viewed_of(worker: Worker, user: str, count: int | None = None, timeout_s: float = 5.0) -> list:
    return [v for _, v in worker.read("segment.outbound", count=count, timeout_s=timeout_s,
                                      where=lambda v: v.get("userId") == user and v.get("event") == "Survey Viewed")]


def test_polling_hands_out_one_display_and_no_client_gets_past_the_rules(start_worker):
    """Six polls once gave six displays, and a client opening them all spent max_displays in
    a second (and locked the user out). Now: one display per open survey, the same id for
    every poll until it has ended, and the next one only when the rules allow it."""
    max_displays, redisplay_hours, timeout_minutes = 2, 0.002, 0.05  # redisplay 7.2 s, timeout 3 s
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["project"] = {**config.get("project", {}), "display_timeout_minutes": timeout_minutes}
    for survey in config["surveys"]:
        if survey["id"] == "nps-main":
            survey["targeting"].update(max_displays=max_displays, redisplay_after_hours=redisplay_hours)
    worker = start_worker(config, {"STREAMS_WIDGET_KEY": WIDGET_KEY})
    user = new_id("poller")
    identify(worker, user, PRO)
    assert worker.wait_for(lambda: worker.get(f"/v1/eligibility/{user}", KEY)[1].get("eligible"))
    polled = [worker.display(user, KEY) for _ in range(6)]
    assert len({d["id"] for d in polled}) == 1, polled
    # Open it with one of the six tokens; a poll (a page reload) continues it.
    assert worker.post("/v1/widget/events", widget(user, "nps-main", polled[3], "shown"), KEY)[0] == 202
    worker.state_when(user, lambda s: s["surveys"].get("nps-main", {}).get("displays") == 1)
    status, again = worker.get(f"/v1/eligibility/{user}", {**KEY, **ADMIN})
    assert status == 200 and again["eligible"] and again["display"]["id"] == polled[0]["id"], again
    # A client looping: polls, and opens with every token it ever got, for 20 s (the display
    # times out after 3 s; the next may come 7.2 s after the last was shown, max 2).
    tokens, handed = list(polled), {polled[0]["id"]}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for _ in range(2):
            status, body = worker.get(f"/v1/eligibility/{user}", KEY)
            assert status == 200, body
            if body.get("display"):
                tokens.append(body["display"])
                handed.add(body["display"]["id"])
        for display in tokens[-12:] + tokens[:2]:
            status, _ = worker.post("/v1/widget/events", widget(user, "nps-main", display, "shown"), KEY)
            assert status == 202
        state = worker.user(user)[1]
        history = state["surveys"].get("nps-main", {})
        assert history.get("displaysSinceResponse", 0) <= max_displays and history.get("displays", 0) <= max_displays
        time.sleep(0.5)
    time.sleep(2 * timeout_minutes * 60)
    state = worker.state_when(user, lambda s: True)
    assert state["surveys"]["nps-main"]["displays"] == max_displays, state["surveys"]  # the cap, reached, held
    assert state["surveys"]["nps-main"]["displaysSinceResponse"] == max_displays
    assert len(handed) == max_displays, handed  # a third display was never handed out
    views = viewed_of(worker, user, count=max_displays)
    assert sorted(v["properties"]["display_id"] for v in views) == sorted(handed)
    shown_at = sorted(parse_iso(v["timestamp"]) for v in views)
    assert shown_at[1] - shown_at[0] >= redisplay_hours * 3_600_000, shown_at  # redisplay_after_hours held
    status, decision = worker.get(f"/v1/eligibility/{user}", KEY)
    assert status == 200 and not decision["eligible"] and "display" not in decision, decision
    [nps] = [v for v in worker.get(f"/v1/users/{user}/explain", ADMIN)[1]["surveys"] if v["surveyId"] == "nps-main"]
    assert nps["reason"] == "max_displays_reached", nps
    assert len(viewed_of(worker, user, timeout_s=3)) == max_displays
    assert_healthy_after(worker, user)  # the spent slots' tokens: events of ended displays, ignored


# --- 3. event times out of range --------------------------------------------------------------

def test_event_times_out_of_range_are_replaced_and_never_break_an_endpoint(worker):
    user = new_id("time")
    identify(worker, user, {**PRO, "tier": "old"}, timestamp="2999-01-01T00:00:00Z",
             receivedAt="2999-01-01T00:00:00Z")  # receivedAt is anyone's to set on Kafka
    worker.produce("segment.track", {"type": "track", "userId": user, "event": "Clicked",
                                     "timestamp": "0001-01-01T00:00:00Z"}, key=user)
    identify(worker, user, {"createdAt": 253402300799999, "signup": "9999-12-31"})
    worker.state_when(user, lambda s: s["traits"].get("signup"))
    identify(worker, user, {"tier": "new"})  # a far-future identify must not pin "old"
    state = worker.state_when(user, lambda s: s["traits"].get("tier") == "new")
    assert state["createdAt"] is None  # near year 9999: ignored for the account age
    assert state["firstSeen"] > "2020" and state["lastSeen"] < "2100", state
    assert_healthy_after(worker, user)
    _, metrics = worker.get("/metrics")
    assert "survey_streams_event_time_corrected_total{" in metrics


# --- 4. no 500s ------------------------------------------------------------------------------

def nested(depth: int) -> bytes:
    return b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1)


def test_deep_nesting_bad_headers_and_bad_gzip_get_4xx(worker):
    user = new_id("deep")
    body = b'{"userId":"' + user.encode() + b'","traits":' + nested(300) + b"}"
    status, reply = worker.post("/v1/identify", body, basic_auth("test-write-key"))
    assert status == 400 and reply["code"] == "invalid_field", reply
    # In a batch: the deep item is dead-lettered, the valid items of the batch go through.
    ok = new_id("deep-ok")
    batch = b'{"batch":[{"type":"identify","userId":"' + ok.encode() + b'","traits":{"plan":"pro"}},' \
            b'{"type":"identify","userId":"' + user.encode() + b'","traits":' + nested(300) + b"}]}"
    status, reply = worker.post("/v1/batch", batch, basic_auth("test-write-key"))
    assert status == 200, reply
    worker.state_when(ok, lambda s: s["traits"].get("plan") == "pro")
    assert dead_letters(worker, "invalid_field", lambda v: user in v["payload"])
    # Header values that are not UTF-8.
    for path, method, name in (("/v1/eligibility/x", "GET", "X-Widget-Key"), ("/v1/identify", "POST", "Authorization"),
                               ("/v1/users/x", "GET", "Authorization"), ("/v1/widget/events", "POST", "X-Widget-Key")):
        status, reply = raw_request(worker, method, path, b"{}", [(name, b"Basic \xff\xfe\x80 \xc3")])
        assert status == 401, (path, status, reply)
    # Content-Encoding: gzip on a body that is not gzip.
    for path, headers in (("/v1/widget/events", KEY), ("/v1/identify", basic_auth("test-write-key"))):
        status, reply = worker.post(path, b'{"not": "gzip"}', {**headers, "Content-Encoding": "gzip"})
        assert status == 400, (path, status, reply)
    truncated = gzip.compress(orjson.dumps({"userId": user}))[:-6]
    status, _ = worker.post("/v1/widget/events", truncated, {**KEY, "Content-Encoding": "gzip"})
    assert status == 400
    assert_healthy_after(worker, user)


def test_batch_amplification_and_dead_letter_floods_are_refused_whole(worker):
    user = new_id("amplify")
    # 1.3 KB of gzip that would copy a 31 KB context into 16,000 items: 474 MB to produce.
    body = orjson.dumps({"context": {"traits": {"x": "a" * 31_000}},
                         "batch": [{"type": "page", "userId": user}] * 16_000})
    status, reply = worker.post("/v1/batch", gzip.compress(body), {**basic_auth("test-write-key"),
                                                                   "Content-Encoding": "gzip"})
    assert status == 413, reply
    body = orjson.dumps({"context": {"traits": {"x": "a" * 31_000}}, "batch": [{"type": "page", "userId": user}] * 40})
    status, reply = worker.post("/v1/batch", body, basic_auth("test-write-key"))
    assert status == 413 and "envelope" in reply["message"], reply
    # 250,000 invalid items in 538 bytes: no flood of dead letters, one 4xx.
    status, reply = worker.post("/v1/batch", gzip.compress(b'{"batch":[' + b"1," * 2400 + b"1]}"),
                                {**basic_auth("test-write-key"), "Content-Encoding": "gzip"})
    assert status == 400, reply
    assert worker.user(user)[0] == 404  # nothing of those batches was produced
    assert_healthy_after(worker, user)


# --- 5. identity takeover ----------------------------------------------------------------------

def test_an_alias_cannot_fold_an_identified_user_into_another(worker):
    victim, attacker, attacker2 = new_id("victim"), new_id("attacker"), new_id("attacker2")
    identify(worker, victim, {**PRO, "email": "victim@example.com"})
    identify(worker, attacker, {"plan": "free"})
    identify(worker, attacker2, {"plan": "free"})
    worker.state_when(victim, lambda s: s["traits"].get("email"))
    worker.produce("segment.alias", {"type": "alias", "previousId": victim, "userId": attacker,
                                     "messageId": new_id("alias")}, key=attacker)
    identify(worker, attacker2, {}, anonymousId=victim)  # the same fold, through an identify
    letters = dead_letters(worker, "alias_conflict", lambda v: victim in v["payload"], count=2)
    assert len(letters) == 2, letters
    worker.state_when(attacker, lambda s: victim not in s["anonymousIds"])
    worker.state_when(attacker2, lambda s: victim not in s["anonymousIds"])
    state = worker.state_when(victim, lambda s: True)
    assert state["traits"]["email"] == "victim@example.com"
    status, decision = worker.get(f"/v1/eligibility/{victim}", {**KEY, **ADMIN})
    assert status == 200 and decision["reason"] != "not_identified", decision
    assert_healthy_after(worker, victim)


def test_an_id_claimed_by_an_alias_before_its_first_identify_is_its_own_user_again(worker):
    """alias {previousId: <an id nobody used yet>, userId: <attacker>} pre-claims the id; once
    its own identify comes, the id is a user of its own: its traits do not flow to the
    attacker, and the bridge knows it."""
    victim, attacker = new_id("claimed"), new_id("claimer")
    identify(worker, attacker, {"plan": "free"})
    worker.produce("segment.alias", {"type": "alias", "previousId": victim, "userId": attacker,
                                     "messageId": new_id("alias")}, key=attacker)
    worker.state_when(attacker, lambda s: victim in s["anonymousIds"])
    identify(worker, victim, {**PRO, "email": "victim@example.com"})
    state = worker.state_when(victim, lambda s: s["traits"].get("email"))
    assert state["traits"]["email"] == "victim@example.com"
    claimer = worker.state_when(attacker, lambda s: victim not in s["anonymousIds"])
    assert "email" not in claimer["traits"]
    status, decision = worker.get(f"/v1/eligibility/{victim}", {**KEY, **ADMIN})
    assert status == 200 and decision["reason"] != "not_identified", decision
    assert_healthy_after(worker, victim)


def test_crossed_aliases_leave_at_most_one_redirect(worker):
    first, second = new_id("cross-a"), new_id("cross-b")
    for user in (first, second):
        worker.produce("segment.track", {"type": "track", "anonymousId": user, "event": "Visited",
                                         "messageId": new_id("t")}, key=user)
    for user in (first, second):
        worker.wait_for(lambda: worker.user(user)[0] == 200)
    worker.produce("segment.alias", {"type": "alias", "previousId": first, "userId": second,
                                     "messageId": new_id("x")}, key=second)
    worker.produce("segment.alias", {"type": "alias", "previousId": second, "userId": first,
                                     "messageId": new_id("x")}, key=first)
    time.sleep(5)
    answers = [worker.user(user)[0] for user in (first, second)]
    assert 200 in answers, answers  # never two redirects pointing at each other
    assert_healthy_after(worker, first)


# --- records on the wrong partition, forged user commands --------------------------------------

def test_a_record_on_another_partition_than_its_key_joins_the_one_state(worker):
    user = new_id("partition")
    right = partition_of(user)
    worker.producer.send(worker.topic("segment.identify"), key=user.encode(), partition=(right + 3) % PARTITIONS,
                         value=orjson.dumps({"type": "identify", "userId": user, "traits": {"a": 1}}))
    worker.producer.flush()
    identify(worker, user, {"b": 2})
    state = worker.state_when(user, lambda s: {"a", "b"} <= set(s["traits"]))
    assert state["traits"] == {"a": 1, "b": 2}
    assert_healthy_after(worker, user)


def test_an_unsigned_user_command_is_dead_lettered_and_applies_nothing(worker):
    victim = new_id("command")
    identify(worker, victim, {**PRO, "email": "v@example.com"})
    worker.state_when(victim, lambda s: s["traits"].get("email"))
    worker.producer.send(worker.topic("streams.user-commands"), key=victim.encode(), partition=partition_of(victim),
                         value=orjson.dumps({"kind": "fold", "anonymousId": victim, "userId": "attacker"}))
    worker.producer.flush()
    assert dead_letters(worker, "invalid_signature", lambda v: victim in v["payload"])
    assert worker.user(victim)[0] == 200  # still a user, not a redirect
    assert_healthy_after(worker, victim)


# --- 7. /v1/batch answers once its dead letters are written ---------------------------------------

def test_batch_answers_200_only_once_its_dead_letters_are_in_kafka(worker):
    marker = new_id("batch-dl")
    body = {"batch": [{"type": "identify", "userId": marker, "traits": {}}, {"type": "track", "userId": marker}]}
    status, _ = worker.post("/v1/batch", body, basic_auth("test-write-key"))
    assert status == 200
    # Already there when the answer came: read at once, with no waiting for a producer flush.
    assert dead_letters(worker, "missing_field", lambda v: marker in v["payload"], timeout_s=2)


# --- 8. display tokens the bridge cannot read -----------------------------------------------------

def test_a_display_token_with_an_expiry_over_64_bits_gets_403_not_500(worker):
    user = new_id("token-64")
    identify(worker, user, PRO)
    assert worker.wait_for(lambda: worker.get(f"/v1/eligibility/{user}", KEY)[1].get("eligible"))
    display = worker.display(user, KEY)
    mac = display["token"].split(".")[1]
    for expiry in ("f" * 20, "-" + "f" * 20, "1" * 40):
        forged = {"id": display["id"], "token": f"{expiry}.{mac}"[:64]}
        status, body = worker.post("/v1/widget/events", widget(user, "nps-main", forged, "shown"), KEY)
        assert status == 403 and body["code"] == "invalid_token", (status, body)
    # Straight onto the lifecycle topic: refused as a token, not as a processing error.
    forged = {"id": display["id"], "token": f"{'f' * 20}.{mac}"}
    worker.produce("surveys.lifecycle", widget(user, "nps-main", forged, "shown"), key=user)
    assert dead_letters(worker, "invalid_token", lambda v: user in v["payload"])
    assert_healthy_after(worker, user)


# --- 9. receivedAt is the writer's: the broker's append time bounds what a token opens ------------------

def test_a_token_harvested_once_opens_no_display_after_it_expired(start_worker):
    """A token asked for while the user was eligible, used straight on the lifecycle topic
    after it expired, with receivedAt set back to when it was fresh: once a response in the
    user's name at any later time; now invalid_token (the topic keeps LogAppendTime).

    Rather than wait out the token's minute and the receipt skew (two minutes), the test
    holds the worker's secret and mints the token the bridge handed out three minutes ago:
    the same display id (checked against the bridge's), signed the same way."""
    secret = b"harvest-test-secret"
    config = yaml.safe_load(DEFAULT_CONFIG.read_text())
    config["project"] = {**config.get("project", {}), "display_token_minutes": 1, "display_timeout_minutes": 0.01}
    worker = start_worker(config, {"STREAMS_WIDGET_KEY": WIDGET_KEY, "STREAMS_DISPLAY_SECRET": secret.decode()})
    user = new_id("harvested")
    identify(worker, user, PRO)
    assert worker.wait_for(lambda: worker.get(f"/v1/eligibility/{user}", KEY)[1].get("eligible"))
    handed_out = worker.display(user, KEY)
    display_id = displays.display_id(derived_key(secret, "display-id"), user, "nps-main", 0)
    assert handed_out["id"] == display_id
    # Issued before its minute, its display's timeout and the clock skew the agent allows.
    issued = now_ms() - (60 * 1000 + 600 + RECEIPT_SKEW_MS) - 3000
    harvested = displays.issue(derived_key(secret, "display-token"), user, "nps-main", display_id, issued, 1)
    fresh = iso(issued)
    for kind, extra in (("shown", {}), ("answered", {"questionId": "score", "value": 0}), ("submitted", {})):
        worker.produce("surveys.lifecycle", widget(user, "nps-main", harvested, kind, timestamp=fresh,
                                                   receivedAt=fresh, **extra), key=user)
    assert len(dead_letters(worker, "invalid_token", lambda v: user in v["payload"], count=3)) == 3
    assert worker.read("surveys.responses", timeout_s=3, where=lambda v: v.get("userId") == user) == []
    assert_healthy_after(worker, user)


# --- 10. a body over its limit is refused before it is read whole -------------------------------

def send_then_answer(worker: Worker, path: str, headers: dict, parts, wait_s: float = 5.0) -> tuple[int, dict]:
    """Send the request line, `headers` and the body `parts` one by one on a raw socket, then
    read the answer within `wait_s` (a server that waits for the rest of the body never
    answers: socket.timeout). The server may close while parts are still being sent."""
    sock = socket.create_connection(("127.0.0.1", worker.port), timeout=wait_s)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        sock.sendall(head.encode() + b"\r\n")
        try:
            for part in parts:
                sock.sendall(part)
        except OSError:  # answered and closed before the whole body was in: what is wanted
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + _length(answer):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        head_text, _, body = answer.partition(b"\r\n\r\n")
        return int(head_text.split(b" ", 2)[1]), orjson.loads(body) if body.startswith(b"{") else {}
    finally:
        sock.close()


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def chunked(data: bytes, size: int = 16 * 1024):
    for start in range(0, len(data), size):
        piece = data[start:start + size]
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"


POST_ROUTES = [("/v1/identify", ingestion.MAX_MESSAGE_BYTES, basic_auth("test-write-key")),
               ("/v1/t", ingestion.MAX_MESSAGE_BYTES, basic_auth("test-write-key")),
               ("/v1/batch", ingestion.MAX_BATCH_BYTES, basic_auth("test-write-key")),
               ("/v1/import", ingestion.MAX_BATCH_BYTES, basic_auth("test-write-key")),
               ("/v1/webhook", ingestion.MAX_BATCH_BYTES, basic_auth("test-write-key")),
               ("/v1/widget/events", ingestion.MAX_WIDGET_BODY_BYTES, KEY)]


@pytest.mark.parametrize("path, limit, credentials", POST_ROUTES, ids=[route[0] for route in POST_ROUTES])
def test_a_body_over_its_limit_gets_413_before_it_is_all_sent(worker, path, limit, credentials):
    """Once the bridge read the whole body (up to aiohttp's 1 MB cap) before looking at it: a
    client declaring 50 MB and sending slowly held the request open, and a body sent chunked
    was read to 1 MB whatever the route's limit."""
    json = {**credentials, "Content-Type": "application/json"}
    # Content-Length over the limit, 1 KB sent: refused at once.
    status, body = send_then_answer(worker, path, {**json, "Content-Length": str(50 * 1024 * 1024)}, [b"{" * 1024])
    assert status == 413 and body["code"] == "too_large" and body["field"] == "body", (status, body)
    # Chunked, no length: refused once the limit is passed, with the rest never sent.
    status, body = send_then_answer(worker, path, {**json, "Transfer-Encoding": "chunked"},
                                    chunked(b" " * (limit + 32 * 1024)))
    assert status == 413 and body["code"] == "too_large", (status, body)
    # gzip: 50 KB on the wire that inflate to 50 MB, chunked: refused once inflated past the limit.
    bomb = gzip.compress(b" " * (50 * 1024 * 1024))
    status, body = send_then_answer(worker, path, {**json, "Transfer-Encoding": "chunked", "Content-Encoding": "gzip"},
                                    chunked(bomb))
    assert status == 413 and body["code"] == "too_large", (status, body)
    # At the limit it is read and judged as a body (here: not JSON, 400), not refused for its size.
    status, body = send_then_answer(worker, path, {**json, "Content-Length": str(limit)}, [b"x" * limit])
    assert status == 400, (status, body)
    assert worker.alive()


# --- 11. Faust's own table and router pages are off ------------------------------------------------

def test_no_page_serves_a_users_state_or_the_topology_without_a_key(worker):
    """Faust's /table/users/{key}/ answered any user's whole state to anyone (no key at all), and
    routed from the Host header to whatever URL the owner advertised; /router/ listed every
    worker's URL. Both are off: the admin API is the one way to read a state."""
    victim = new_id("table")
    identify(worker, victim, {**PRO, "email": "secret@example.com"})
    worker.state_when(victim, lambda s: s["traits"].get("email"))
    for path in (f"/table/users/{victim}/", "/table/users/", "/table/", "/router/", f"/router/users/{victim}/"):
        status, body = worker.get(path)
        assert status == 404 and "secret@example.com" not in str(body), (path, status, body)
    assert worker.get(f"/v1/users/{victim}")[0] == 401
