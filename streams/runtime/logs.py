"""Structured, quiet-by-default logs: one line per record, `key=value` pairs after the message."""
from __future__ import annotations

import logging
import sys

import orjson

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class StructuredFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        text = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if fields:
            text += " " + " ".join(f"{k}={orjson.dumps(v, default=str).decode()}" for k, v in fields.items())
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def setup(level: str) -> None:
    """Route the `streams` loggers to stderr in the structured format at `level`."""
    logger = logging.getLogger("streams")
    logger.setLevel(level.upper())
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(StructuredFormatter())
    logger.handlers[:] = [handler]
    logger.propagate = False
