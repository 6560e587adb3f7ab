"""Generate data/sample/segment-events.jsonl: a deterministic, realistic Segment stream.

    python data/sample/generate.py            # rewrites segment-events.jsonl next to this file
    python data/sample/generate.py --check    # exit 1 if the committed file is not what this makes

One Segment message per line (compact JSON), in delivery order: what a Segment
destination would hand to Kafka for a small B2B analytics product over the last 60 days.
The output depends only on SEED, so the file is reproducible byte for byte.

Times. Every time in the file is a real ISO 8601 instant before ANCHOR (2025-06-02T12:00Z):
message `timestamp`s over the 60 days before it, `createdAt` traits over the two years
before it. Whoever replays the file shifts all of them by one offset so that the latest
`timestamp` lands just before "now" (streams/demo/replay.py: `shift_times`, the latest
timestamp becomes now - 1 minute). Shifted are the message time fields (`timestamp`,
`originalTimestamp`, `sentAt`) and `createdAt` in traits and context.traits, in the form
it has: ISO date-time (+offset), ISO date (+whole days), epoch seconds or milliseconds
(number or numeric string, +offset in that unit). That keeps account ages and trigger
windows (CSAT: "Report Exported" as pdf/csv within 2 days) the same whenever the file is
replayed. Every message carries `timestamp`, as Segment's HTTP API expects for imported
history: the ingestion API's `receivedAt` is the replay time, so a message without one
would be dated at the replay.

What is in it (counts are printed when generating):
- identified users (ids u1001...): client-side identify (analytics.js) with name, email,
  plan (free / pro / team), company {name, industry, employee_count} and createdAt spread
  over two years, about 10% of them within the last 30 days (too new for the NPS survey);
  a few with createdAt as a date only, as epoch seconds (number or string) or epoch
  milliseconds, and a few with none (account age then comes from the first-seen time);
- anonymous visitors (anonymousId only: page views, "Pricing Viewed", "Signup Started");
  most later sign up with an identify carrying both anonymousId and userId, which folds
  their anonymous history into the user; the rest stay anonymous;
- alias calls: some sign-ups use alias(previousId = anonymousId) instead (Mixpanel
  style), and some accounts migrated from a legacy id (acct-...) that had its own
  identify and events: alias(previousId = legacy id, userId = new id);
- track and page events: Signed In, Dashboard Viewed, Report Created, Report Exported
  {format: pdf | csv | xlsx} (the CSAT survey's trigger takes pdf and csv), Project
  Created, Teammate Invited, Integration Connected; pages with name and path;
- server-side identifies (analytics-python) adding traits the browser has not: mrr,
  seats, billing_cycle, and plan upgrades (free -> pro / team) with a "Plan Upgraded" track;
  group calls for team accounts;
- Segment retries: a few messages delivered twice with the same messageId (a later sentAt);
- late deliveries: a few messages placed well after newer ones, among them a user's old
  "plan: free" identify arriving after the server-side upgrade (the later event time must
  win, so the user stays on the paid plan);
- five malformed messages, to show the dead-letter topic: a track without `event`, an
  identify with neither userId nor anonymousId, a `timestamp` that is not a date, an
  unknown `type`, and `traits` that is not an object.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

SEED = 20250602
ANCHOR = datetime(2025, 6, 2, 12, 0, tzinfo=timezone.utc)
WINDOW_DAYS = 60  # events happen in the 60 days before ANCHOR
OUTPUT = Path(__file__).resolve().with_name("segment-events.jsonl")

IDENTIFIED_USERS = 250  # signed up before the window or identified directly
VISITORS = 60  # anonymous visitors; most sign up during the window
VISITORS_SIGNING_UP = 45
LEGACY_MIGRATIONS = 8  # users that had a legacy id, later aliased to their new id
DUPLICATES = 8
LATE_DELIVERIES = 10

FIRST = ["Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farah", "Gustavo", "Hana", "Ibrahim", "Julia", "Kenji",
         "Lena", "Marco", "Nadia", "Omar", "Priya", "Quentin", "Rosa", "Sven", "Tariq", "Uma", "Victor",
         "Wen", "Ximena", "Yusuf", "Zoe", "Amara", "Bruno", "Carmen", "Diego", "Esther", "Felix", "Greta",
         "Hugo", "Ines", "Jonas", "Kira", "Luca", "Maya", "Nico", "Olga", "Pavel", "Rhea", "Sami", "Tessa"]
LAST = ["Andersen", "Baptiste", "Chen", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad", "Ivanova",
        "Jensen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Schmidt",
        "Tanaka", "Urban", "Vargas", "Weber", "Yilmaz", "Zimmermann", "Nakamura", "Silva", "Kaur", "Murphy"]
COMPANIES = [("Acme Analytics", "software"), ("Bluefin Logistics", "logistics"), ("Cobalt Health", "healthcare"),
             ("Driftwood Media", "media"), ("Evergreen Bank", "finance"), ("Foxglove Retail", "retail"),
             ("Granite Build", "construction"), ("Harbor Insurance", "insurance"), ("Ion Robotics", "manufacturing"),
             ("Juniper Travel", "travel"), ("Kestrel Energy", "energy"), ("Lumen Education", "education"),
             ("Meridian Foods", "food"), ("Nimbus Cloud", "software"), ("Orchid Pharma", "healthcare"),
             ("Pioneer Freight", "logistics"), ("Quartz Studio", "media"), ("Riverbend Legal", "legal"),
             ("Summit Outdoor", "retail"), ("Tidal Games", "gaming"), ("Umbra Security", "software"),
             ("Vantage Realty", "real estate"), ("Willow Care", "healthcare"), ("Zenith Telecom", "telecom")]
EMPLOYEES = [8, 15, 40, 75, 120, 250, 600, 1400]
PAGES = [("Dashboard", "/dashboard"), ("Reports", "/reports"), ("Settings", "/settings"),
         ("Projects", "/projects"), ("Integrations", "/integrations"), ("Billing", "/settings/billing")]
MARKETING_PAGES = [("Home", "/"), ("Pricing", "/pricing"), ("Features", "/features"), ("Blog", "/blog"),
                   ("Customers", "/customers")]
INTEGRATIONS = ["slack", "salesforce", "hubspot", "bigquery", "snowflake", "zapier"]
PRICE = {"free": 0, "pro": 49, "team": 29}  # per seat and month
JS_LIBRARY = {"name": "analytics.js", "version": "next-1.70.0"}
PY_LIBRARY = {"name": "analytics-python", "version": "2.3.3"}


def iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Stream:
    """Collects messages with their event time; `lines()` orders them for delivery."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.items: list[tuple[datetime, int, dict]] = []
        self.counts: dict[str, int] = {}

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, at: datetime, message: dict, library: dict = JS_LIBRARY, page: tuple | None = None) -> dict:
        message = {"type": message.pop("type"), "messageId": ("ajs-next-" + self.uuid().replace("-", "")
                   if library is JS_LIBRARY else self.uuid()), **message, "timestamp": iso(at)}
        context: dict = {"library": library}
        if library is JS_LIBRARY:
            name, path = page or ("Dashboard", "/dashboard")
            context["page"] = {"path": path}
        message["context"] = context
        self.items.append((at, len(self.items), message))
        return message

    def lines(self) -> list[dict]:
        return [message for _, _, message in sorted(self.items, key=lambda item: (item[0], item[1]))]


def created_at_value(rng: random.Random, created: datetime, index: int):
    """createdAt in the forms Segment customers actually send, mostly ISO
    (docs/reference.md#inbound-segment-messages)."""
    form = index % 25
    if form == 3:
        return created.strftime("%Y-%m-%d")  # date only
    if form == 11:
        return int(created.timestamp())  # epoch seconds, number
    if form == 17:
        return str(int(created.timestamp()))  # epoch seconds, numeric string
    if form == 21:
        return int(created.timestamp() * 1000)  # epoch milliseconds
    if form in (7, 14):
        return None  # no createdAt: account age comes from first seen
    return iso(created)


def session_events(s: Stream, user: dict, at: datetime, export_format: str | None = None) -> datetime:
    """One visit of the product: sign-in, a few pages and actions; returns when it ended."""
    rng = s.rng
    ids = {"userId": user["userId"], "anonymousId": user["anonymousId"]}
    if rng.random() < 0.5:  # a remembered session skips the sign-in
        s.add(at, {"type": "track", **ids, "event": "Signed In", "properties": {"method": rng.choice(["password", "google", "sso"])}})
    for _ in range(rng.randint(1, 2)):
        at += timedelta(seconds=rng.randint(20, 600))
        name, path = rng.choice(PAGES)
        s.add(at, {"type": "page", **ids, "name": name, "properties": {"path": path}},
              page=(name, path))
        roll = rng.random()
        if name == "Reports" or roll < 0.25:
            at += timedelta(seconds=rng.randint(10, 300))
            report = f"rep_{rng.randint(1000, 9999)}"
            s.add(at, {"type": "track", **ids, "event": "Report Created",
                       "properties": {"report_id": report, "template": rng.choice(["revenue", "churn", "funnel", "cohort"])}},
                  page=("Reports", "/reports"))
        elif roll < 0.35:
            at += timedelta(seconds=rng.randint(10, 300))
            s.add(at, {"type": "track", **ids, "event": "Project Created", "properties": {"project_id": f"prj_{rng.randint(100, 999)}"}},
                  page=("Projects", "/projects"))
        elif roll < 0.42:
            at += timedelta(seconds=rng.randint(10, 300))
            s.add(at, {"type": "track", **ids, "event": "Teammate Invited", "properties": {"role": rng.choice(["viewer", "editor", "admin"])}},
                  page=("Settings", "/settings/team"))
        elif roll < 0.47:
            at += timedelta(seconds=rng.randint(10, 300))
            s.add(at, {"type": "track", **ids, "event": "Integration Connected", "properties": {"integration": rng.choice(INTEGRATIONS)}},
                  page=("Integrations", "/integrations"))
    if export_format is None and rng.random() < 0.2:
        export_format = rng.choices(["pdf", "csv", "xlsx"], weights=[45, 35, 20])[0]
    if export_format:
        at += timedelta(seconds=rng.randint(15, 400))
        s.add(at, {"type": "track", **ids, "event": "Report Exported",
                   "properties": {"format": export_format, "report_id": f"rep_{rng.randint(1000, 9999)}",
                                  "pages" if export_format == "pdf" else "rows":
                                      rng.randint(1, 30) if export_format == "pdf" else rng.randint(20, 50000)}},
              page=("Reports", "/reports"))
    return at


def traits_of(user: dict, include_created: bool = True) -> dict:
    traits = {"name": user["name"], "email": user["email"], "plan": user["plan"], "company": user["company"]}
    if include_created and user["createdAt"] is not None:
        traits["createdAt"] = user["createdAt"]
    return traits


def make_user(rng: random.Random, index: int, created: datetime, plan: str) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company, industry = rng.choice(COMPANIES)
    domain = company.split()[0].lower() + ".example"
    return {
        "userId": f"u{1001 + index}",
        "anonymousId": None,
        "name": f"{first} {last}",
        "email": f"{first.lower()}.{last.lower()}{index % 7 or ''}@{domain}",
        "plan": plan,
        "company": {"name": company, "industry": industry, "employee_count": rng.choice(EMPLOYEES)},
        "created": created,
        "createdAt": created_at_value(rng, created, index),
    }


def server_identify(s: Stream, user: dict, at: datetime, plan: str) -> None:
    rng = s.rng
    seats = 1 if plan == "free" else rng.randint(2, 6) if plan == "pro" else rng.randint(5, 40)
    traits = {"plan": plan, "seats": seats, "mrr": seats * PRICE[plan], "billing_cycle": rng.choice(["monthly", "annual"])}
    s.add(at, {"type": "identify", "userId": user["userId"], "traits": traits}, library=PY_LIBRARY)


def activity_days(rng: random.Random, start: datetime, count: int) -> list[datetime]:
    """`count` visit times between `start` and ANCHOR, denser towards the end."""
    span = (ANCHOR - start).total_seconds()
    times = sorted(start + timedelta(seconds=span * (1 - rng.random() ** 1.6)) for _ in range(count))
    return [min(t, ANCHOR - timedelta(minutes=30)) for t in times]


def generate() -> tuple[list[dict], dict]:
    rng = random.Random(SEED)
    s = Stream(rng)
    window_start = ANCHOR - timedelta(days=WINDOW_DAYS)
    stats = {"identified users": 0, "visitors signing up": 0, "visitors staying anonymous": 0,
             "legacy-id migrations (alias)": 0, "alias sign-ups": 0, "plan upgrades": 0}
    index = 0

    # Users who signed up before the window, or during it without an anonymous visit.
    for _ in range(IDENTIFIED_USERS):
        plan = rng.choices(["free", "pro", "team"], weights=[45, 35, 20])[0]
        too_new = rng.random() < 0.10
        if too_new:
            created = ANCHOR - timedelta(days=rng.uniform(1, 28), seconds=rng.randint(0, 86399))
        else:
            created = ANCHOR - timedelta(days=rng.uniform(31, 730), seconds=rng.randint(0, 86399))
        upgraded = plan != "free" and not too_new and rng.random() < 0.2
        user = make_user(rng, index, created, "free" if upgraded else plan)
        index += 1
        user["anonymousId"] = s.uuid()
        visits = activity_days(rng, max(created, window_start), rng.randint(2, 4))
        # about 12% export a pdf or csv report in their last visit, within the last 2 days
        recent_export = rng.random() < 0.12
        if recent_export:
            visits[-1] = ANCHOR - timedelta(hours=rng.uniform(1, 40))
        upgrade_at = visits[len(visits) // 2] + timedelta(minutes=rng.randint(5, 60)) if upgraded else None
        identify_at = visits[0] - timedelta(seconds=5)
        s.add(identify_at, {"type": "identify", "userId": user["userId"], "anonymousId": user["anonymousId"],
                            "traits": {k: v for k, v in traits_of(user).items() if v is not None}})
        if plan != "free" and not upgraded:
            server_identify(s, user, identify_at + timedelta(minutes=rng.randint(1, 90)), plan)
        for number, visit in enumerate(visits):
            last = number == len(visits) - 1
            fmt = rng.choice(["pdf", "csv"]) if (last and recent_export) else None
            end = session_events(s, user, visit, fmt)
            if number == 1 and rng.random() < 0.3:  # re-identify on a later login
                current = plan if upgraded and end > upgrade_at else user["plan"]
                s.add(end + timedelta(seconds=3), {"type": "identify", "userId": user["userId"],
                                                   "anonymousId": user["anonymousId"],
                                                   "traits": {"name": user["name"], "email": user["email"], "plan": current}})
        if upgraded:
            at = upgrade_at
            s.add(at, {"type": "track", "userId": user["userId"], "event": "Plan Upgraded",
                       "properties": {"from": "free", "to": plan}}, library=PY_LIBRARY)
            server_identify(s, user, at + timedelta(seconds=2), plan)
            user["plan"] = plan
            stats["plan upgrades"] += 1
        if user["plan"] == "team" and rng.random() < 0.5:
            company = user["company"]
            s.add(visits[0] + timedelta(seconds=30), {"type": "group", "userId": user["userId"],
                  "anonymousId": user["anonymousId"], "groupId": "org_" + company["name"].split()[0].lower(),
                  "traits": {"name": company["name"], "industry": company["industry"],
                             "employees": company["employee_count"], "plan": "team"}})
        stats["identified users"] += 1

    # Anonymous visitors: marketing pages, then most of them sign up.
    for number in range(VISITORS):
        anonymous_id = s.uuid()
        first_visit = window_start + timedelta(days=rng.uniform(0, WINDOW_DAYS - 3))
        at = first_visit
        for _ in range(rng.randint(2, 5)):
            name, path = rng.choice(MARKETING_PAGES)
            s.add(at, {"type": "page", "anonymousId": anonymous_id, "name": name,
                       "properties": {"path": path, "referrer": rng.choice(
                           ["https://www.google.com/", "https://news.ycombinator.com/", "", "https://www.linkedin.com/"])}},
                  page=(name, path))
            if path == "/pricing":
                s.add(at + timedelta(seconds=20), {"type": "track", "anonymousId": anonymous_id, "event": "Pricing Viewed",
                                                   "properties": {"billing": rng.choice(["monthly", "annual"])}},
                      page=(name, path))
            at += timedelta(minutes=rng.randint(1, 60 * 24 * 3))
        if number >= VISITORS_SIGNING_UP:
            stats["visitors staying anonymous"] += 1
            continue
        signup = min(at, ANCHOR - timedelta(hours=2))
        s.add(signup - timedelta(seconds=40), {"type": "track", "anonymousId": anonymous_id, "event": "Signup Started",
                                               "properties": {"source": rng.choice(["pricing", "home", "blog"])}},
              page=("Sign up", "/signup"))
        plan = rng.choices(["free", "pro", "team"], weights=[50, 35, 15])[0]
        user = make_user(rng, index, signup, plan)
        index += 1
        user["anonymousId"] = anonymous_id
        if number % 4 == 0:
            # Mixpanel-style sign-up: alias the anonymous id to the new user id first.
            s.add(signup, {"type": "alias", "previousId": anonymous_id, "userId": user["userId"]})
            stats["alias sign-ups"] += 1
        s.add(signup + timedelta(seconds=1), {"type": "identify", "userId": user["userId"], "anonymousId": anonymous_id,
                                              "traits": {k: v for k, v in traits_of(user).items() if v is not None}})
        if plan != "free":
            server_identify(s, user, signup + timedelta(minutes=2), plan)
        for visit in activity_days(rng, signup + timedelta(minutes=5), rng.randint(1, 4)):
            session_events(s, user, visit)
        stats["visitors signing up"] += 1

    # Accounts migrated from a legacy id: the legacy id was identified and active, then aliased.
    for number in range(LEGACY_MIGRATIONS):
        created = ANCHOR - timedelta(days=rng.uniform(200, 700))
        user = make_user(rng, index, created, rng.choice(["pro", "team"]))
        index += 1
        legacy = {**user, "userId": f"acct-{40210 + number * 37}", "anonymousId": s.uuid()}
        user["anonymousId"] = legacy["anonymousId"]
        start = window_start + timedelta(days=rng.uniform(0, 20))
        s.add(start, {"type": "identify", "userId": legacy["userId"], "anonymousId": legacy["anonymousId"],
                      "traits": {k: v for k, v in traits_of(legacy).items() if v is not None}})
        end = session_events(s, legacy, start + timedelta(seconds=10))
        migrated = end + timedelta(days=rng.uniform(3, 15))
        s.add(migrated, {"type": "alias", "previousId": legacy["userId"], "userId": user["userId"]}, library=PY_LIBRARY)
        server_identify(s, user, migrated + timedelta(seconds=5), user["plan"])
        for visit in activity_days(rng, migrated + timedelta(hours=1), rng.randint(1, 4)):
            session_events(s, user, visit)
        stats["legacy-id migrations (alias)"] += 1
        stats["identified users"] += 1

    lines = s.lines()
    lines = _deliver_late(rng, lines)
    lines = _retry_some(rng, lines)
    lines = _add_malformed(lines)
    stats["messages"] = len(lines)
    return lines, stats


def _deliver_late(rng: random.Random, lines: list[dict]) -> list[dict]:
    """Move a few messages far later in delivery order (a phone that was offline).

    The first is always an old `plan: free` identify of an upgraded user, moved after the
    server-side identify that upgraded them: the plan must stay the upgraded one.
    """
    upgrades = [i for i, m in enumerate(lines) if m["type"] == "track" and m.get("event") == "Plan Upgraded"]
    chosen = []
    if upgrades:
        user_id = lines[upgrades[0]]["userId"]
        free = next(i for i, m in enumerate(lines) if m["type"] == "identify" and m.get("userId") == user_id
                    and (m.get("traits") or {}).get("plan") == "free")
        upgrade = next(i for i in range(upgrades[0], len(lines)) if lines[i]["type"] == "identify"
                       and lines[i].get("userId") == user_id and lines[i]["context"]["library"] is PY_LIBRARY)
        chosen.append((free, upgrade))
    candidates = [i for i, m in enumerate(lines) if m["type"] in ("track", "page") and i < len(lines) - 400]
    for i in rng.sample(candidates, LATE_DELIVERIES - len(chosen)):
        chosen.append((i, i + rng.randint(50, 400)))
    late = {i for i, _ in chosen}
    placed: dict[int, list[dict]] = {}
    for i, target in chosen:
        placed.setdefault(target, []).append(lines[i])
    result = []
    for i, message in enumerate(lines):
        if i not in late:
            result.append(message)
        result.extend(placed.get(i, []))
    return result


def _retry_some(rng: random.Random, lines: list[dict]) -> list[dict]:
    """Deliver a few messages twice, as Segment does on a retry: same messageId, later sentAt."""
    picks = sorted(rng.sample(range(len(lines) - 50), DUPLICATES), reverse=True)
    for i in picks:
        original = lines[i]
        sent = original["timestamp"]
        copy = {**original, "sentAt": sent}
        lines[i] = {**original, "sentAt": sent}
        retry_at = datetime.fromisoformat(sent.replace("Z", "+00:00")) + timedelta(seconds=rng.randint(10, 90))
        copy["sentAt"] = iso(retry_at)
        lines.insert(i + rng.randint(3, 40), copy)
    return lines


def _add_malformed(lines: list[dict]) -> list[dict]:
    """Five messages that the ingestion API sends to the dead-letter topic, one per kind."""
    def stamp(i: int) -> str:
        return lines[i]["timestamp"]

    n = len(lines)
    broken = [
        (n // 6, {"type": "track", "messageId": "broken-no-event", "userId": "u1001", "properties": {"format": "pdf"},
                  "timestamp": stamp(n // 6)}),
        (n // 3, {"type": "identify", "messageId": "broken-no-ids", "traits": {"email": "nobody@example.com"},
                  "timestamp": stamp(n // 3)}),
        (n // 2, {"type": "track", "messageId": "broken-timestamp", "userId": "u1002", "event": "Signed In",
                  "timestamp": "yesterday at 5pm"}),
        (2 * n // 3, {"type": "screenview", "messageId": "broken-type", "userId": "u1003", "name": "Home",
                      "timestamp": stamp(2 * n // 3)}),
        (5 * n // 6, {"type": "identify", "messageId": "broken-traits", "userId": "u1004", "traits": "plan=pro",
                      "timestamp": stamp(5 * n // 6)}),
    ]
    for position, message in sorted(broken, key=lambda item: item[0], reverse=True):
        lines.insert(position, message)
    return lines


def render(lines: list[dict]) -> str:
    return "".join(json.dumps(m, separators=(",", ":"), ensure_ascii=False) + "\n" for m in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the committed file is up to date")
    parser.add_argument("--output", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)
    lines, stats = generate()
    text = render(lines)
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is not what generate.py makes: run it again", file=sys.stderr)
            return 1
        print(f"{args.output} is up to date")
        return 0
    args.output.write_text(text, encoding="utf-8")
    size = len(text.encode("utf-8"))
    print(f"wrote {args.output} ({size / 1024:.0f} KB)")
    for name, value in stats.items():
        print(f"  {name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
