"""Probe: after a restarted worker fails to process records already in a partition, does a later record
on the same partition commit past them (loss), and does a further restart process them?"""
import sys, time, tempfile
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from kafka import KafkaConsumer, TopicPartition
from tests.harness import Worker
from tests.integration.test_forwarder import CONFIG, answered_flow, event, FAST_REJOIN
B = "127.0.0.1:29092"

def committed(w):
    g = KafkaConsumer(bootstrap_servers=B, group_id=f"survey-streams-{w.prefix}", enable_auto_commit=False)
    try:
        return {i: g.committed(TopicPartition(w.topic("surveys.lifecycle"), i)) for i in range(4)}
    finally:
        g.close()

def names(w, user, count=None, timeout_s=20):
    return [m.get("event", m["type"]) + ":" + m.get("properties", {}).get("display_id", "")
            for _, m in w.read("segment.outbound", count=count, timeout_s=timeout_s, where=lambda v: v["userId"] == user)]

for it in range(int(sys.argv[1])):
    tmp = Path(tempfile.mkdtemp(prefix="rprobe2-"))
    w1 = Worker(B, tmp / "w1", CONFIG, FAST_REJOIN).start()
    w1.produce("segment.identify", {"type": "identify", "userId": "a", "messageId": "a1", "traits": {}}, key="a")
    w1.read("surveys.eligibility", count=1)
    w1.stop(kill=True)
    user = f"fw-{it}"
    for body in answered_flow(user):
        w1.produce("surveys.lifecycle", body, key=user)
    w2 = Worker(B, tmp / "w2", CONFIG, FAST_REJOIN, name=w1.name).start()
    got = names(w2, user, count=5)
    print(it, "w2 outbound:", got, flush=True)
    if len(got) == 5:
        w2.stop(); continue
    print("  committed before:", committed(w2), flush=True)
    status = w2.post("/v1/widget/events", event(user, "shown", 9) | {"displayId": "later"})
    print("  later event via bridge:", status, flush=True)
    time.sleep(5)
    print("  w2 outbound now:", names(w2, user), flush=True)
    print("  committed after:", committed(w2), flush=True)
    w2.stop()
    w3 = Worker(B, tmp / "w3", CONFIG, FAST_REJOIN, name=w1.name).start()
    time.sleep(8)
    print("  after restart w3 outbound:", names(w3, user), flush=True)
    print("  committed w3:", committed(w3), flush=True)
    w3.stop()
    break
