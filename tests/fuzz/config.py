"""The fuzz run's keys, its environment knobs and the two workers' environments."""
from __future__ import annotations

import os
from datetime import datetime, timezone

WRITE_KEY, SECOND_WRITE_KEY = "test-write-key", "fuzz-write-key-2"
ADMIN_KEY = "test-admin-key"
WIDGET_KEY = "fuzz-widget-key"
SECURE_SECRET = "fuzz-secure-secret"

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "1500"))
SECURE_EXAMPLES = int(os.environ.get("FUZZ_SECURE_EXAMPLES", "500"))
SEED = int(os.environ.get("FUZZ_SEED", "20261130"))
BUDGET_S = float(os.environ.get("FUZZ_BUDGET_S", "25"))
TIMEOUT_S = 8.0          # an answer slower than this is a hang
SWEEP_USERS = 250        # at most this many written users are read back
NOW = datetime.now(timezone.utc).replace(microsecond=0)

PLAIN_ENV = {"STREAMS_WIDGET_KEY": WIDGET_KEY, "STREAMS_ADMIN_KEY": ADMIN_KEY,
             "STREAMS_WRITE_KEYS": f"{WRITE_KEY},{SECOND_WRITE_KEY}", "STREAMS_LOG_LEVEL": "INFO"}
VARIANTS = {  # worker name -> its environment; `secure` checks the userHash of eligibility and widget calls
    "plain": PLAIN_ENV,
    "secure": {**PLAIN_ENV, "STREAMS_SECURE_SECRET": SECURE_SECRET},
}


def secret_of(variant: str) -> str | None:
    """The userHash secret the worker was started with (None: it checks no userHash)."""
    return VARIANTS[variant].get("STREAMS_SECURE_SECRET")
