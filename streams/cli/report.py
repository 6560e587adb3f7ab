"""`python -m streams report [--survey ID] [--days N] [--png FILE] [--timeout S]`.

Reads `surveys.scores` from the beginning, keeps the last record per survey and day (the
workers emit an updated record after every response, so the last one is the day's
total), prints a table per survey and, with --png, draws the score trend per survey.

The Kafka read (`read_topic`) is kept apart from the pure parts (`latest_scores`,
`select_days`, `format_table`, `draw_chart`) so that those are testable without a broker.
"""
from __future__ import annotations

import argparse
import os
import sys
from datetime import date, timedelta
from typing import Iterable

import orjson

from streams.core import topics as names
from streams.runtime import topicread
from streams.core.config import ConfigError, load_config

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_CONFIG = "config/surveys.yaml"
DEFAULT_DAYS = 30
DEFAULT_TIMEOUT_S = 30.0

# How each type's score reads, and the range its chart axis always shows, so that
# trends of different surveys of one type compare at a glance.
SCORE_LABELS = {"nps": "NPS", "csat": "CSAT % satisfied", "ces": "CES mean (1-7)", "pmf": "PMF % very disappointed"}
SCORE_RANGES = {"nps": (-100, 100), "csat": (0, 100), "ces": (1, 7), "pmf": (0, 100)}
NPS_GROUPS = ("promoters", "passives", "detractors")


def read_topic(bootstrap: str, topic: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> list[dict]:
    """Every JSON-object value of `topic`, from the beginning to its end now
    (streams.runtime.topicread: TopicNotFound, TopicReadTimeout)."""
    records = topicread.read_to_end(bootstrap, topic, timeout_s=timeout_s, client_id="survey-streams-report")
    return [value for value in (_decode(record.value) for record in records) if value is not None]


def _decode(raw: bytes | None) -> dict | None:
    try:
        value = orjson.loads(raw) if raw is not None else None
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------- pure parts


def latest_scores(records: Iterable[dict]) -> dict[str, dict[str, dict]]:
    """{surveyId: {day: record}}, the last record per survey and day, days in order.

    Records of one survey share a key, hence a partition, so their topic order is the
    order the workers produced them in. Records without a surveyId or day are ignored.
    """
    latest: dict[str, dict[str, dict]] = {}
    for record in records:
        survey_id, day = record.get("surveyId"), record.get("day")
        if isinstance(survey_id, str) and isinstance(day, str):
            latest.setdefault(survey_id, {})[day] = record
    return {survey_id: dict(sorted(days.items())) for survey_id, days in sorted(latest.items())}


def select_days(scores: dict[str, dict[str, dict]], survey: str | None = None,
                days: int = DEFAULT_DAYS) -> dict[str, dict[str, dict]]:
    """Only `survey` (all when None), only the last `days` days up to the newest day present.

    The window ends at the newest day in the data rather than today, so that a report on
    replayed or old data still shows something.
    """
    chosen = {sid: by_day for sid, by_day in scores.items() if survey is None or sid == survey}
    known_days = [_parse_day(day) for by_day in chosen.values() for day in by_day]
    known_days = [day for day in known_days if day is not None]
    if not known_days:
        return {}
    first = max(known_days) - timedelta(days=days - 1)
    selected = {}
    for sid, by_day in chosen.items():
        kept = {day: record for day, record in by_day.items() if (_parse_day(day) or date.min) >= first}
        if kept:
            selected[sid] = kept
    return selected


def _parse_day(day: str) -> date | None:
    try:
        return date.fromisoformat(day)
    except ValueError:
        return None


def _share(item: object) -> str:
    """`3 (60%)` from a {"count", "percent"} breakdown entry."""
    if not isinstance(item, dict):
        return "?"
    percent = item.get("percent")
    return f"{item.get('count', 0)} ({percent:g}%)" if percent is not None else str(item.get("count", 0))


def breakdown_summary(record: dict) -> str:
    """One line: NPS groups, CSAT satisfied share, or the distribution for CES and PMF."""
    breakdown = record.get("breakdown") or {}
    if not isinstance(breakdown, dict):
        return ""
    survey_type = record.get("surveyType")
    if survey_type == "nps":
        return "  ".join(f"{group} {_share(breakdown.get(group))}" for group in NPS_GROUPS)
    distribution = breakdown.get("distribution") or {}
    if survey_type == "pmf":
        return "  ".join(f"{value.replace('_', ' ')} {_share(item)}" for value, item in distribution.items())
    counts = " ".join(f"{value}:{item.get('count', 0)}" for value, item in distribution.items() if isinstance(item, dict))
    if survey_type == "csat":
        return f"satisfied {_share(breakdown.get('satisfied'))}  [{counts}]"
    return f"[{counts}]"


def _format_score(value: object) -> str:
    return "-" if value is None else f"{value:.2f}" if isinstance(value, (int, float)) else str(value)


def format_table(scores: dict[str, dict[str, dict]], titles: dict[str, str] | None = None) -> str:
    """A table per survey: day, responses, score, breakdown summary. `titles`: surveyId -> name."""
    if not scores:
        return "no scores found\n"
    titles = titles or {}
    header = ("day", "responses", "score", "breakdown")
    blocks = []
    for survey_id, by_day in scores.items():
        survey_type = next((r.get("surveyType") for r in by_day.values() if r.get("surveyType")), "?")
        title = f"{survey_id} ({SCORE_LABELS.get(survey_type, survey_type)})"
        if titles.get(survey_id):
            title += f" - {titles[survey_id]}"
        rows = [header] + [(day, str(r.get("responses", "")), _format_score(r.get("score")), breakdown_summary(r))
                           for day, r in by_day.items()]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        lines = [title]
        for row in rows:
            # day left-aligned, numbers right-aligned, breakdown free-form
            lines.append(f"  {row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip())
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def draw_chart(scores: dict[str, dict[str, dict]], path: str) -> None:
    """The score trend of each survey, one panel per survey on a shared time axis, as PNG.

    One panel each because the scales differ (NPS -100..100, CES 1..7). The Figure API
    with the Agg canvas leaves pyplot's global backend alone.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure

    panels = max(len(scores), 1)
    figure = Figure(figsize=(9, 2.6 * panels + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
    if not scores:
        axes[0].text(0.5, 0.5, "no scores", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    for ax, (survey_id, by_day) in zip(axes, scores.items()):
        points = [(_parse_day(day), r.get("score")) for day, r in by_day.items()]
        points = [(day, value) for day, value in points if day is not None and isinstance(value, (int, float))]
        survey_type = next((r.get("surveyType") for r in by_day.values() if r.get("surveyType")), None)
        if points:
            ax.plot([day for day, _ in points], [value for _, value in points], marker="o")
        else:
            ax.text(0.5, 0.5, "no score yet", ha="center", va="center", transform=ax.transAxes)
        if survey_type in SCORE_RANGES:
            low, high = SCORE_RANGES[survey_type]
            margin = (high - low) * 0.05
            ax.set_ylim(low - margin, high + margin)
        ax.set_title(survey_id, loc="left")
        ax.set_ylabel(SCORE_LABELS.get(survey_type, "score"))
        ax.grid(True, alpha=0.3)
        locator = AutoDateLocator()
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    figure.savefig(path, format="png", dpi=100)


# ---------------------------------------------------------------- command


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m streams report",
                                     description="Scores per survey per day, read from the scores topic.")
    parser.add_argument("--survey", metavar="ID", help="only this survey")
    parser.add_argument("--days", metavar="N", type=_positive_int, default=DEFAULT_DAYS,
                        help=f"the last N days up to the newest day present (default {DEFAULT_DAYS})")
    parser.add_argument("--png", metavar="FILE", help="also draw the score trend per survey into this PNG")
    parser.add_argument("--timeout", metavar="S", type=float, default=DEFAULT_TIMEOUT_S,
                        help=f"seconds to reach the broker and read the topic (default {DEFAULT_TIMEOUT_S:g})")
    return parser


def main(argv: list[str]) -> int:
    """0 on success (also when there is no score yet), 1 when Kafka fails, 2 on a bad config."""
    args = _parser().parse_args(argv)
    try:
        config = load_config(os.environ.get("STREAMS_CONFIG") or DEFAULT_CONFIG)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or DEFAULT_BOOTSTRAP
    topic = config.topics[names.SCORES]
    from kafka.errors import KafkaError

    try:
        records = read_topic(bootstrap, topic, args.timeout)
    except topicread.TopicNotFound:
        print(f"error: topic {topic} does not exist on {bootstrap} (python -m streams topics create)", file=sys.stderr)
        return 1
    except (KafkaError, OSError) as exc:
        print(f"error: cannot read {topic} from {bootstrap}: {exc}", file=sys.stderr)
        return 1
    scores = select_days(latest_scores(records), args.survey, args.days)
    sys.stdout.write(format_table(scores, {s.id: s.name for s in config.surveys}))
    if args.png:
        draw_chart(scores, args.png)
        print(f"chart written to {args.png}")
    return 0
