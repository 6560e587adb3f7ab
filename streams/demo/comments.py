"""The comments the demo's history draws from: per survey type, category and locale.

"before"/"after" is the release RELEASE_DAYS_AGO (streams.demo.history): the comments after
it talk about what it changed, so that a search in the insights page finds them.
"""
from __future__ import annotations

import random

NPS = {
    "promoter": {
        "en": ["Reports that took me a day now take ten minutes.", "The Slack integration keeps the whole team in the loop.",
               "Support answered within the hour.", "Our board meetings run on these reports now.",
               "Cohort reports are exactly what we were missing.", "Easy to set up, and it just works."],
        "de": ["Die Berichte sparen uns jede Woche Stunden.", "Der Support hat innerhalb einer Stunde geantwortet.",
               "Einfach einzurichten, läuft einfach.", "Unser ganzes Team arbeitet jeden Tag damit."],
    },
    "passive": {
        "en": ["Solid, but the dashboard gets slow on big projects.", "Does what we need; per-seat pricing hurts as we grow.",
               "Good, but sharing a report with a client takes too many clicks.", "Fine for now, the mobile view needs work."],
        "de": ["Gut, aber das Dashboard wird bei großen Projekten langsam.", "Solide, die Preise pro Platz sind hoch.",
               "Ordentlich, aber das Teilen von Berichten ist umständlich."],
    },
    "detractor": {
        "en": ["Exports break when a report has more than a few thousand rows.", "Lost a week of data after the last import.",
               "The dashboard takes forever to load.", "Too expensive for what we use.", "Too many clicks to share a report."],
        "de": ["Exporte brechen bei großen Berichten ab.", "Das Dashboard lädt viel zu langsam.",
               "Zu teuer für das, was wir nutzen.", "Die deutsche Oberfläche ist nur halb übersetzt."],
    },
}
NPS_AFTER = {
    "promoter": {"en": ["The new dashboard is so much faster since the update.", "Love the new report builder!"],
                 "de": ["Seit dem Update ist das Dashboard viel schneller.", "Der neue Berichtsassistent ist super!"]},
    "passive": {"en": ["The update helped; sharing is still clunky."], "de": ["Das Update hat geholfen, Teilen ist noch umständlich."]},
    "detractor": {"en": ["The update moved everything around."], "de": ["Nach dem Update finde ich nichts mehr."]},
}
CSAT = {
    "satisfied": {"en": ["The PDF looks exactly like the screen.", "Quick and painless.", "CSV opens fine in Excel."],
                  "de": ["Das PDF sieht genau aus wie auf dem Bildschirm.", "Schnell und unkompliziert."]},
    "neutral": {"en": ["CSV is fine; let me pick the columns.", "OK, but it took a while."],
                "de": ["CSV ist in Ordnung, ich möchte die Spalten wählen."]},
    "unsatisfied": {"en": ["The PDF cut off my wide table.", "The export timed out twice."],
                    "de": ["Das PDF schneidet breite Tabellen ab.", "Der Export ist zweimal abgebrochen."]},
}
CSAT_AFTER = {"satisfied": {"en": ["Wide tables fit on the PDF now, thanks!"], "de": ["Breite Tabellen passen jetzt ins PDF, danke!"]}}
OTHER = {  # CES and PMF: a few generic ones
    "good": {"en": ["Found it right away.", "It is our single source of truth."], "de": ["Sofort gefunden."]},
    "bad": {"en": ["Took a while to find the setting.", "We could live with spreadsheets, barely."],
            "de": ["Ich habe lange gesucht."]},
}
POOLS = {"nps": (NPS, NPS_AFTER), "csat": (CSAT, CSAT_AFTER)}


def comment(rng: random.Random, survey_type: str, category: str, locale: str, after_release: bool) -> str:
    """A comment of the pool for that category and locale (English when it has none)."""
    pools, later = POOLS.get(survey_type, (OTHER, {}))
    if survey_type not in POOLS:
        category = "good" if category in ("easy", "very_disappointed") else "bad"
    by_locale = pools.get(category, {})
    choices = list(by_locale.get(locale) or by_locale.get("en") or ["-"])
    if after_release:
        extra = later.get(category, {})
        choices += (extra.get(locale) or extra.get("en") or []) * 2  # the release is what people talk about
    return rng.choice(choices)
