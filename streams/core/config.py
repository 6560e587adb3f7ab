"""Survey definitions and project settings (docs/reference.md#6-config): load, validate, fill defaults.

A config that does not validate raises `ConfigError` naming the file, the survey and the
field, so that the worker stops at start with a message a product manager can act on.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from streams.core import configcheck, locales as locale_tags
from streams.core.configcheck import (
    MAX_COUNT, MAX_DAYS, MAX_DISPLAY_MINUTES, MAX_HOURS, MAX_PARTITIONS, MAX_PRIORITY, Checker)
from streams.core.configquestions import (  # noqa: F401  (Filter, Question, ShowIf are the config's types)
    CATEGORIES, DAYS_OPERATORS, LIST_OPERATORS, NO_VALUE_OPERATORS, OPERATORS, QUESTION_KINDS, Filter, Question, ShowIf, filter_item, parse_locales, parse_questions,
    parse_texts)
from streams.core.configtargeting import (  # noqa: F401  (the config's types)
    MAX_DELAY_SECONDS, CancelOn, PageRule, SurveyLimits, parse_cancel_on, parse_devices, parse_pages,
    parse_survey_limits)
from streams.core.errors import ConfigError
from streams.core import topics as names

SURVEY_TYPES = ("nps", "csat", "ces", "pmf")
LIFECYCLE_EVENTS = ("viewed", "answered", "completed", "dismissed")
# Values a `segment.traits` mapping may name besides a question id.
RESPONSE_FIELDS = ("score", "comment", "category", "completed_at", "response_id")
PMF_CHOICES = ("Very disappointed", "Somewhat disappointed", "Not disappointed")
_SURVEY_ID = re.compile(r"^[a-z0-9-]+$")

DEFAULT_QUESTIONS = {
    "nps": [
        {"id": "score", "kind": "scale", "text": "How likely are you to recommend us to a friend or colleague?", "min": 0, "max": 10},
        {"id": "comment", "kind": "text", "text": "What is the main reason for your score?"},
    ],
    "csat": [
        {"id": "score", "kind": "scale", "text": "How satisfied are you with the product?", "min": 1, "max": 5},
        {"id": "comment", "kind": "text", "text": "What could we do better?"},
    ],
    "ces": [
        {"id": "score", "kind": "scale", "text": "How easy was it to get what you needed done?", "min": 1, "max": 7},
        {"id": "comment", "kind": "text", "text": "What made it easy or hard?"},
    ],
    "pmf": [
        {"id": "score", "kind": "choice", "text": "How would you feel if you could no longer use the product?", "choices": list(PMF_CHOICES)},
        {"id": "comment", "kind": "text", "text": "What is the main benefit you receive from the product?"},
    ],
}
DEFAULT_EVENT_NAMES = {
    "viewed": "Survey Viewed",
    "answered": "Survey Answered",
    "completed": "Survey Completed",
    "dismissed": "Survey Dismissed",
}


@dataclass(frozen=True)
class Trigger:
    event: str
    where: tuple[Filter, ...] = ()
    min_count: int = 1
    within_days: float | None = 7


@dataclass(frozen=True)
class Targeting:
    min_days_since_signup: float = 30
    sample_percent: float = 100
    traits: tuple[Filter, ...] = ()
    trigger: Trigger | None = None
    recontact_after_response_days: float = 90
    recontact_after_dismissal_days: float = 30
    redisplay_after_hours: float = 24
    max_displays: int = 3
    pages: tuple[PageRule, ...] = ()
    devices: tuple[str, ...] = ()  # empty: every device
    delay_seconds: float = 0
    cancel_on: tuple[CancelOn, ...] = ()
    max_responses_per_user: int = 0  # 0: no cap


@dataclass(frozen=True)
class SegmentEvent:
    enabled: bool
    name: str


@dataclass(frozen=True)
class SegmentMapping:
    events: dict  # lifecycle event (viewed/answered/completed/dismissed) -> SegmentEvent
    properties: dict  # extra property -> static value, or "trait:<name>"
    traits: dict  # trait name -> question id or one of RESPONSE_FIELDS


@dataclass(frozen=True)
class Survey:
    id: str
    type: str
    name: str
    order: int  # position in the file: the priority tie-break
    active: bool = True
    starts_at: int | None = None  # epoch ms
    ends_at: int | None = None
    priority: int = 10
    questions: tuple[Question, ...] = ()
    targeting: Targeting = field(default_factory=Targeting)
    segment: SegmentMapping | None = None
    locales: tuple[str, ...] = ("en",)  # the first is the default
    names: dict = field(default_factory=dict)  # locale -> name, for locales other than the first
    limits: SurveyLimits = field(default_factory=SurveyLimits)

    @property
    def score_question(self) -> Question | None:
        """The question whose answer is the survey's score: the first scale or choice."""
        return next((q for q in self.questions if q.kind in ("scale", "choice")), None)

    @property
    def comment_question(self) -> Question | None:
        """The first text question (with show_if, the comment is the first text question answered)."""
        return next((q for q in self.questions if q.kind == "text"), None)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def name_in(self, locale: str | None) -> str:
        return self.names.get(locale, self.name) if locale is not None else self.name

    def public(self, locale: str | None = None) -> dict:
        """The survey as the widget sees it (docs/reference.md#eligibility), every text in
        `locale` (one of `locales`; the first when None)."""
        locale = locale if locale in self.locales else self.locales[0]
        return {"id": self.id, "type": self.type, "name": self.name_in(locale), "locale": locale,
                "dir": locale_tags.direction(locale), "questions": [q.as_dict(locale) for q in self.questions]}


@dataclass(frozen=True)
class Limits:
    """What one user's state may hold (docs/reference.md#project-settings; docs/security.md lists every limit)."""

    # The stored state, JSON: above the sum of every part input can fill (tests/core/
    # test_state_budget.py), so no user can be locked at it; Kafka's default record cap is 1 MB.
    state_bytes: int = 640 * 1024
    traits: int = 256  # trait names per user
    trait_bytes: int = 64 * 1024  # the traits object, JSON


@dataclass(frozen=True)
class Project:
    recontact_days: float = 7
    display_timeout_minutes: float = 30
    partitions: int = 8
    # An alias (or identify) folding an identified user into another userId is refused
    # (dead letter `alias_conflict`) unless this is true.
    merge_identified_users: bool = False
    # How long a display token from /v1/eligibility may open its display.
    display_token_minutes: float = 60
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class Config:
    project: Project
    surveys: tuple[Survey, ...]
    topics: names.TopicNames
    path: str = "<memory>"
    # Which version of the surveys this is (streams.runtime.liveconfig): "<content hash>.<applied at>",
    # or "<content hash>.file" for a file no `surveys apply` published.
    version: str = "unversioned"

    def survey(self, survey_id: str) -> Survey | None:
        return next((s for s in self.surveys if s.id == survey_id), None)

    # Read for every input: computed once per config (cached_property writes the instance's
    # __dict__ directly, which a frozen dataclass allows).
    @cached_property
    def trigger_events(self) -> frozenset:
        return frozenset(s.targeting.trigger.event for s in self.surveys if s.targeting.trigger)

    @cached_property
    def uses_devices(self) -> bool:
        """Whether a survey has a device rule: only then is a User-Agent worth parsing."""
        return any(s.targeting.devices for s in self.surveys)


def _filters(check: Checker, value: Any, field_name: str, name_key: str) -> tuple[Filter, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise check.fail(field_name, value, "must be a list of filters")
    return tuple(filter_item(check, item, f"{field_name}[{index}]", name_key) for index, item in enumerate(value))


def _trigger(check: Checker, value: Any) -> Trigger | None:
    if value is None:
        return None
    data = check.mapping(value, "targeting.trigger", ("event", "where", "min_count", "within_days"))
    return Trigger(
        event=check.text(data, "event", "targeting.trigger.event"),
        where=_filters(check, data.get("where"), "targeting.trigger.where", "property"),
        min_count=check.number(data, "min_count", "targeting.trigger.min_count", 1, minimum=1,
                               maximum=MAX_COUNT, integer=True),
        within_days=check.number(data, "within_days", "targeting.trigger.within_days", 7, minimum=0,
                                 maximum=MAX_DAYS, nullable=True),
    )


def _targeting(check: Checker, value: Any) -> Targeting:
    defaults = Targeting()
    data = check.mapping(value, "targeting", (
        "min_days_since_signup", "sample_percent", "traits", "trigger", "recontact_after_response_days",
        "recontact_after_dismissal_days", "redisplay_after_hours", "max_displays", "pages", "devices",
        "delay_seconds", "cancel_on", "max_responses_per_user"))
    delay_seconds = check.number(data, "delay_seconds", "targeting.delay_seconds", 0, minimum=0,
                                 maximum=MAX_DELAY_SECONDS)

    def days(key: str, maximum: float = MAX_DAYS) -> float:
        return check.number(data, key, f"targeting.{key}", getattr(defaults, key), minimum=0, maximum=maximum)

    return Targeting(
        min_days_since_signup=days("min_days_since_signup"),
        sample_percent=check.number(data, "sample_percent", "targeting.sample_percent", 100, minimum=0, maximum=100),
        traits=_filters(check, data.get("traits"), "targeting.traits", "trait"),
        trigger=_trigger(check, data.get("trigger")),
        recontact_after_response_days=days("recontact_after_response_days"),
        recontact_after_dismissal_days=days("recontact_after_dismissal_days"),
        redisplay_after_hours=days("redisplay_after_hours", MAX_HOURS),
        max_displays=check.number(data, "max_displays", "targeting.max_displays", 3, minimum=1, maximum=MAX_COUNT,
                                   integer=True),
        pages=parse_pages(check, data.get("pages")),
        devices=parse_devices(check, data.get("devices")),
        delay_seconds=delay_seconds,
        cancel_on=parse_cancel_on(check, data.get("cancel_on"), delay_seconds),
        max_responses_per_user=check.number(data, "max_responses_per_user", "targeting.max_responses_per_user", 0,
                                            minimum=0, maximum=MAX_COUNT, integer=True),
    )


def _segment(check: Checker, survey_type: str, questions: tuple[Question, ...], value: Any) -> SegmentMapping:
    data = check.mapping(value, "segment", ("events", "properties", "traits"))
    events_in = check.mapping(data.get("events"), "segment.events", LIFECYCLE_EVENTS)
    events = {}
    for name in LIFECYCLE_EVENTS:
        item = check.mapping(events_in.get(name), f"segment.events.{name}", ("enabled", "name"))
        events[name] = SegmentEvent(
            enabled=check.boolean(item, "enabled", f"segment.events.{name}.enabled", True),
            name=check.text(item, "name", f"segment.events.{name}.name", DEFAULT_EVENT_NAMES[name]),
        )
    properties = data.get("properties") or {}
    if not isinstance(properties, dict):
        raise check.fail("segment.properties", properties, "must be a mapping")
    for key, prop in properties.items():
        if isinstance(prop, str) and prop.startswith("trait:") and not prop[6:]:
            raise check.fail(f"segment.properties.{key}", prop, "'trait:' needs a trait name")
    prefix = survey_type.upper()
    traits = data.get("traits")
    if traits is None:
        traits = {f"{prefix}_rating": "score", f"{prefix}_comment": "comment", f"{prefix}_date": "completed_at"}
    if not isinstance(traits, dict):
        raise check.fail("segment.traits", traits, "must be a mapping")
    known = {q.id for q in questions} | set(RESPONSE_FIELDS)
    for key, source in traits.items():
        if source not in known:
            raise check.fail(f"segment.traits.{key}", source,
                             f"must be a question id or one of {', '.join(RESPONSE_FIELDS)}")
    return SegmentMapping(events=events, properties=dict(properties), traits=dict(traits))


def _survey(document: Checker, index: int, value: Any, seen: set) -> Survey:
    raw_id = value.get("id") if isinstance(value, dict) else None
    check = document.named(raw_id if isinstance(raw_id, str) else f"#{index + 1}")
    data = check.mapping(value, "", (
        "id", "type", "name", "active", "starts_at", "ends_at", "priority", "questions", "targeting", "segment",
        "locales", "limits"))
    check.plain(data, "")
    survey_id = data.get("id")
    if not isinstance(survey_id, str) or not _SURVEY_ID.fullmatch(survey_id):
        raise check.fail("id", survey_id, "must be a string of [a-z0-9-]")
    if survey_id in seen:
        raise check.fail("id", survey_id, "duplicate survey id")
    seen.add(survey_id)
    survey_type = data.get("type")
    if survey_type not in SURVEY_TYPES:
        raise check.fail("type", survey_type, f"must be one of {', '.join(SURVEY_TYPES)}")
    survey_locales = parse_locales(check, data.get("locales"))
    questions = parse_questions(check, survey_type, data.get("questions"), DEFAULT_QUESTIONS[survey_type], survey_locales)
    name, names = parse_texts(check, data.get("name"), "name", survey_locales)
    starts_at = check.instant(data, "starts_at", "starts_at")
    ends_at = check.instant(data, "ends_at", "ends_at")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise check.fail("ends_at", data.get("ends_at"), "must be after starts_at")
    return Survey(
        id=survey_id,
        type=survey_type,
        name=name,
        names=names,
        locales=survey_locales,
        limits=parse_survey_limits(check, data.get("limits")),
        order=index,
        active=check.boolean(data, "active", "active", True),
        starts_at=starts_at,
        ends_at=ends_at,
        priority=check.number(data, "priority", "priority", 10, minimum=-MAX_PRIORITY, maximum=MAX_PRIORITY,
                              integer=True),
        questions=questions,
        targeting=_targeting(check, data.get("targeting")),
        segment=_segment(check, survey_type, questions, data.get("segment")),
    )


def _limits(check: Checker, value: Any) -> Limits:
    defaults = Limits()
    data = check.mapping(value, "project.limits", ("state_bytes", "traits", "trait_bytes"))
    # Upper bounds keep a state's changelog record under Kafka's default 1 MB record size.
    state_bytes = check.number(data, "state_bytes", "project.limits.state_bytes", defaults.state_bytes,
                               minimum=4096, maximum=768 * 1024, integer=True)
    return Limits(
        state_bytes=state_bytes,
        traits=check.number(data, "traits", "project.limits.traits", defaults.traits, minimum=1, maximum=10_000, integer=True),
        trait_bytes=check.number(data, "trait_bytes", "project.limits.trait_bytes", min(defaults.trait_bytes, state_bytes // 2),
                                 minimum=1024, maximum=state_bytes // 2, integer=True),
    )


def parse_config(data: Any, file: str = "<memory>") -> Config:
    """Validate a parsed YAML document and fill in every default."""
    check = Checker(file)
    data = check.mapping(data, "", ("project", "surveys", "topics"))
    check.plain(data.get("project"), "project")
    check.plain(data.get("topics"), "topics")
    project_in = check.mapping(data.get("project"), "project", (
        "recontact_days", "display_timeout_minutes", "partitions", "merge_identified_users",
        "display_token_minutes", "limits"))
    project = Project(
        recontact_days=check.number(project_in, "recontact_days", "project.recontact_days", 7, minimum=0,
                                    maximum=MAX_DAYS),
        display_timeout_minutes=check.number(project_in, "display_timeout_minutes", "project.display_timeout_minutes", 30,
                                             minimum=0.01, maximum=MAX_DISPLAY_MINUTES),
        partitions=check.number(project_in, "partitions", "project.partitions", 8, minimum=1,
                                maximum=MAX_PARTITIONS, integer=True),
        merge_identified_users=check.boolean(project_in, "merge_identified_users", "project.merge_identified_users", False),
        display_token_minutes=check.number(project_in, "display_token_minutes", "project.display_token_minutes", 60,
                                           minimum=1, maximum=MAX_DISPLAY_MINUTES),
        limits=_limits(check, project_in.get("limits")),
    )
    renames = check.mapping(data.get("topics"), "topics", names.ALL)
    for logical, physical in renames.items():
        if not isinstance(physical, str) or not physical:
            raise check.fail(f"topics.{logical}", physical, "must be a topic name")
    surveys_in = data.get("surveys") or []
    if not isinstance(surveys_in, list):
        raise check.fail("surveys", surveys_in, "must be a list")
    seen: set = set()
    surveys = tuple(_survey(check, index, item, seen) for index, item in enumerate(surveys_in))
    return Config(project=project, surveys=surveys, topics=names.TopicNames(dict(renames)), path=file)
from streams.core.timeutil import parse_iso


def load_config(path: str | Path) -> Config:
    """Read and validate a surveys file; raises ConfigError on any problem."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(file, None, "(file)", file, f"cannot be read: {exc.strerror}") from None
    return parse_config_text(text, file, version=f"{content_hash(text)}.file")


def content_hash(text: str) -> str:
    """The first 12 hex characters of the SHA-256 of a config's text: its content's name."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def parse_config_text(text: str, file: str, version: str) -> Config:
    """A config from YAML text, validated as load_config does (same errors, naming `file`)."""
    if not isinstance(text, str):
        raise ConfigError(file, None, "(text)", text, "must be YAML text")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(file, None, "(yaml)", str(getattr(exc, "problem_mark", "")), f"is not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except Exception as exc:  # PyYAML's constructors raise plain errors too: `2024-13-45`, `!!int x`, deep nesting
        raise ConfigError(file, None, "(yaml)", type(exc).__name__, f"is not valid YAML: {exc}") from None
    return dataclasses.replace(parse_config(data if data is not None else {}, file), version=version)
