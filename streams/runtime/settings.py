"""Process settings from the environment (docs/reference.md#2-environment)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Callable

from streams.runtime.peers import DEFAULT_PEER_NETWORKS, parse_networks


class SettingError(ValueError):
    """An environment variable whose value cannot be used; the worker does not start."""

    def __init__(self, variable: str, value: str, reason: str):
        self.variable, self.value, self.reason = variable, value, reason
        super().__init__(f"{variable}={value!r}: {reason}")


def _keys(value: str) -> frozenset:
    return frozenset(k.strip() for k in value.split(",") if k.strip())


def _parsed(env, variable: str, parse: Callable, default):
    """`parse` of the variable's value, `default` when it is unset or empty; SettingError
    naming the variable and the value when it does not parse."""
    text = env.get(variable)
    if text is None or not text.strip():
        return default
    try:
        return parse(text.strip())
    except ValueError as error:
        raise SettingError(variable, text, str(error)) from None


def _number(kind: type):
    def parse(text: str):
        value = kind(text)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("not a finite number")
        return value
    return parse


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = "127.0.0.1:9092"
    config_path: str = "config/surveys.yaml"
    web_host: str = "127.0.0.1"
    web_port: int = 6066
    data_dir: str = "var/"
    write_keys: frozenset = frozenset()
    widget_key: str = ""
    secure_secret: str = ""
    admin_key: str = ""
    segment_write_key: str = ""
    segment_host: str = "https://api.segment.io"
    # docs/reference.md#ingestion: POST /v1/webhook bodies signed with it (X-Signature, hex HMAC-SHA1).
    webhook_secret: str = ""
    # docs/reference.md#2-environment: the URL other workers use to reach this one (required when binding 0.0.0.0).
    advertised_url: str = ""
    # Beyond docs/reference.md (docs/operations.md): the display-token secret, when an operator keeps it elsewhere;
    # empty: the app's shared secret in the `streams.secrets` topic (streams.runtime.signing).
    display_secret: str = ""
    # Not in docs/reference.md (docs/operations.md): knobs for running several isolated apps on one cluster (tests,
    # benchmarks) and for the store and guarantee; the defaults are what users get.
    app_id: str = "survey-streams"
    store: str = "rocksdb://"
    processing_guarantee: str = "at_least_once"
    log_level: str = "WARN"
    session_timeout_s: float = 10.0
    standby_replicas: int = 1
    # Users looked at per second when re-deciding after a config switch (live traffic first).
    redecide_per_s: float = 20_000.0
    # docs/reference.md#2-environment: the networks whose addresses a worker calls when it routes a request to
    # the worker another one advertised (streams.runtime.peers).
    peer_networks: tuple = parse_networks(DEFAULT_PEER_NETWORKS)

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Settings":
        env = os.environ if env is None else env
        d = cls()
        return cls(
            bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or d.bootstrap_servers,
            config_path=env.get("STREAMS_CONFIG") or d.config_path,
            web_host=env.get("STREAMS_WEB_HOST") or d.web_host,
            web_port=_parsed(env, "STREAMS_WEB_PORT", int, d.web_port),
            data_dir=env.get("STREAMS_DATA_DIR") or d.data_dir,
            write_keys=_keys(env.get("STREAMS_WRITE_KEYS", "")),
            widget_key=env.get("STREAMS_WIDGET_KEY", ""),
            secure_secret=env.get("STREAMS_SECURE_SECRET", ""),
            admin_key=env.get("STREAMS_ADMIN_KEY", ""),
            segment_write_key=env.get("SEGMENT_WRITE_KEY", ""),
            segment_host=env.get("SEGMENT_HOST") or d.segment_host,
            webhook_secret=env.get("STREAMS_WEBHOOK_SECRET", ""),
            advertised_url=(env.get("STREAMS_ADVERTISED_URL") or "").strip().rstrip("/"),
            display_secret=env.get("STREAMS_DISPLAY_SECRET", ""),
            app_id=env.get("STREAMS_APP_ID") or d.app_id,
            store=env.get("STREAMS_STORE") or d.store,
            processing_guarantee=env.get("STREAMS_PROCESSING_GUARANTEE") or d.processing_guarantee,
            log_level=env.get("STREAMS_LOG_LEVEL") or d.log_level,
            session_timeout_s=_parsed(env, "STREAMS_SESSION_TIMEOUT_S", _number(float), d.session_timeout_s),
            standby_replicas=_parsed(env, "STREAMS_STANDBY_REPLICAS", int, d.standby_replicas),
            redecide_per_s=max(_parsed(env, "STREAMS_REDECIDE_PER_S", _number(float), d.redecide_per_s), 1.0),
            peer_networks=_parsed(env, "STREAMS_PEER_NETWORKS", parse_networks, d.peer_networks),
        )

    @property
    def binds_all_interfaces(self) -> bool:
        return self.web_host.strip() in ("0.0.0.0", "::", "[::]", "")

    @property
    def canonical_url(self) -> str:
        """Where other workers reach this one: STREAMS_ADVERTISED_URL, else the bind address."""
        return self.advertised_url or f"http://{self.web_host}:{self.web_port}"

    @property
    def broker_url(self) -> str:
        return ";".join(f"kafka://{h.strip()}" for h in self.bootstrap_servers.split(",") if h.strip())
