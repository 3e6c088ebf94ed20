"""trainer-svc settings: env prefix AUTOML_TRAINER_, falling back to AUTOML_."""

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class TrainerSettings(ServiceSettings):
    service_name: ClassVar[str] = "trainer-svc"
    default_port: ClassVar[int] = 8083
    model_config = SettingsConfigDict(env_prefix="AUTOML_TRAINER_", extra="ignore")
