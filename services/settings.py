"""Configuration of each deployable, read from the environment once at start-up.

One pydantic-settings class per deployable: `CollectorSettings`, `AttributorSettings`, and
`EmbeddedSettings` (both in one process). Shared groups (`StoreSettings`, `KafkaSettings`)
are mixed in. `load(cls)` turns validation errors into `ConfigError` naming the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.errors import ConfigError
from tracker.click_ids import SecretRing

DEV_PLACEHOLDER_SECRET = "dev-insecure-click-secret-change-me"
_PREFIX = "PARTNERSTREAM_"


class _Base(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=_PREFIX, extra="ignore", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Field(Path("./data"), description="chDB store and the local log live here")


class StoreSettings(_Base):
    clickhouse_url: str = Field(
        "",
        validation_alias="CLICKHOUSE_URL",
        description="chdb:///path (embedded) or http(s)://user:pass@host:8123/db; "
        "empty means chdb://<data_dir>/clickhouse",
    )
    clickhouse_database: str = Field("partnerstream", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    def resolved_clickhouse_url(self) -> str:
        return self.clickhouse_url or f"chdb://{self.data_dir / 'clickhouse'}"


class KafkaSettings(_Base):
    kafka_bootstrap_servers: str = Field(
        "", validation_alias="KAFKA_BOOTSTRAP_SERVERS", description="empty: the local durable bus"
    )
    events_topic: str = "events.v1"
    dlq_topic: str = "events.dlq.v1"
    topic_partitions: int = Field(8, ge=1, le=1024)
    kafka_linger_ms: int = Field(5, ge=0, le=10_000)
    kafka_max_batch_bytes: int = Field(256 * 1024, ge=16 * 1024)
    kafka_compression: Literal["zstd", "lz4", "gzip", "snappy", "none"] = "zstd"
    kafka_request_timeout_ms: int = Field(15_000, ge=1_000)
    kafka_deadline_ms: int = Field(
        2_000, ge=50, description="past this, a produce falls back to the on-disk spool"
    )

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap_servers.strip())


class RegistrySettings(_Base):
    registry_path: Path = Field(
        Path("deploy/registry.example.yaml"),
        validation_alias="PARTNERSTREAM_REGISTRY",
        description="YAML or JSON: advertisers, campaigns, partners, contracts",
    )


class CollectorSettings(StoreSettings, KafkaSettings, RegistrySettings):
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    click_secrets: SecretStr = Field(
        SecretStr(f"1:{DEV_PLACEHOLDER_SECRET}"),
        description="click id HMAC secrets as '<key id>:<secret>,...'; the first signs, "
        "all verify (rotation)",
    )
    click_id_param: str = Field("clickid", pattern=r"^[A-Za-z0-9_]{1,32}$")
    click_id_max_age_days: int = Field(90, ge=1)
    visitor_cookie: str = Field("ps_vid", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    ip_anonymization: Literal["full", "24", "none"] = "24"
    max_event_bytes: int = Field(32 * 1024, ge=1024)
    max_request_bytes: int = Field(500 * 1024, ge=1024)
    rate_limit_per_second: float = Field(2_000.0, gt=0, description="per write key / source")
    rate_limit_burst: int = Field(10_000, ge=1)
    trust_forwarded_for: bool = False
    skan_allow_development_keys: bool = Field(
        False, description="accept AdAttributionKit postbacks signed with Apple's sandbox keys"
    )
    ctit_min_seconds: float = Field(10.0, ge=0)
    datacenter_networks: list[str] = Field(default_factory=list)
    fast_paths: bool = Field(
        True,
        description="serve clicks, impressions and the conversion pixel in front of FastAPI "
        "(services/collector/fast_paths.py); off: by the FastAPI routes, same answers",
    )

    @model_validator(mode="after")
    def _no_placeholder_secret_in_production(self) -> CollectorSettings:
        ring = self.click_secrets.get_secret_value()
        try:
            SecretRing.parse(ring)
        except ValueError as exc:
            raise ValueError(f"PARTNERSTREAM_CLICK_SECRETS: {exc}") from exc
        if self.environment == "production" and DEV_PLACEHOLDER_SECRET in ring:
            raise ValueError(
                "PARTNERSTREAM_CLICK_SECRETS holds the development placeholder; "
                "set real secrets in production"
            )
        return self


class AttributorSettings(StoreSettings, KafkaSettings, RegistrySettings):
    consumer_group: str = "partnerstream-attributor"
    batch_max_records: int = Field(50_000, ge=1)
    batch_max_ms: int = Field(250, ge=1)
    click_lookback_days: int = Field(30, ge=1)
    impression_lookback_hours: int = Field(24, ge=1)
    post_install_window_days: int = Field(30, ge=1)
    models: list[str] = Field(
        default_factory=lambda: [
            "last_touch",
            "first_touch",
            "linear",
            "time_decay",
            "position_based",
            "role_weights",
        ],
        description="heuristic models credited on the stream, side by side",
    )
    retry_max_seconds: float = Field(30.0, gt=0)
    flood_detection: bool = Field(
        True,
        description="judge partners for click flooding; installs they win while flagged are "
        "recorded with the click_flooding flag and not paid",
    )
    flood_window_hours: int = Field(24, ge=1, description="rolling window of the counts")
    flood_min_clicks: int = Field(1_000, ge=1, description="clicks before the ratio is judged")
    flood_min_installs: int = Field(
        20, ge=1, description="installs of known CTIT before their distribution is judged"
    )
    flood_max_clicks_per_install: float = Field(100.0, gt=0)
    flood_max_share_ctit_over_24h: float = Field(0.5, ge=0, le=1)
    flood_max_ctit_flatness: float = Field(
        0.7, ge=0, le=1, description="1: CTITs spread evenly over the week (flooding)"
    )
    chaos_exit_after_write: float = Field(
        0.0,
        ge=0,
        le=1,
        description="TESTS ONLY: probability of exiting abruptly after a ClickHouse write and "
        "before the offset commit (the crash-safety suite uses it)",
    )


class EmbeddedSettings(CollectorSettings, AttributorSettings):  # type: ignore[misc]
    """`partnerstream run`: collector + attributor in one process on the local bus and chDB."""


S = TypeVar("S", bound=BaseSettings)


def load(cls: type[S], **overrides: Any) -> S:
    """Parse settings once; a bad value raises ConfigError naming the environment variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            info = cls.model_fields.get(field)
            alias = info.validation_alias if info is not None else None
            var = alias if isinstance(alias, str) else f"{_PREFIX}{field.upper()}"
            problems.append(f"{var}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(problems)) from exc
