"""dataset-svc settings: env prefix AUTOML_DATASET_, falling back to AUTOML_."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class DatasetSettings(ServiceSettings):
    service_name: ClassVar[str] = "dataset-svc"
    default_port: ClassVar[int] = 8081
    model_config = SettingsConfigDict(env_prefix="AUTOML_DATASET_", extra="ignore")
