"""Settings: one pydantic ``BaseSettings`` per service, each with its own env prefix.

A service reads ``AUTOML_<SERVICE>_<FIELD>`` first and falls back to ``AUTOML_<FIELD>``, so values every
service shares (``AUTOML_DATA_DIR``, ``AUTOML_INTERNAL_TOKEN``, ``AUTOML_S3_ENDPOINT_URL``) are set once.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

GLOBAL_ENV_PREFIX = "AUTOML_"
MIN_SECRET_LENGTH = 32


class ServiceSettings(BaseSettings):
    """Fields every service has. Subclasses set ``service_name`` and ``model_config['env_prefix']``."""

    service_name: ClassVar[str] = "service"
    default_port: ClassVar[int] = 8000

    model_config = SettingsConfigDict(extra="ignore", validate_default=True)

    mode: Literal["local", "cluster"] = "local"
    data_dir: Path = Path(".automl")
    host: str = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535, description="0 means the service's default port")

    database_url: str | None = Field(
        default=None, description="SQLAlchemy async URL; local default: SQLite under the data dir"
    )
    database_pool_size: int = Field(default=10, ge=1, le=200)
    auto_migrate: bool = Field(default=True, description="run Alembic migrations to head at start-up")

    store_backend: Literal["filesystem", "s3"] | None = Field(
        default=None, description="local default: filesystem; cluster default: s3"
    )
    store_root: Path | None = None
    s3_endpoint_url: str | None = None
    s3_bucket: str = "automl"
    s3_region: str = "us-east-1"
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    s3_create_bucket: bool = True
    s3_part_size: int = Field(default=8 * 1024 * 1024, ge=5 * 1024 * 1024)

    internal_token: SecretStr | None = Field(
        default=None, description="shared secret between the gateway and the services"
    )
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    log_level: str = "INFO"
    log_json: bool = True
    configure_logging: bool = Field(default=True, description="install the JSON log handler at start-up")
    readiness_timeout_s: float = Field(default=2.0, gt=0)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared_env = EnvSettingsSource(settings_cls, env_prefix=GLOBAL_ENV_PREFIX)
        return init_settings, env_settings, shared_env, dotenv_settings, file_secret_settings

    @model_validator(mode="after")
    def _check_cluster_secrets(self) -> ServiceSettings:
        if self.mode == "cluster":
            token = self.internal_token.get_secret_value() if self.internal_token else ""
            if len(token) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"internal_token must be set to at least {MIN_SECRET_LENGTH} characters outside local mode"
                )
            if self.database_url is None:
                raise ValueError("database_url must be set outside local mode")
        return self

    @property
    def listen_port(self) -> int:
        return self.port or self.default_port

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"

    @property
    def resolved_store_backend(self) -> Literal["filesystem", "s3"]:
        if self.store_backend:
            return self.store_backend
        return "s3" if self.mode == "cluster" else "filesystem"

    @property
    def resolved_store_root(self) -> Path:
        return (self.store_root or self.data_dir / "objects").resolve()

    def resolved_internal_token(self) -> str:
        """The internal token; in local mode one is generated once under the data dir and shared."""
        if self.internal_token is not None:
            return self.internal_token.get_secret_value()
        return read_or_create_secret(self.data_dir / "internal.token")


def read_or_create_secret(path: Path) -> str:
    """Return the secret stored at ``path``, creating it atomically (first writer wins) if missing."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written to a private temporary file, then hard-linked into place: readers never see a partial
    # secret, and when two processes race, the link fails for the second and both read the first.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(32) + "\n")
    try:
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        temporary.unlink()
    return path.read_text().strip()
