"""What the demo prints at the end: ingestion, decisions, lifecycle events, responses, the
dead letter and the scores report (with its chart), then how to answer a survey yourself."""
from __future__ import annotations

from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor

import orjson

from streams.cli import report
from streams.core import topics as names
from streams.core.config import Config
from streams.runtime.httpjson import request as http
from streams.demo import kafka_io
from streams.demo.console import heading, rel, rel_exe
from streams.demo.defaults import ADMIN_KEY, DEMO_DIR, KAFKA_DIR, admin_headers
from streams.demo.history import HISTORY_DAYS

# What a reason on the decisions topic means in this demo's data.
REASON_NOTES = {
    "awaiting_trigger": "  (the highest-priority survey, {top}, waits for its trigger event)",
    "not_identified": "  (ids folded into another user by an alias)",
    "too_new": "  (account younger than min_days_since_signup)",
}
LIFECYCLE_EVENTS = ("Survey Viewed", "Survey Answered", "Survey Completed", "Survey Dismissed")
RESPONSES_SHOWN_PER_SURVEY = 4
EXPLAINS_AT_ONCE = 8


class Summary:
    def __init__(self, config: Config, bootstrap: str, url: str, start_offsets: dict):
        self.config = config
        self.bootstrap = bootstrap
        self.url = url
        self.start_offsets = start_offsets

    def topic(self, logical: str) -> str:
        return self.config.topics[logical]

    def since(self, logical: str) -> list[tuple]:
        """This run's records of a topic: from the offsets at the demo's start."""
        return kafka_io.read_topic(self.bootstrap, self.topic(logical), self.start_offsets)

    def print(self, replayed: int) -> None:
        self.ingestion(replayed)
        self.decisions()
        self.lifecycle()
        self.responses()
        self.dead_letter()
        self.scores()

    def ingestion(self, replayed: int) -> None:
        metrics = self.metrics()
        heading("Ingestion")
        duplicates = metrics.get("survey_streams_duplicates_skipped_total", 0)
        print(f"  {replayed} Segment messages posted to /v1/batch; {metrics.get('survey_streams_deadlettered_total', 0):.0f} "
              f"dead-lettered, {duplicates:.0f} skipped as duplicates (messageId already handled within 24 h)")
        if duplicates > replayed / 2:
            print("  (this sample was replayed on this cluster less than 24 h ago: its messages are duplicates now,\n"
                  "   the users keep the state of that replay)")
        else:
            print("  (the sample holds a few Segment retries: the same message delivered twice)")

    def decisions(self) -> None:
        decisions = kafka_io.latest_decisions(self.bootstrap, self.topic(names.ELIGIBILITY))
        emitted = len(self.since(names.ELIGIBILITY))
        heading(f"Decisions ({self.topic(names.ELIGIBILITY)}: the latest of each of {len(decisions)} users; "
                f"{emitted} emitted this run)")
        reasons = Counter(d.get("reason") for d in decisions.values())
        active = [s for s in self.config.surveys if s.active]
        top = min(active, key=lambda s: (-s.priority, s.order)) if active else None
        eligible_by_survey = Counter(d.get("surveyId") for d in decisions.values() if d.get("eligible"))
        for reason, count in reasons.most_common():
            extra = ""
            if reason == "eligible":
                extra = "  (" + ", ".join(f"{s} {n}" for s, n in eligible_by_survey.most_common()) + ")"
            note = REASON_NOTES.get(reason, "").format(top=top.id if top else "?")
            print(f"  {reason:<22} {count:>5}{extra or note}")
        print("  (a user no survey takes gets the reason of the highest-priority active survey)")
        self.explain(decisions)

    def explain(self, decisions: dict[str, dict]) -> None:
        """Every survey's own verdict for every user (GET /v1/users/{id}/explain)."""
        verdicts: dict[str, Counter] = defaultdict(Counter)
        examples: dict[tuple, dict] = {}
        users = sorted(decisions)
        with ThreadPoolExecutor(EXPLAINS_AT_ONCE) as pool:  # a thousand users and more: not one by one
            answers = list(pool.map(lambda user: http("GET", f"{self.url}/v1/users/{user}/explain",
                                                      headers=admin_headers()), users))
        for user, (status, body) in zip(users, answers):
            if status != 200 or not isinstance(body, dict):
                continue
            if not (body.get("decision") or {}).get("reason") or body["decision"]["reason"] == "not_identified":
                continue  # a legacy id folded into another user, say
            for verdict in body.get("surveys") or []:
                verdicts[verdict["surveyId"]][verdict["reason"]] += 1
                examples.setdefault((verdict["surveyId"], verdict["reason"]), {"user": user, **verdict})
        if not verdicts:
            return
        print("  per survey, each survey's own verdict (GET /v1/users/{id}/explain):")
        for survey_id, counts in verdicts.items():
            print(f"    {survey_id:<12} " + ", ".join(f"{reason} {n}" for reason, n in counts.most_common()))
        shown = 0
        for (survey_id, reason), example in sorted(examples.items(), key=lambda item: -verdicts[item[0][0]][item[0][1]]):
            if reason == "eligible" or shown >= 4:
                continue
            shown += 1
            failing = next((r for r in example["rules"] if not r["passed"]), None)
            when = f"; eligible at {example['eligibleAt']}" if example.get("eligibleAt") else ""
            if failing:
                print(f"    e.g. {example['user']} for {survey_id}: {failing['rule']}: {failing['detail']}{when}")

    def lifecycle(self) -> None:
        heading(f"Lifecycle events ({self.topic(names.OUTBOUND)}, this run)")
        outbound = [v for _, v in self.since(names.OUTBOUND)]
        tracks = Counter((v.get("event"), (v.get("properties") or {}).get("survey_id")) for v in outbound
                         if v.get("type") == "track")
        surveys = sorted({s for _, s in tracks})
        events = [e for e in LIFECYCLE_EVENTS if any(k[0] == e for k in tracks)]
        events += sorted({e for e, _ in tracks} - set(LIFECYCLE_EVENTS))
        if not outbound:
            print("  none")
        for event in events:
            per = ", ".join(f"{s} {tracks[(event, s)]}" for s in surveys if tracks[(event, s)])
            print(f"  {event:<18} {sum(tracks[(event, s)] for s in surveys):>3}  ({per})")
        identifies = [v for v in outbound if v.get("type") == "identify"]
        if identifies:
            example = next((v for v in identifies if None not in (v.get("traits") or {}).values()), identifies[-1])
            print(f"  identify           {len(identifies):>3}  (e.g. {example['userId']}: "
                  f"{orjson.dumps(example.get('traits')).decode()})")

    def responses(self) -> None:
        responses = [v for _, v in self.since(names.RESPONSES)]
        heading(f"Responses ({self.topic(names.RESPONSES)}, this run: {len(responses)})")
        shown_responses, per_survey = [], Counter()
        for response in sorted(responses, key=lambda r: r.get("completedAt") or ""):
            if per_survey[response.get("surveyId")] < RESPONSES_SHOWN_PER_SURVEY:
                per_survey[response.get("surveyId")] += 1
                shown_responses.append(response)
        for response in shown_responses:
            traits = response.get("traits") or {}
            company = traits.get("company")
            company = company.get("name") if isinstance(company, dict) else company
            about = " ".join(f"{k}={v}" for k, v in (("plan", traits.get("plan")), ("mrr", traits.get("mrr")),
                                                      ("seats", traits.get("seats")), ("company", company)) if v is not None)
            comment = response.get("comment")
            comment = f'"{comment}"' if comment else "(no comment)"
            print(f"  {response.get('userId'):<8} {response.get('surveyId'):<12} {str(response.get('score')):>2} "
                  f"{response.get('category') or '-':<11} {comment}\n  {'':<24} {about}")
        if len(responses) > len(shown_responses):
            print(f"  ... and {len(responses) - len(shown_responses)} more")

    def dead_letter(self) -> None:
        heading(f"Dead letter ({self.topic(names.DEADLETTER)}, this run)")
        dead = [v for _, v in self.since(names.DEADLETTER)]
        if not dead:
            print("  nothing rejected")
        for code, count in Counter(v.get("error") for v in dead).most_common():
            example = next(v for v in dead if v.get("error") == code)
            print(f"  {code:<16} {count:>3}  e.g. {example.get('detail')}")

    def scores(self) -> None:
        heading(f"Scores ({self.topic(names.SCORES)}, last 7 days; python -m streams report --days 7)")
        records = report.read_topic(self.bootstrap, self.topic(names.SCORES))
        scores = report.select_days(report.latest_scores(records), None, 7)
        table = report.format_table(scores, {s.id: s.name for s in self.config.surveys})
        print("\n".join(f"  {line}".rstrip() for line in table.rstrip("\n").split("\n")))
        chart = DEMO_DIR / "scores.png"
        month = report.select_days(report.latest_scores(records), None, HISTORY_DAYS + 1)
        report.draw_chart(month, str(chart))
        print(f"  chart of the last {HISTORY_DAYS + 1} days: {rel(chart)}")

    def metrics(self) -> dict[str, float]:
        """The worker's Prometheus counters, summed over their labels."""
        status, text = http("GET", f"{self.url}/metrics")
        totals: dict[str, float] = defaultdict(float)
        if status != 200 or not isinstance(text, str):
            return totals
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                try:
                    totals[name.split("{", 1)[0]] += float(value)
                except ValueError:
                    pass
        return totals


def print_try_it(url: str, example_users: dict[str, str], keep: bool, worker_pid: int, started_broker: bool,
                 insights_url: str = "", insights_pid: int | None = None) -> None:
    if insights_url:
        heading("Insights")
        print(f"  {insights_url}  (admin key {ADMIN_KEY}): score trends with their 95% intervals, funnel,")
        print("  breakdown by trait, the responses and their comments, CSV (docs/insights.md)")
    heading("Answer a survey yourself")
    if not example_users:
        print("  (no eligible user left for the example page)")
    for survey_id, user in example_users.items():
        print(f"  {survey_id:<12} {url}/example?userId={user}")
    any_user = next(iter(example_users.values()), "u1001")
    print(f"  why (not):   curl -H 'Authorization: Bearer {ADMIN_KEY}' {url}/v1/users/{any_user}/explain")
    if keep:
        pids = f"{worker_pid} {insights_pid}" if insights_pid else str(worker_pid)
        print(f"\n  The worker (pid {worker_pid}), the insights service and "
              f"{'the broker' if started_broker else 'the broker (not started by the demo)'} keep running. Stop with:")
        print(f"    kill {pids}" + (f"; {rel_exe()} -m streams kafka down --dir {rel(KAFKA_DIR)}"
                                          if started_broker else ""))
    else:
        print(f"  (the worker and insights stop now: run `{rel_exe()} -m streams.demo --keep` to keep them up for this)")
