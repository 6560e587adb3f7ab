"""Typed errors. Each carries the field and the value that failed."""
from __future__ import annotations

from typing import Any

# Dead-letter codes (docs/reference.md#dead-letter).
INVALID_JSON = "invalid_json"
NOT_AN_OBJECT = "not_an_object"
MISSING_FIELD = "missing_field"
INVALID_FIELD = "invalid_field"
TOO_LARGE = "too_large"
UNKNOWN_TYPE = "unknown_type"
ALIAS_CONFLICT = "alias_conflict"  # docs/reference.md#dead-letter: folding an identified user into another
INVALID_TOKEN = "invalid_token"  # a widget event without a valid display token
INVALID_SIGNATURE = "invalid_signature"  # a user command no worker signed
EXPIRED_COMMAND = "expired_command"  # a signed user command appended after its expiry (a copy)
REPLAYED_COMMAND = "replayed_command"  # a signed user command applied once already (a copy)


class InvalidInput(ValueError):
    """An input message that cannot be processed; becomes a dead-letter record or an HTTP 400."""

    def __init__(self, code: str, field: str | None, value: Any, detail: str):
        self.code, self.field, self.value, self.detail = code, field, value, detail
        super().__init__(detail)

    def as_dict(self) -> dict:
        return {"error": self.code, "field": self.field, "detail": self.detail}


class ConfigError(ValueError):
    """A config value that failed validation: where it is, what it was, what was expected.

    `file` is the surveys file, or where a config came from (a `streams.config` record:
    "<topic>@<offset>"); `survey` None for a project-level or document-level field."""

    def __init__(self, file: str, survey: str | None, field: str, value: Any, message: str):
        self.file, self.survey, self.field, self.value, self.message = file, survey, field, value, message
        where = f"survey '{survey}': " if survey else ""
        super().__init__(f"{file}: {where}field '{field}': {message} (got {_shown(value)})")


def _shown(value: Any) -> str:
    """The offending value for a message: its repr, cut (a record's whole text may be it)."""
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."
