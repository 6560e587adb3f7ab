"""Point at the inputs behind a state difference: the user's messages whose event time or
trait value is what the fault-free state shows and the chaos state lacks.

A hint for the reader, not a proof: the worker logs and the broker's data (kept with
them when a run fails) tell what happened to those messages.
"""
from __future__ import annotations

import orjson

from .inputs import Inputs


def suspects(inputs: Inputs, user: str, chaos: dict | None, clean: dict | None, produced: dict | None = None) -> list[str]:
    if not isinstance(chaos, dict) or not isinstance(clean, dict):
        return [f"{user}: state missing in one pass (chaos {type(chaos).__name__}, fault-free {type(clean).__name__})"]
    messages = [(send, orjson.loads(send.value)) for send in inputs.sends if send.user == user]
    seen_ids: set = set()
    unique = []
    for send, message in messages:  # a redelivery is the same message
        if message["messageId"] not in seen_ids:
            seen_ids.add(message["messageId"])
            unique.append((send, message))
    lines = []

    def name(send, message) -> str:
        what = message.get("event") or message.get("name") or ""
        held = ", held until the session ended" if send.held else ""
        where = ""
        if produced and message["messageId"] in produced:
            at, partition, offset = produced[message["messageId"]]
            where = f"; produced at {at} to partition {partition} offset {offset}"
        return (f"{message['type']} {what!s} {message['messageId']} on {send.topic} (key {send.key}, event time "
                f"{message.get('timestamp')}, planned {send.at:.0f}s into the input{held}{where})").replace("  ", " ")

    for field in ("firstSeen", "lastSeen"):
        if chaos.get(field) != clean.get(field):
            found = [name(s, m) for s, m in unique if m.get("timestamp") == clean.get(field)]
            lines.append(f"{user}: {field} chaos={chaos.get(field)} fault-free={clean.get(field)}; "
                         f"not applied after the faults: {'; '.join(found) or 'no input has that time'}")
    chaos_triggers, clean_triggers = chaos.get("triggers") or {}, clean.get("triggers") or {}
    for survey_id in sorted(set(chaos_triggers) | set(clean_triggers)):
        a, b = chaos_triggers.get(survey_id) or {}, clean_triggers.get(survey_id) or {}
        if a != b:
            found = [name(s, m) for s, m in unique if s.kind == "trigger"]
            lines.append(f"{user}: {survey_id} triggers chaos={a} fault-free={b}; the input's triggers: "
                         f"{'; '.join(found)}")
    chaos_traits, clean_traits = chaos.get("traits") or {}, clean.get("traits") or {}
    by_source: dict = {}  # the message that set the fault-free value -> trait names
    for trait in sorted(set(chaos_traits) | set(clean_traits)):
        if chaos_traits.get(trait) != clean_traits.get(trait):
            found = [name(s, m) for s, m in unique if (m.get("traits") or {}).get(trait) == clean_traits.get(trait)]
            by_source.setdefault(found[0] if found else "?", []).append(trait)
    for source, traits in by_source.items():
        shown = ", ".join(f"{t} (chaos={chaos_traits.get(t)!r}, fault-free={clean_traits.get(t)!r})" for t in traits[:3])
        more = f" and {len(traits) - 3} more" if len(traits) > 3 else ""
        lines.append(f"{user}: traits {shown}{more}; set by: {source}")
    if chaos.get("surveys") != clean.get("surveys"):
        lines.append(f"{user}: survey history chaos={chaos.get('surveys')} fault-free={clean.get('surveys')}")
    return lines


def explain(inputs: Inputs, result, chaos_states: dict, clean_states: dict, produced: dict | None = None,
            limit: int = 20) -> list[str]:
    lines = []
    for user in sorted({u for u, _ in result.state_diffs})[:limit]:
        chaos, clean = chaos_states.get(user, (None, None)), clean_states.get(user, (None, None))
        lines += suspects(inputs, user, chaos[1] if chaos[0] == 200 else None, clean[1] if clean[0] == 200 else None,
                          produced)
    return lines
