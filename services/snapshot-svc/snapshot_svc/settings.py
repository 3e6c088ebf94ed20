"""snapshot-svc settings: env prefix AUTOML_SNAPSHOT_, falling back to AUTOML_."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class SnapshotSettings(ServiceSettings):
    service_name: ClassVar[str] = "snapshot-svc"
    default_port: ClassVar[int] = 8082
    model_config = SettingsConfigDict(env_prefix="AUTOML_SNAPSHOT_", extra="ignore")

    dataset_url: str = Field(default="http://127.0.0.1:8081", description="where dataset-svc is")
    max_building_snapshots_per_org: int = Field(
        default=4, ge=1, le=1000, description="snapshots one org may have being built at once"
    )
    max_text_chars: int = Field(default=20_000, ge=1, description="longer input texts are invalid rows")
    min_class_examples: int = Field(default=10, ge=1, description="a class with fewer examples is left out")
    build_batch_rows: int = Field(default=20_000, ge=100)
    export_attempts: int = Field(default=3, ge=1, description="reads of a dataset that keeps changing")
