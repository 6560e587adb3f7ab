"""`python -m streams.demo [--keep] [--port N]` (`make demo`): the whole story on one machine.

1. Kafka: uses KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092) when a broker answers
   there, else starts a local one (streams.runtime.localkafka, ports 9092/9093, var/kafka).
2. Creates the topics, starts one worker (`python -m streams worker`, state in
   var/demo-data, log in var/demo/worker.log, bridge on port 6066 or a free one).
3. Replays data/sample/segment-events.jsonl through the Segment-compatible ingestion API
   (POST /v1/batch, write key `demo-key`). The file's times are shifted by one offset so
   that its latest `timestamp` lands one minute before now (see `shift_times` and
   data/sample/generate.py), which keeps account ages and trigger windows as generated.
4. Waits until the worker has processed everything (its consumer group has no lag).
5. Runs scripted widget sessions, each on the display GET /v1/eligibility/{userId} hands
   out. Today's go through the bridge as the widget would (shown / answered / closed /
   submitted on POST /v1/widget/events). Earlier ones, dated over the last week so that
   the scores report has a trend to show, cannot: the worker dates a widget event no
   earlier than its receipt minus the display's lifetime. They are imported as an operator
   with cluster access would, straight onto the lifecycle topic with `receivedAt` and
   `timestamp` at the past instant.
6. Prints decisions by reason, lifecycle events, responses, the dead letter and the
   scores report, and draws the chart into var/demo/scores.png.

By default it then stops what it started (the worker; the broker only if it started it),
also on Ctrl-C or an error. With --keep both stay up so you can answer a survey yourself
on the example page. Output topics are shared with earlier runs on the same cluster: the
lifecycle events, responses and dead letter shown are this run's (read from the offsets
at its start); decisions are each user's latest; scores are the topic's.

Modules: `processes` (the broker and the worker), `replay` (the sample stream), `sessions`
(widget sessions), `summary` (what is printed at the end), `kafka_io` (direct reads and
the history import), `console` (output), `defaults` (paths, ports, keys).
"""
