"""Counters for `GET /metrics` (Prometheus text exposition format)."""
from __future__ import annotations

from collections import Counter, defaultdict

from streams.core import targeting

_HELP = {
    "survey_streams_messages_in_total": "Messages read, per topic.",
    "survey_streams_messages_out_total": "Messages produced, per topic.",
    "survey_streams_deadlettered_total": "Inputs rejected to the dead letter, per source topic or HTTP path and code.",
    "survey_streams_duplicates_skipped_total": "Inputs skipped as duplicate messageIds, per topic.",
    "survey_streams_processed_total": "Inputs that were applied to state, per topic.",
    "survey_streams_forwarded_total": "Messages delivered to Segment by the forwarder.",
    "survey_streams_forward_failures_total": "Failed attempts to deliver a batch to Segment.",
    "survey_streams_http_requests_total": "HTTP requests, per path pattern and status.",
    "survey_streams_http_routed_total": "HTTP requests forwarded to the worker that holds the user, per status.",
    "survey_streams_peer_refused_total": "Requests not routed because the owner's advertised URL is outside STREAMS_PEER_NETWORKS (docs/security.md, Peers).",
    "survey_streams_event_time_corrected_total": "Inputs whose event time was before 2000 or over 24 h after receipt, replaced by the receipt time, per topic.",
    "survey_streams_forwarder_restarts_total": "Times the Segment forwarder stopped on an error and was restarted.",
    "survey_streams_config_version_info": "The surveys config version this worker uses (label version), always 1.",
    "survey_streams_config_switches_total": "Switches to a newer surveys config version while running.",
    "survey_streams_config_users_redecided_total": "Users re-decided after a config switch.",
    "survey_streams_config_decisions_changed_total": "Users whose decision a config switch changed (each gets a new decision).",
    "survey_streams_event_loop_stall_seconds_max": "The longest time the event loop was held since start (streams/runtime/loopwatch.py).",
    "survey_streams_event_loop_stall_recent_seconds_max": "The longest time the event loop was held in the last minute.",
    "survey_streams_event_loop_stalls_total": "Times the event loop was held longer than the `over` label.",
    "survey_streams_event_loop_held_seconds_max": "The longest part of a stall the loop's thread ran on the CPU (code holding the loop, not waiting for a core), since start.",
    "survey_streams_event_loop_held_recent_seconds_max": "The same, the longest of the last minute.",
    "survey_streams_event_loop_held_total": "Times the loop's thread ran longer than the `over` label within one stall.",
    "survey_streams_config_records_skipped_total": "Records on the config topic skipped because they do not parse or validate (docs/configuration.md).",
    "survey_streams_responses_counted_total": "Responses to a survey as this worker counts them for its response limits (docs/configuration.md), per survey.",
    "survey_streams_survey_decision_errors_total": "Decisions in which a survey's rules failed (reason config_error), per survey; the others decided normally.",
}


class Registry:
    def __init__(self) -> None:
        self._counters: dict = defaultdict(float)
        self._sources: list = []  # (name, label, Counter) kept by a module that cannot import this one

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        self._counters[(name, tuple(sorted(labels.items())))] += amount

    def replace(self, name: str, value: float, **labels: str) -> None:
        """Set `name` to one sample with `labels` (an info metric: the old labels go)."""
        for key in [key for key in self._counters if key[0] == name]:
            del self._counters[key]
        self._counters[(name, tuple(sorted(labels.items())))] = value

    def count_from(self, name: str, label: str, counter: Counter) -> None:
        """Render `counter` (label value -> count) as the counter `name`, read at each render:
        streams.core counts without importing the runtime."""
        self._sources.append((name, label, counter))

    def value(self, name: str, **labels: str) -> float:
        return self._counters.get((name, tuple(sorted(labels.items()))), 0.0)

    def total(self, name: str) -> float:
        return sum(v for (n, _), v in self._counters.items() if n == name)

    def render(self) -> str:
        lines = []
        by_name: dict = defaultdict(list)
        for (name, labels), value in sorted(self._counters.items()):
            by_name[name].append((labels, value))
        for name, label, counter in self._sources:
            by_name[name].extend((((label, str(key)),), value) for key, value in sorted(counter.items()))
        for name in sorted(set(_HELP) | set(by_name)):
            lines.append(f"# HELP {name} {_HELP.get(name, name)}")
            lines.append(f"# TYPE {name} {'gauge' if name.endswith(('_info', '_max')) else 'counter'}")
            for labels, value in by_name.get(name, []):
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{name}{{{label_text}}} {value:g}" if label_text else f"{name} {value:g}")
        return "\n".join(lines) + "\n"


def _escape(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


registry = Registry()
registry.count_from("survey_streams_survey_decision_errors_total", "survey", targeting.survey_errors)
