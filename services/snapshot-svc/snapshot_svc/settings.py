"""snapshot-svc settings: env prefix AUTOML_SNAPSHOT_, falling back to AUTOML_."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class SnapshotSettings(ServiceSettings):
    service_name: ClassVar[str] = "snapshot-svc"
    default_port: ClassVar[int] = 8082
    model_config = SettingsConfigDict(env_prefix="AUTOML_SNAPSHOT_", extra="ignore")
