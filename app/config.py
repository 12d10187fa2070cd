"""Typed configuration from the environment and `.env`.

`load_settings()` is the only reader of the environment. It validates every value at start and
raises `ConfigError` with one line per missing or malformed variable, so an operator sees all
problems at once instead of a traceback from deep inside the app.
"""

from __future__ import annotations

import ipaddress
import json
import re
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCAL_ISSUER = "pizarra-local-auth"
DEV_SECRET_PREFIX = "dev-"  # noqa: S105 - a marker, not a secret


class ConfigError(Exception):
    """The configuration cannot be used; `problems` holds one line per variable."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("Invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        env_ignore_empty=True,  # `SECRET_KEY=` in .env means "unset", not "empty secret"
    )

    # The seed's section 10.
    flask_env: Literal["development", "production", "testing"] = "development"
    secret_key: str | None = None
    supabase_url: str | None = None
    supabase_key: str | None = None
    supabase_service_key: str | None = None
    redis_url: str | None = None
    openai_api_key: str | None = None
    cors_origins: Annotated[list[str], NoDecode] = ["http://localhost:5173"]
    max_connections_per_ip: int = Field(default=5, ge=1, le=10_000)
    rate_limit_questions: int = Field(default=10, ge=1, le=100_000)
    rate_limit_window: int = Field(default=60, ge=1, le=86_400)

    # ARCHITECTURE.md section 3.
    database_url: str | None = None
    supabase_jwt_secret: str | None = None
    supabase_jwks_url: str | None = None
    openai_base_url: str | None = None
    openai_model: str = "gpt-4.1-mini"
    # The current transcription model; gpt-4o-mini-transcribe (until its shutdown) and
    # whisper-1 also report how sure they are, so clear speech skips the confirmation.
    openai_transcribe_model: str = "gpt-transcribe"
    openai_max_tokens: int = Field(default=2000, ge=200, le=16_000)  # per answer (the seed's)
    openai_timeout: float = Field(default=30.0, gt=0, le=600)  # per attempt, between bytes
    openai_max_retries: int = Field(default=2, ge=0, le=10)  # timeouts, 429 and 5xx
    openai_moderation: bool = True  # questions checked by the moderation endpoint first
    # A generator's lock outlives a dead generator by this much (it is renewed while it works).
    ai_lock_lease_seconds: float = Field(default=30.0, ge=1, le=600)
    # USD per million tokens, for the cost `answers generate` reports (the model's list price).
    openai_price_input: float = Field(default=0.40, ge=0, le=1_000)
    openai_price_output: float = Field(default=1.60, ge=0, le=1_000)
    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=1, le=65_535)
    async_mode: Literal["gevent", "eventlet", "threading"] = "gevent"

    # Token verification (app/auth).
    supabase_jwt_issuer: str | None = None  # default: ${SUPABASE_URL}/auth/v1
    auth_allow_anonymous: bool = False
    jwks_fetch_timeout: float = Field(default=2.0, gt=0, le=30)
    jwks_refresh_throttle_seconds: float = Field(default=30.0, ge=0, le=3600)
    # How long "this login session still exists" is trusted before asking auth.sessions again.
    auth_session_cache_seconds: int = Field(default=60, ge=1, le=60)

    # Socket.IO.
    trusted_proxies: Annotated[list[str], NoDecode] = []  # addresses/CIDRs whose XFF is trusted
    socket_ping_interval: int = Field(default=25, ge=1, le=300)
    socket_ping_timeout: int = Field(default=20, ge=1, le=300)
    socket_max_message_bytes: int = Field(default=100_000, ge=1_000, le=10_000_000)
    stream_chunk_interval_ms: int = Field(default=70, ge=5, le=1_000)  # typewriter cadence
    stream_chunk_chars: int = Field(default=12, ge=1, le=200)  # characters per chunk (about)

    # Operations.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"  # json: one object per line, with the ids
    # On SIGTERM: how long lessons being written by the model may take to finish before the
    # process exits (keep it under the orchestrator's own grace period, gunicorn's
    # --graceful-timeout in the container image).
    shutdown_grace_seconds: float = Field(default=15.0, ge=1, le=600)
    local_auth: bool | None = None  # default: on outside production
    auto_migrate: bool = True
    database_pool_min: int = Field(default=1, ge=0, le=100)
    database_pool_max: int = Field(default=10, ge=1, le=200)
    database_pool_timeout: float = Field(default=5.0, gt=0, le=120)
    database_connect_timeout: int = Field(default=5, ge=1, le=120)
    database_statement_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    # None disables server-side prepared statements (Supabase's transaction-mode pooler).
    database_prepare_threshold: int | None = Field(default=5, ge=0)
    redis_socket_timeout: float = Field(default=2.0, gt=0, le=60)
    redis_pool_size: int = Field(default=100, ge=1, le=10_000)
    max_question_length: int = Field(default=1000, ge=10, le=20_000)
    # Voice questions: a recording's size (a minute of 48 kHz stereo WAV is 11 MB; OpenAI takes
    # up to 25 MB), the confidence under which a transcription is confirmed by the student, and
    # the credits a server-side transcription costs (0: metered in credit_usage, not charged).
    voice_max_audio_bytes: int = Field(default=12 * 1024 * 1024, ge=10_000, le=25 * 1024 * 1024)
    # Recordings open at once across the deployment (each holds up to VOICE_MAX_AUDIO_BYTES in
    # Redis for at most 5 minutes); one per student.
    voice_max_open_recordings: int = Field(default=500, ge=1, le=100_000)
    voice_confidence_threshold: float = Field(default=0.9, ge=0, le=1)
    voice_transcription_credits: int = Field(default=0, ge=0, le=100)
    # When an answer is marked for review: this many students lost on one step ("no entendí"),
    # being at least this share of its lessons; or, after this many votes, fewer helpful ones
    # than this share.
    review_step_confusions: int = Field(default=5, ge=1, le=100_000)
    review_step_ratio: float = Field(default=0.25, ge=0, le=1)
    review_min_votes: int = Field(default=10, ge=1, le=100_000)
    review_min_helpful_ratio: float = Field(default=0.5, ge=0, le=1)

    # GET /metrics asks for `Authorization: Bearer <this>` when set (unset: open, for a
    # deployment that keeps /metrics off its public address).
    metrics_token: str | None = Field(default=None, min_length=16)

    # The built student page (web/, `npm run build`), served at `/`.
    web_dist_dir: Path = PROJECT_ROOT / "web" / "dist"

    # Embedded development stack (never used in production).
    data_dir: Path = PROJECT_ROOT / ".data"
    embedded_pg_port: int = Field(default=54329, ge=1024, le=65_535)
    embedded_redis_port: int = Field(default=63799, ge=1024, le=65_535)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for item in value:
                ipaddress.ip_network(str(item), strict=False)  # ValueError names a bad entry
        return value

    @field_validator("database_prepare_threshold", mode="before")
    @classmethod
    def _none_disables(cls, value: object) -> object:
        if isinstance(value, str) and value.strip().lower() in {"", "none", "off", "disabled"}:
            return None
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql:// or postgres://")
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("supabase_url", "openai_base_url", "supabase_jwks_url")
    @classmethod
    def _check_http_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else None

    @model_validator(mode="after")
    def _derive_and_check(self) -> Settings:
        if self.local_auth is None:
            self.local_auth = self.flask_env != "production"
        if self.supabase_jwks_url is None and self.supabase_url:
            self.supabase_jwks_url = f"{self.supabase_url}/auth/v1/.well-known/jwks.json"
        if self.supabase_jwt_issuer is None:
            if self.supabase_url:
                self.supabase_jwt_issuer = f"{self.supabase_url}/auth/v1"
            elif self.local_auth:
                self.supabase_jwt_issuer = LOCAL_ISSUER
        if self.database_pool_min > self.database_pool_max:
            raise ValueError("DATABASE_POOL_MIN must not exceed DATABASE_POOL_MAX")
        return self

    @property
    def is_production(self) -> bool:
        return self.flask_env == "production"

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def uses_embedded_redis(self) -> bool:
        return self.redis_url is None


def production_problems(settings: Settings) -> list[str]:
    """What keeps these settings from running in production: no dev secret, no embedded server."""
    problems = []
    if not settings.secret_key or settings.secret_key.startswith(DEV_SECRET_PREFIX):
        problems.append("SECRET_KEY: required in production (a long random value)")
    elif len(settings.secret_key) < 32:
        problems.append("SECRET_KEY: too short for production (at least 32 characters)")
    if settings.database_url is None:
        problems.append("DATABASE_URL: required in production (no embedded PostgreSQL)")
    if settings.redis_url is None:
        problems.append("REDIS_URL: required in production (no embedded Redis)")
    if settings.local_auth:
        problems.append("LOCAL_AUTH: must be false in production")
    jwt_secret = settings.supabase_jwt_secret
    if jwt_secret and jwt_secret.startswith(DEV_SECRET_PREFIX):
        problems.append("SUPABASE_JWT_SECRET: a development secret cannot be used in production")
    if not jwt_secret and not settings.supabase_jwks_url:
        problems.append(
            "SUPABASE_JWT_SECRET or SUPABASE_URL: one is required to verify Supabase tokens"
        )
    return problems


_SECRET_NAMES = ("KEY", "SECRET", "PASSWORD", "TOKEN")
_URL_CREDENTIALS = re.compile(r"(//)[^/@\s]*@")


def _describe(error: ErrorDetails) -> str:
    name = ".".join(str(part) for part in error["loc"]).upper() or "CONFIGURATION"
    message = error["msg"].removeprefix("Value error, ")
    value = error.get("input")
    if isinstance(value, str) and not any(word in name for word in _SECRET_NAMES):
        shown = _URL_CREDENTIALS.sub(r"\1***@", value)  # never echo a password in a URL
        return f"{name}: {message} (got {shown!r})"
    return f"{name}: {message}"


def _dev_secrets(data_dir: Path) -> dict[str, str]:
    """Secrets generated once per checkout, kept in `.data/`, so tokens survive restarts."""
    path = data_dir / "dev-secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    values = {
        "secret_key": DEV_SECRET_PREFIX + secrets.token_urlsafe(32),
        "supabase_jwt_secret": DEV_SECRET_PREFIX + secrets.token_urlsafe(32),
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(values, indent=2))
    path.chmod(0o600)
    return values


def load_settings(env_file: str | Path | None = ".env", **overrides: object) -> Settings:
    """Read, validate and complete the settings; raise ConfigError listing every problem."""
    try:
        settings = Settings(_env_file=env_file, **overrides)  # type: ignore[arg-type,call-arg]
    except ValidationError as exc:
        raise ConfigError([_describe(err) for err in exc.errors()]) from None

    if settings.is_production:
        problems = production_problems(settings)
        if problems:
            raise ConfigError(problems)
        return settings

    if settings.secret_key is None or settings.supabase_jwt_secret is None:
        generated = _dev_secrets(settings.data_dir)
        settings.secret_key = settings.secret_key or generated["secret_key"]
        if settings.supabase_jwt_secret is None and settings.local_auth:
            settings.supabase_jwt_secret = generated["supabase_jwt_secret"]
    return settings
