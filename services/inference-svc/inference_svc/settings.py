"""inference-svc settings: env prefix AUTOML_INFERENCE_, falling back to AUTOML_."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class InferenceSettings(ServiceSettings):
    service_name: ClassVar[str] = "inference-svc"
    default_port: ClassVar[int] = 8084
    model_config = SettingsConfigDict(env_prefix="AUTOML_INFERENCE_", extra="ignore")
