"""`python -m streams.demo [--keep] [--port N]` (`make demo`): the whole story on one machine.

1. Kafka: uses KAFKA_BOOTSTRAP_SERVERS (default 127.0.0.1:9092) when a broker answers
   there, else starts a local one (streams.runtime.localkafka, ports 9092/9093, var/kafka).
2. Creates the topics, starts one worker (`python -m streams worker`, state in
   var/demo-data, log in var/demo/worker.log, bridge on port 6066 or a free one).
3. Replays data/sample/segment-events.jsonl through the Segment-compatible ingestion API
   (POST /v1/batch, write key `demo-key`). The file's times are shifted by one offset so
   that its latest `timestamp` lands one minute before now (see `shift_times` and
   data/sample/generate.py), which keeps account ages and trigger windows as generated.
   Then the demo's 1,330 customers (`population`: seeded, the same every run, ids u5001...)
   the same way: the audience of a month of history.
4. Waits until the worker has processed everything (its consumer group has no lag).
5. Runs widget sessions, each on the display GET /v1/eligibility/{userId} hands out.
   Today's few go through the bridge as the widget would (shown / answered / closed /
   submitted on POST /v1/widget/events). The month before (`history`: 15-40 NPS responses
   a weekday, a release in the third week that lifts NPS and CSAT, better scores for team
   plans and larger companies, comments in English and German) cannot: the worker dates a
   widget event no earlier than its receipt minus the display's lifetime. It is imported
   as an operator with cluster access would, straight onto the lifecycle topic with
   `receivedAt` and `timestamp` at the past instant. A second run on the same cluster
   finds their sessions on the lifecycle topic and adds no second month.
6. Prints decisions by reason, lifecycle events, responses, the dead letter and the
   scores report (the chart of the month into var/demo/scores.png), then the insights
   service's score per week with its 95% interval and the breakdown by plan, group.size
   and locale (`trend`).

By default it then stops what it started (the worker; the broker only if it started it),
also on Ctrl-C or an error. With --keep both stay up so you can answer a survey yourself
on the example page. Output topics are shared with earlier runs on the same cluster: the
lifecycle events, responses and dead letter shown are this run's (read from the offsets
at its start); decisions are each user's latest; scores are the topic's.

Modules: `processes` (the broker, the worker, the insights service), `replay` (the sample
stream and the customers), `population` (the customers), `history` and `comments` (what the
month's sessions answer), `sessions` (widget sessions), `summary` and `trend` (what is
printed at the end), `kafka_io` (direct reads and the history import), `console` (output),
`defaults` (paths, ports, keys).
"""
