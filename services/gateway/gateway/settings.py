"""Gateway settings: env prefix AUTOML_GATEWAY_, falling back to AUTOML_."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from automl_common.settings import MIN_SECRET_LENGTH, ServiceSettings, read_or_create_secret
from gateway.clients import Networks, networks


class GatewaySettings(ServiceSettings):
    service_name: ClassVar[str] = "gateway"
    default_port: ClassVar[int] = 8080
    model_config = SettingsConfigDict(env_prefix="AUTOML_GATEWAY_", extra="ignore")

    operator_key: SecretStr | None = Field(
        default=None, description="the platform operator's key (creates orgs); generated in local mode"
    )
    key_cache_ttl_s: float = Field(
        default=2.0, ge=0, le=60, description="how long a looked-up key is trusted before re-reading it"
    )
    rate_limit_per_s: float = Field(default=200.0, gt=0, description="sustained requests per second per key")
    rate_limit_burst: int = Field(default=400, ge=1, description="requests a key may send at once")
    org_rate_limit_per_s: float = Field(
        default=1000.0, gt=0, description="sustained requests per second per org, all its keys together"
    )
    org_rate_limit_burst: int = Field(default=2000, ge=1, description="requests an org may send at once")
    auth_failures_per_s: float = Field(
        default=1.0, gt=0, description="wrong secrets for one key lookup from one client address per second"
    )
    auth_failure_burst: int = Field(
        default=20, ge=1, description="wrong secrets for one key lookup one client address may present at once"
    )
    auth_address_failures_per_s: float = Field(
        default=10.0, gt=0, description="invalid keys of any lookup one client address may present per second"
    )
    auth_address_failure_burst: int = Field(
        default=200, ge=1, description="invalid keys of any lookup one client address may present at once"
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="addresses or CIDR blocks of proxies whose X-Forwarded-For names the client (the Ingress)",
    )
    max_keys_per_org: int = Field(default=200, ge=1, le=100_000, description="active API keys of one org")
    idempotency_ttl_s: float = Field(default=86_400.0, ge=60, description="how long a create's answer is replayed")
    idempotency_stale_after_s: float = Field(
        default=60.0, ge=5, description="an unfinished create unrefreshed this long is taken over by its retry"
    )
    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024, description="dataset upload size limit")

    playground_quota: int = Field(default=500, ge=0, le=10_000_000, description="free playground queries per model")
    usage_flush_interval_s: float = Field(default=5.0, gt=0, le=3600, description="how often usage is written")

    dataset_url: str = "http://127.0.0.1:8081"
    snapshot_url: str = "http://127.0.0.1:8082"
    trainer_url: str = "http://127.0.0.1:8083"
    inference_url: str = "http://127.0.0.1:8084"
    extra_routes: dict[str, str] = Field(
        default_factory=dict, description="more path prefixes to proxy, e.g. {'/v1/echo': 'http://...'}"
    )
    console_secret: SecretStr | None = Field(
        default=None, description="encrypts the console's session cookies; generated in local mode"
    )
    console_session_ttl_s: float = Field(default=8 * 3600, ge=60, le=30 * 86400, description="a console sign-in lasts")
    console_secure_cookies: bool | None = Field(
        default=None, description="Secure flag on the console's cookie (HTTPS only); default: on outside local mode"
    )
    openapi_cache_ttl_s: float = Field(
        default=60.0, ge=0, le=86_400, description="how long the merged public API document is kept before re-reading"
    )
    upstream_connect_timeout_s: float = Field(default=5.0, gt=0)
    upstream_timeout_s: float = Field(default=60.0, gt=0, description="read/write timeout to a service")
    upstream_max_connections: int = Field(default=200, ge=1)

    @model_validator(mode="after")
    def _check_operator_key(self) -> GatewaySettings:
        if self.mode == "cluster":
            key = self.operator_key.get_secret_value() if self.operator_key else ""
            if len(key) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"operator_key must be set to at least {MIN_SECRET_LENGTH} characters outside local mode"
                )
            secret = self.console_secret.get_secret_value() if self.console_secret else ""
            if len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"console_secret must be set to at least {MIN_SECRET_LENGTH} characters outside local mode"
                )
        return self

    @model_validator(mode="after")
    def _check_trusted_proxies(self) -> GatewaySettings:
        try:
            networks(self.trusted_proxies)
        except ValueError as error:
            raise ValueError(f"trusted_proxies: {error}") from error
        return self

    @property
    def trusted_networks(self) -> Networks:
        return networks(self.trusted_proxies)

    def resolved_console_secret(self) -> str:
        if self.console_secret is not None:
            return self.console_secret.get_secret_value()
        return read_or_create_secret(self.data_dir / "console.secret")

    def resolved_operator_key(self) -> str:
        if self.operator_key is not None:
            return self.operator_key.get_secret_value()
        return read_or_create_secret(self.data_dir / "operator.key")

    def routes(self) -> dict[str, tuple[str, str]]:
        """Path prefix -> (service name, base URL) of the service that owns it."""
        table = {
            "/v1/datasets": ("dataset-svc", self.dataset_url),
            "/v1/snapshots": ("snapshot-svc", self.snapshot_url),
            "/v1/base-models": ("trainer-svc", self.trainer_url),
            "/v1/models": ("trainer-svc", self.trainer_url),
            "/v1/deployments": ("inference-svc", self.inference_url),
            "/v1/tasks": ("inference-svc", self.inference_url),
            "/v1/batch-predictions": ("inference-svc", self.inference_url),
        }
        for prefix, url in self.extra_routes.items():
            table[prefix.rstrip("/")] = (prefix.strip("/").replace("/", "-"), url)
        return table
