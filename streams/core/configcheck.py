"""The checks every surveys config value goes through (streams.core.config reads the fields).

A config that validates must decide for every user without raising (docs/reference.md#the-surveys-file): so
every number is finite and inside a range the time arithmetic can hold (1e300 days is a
finite float, and an OverflowError for every user), and every free-form value (a filter's
operand, a static Segment property) is plain data that JSON can carry: finite numbers,
64-bit integers, UTF-8 strings, string keys, within a size that aliases cannot blow up.
Each failure is a ConfigError naming the file, the survey and the field.
"""
from __future__ import annotations

import math
from datetime import date
from typing import Any

from streams.core.errors import ConfigError
from streams.core.timeutil import parse_iso

# Bounds (docs/configuration.md, "Bounds"): far beyond any sensible setting, far inside
# what epoch-ms arithmetic and the ISO formatter hold (year 9999 is 8000 years away).
MAX_DAYS = 36_500  # 100 years: every *_days setting and days operand
MAX_HOURS = MAX_DAYS * 24
MAX_DISPLAY_MINUTES = 7 * 24 * 60  # display_timeout_minutes, display_token_minutes
MAX_COUNT = 1_000_000  # max_displays, trigger.min_count
MAX_PRIORITY = 1_000_000
MAX_SCALE = 1000  # a scale question's min and max lie in [-MAX_SCALE, MAX_SCALE]
MAX_PARTITIONS = 10_000
# Free-form values: integers JSON encoders write (orjson refuses wider ones), nesting and
# size (counting every alias expansion) no real config comes near.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32
MAX_VALUES = 100_000


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class Checker:
    """Validation helpers bound to the file and the survey being read."""

    def __init__(self, file: str, survey: str | None = None, _budget: list | None = None):
        self.file, self.survey = file, survey
        self._budget = _budget if _budget is not None else [0]  # values plain() walked, document-wide

    def named(self, survey: str) -> "Checker":
        """A checker for one survey of the same document (errors name it; one size budget)."""
        return Checker(self.file, survey, self._budget)

    def fail(self, field_name: str, value: Any, message: str) -> ConfigError:
        return ConfigError(self.file, self.survey, field_name, value, message)

    def mapping(self, value: Any, field_name: str, allowed: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(field_name or ("(survey entry)" if self.survey else "(document)"), value, "must be a mapping")
        for key in value:
            if key not in allowed:
                raise self.fail(f"{field_name}.{key}" if field_name else str(key), value[key],
                                f"unknown field; expected one of {', '.join(allowed)}")
        return value

    def number(self, data: dict, key: str, field_name: str, default: float | None, *, minimum: float,
               maximum: float, integer: bool = False, nullable: bool = False):
        """A finite number (an int with `integer`) in [minimum, maximum]."""
        value = data.get(key, default)
        if value is None and nullable:
            return None
        kind = int if integer else (int, float)
        if isinstance(value, bool) or not isinstance(value, kind):
            raise self.fail(field_name, value, "must be an integer" if integer else "must be a number")
        if not math.isfinite(value):  # NaN compares false with any bound: checked first
            raise self.fail(field_name, value, "must be a finite number")
        if not minimum <= value <= maximum:
            raise self.fail(field_name, value, f"must be between {minimum:g} and {maximum:g}")
        return value

    def text(self, data: dict, key: str, field_name: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(field_name, value, "must be a non-empty string")
        return value

    def boolean(self, data: dict, key: str, field_name: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(field_name, value, "must be true or false")
        return value

    def instant(self, data: dict, key: str, field_name: str) -> int | None:
        value = data.get(key)
        if value is None:
            return None
        if hasattr(value, "isoformat"):  # YAML parses unquoted dates itself
            value = value.isoformat()
        parsed = parse_iso(value)
        if parsed is None:
            raise self.fail(field_name, value, "must be an ISO 8601 date or date-time")
        return parsed

    def plain(self, value: Any, field_name: str, depth: int = 0) -> None:
        """Refuse anything in `value` (a whole section, walked) that JSON cannot carry or a
        decision cannot compute with: see the module docstring."""
        self._budget[0] += 1
        if self._budget[0] > MAX_VALUES:
            raise self.fail(field_name, "...", f"the config holds more than {MAX_VALUES} values (aliases counted)")
        if depth > MAX_DEPTH:
            raise self.fail(field_name, "...", f"is nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, (bool, date)):  # date: YAML timestamps (and datetimes)
            return
        if isinstance(value, float):
            if not math.isfinite(value):
                raise self.fail(field_name, value, "must be a finite number (no .inf or .nan)")
        elif isinstance(value, int):
            if not INT_MIN <= value <= INT_MAX:
                raise self.fail(field_name, value, "must be an integer that fits in 64 bits")
        elif isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate ("\ud800"): no JSON encoder writes it
                raise self.fail(field_name, value, "must be valid UTF-8 text") from None
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self.plain(item, f"{field_name}[{index}]", depth + 1)
        elif isinstance(value, dict):
            for key, item in value.items():
                name = f"{field_name}.{key}" if field_name else str(key)
                if not isinstance(key, str):  # YAML 1.1 reads `yes:` or `1:` as a non-string key
                    raise self.fail(name, key, "keys must be strings (quote them)")
                self.plain(key, name, depth + 1)
                self.plain(item, name, depth + 1)
        else:  # !!binary, !!set, ...: YAML types with no JSON form
            raise self.fail(field_name, value, f"must be plain data (a {type(value).__name__} is not)")
