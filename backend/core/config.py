"""Settings, split by concern (as in TiPG); every variable has the prefix RISKMAP_.

When no external database or broker is configured, `riskmap up` starts private ones under
the data folder and records their URLs in `services.json` there; the resolvers below fall
back to that file so that every command finds the same services.
"""

from __future__ import annotations

import ipaddress
import json
from functools import lru_cache
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_CONFIG = SettingsConfigDict(env_prefix="RISKMAP_", extra="ignore")


class PathSettings(BaseSettings):
    model_config = _CONFIG
    data_dir: Path = Path(".riskmap")

    @property
    def services_file(self) -> Path:
        return self.data_dir / "services.json"


class DatabaseSettings(BaseSettings):
    model_config = _CONFIG
    database_url: str | None = None
    pool_size: int = 5


class MqttSettings(BaseSettings):
    model_config = _CONFIG
    mqtt_url: str | None = None
    topic_root: str = "riskmap/v1"


class ApiSettings(BaseSettings):
    model_config = _CONFIG
    bind: str = "127.0.0.1"
    port: int = 8000
    # What a caller without a login or token may read (docs/jurisdiction.md):
    # none = nothing; county = the four-colour distribution per county and prefecture (公众可监督);
    # sites = every read, as before row-level security (site points, colours and details).
    public_map: Literal["none", "county", "sites"] = "county"
    # Kept for existing deployments: true means public_map = none.
    require_auth_for_read: bool = False
    # Tile URL template for an optional basemap; none by default so the map works offline.
    basemap_url: str | None = None
    basemap_attribution: str = ""
    max_page_size: int = 5000
    # Request bodies are counted as they arrive (chunked ones too): at most this many bytes
    # to a route that needs a token, and the smaller figure to an open one.
    max_upload_bytes: int = 20 * 1024 * 1024
    max_open_upload_bytes: int = 2 * 1024 * 1024
    # Any geometry the API accepts (warning areas, siting pre-checks, sites): at most this many vertices.
    max_geometry_vertices: int = 10_000

    @property
    def public_access(self) -> Literal["none", "county", "sites"]:
        """The one answer to "what may the public read": RISKMAP_PUBLIC_MAP, unless the older
        RISKMAP_REQUIRE_AUTH_FOR_READ closes everything."""
        return "none" if self.require_auth_for_read else self.public_map


class IngestSettings(BaseSettings):
    """The MQTT ingester (env prefix RISKMAP_INGEST_)."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_INGEST_", extra="ignore")
    share_group: str = "riskmap-ingest"
    max_payload_bytes: int = 256 * 1024
    max_age_s: float = 7 * 86_400  # older readings are refused (late data from a long outage)
    max_future_s: float = 300  # clocks may be a little ahead, not more
    batch_max_messages: int = 2000
    batch_wait_ms: int = 50
    # MQTT 5 Receive Maximum: the broker never sends more unacknowledged messages than this.
    max_inflight: int = 4000
    session_expiry_s: int = 7 * 86_400  # the broker keeps our queue this long while we are away
    offline_sweep_s: float = 15
    # Dead letters of a gateway's own faults (malformed, wrong shape, …): the stored payload is cut
    # to this size, and each gateway may fill at most this many rows or bytes per window; beyond
    # it rejects are counted, not stored.
    dead_letter_payload_bytes: int = 4096
    dead_letter_max_rows: int = 2000
    dead_letter_max_bytes: int = 2 * 1024 * 1024
    dead_letter_window_s: float = 3600
    # Rejects a register or setting change can cure (unknown sensor, …) are kept whole, to be
    # replayed, within a larger allowance of their own.
    dead_letter_replayable_max_rows: int = 20_000
    dead_letter_replayable_max_bytes: int = 64 * 1024 * 1024
    heartbeat_s: float = 5  # how often the ingester reports itself for /healthz
    # /healthz: an ingester silent this long is dead; one this far behind is not keeping up.
    health_stale_s: float = 30
    health_max_lag_s: float = 60
    # Whether /healthz fails (503) on the ingest check; reported either way.
    health_required: bool = True

    @property
    def topic_root(self) -> str:
        return MqttSettings().topic_root

    @property
    def max_packet_bytes(self) -> int:
        """What the private broker accepts: the payload limit plus room for topic and headers."""
        return self.max_payload_bytes + 4096


class DeliverySettings(BaseSettings):
    """The delivery worker (env prefix RISKMAP_DELIVERY_)."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_DELIVERY_", extra="ignore")
    poll_s: float = 2.0  # also woken by NOTIFY on every insert
    batch: int = 200
    lease_s: float = 60.0  # a crashed worker's claim is free again after this
    backoff_base_s: float = 2.0
    backoff_cap_s: float = 600.0
    max_attempts: int = 15
    webhook_timeout_s: float = 5.0
    mqtt_timeout_s: float = 10.0


class WebhookSettings(BaseSettings):
    """Which webhook targets are allowed (env prefix RISKMAP_WEBHOOK_)."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_WEBHOOK_", extra="ignore")
    allow_private: bool = False  # loopback, link-local, private, ... allowed (tests, closed networks)
    allow_cidrs: str = ""  # comma-separated networks allowed although not public, e.g. "10.20.0.0/16"

    def networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [ipaddress.ip_network(c.strip(), strict=False) for c in self.allow_cidrs.split(",") if c.strip()]


class TokenSettings(BaseSettings):
    """Env prefix RISKMAP_TOKEN_."""

    model_config = SettingsConfigDict(env_prefix="RISKMAP_TOKEN_", extra="ignore")
    days: int = 90  # lifetime of a new token unless `--days` says otherwise


class AccountSettings(BaseSettings):
    """Sign-in, sessions, lockout and the password policy (env prefix RISKMAP_, e.g.
    RISKMAP_SESSION_IDLE_MIN, RISKMAP_LOCKOUT_THRESHOLD)."""

    model_config = _CONFIG
    session_idle_min: float = 30  # a session unused this long ends
    session_max_h: float = 12  # and every session ends this long after sign-in
    # Secure cookies even over plain HTTP (behind a TLS-terminating proxy); https requests always get them.
    session_cookie_secure: bool = False
    lockout_threshold: int = 5  # this many failed sign-ins within the window lock the account
    lockout_window_min: float = 15
    lockout_min: float = 15  # for this long
    password_min_length: int = 10
    password_min_classes: int = 3  # of lower case, upper case, digits, others


class FileStorageSettings(BaseSettings):
    """Where hidden-hazard photos and documents are kept (backend/hazards/files.py): `local` under the
    data folder, or `s3` in an S3-compatible object store (RISKMAP_FILES_BACKEND, RISKMAP_S3_*).
    Checked when the app starts: `s3` without a bucket, or with half a key pair, stops it."""

    model_config = _CONFIG
    files_backend: Literal["local", "s3"] = "local"
    s3_endpoint_url: str | None = None  # e.g. https://oss.example.gov.cn; unset for AWS itself
    s3_bucket: str = ""
    s3_prefix: str = "hazard-files"  # keys are <prefix>/<first 2 hex>/<sha256>
    s3_region: str = "us-east-1"
    # Both or neither; neither means boto3's usual chain (AWS_* variables, ~/.aws, an instance role).
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    # path: https://host/bucket/key (what most on-premises stores expect); virtual: https://bucket.host/key.
    s3_addressing_style: Literal["path", "virtual"] = "path"
    s3_connect_timeout_s: float = Field(5.0, gt=0)
    s3_read_timeout_s: float = Field(30.0, gt=0)
    s3_max_attempts: int = Field(3, ge=1, le=10)  # botocore's standard retry mode, first try included

    @model_validator(mode="after")
    def _complete(self) -> Self:
        if self.files_backend != "s3":
            return self
        problems = []
        if not self.s3_bucket.strip():
            problems.append("RISKMAP_S3_BUCKET is not set")
        if self.s3_endpoint_url and not self.s3_endpoint_url.startswith(("http://", "https://")):
            problems.append(f"RISKMAP_S3_ENDPOINT_URL is not an http(s) URL: {self.s3_endpoint_url!r}")
        if (self.s3_access_key_id is None) != (self.s3_secret_access_key is None):
            problems.append("set both RISKMAP_S3_ACCESS_KEY_ID and RISKMAP_S3_SECRET_ACCESS_KEY, or neither")
        if problems:
            raise ValueError("RISKMAP_FILES_BACKEND=s3 but the object store is not configured: " + "; ".join(problems))
        return self

    @property
    def s3_key_prefix(self) -> str:
        """The prefix without surrounding slashes ('' for the bucket's root)."""
        return self.s3_prefix.strip("/")


class RiskSettings(BaseSettings):
    model_config = _CONFIG
    regrade_interval_s: float = 60.0


@lru_cache
def paths() -> PathSettings:
    return PathSettings()


@lru_cache
def api_settings() -> ApiSettings:
    return ApiSettings()


def embedded_services() -> dict[str, str]:
    """URLs of the private services that `riskmap up` started, or {} when there are none."""
    f = paths().services_file
    return json.loads(f.read_text()) if f.exists() else {}


class ServiceNotConfigured(RuntimeError):
    pass


def database_url() -> str:
    url = DatabaseSettings().database_url or embedded_services().get("database_url")
    if not url:
        raise ServiceNotConfigured("no database: set RISKMAP_DATABASE_URL or start the private one with `riskmap up`")
    return url


def mqtt_url() -> str:
    url = MqttSettings().mqtt_url or embedded_services().get("mqtt_url")
    if not url:
        raise ServiceNotConfigured("no MQTT broker: set RISKMAP_MQTT_URL or start the private one with `riskmap up`")
    return url
