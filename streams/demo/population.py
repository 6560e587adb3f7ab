"""The demo's customers behind a month of survey history, made up from a seed.

The sample stream (data/sample/segment-events.jsonl) holds about a hundred users a survey
takes today, and a user who answered is not asked again for 90 days: a month of 15-40 NPS
responses a day needs about a thousand more. They are generated here rather than committed
(the sample stays a readable, hand-shaped stream): the same seed gives the same customers,
ids u5001..., on every run, so a second run on the same cluster finds their sessions on the lifecycle
topic and adds no second month (streams.demo.sessions).

Each customer is one client-side identify (name, email, plan, seats, mrr, billing_cycle,
company, createdAt, locale) and one group call (the company: name, industry, employees,
size), posted through POST /v1/batch like the sample. Their traits vary so that the
insights breakdown has something to show (plan, group.size, company.industry, locale). A
few export a PDF or CSV report within the last two days: the CSAT survey's trigger.
"""
from __future__ import annotations

import random
import uuid
from dataclasses import dataclass

from streams.core.timeutil import DAY_MS, HOUR_MS, MINUTE_MS, iso
from streams.demo.history import HISTORY_DAYS

SEED = 20250603
FIRST_ID = 5001
NPS_CUSTOMERS = 1050  # pro and team accounts older than 30 days: nps-main's audience
CSAT_CUSTOMERS = 280  # any plan, a report exported in the last 2 days: csat-export's
GERMAN_SHARE = 0.3
SIZES = (("1-10", 6), ("11-50", 30), ("51-200", 120), ("201-1000", 450), ("1000+", 2400))
COMPANIES = (("Acme Analytics", "software"), ("Bluefin Logistics", "logistics"), ("Cobalt Health", "healthcare"),
             ("Evergreen Bank", "finance"), ("Foxglove Retail", "retail"), ("Ion Robotics", "manufacturing"),
             ("Lumen Education", "education"), ("Nimbus Cloud", "software"), ("Orchid Pharma", "healthcare"),
             ("Pioneer Freight", "logistics"), ("Tidal Games", "gaming"), ("Zenith Telecom", "telecom"),
             ("Alpenglanz Versicherung", "insurance"), ("Brückner Maschinenbau", "manufacturing"),
             ("Elbe Logistik", "logistics"), ("Rheinwerk Software", "software"), ("Südstern Bank", "finance"))
GERMAN_COMPANIES = frozenset(name for name, _ in COMPANIES[-5:])
FIRST = ("Ada", "Ben", "Chloe", "Elena", "Farah", "Hana", "Julia", "Kenji", "Marco", "Nadia", "Omar", "Priya",
         "Rosa", "Tariq", "Wen", "Zoe")
GERMAN_FIRST = ("Anna", "Jonas", "Lena", "Lukas", "Marie", "Felix", "Greta", "Paul", "Sophie", "Matthias")
LAST = ("Chen", "Dubois", "Garcia", "Haddad", "Jensen", "Novak", "Okafor", "Patel", "Rossi", "Tanaka", "Silva")
GERMAN_LAST = ("Schmidt", "Weber", "Fischer", "Wagner", "Becker", "Hoffmann", "Schulz", "Zimmermann")
PRICE = {"free": 0, "pro": 49, "team": 29}  # per seat and month, as the sample's


@dataclass(frozen=True)
class Customer:
    user_id: str
    traits: dict  # the identify's traits
    group: dict  # the group call's traits
    group_id: str
    exported_ago_ms: int | None  # a PDF/CSV export this long ago (CSAT's trigger), else None
    signed_up_days_ago: int  # createdAt, from the run's now

    @property
    def locale(self) -> str:
        return self.traits["locale"]

    @property
    def plan(self) -> str:
        return self.traits["plan"]

    @property
    def size(self) -> str:
        return self.group["size"]


def customers(seed: int = SEED) -> list[Customer]:
    """The demo's customers: the NPS audience first, then the CSAT one. Depends on `seed` only."""
    rng = random.Random(seed)
    made = []
    for index in range(NPS_CUSTOMERS + CSAT_CUSTOMERS):
        for_csat = index >= NPS_CUSTOMERS
        plan = rng.choices(("free", "pro", "team"), weights=(40, 35, 25))[0] if for_csat else \
            rng.choices(("pro", "team"), weights=(55, 45))[0]
        exported = rng.randint(1 * HOUR_MS, 40 * HOUR_MS) if for_csat else None
        made.append(_customer(rng, FIRST_ID + index, plan, exported))
    return made


def _customer(rng: random.Random, number: int, plan: str, exported_ago_ms: int | None) -> Customer:
    german = rng.random() < GERMAN_SHARE
    pool = [c for c in COMPANIES if (c[0] in GERMAN_COMPANIES) == german]
    company, industry = rng.choice(pool)
    # Larger companies buy team plans more often; the size shows in the breakdown.
    weights = (3, 4, 3, 2, 1) if plan != "team" else (1, 2, 3, 3, 2)
    size, employees = rng.choices(SIZES, weights=weights)[0]
    first = rng.choice(GERMAN_FIRST if german else FIRST)
    last = rng.choice(GERMAN_LAST if german else LAST)
    seats = 1 if plan == "free" else rng.randint(2, 6) if plan == "pro" else rng.randint(5, 40)
    domain = company.split()[0].lower().replace("ü", "ue") + ".example"
    traits = {"name": f"{first} {last}", "email": f"{first.lower()}.{last.lower()}{number}@{domain}", "plan": plan,
              "seats": seats, "mrr": seats * PRICE[plan], "billing_cycle": rng.choice(("monthly", "annual")),
              "company": {"name": company, "industry": industry, "employee_count": employees},
              "locale": "de" if german else "en"}
    group = {"name": company, "industry": industry, "employees": employees, "size": size, "plan": plan}
    return Customer(f"u{number}", traits, group, f"org_{company.split()[0].lower()}_{number % 23}", exported_ago_ms,
                    rng.randint(31 + HISTORY_DAYS, 900))  # 30 days old at the oldest imported session


def segment_messages(people: list[Customer], now_ms: int, seed: int = SEED) -> list[dict]:
    """The Segment messages that make `people` known to the worker, dated before the history
    (35-44 days ago: before any imported session), the CSAT exports in the last 2 days."""
    rng = random.Random(seed + 1)
    messages = []
    for person in people:
        traits = {**person.traits, "createdAt": iso(now_ms - person.signed_up_days_ago * DAY_MS)}
        at = now_ms - rng.randint(35 * DAY_MS, 44 * DAY_MS)
        context = {"library": {"name": "analytics.js", "version": "next-1.70.0"}, "locale": person.locale}
        messages.append({"type": "identify", "messageId": _uuid(rng), "userId": person.user_id, "traits": traits,
                         "timestamp": iso(at), "context": context})
        messages.append({"type": "group", "messageId": _uuid(rng), "userId": person.user_id, "groupId": person.group_id,
                         "traits": person.group, "timestamp": iso(at + MINUTE_MS), "context": context})
        if person.exported_ago_ms is not None:
            messages.append({"type": "track", "messageId": _uuid(rng), "userId": person.user_id,
                             "event": "Report Exported", "properties": {"format": rng.choice(("pdf", "csv"))},
                             "timestamp": iso(now_ms - person.exported_ago_ms), "context": context})
    return messages


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))
