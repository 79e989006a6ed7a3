"""One settings object: environment variables prefixed `CDS_`, then an optional TOML file.

Precedence (highest first): explicit keyword arguments (CLI flags), `CDS_*` environment
variables, the TOML file named by `CDS_CONFIG_FILE` / `--config`, then the defaults below.
The defaults are the safe ones: authentication on, only configured FHIR servers called.
`--dev` flips to the local-demo mode.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pydantic import Field, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CDS_", extra="ignore", toml_file=None)

    # --- serving
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    workers: int = Field(1, ge=1)
    dev: bool = Field(False, description="Local demo mode: no client auth, open CORS, any fhirServer")
    public_base_url: str | None = Field(
        None, description="Public base URL (behind a proxy) used for JWT `aud` and card links"
    )
    log_level: str = "INFO"

    # --- operations: metrics, tracing, graceful restarts
    metrics_port: int | None = Field(
        None, ge=1, le=65535, description="Serve Prometheus /metrics on this port too, without auth (e.g. 9100)"
    )
    metrics_host: str = Field("127.0.0.1", description="Address the metrics port listens on (0.0.0.0 in a pod)")
    tracing: bool = Field(
        False,
        description="OpenTelemetry tracing; also on when OTEL_TRACES_EXPORTER or OTEL_EXPORTER_OTLP_*ENDPOINT is set",
    )
    drain_delay_seconds: float = Field(
        2.0, ge=0, description="After SIGTERM, /health/ready answers 503 this long before the listener closes"
    )
    drain_timeout_seconds: float = Field(
        20.0, gt=0, description="After the listener closes, how long in-flight calls may take before they are cancelled"
    )
    audit_flush_timeout_seconds: float = Field(
        10.0, gt=0, description="At shutdown, how long the audit queue may take to reach the database (or the spool)"
    )

    # --- trust
    clients_file: Path | None = Field(None, description="TOML file of trusted CDS clients")
    auth_discovery: bool = Field(True, description="Require a client JWT on GET /cds-services too")
    jwt_algorithms: list[str] = Field(default_factory=lambda: ["ES384", "RS384"])
    jwt_clock_skew_seconds: int = 30
    jwt_max_lifetime_seconds: int = 3600
    jwks_cache_seconds: int = 3600
    jwks_min_refresh_seconds: int = 60
    admin_token: str | None = Field(None, description="Bearer token for /analytics (besides client JWTs)")
    cors_origins: list[str] = Field(default_factory=list, description="Allowed browser origins (dev: any)")
    topic_code_style: Literal["hyphenated", "epic"] = Field(
        "hyphenated", description="Default card topic code form; clients may override"
    )

    # --- FHIR fetching and limits
    fhir_timeout_seconds: float = 3.0
    fhir_max_pages: int = 5
    fhir_max_resources: int = 5000
    allow_http_fhir_loopback: bool = Field(True, description="Allow http:// FHIR servers on loopback only")
    max_body_bytes: int = 5 * 1024 * 1024
    max_json_depth: int = 64
    fhir_deadline_seconds: float = Field(
        3.0, gt=0, description="All FHIR work of one hook call together; then answer with what is there"
    )
    fhir_max_response_bytes: int = Field(
        16 * 1024 * 1024, gt=0, description="Cap on one FHIR response, on the wire and decompressed"
    )

    # --- load shedding
    max_concurrent_hook_calls: int = Field(
        32, ge=1, description="Hook calls in progress per process; more are answered 503 with Retry-After"
    )
    max_queue_delay_ms: int = Field(
        250, ge=1, description="Event-loop delay beyond which new hook calls are answered 503 with Retry-After"
    )
    max_request_wait_ms: int = Field(
        2000,
        ge=1,
        description="A CDS call that waited this long between its headers and the app is answered 503 at once",
    )
    loop_turn_budget_ms: float = Field(
        10,
        gt=0,
        description="CPU steps of typical hook calls (parse, facts, rules) run per event-loop turn at most; "
        "the rest wait for the next turn, after the loop has read its sockets (refusals, accepts)",
    )
    call_deadline_seconds: float = Field(
        10.0,
        gt=0,
        description="A CDS call not answered this long after its headers arrived (body, queue and work "
        "together) is answered 503 with Retry-After and counted in cds_call_deadline_exceeded_total",
    )
    max_concurrent_large_calls: int = Field(
        1,
        ge=1,
        description="Hook calls of 1 MiB or more in progress per process (they queue for the large-request "
        "processes); more are answered 503 with Retry-After before their body is read",
    )
    large_request_processes: int = Field(
        1, ge=0, description="Processes for requests of 1 MiB or more (0: a thread of their own instead)"
    )

    # --- connections (`cds-service serve`; the shipped proxy configurations apply the same limits)
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="Request line and headers together; 431 as soon as a request passes it"
    )
    max_header_count: int = Field(100, ge=8, description="Request headers per request; 431 beyond")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="A request's headers must arrive within this time of its first byte (else 408)"
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="A request's body must arrive within this time of its headers (else 408)"
    )
    keep_alive_seconds: float = Field(5.0, gt=0, description="An idle keep-alive connection is closed after this")

    # --- storage
    database_url: str = Field("sqlite:///./cds_service.db", description="SQLAlchemy URL (SQLite or PostgreSQL)")
    patient_hash_secret: str = Field("change-me", description="HMAC key for the patient pseudonym in the audit trail")
    audit_retention_days: int = 365
    storage_enabled: bool = True
    db_statement_timeout_ms: int = Field(
        2000, ge=100, description="PostgreSQL statement/lock timeout and SQLite busy timeout on the request path"
    )
    db_call_timeout_seconds: float = Field(
        2.5, gt=0, description="Overall time a request waits for one database call (thread offloaded)"
    )
    suppression_refresh_seconds: float = Field(
        2.0,
        gt=0,
        le=300,
        description="How often each instance reads the overrides other instances stored (they hold cards "
        "there within this time; the instance that took the feedback holds them at once)",
    )
    sqlite_journal_mode: Literal["delete", "wal"] = Field(
        "delete", description="`wal` maps the -shm file into memory: faster, but SIGBUS if it becomes unwritable"
    )
    audit_spool_dir: Path | None = Field(
        None,
        description="Audit rows wait here while the database is down, a 0700 folder of the service's user "
        "(default: <tmp>/cds-audit-spool-<uid>)",
    )
    audit_spool_secret: str | None = Field(
        None,
        description="HMAC key of spooled audit lines (a file is adopted only if they verify); "
        "default: derived from patient_hash_secret",
    )
    audit_spool_ephemeral: bool = Field(
        False,
        description="The spool folder ends with the instance (a Kubernetes emptyDir): /health says that "
        "rows spooled during a database outage are lost if the instance is removed first",
    )
    audit_spool_max_bytes: int = Field(
        64 * 1024 * 1024, ge=0, description="Bound of the audit spool on disk (0: no spool, rows are lost)"
    )
    audit_writer: Literal["process", "thread"] = Field(
        "process",
        description="Where the audit writer runs: a process of its own (takes no CPU from the calls) or a thread",
    )
    analytics_max_days: int = Field(366, ge=1, description="Longest period /analytics answers (400 beyond)")

    # --- JWT replay store
    replay_store: Literal["auto", "memory", "database", "redis"] = Field(
        "auto", description="Where seen `jti`s live; auto = the audit database when storage is on, else memory"
    )
    replay_outage: Literal["reject", "memory"] = Field(
        "reject", description="When the replay store fails: 401 (fail closed) or this process's memory"
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis for CDS_REPLAY_STORE=redis")

    # --- rules (site configuration; see cds_service/ruleset.py and `cds-service rules`)
    rules: dict[str, Any] = Field(
        default_factory=dict,
        description="[rules] table: thresholds by name, override_suppression_days, and per-rule tables "
        "with `enabled` and `hooks`",
    )

    # --- the SMART app at /app/ (protocol/smart_app.py; README "The SMART app")
    smart_app_links: bool = Field(
        True, description="Cards about dosing, labs and combinations carry a `smart` link to the app at /app/"
    )
    smart_app_origins: list[str] = Field(
        default_factory=list,
        description="FHIR and authorization server URLs the app may connect to (its Content-Security-Policy), "
        "besides the clients file's FHIR servers",
    )
    smart_app_client_id: str = Field(
        "cds-service-smart-app", min_length=1, description="The client id the EHRs registered the app under"
    )
    smart_app_client_ids: dict[str, str] = Field(
        default_factory=dict, description="Client id per FHIR server base URL, where an EHR assigned its own"
    )

    @field_validator("log_level")
    @classmethod
    def _known_log_level(cls, value: str) -> str:
        if not isinstance(logging.getLevelName(value.upper()), int):
            raise ValueError("not a log level (DEBUG, INFO, WARNING, ERROR or CRITICAL)")
        return value.upper()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file_override or os.environ.get("CDS_CONFIG_FILE")
        if config_file:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(config_file)))
        return tuple(sources)


_config_file_override: str | None = None


def load_settings(config_file: str | Path | None = None, **overrides: Any) -> Settings:
    """Build settings; `config_file` (the `--config` flag) names a TOML file of the same keys."""
    global _config_file_override
    clean = {k: v for k, v in overrides.items() if v is not None}
    _config_file_override = str(config_file) if config_file is not None else None
    try:
        return Settings(**clean)
    finally:
        _config_file_override = None


# Settings whose values are never printed or logged: `check-config` masks them, start-up errors say
# "(value hidden)". Matched by name too, so a later `*_token` or `*_secret` setting is covered.
SECRET_SETTINGS = frozenset({"database_url", "patient_hash_secret", "admin_token", "redis_url"})
_SECRET_WORDS = ("secret", "token", "password")


def is_secret_setting(name: str) -> bool:
    return name in SECRET_SETTINGS or any(word in name for word in _SECRET_WORDS)


def mask_url_password(url: str) -> str:
    """The URL with its password (in the user info or a `password` query parameter) as `***`."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "***"
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    in_query = any(key.lower() == "password" for key, _ in pairs)
    if password is None and not in_query:
        return url  # untouched (urlunsplit would also rewrite `sqlite:///x` as `sqlite:/x`)
    netloc, query = parts.netloc, parts.query
    if password is not None:
        userinfo, _, hostport = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
    if in_query:
        query = urlencode([(k, "***" if k.lower() == "password" else v) for k, v in pairs], safe="*/:")
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def masked_setting(name: str, value: Any) -> Any:
    """A setting's value fit for printing: URLs keep all but their password, other secrets are `***`."""
    if value is None or not is_secret_setting(name):
        return value
    if name.endswith("_url"):
        return mask_url_password(str(value))
    return "***"
