"""The demo's month as the insights service sees it: each survey's score per week with its
95% interval, and the breakdown by a few traits (GET /v1/insights/surveys/{id}/scores)."""
from __future__ import annotations

import time

from streams.core.config import Config
from streams.runtime.httpjson import request as http
from streams.demo.console import Console, heading
from streams.demo.defaults import admin_headers

CATCH_UP_TIMEOUT_S = 30.0
BREAKDOWNS = ("plan", "group.size", "locale")


def api_base(insights_url: str) -> str:
    """http://host:port from the page's URL (http://host:port/insights/)."""
    return insights_url.split("/insights", 1)[0]


def wait_caught_up(out: Console, base: str) -> bool:
    """Until the insights reader has no lag, twice in a row (or CATCH_UP_TIMEOUT_S)."""
    deadline, quiet = time.monotonic() + CATCH_UP_TIMEOUT_S, 0
    while time.monotonic() < deadline:
        status, body = http("GET", f"{base}/v1/insights/status", headers=admin_headers())
        caught_up = status == 200 and isinstance(body, dict) and body.get("ready") and body.get("lag") == 0
        quiet = quiet + 1 if caught_up else 0
        if quiet >= 2:
            return True
        time.sleep(0.5)
    out.note(f"warning: the insights service had not caught up after {CATCH_UP_TIMEOUT_S:.0f}s")
    return False


def series(base: str, survey_id: str, interval: str, by: str | None = None) -> list[dict]:
    query = f"interval={interval}" + (f"&by={by}" if by else "")
    status, body = http("GET", f"{base}/v1/insights/surveys/{survey_id}/scores?{query}", headers=admin_headers())
    return body.get("series") or [] if status == 200 and isinstance(body, dict) else []


def print_trend(out: Console, config: Config, insights_url: str) -> None:
    base = api_base(insights_url)
    wait_caught_up(out, base)
    heading("Insights: the score per week and by trait (GET /v1/insights/surveys/{id}/scores)")
    for survey in config.surveys:
        weeks = series(base, survey.id, "week")
        if not weeks:
            continue
        print(f"  {survey.id} ({survey.type.upper()})")
        for week in weeks:
            print(f"    week of {week['period']}  n={week['responses']:>4}  score {_number(week['score'])}  "
                  f"95% {_interval(week['ci95'])}")
        for trait in BREAKDOWNS:
            groups = [g for g in series(base, survey.id, "all", trait) if g.get("group") is not None]
            if len(groups) > 1:
                print(f"    by {trait + ':':<11} " + ", ".join(
                    f"{g['group']} {_number(g['score']).strip()} (n={g['responses']})"
                    for g in sorted(groups, key=_order)))


def _order(group: dict) -> tuple:
    """Sizes like 1-10, 11-50, 1000+ by their first number; other values by name."""
    text = str(group["group"])
    digits = text[:len(text) - len(text.lstrip("0123456789"))]
    return (0, int(digits), text) if digits else (1, 0, text)


def _number(value) -> str:
    return f"{value:7.2f}" if isinstance(value, (int, float)) else "      -"


def _interval(ci) -> str:
    return f"[{ci[0]:.1f}, {ci[1]:.1f}]" if isinstance(ci, list) and len(ci) == 2 else "-"
