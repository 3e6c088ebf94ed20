"""dataset-svc settings: env prefix AUTOML_DATASET_, falling back to AUTOML_."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from automl_common.settings import ServiceSettings


class DatasetSettings(ServiceSettings):
    service_name: ClassVar[str] = "dataset-svc"
    default_port: ClassVar[int] = 8081
    model_config = SettingsConfigDict(env_prefix="AUTOML_DATASET_", extra="ignore")

    max_upload_bytes: int = Field(default=2 * 1024**3, ge=1024, description="largest accepted upload")
    max_storage_bytes_per_org: int = Field(
        default=50 * 1024**3, ge=1024, description="bytes one org may keep (uploads and fetched images)"
    )
    max_rows: int = Field(default=10_000_000, ge=1, description="most rows in one dataset")
    max_exports_per_org: int = Field(
        default=4, ge=1, le=1000, description="exports one org may be reading at once (per replica)"
    )
    max_columns: int = Field(default=500, ge=1)
    max_field_chars: int = Field(default=100_000, ge=1, description="longest value in one cell")
    max_invalid_row_fraction: float = Field(
        default=0.5, ge=0, le=1, description="an upload with a larger share of invalid rows fails"
    )
    max_rows_per_request: int = Field(default=1000, ge=1, description="rows added by one POST .../rows")
    insert_batch_rows: int = Field(default=5000, ge=1)

    image_max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    image_max_pixels: int = Field(default=50_000_000, ge=1)
    image_fetch_timeout_s: float = Field(default=10.0, gt=0)
    image_fetch_concurrency: int = Field(default=16, ge=1, le=256)
    allow_private_image_urls: bool = Field(
        default=False, description="let image URLs reach private and loopback addresses (local demos only)"
    )
    max_boxes_per_image: int = Field(default=1000, ge=1, description="most labelled boxes in one image's cell")
    annotations_max_bytes: int = Field(
        default=512 * 1024**2, ge=1024, description="largest COCO annotation file in a detection zip"
    )
    zip_max_members: int = Field(default=200_000, ge=1)
    zip_max_uncompressed_bytes: int = Field(default=20 * 1024**3, ge=1)
    zip_max_ratio: float = Field(
        default=200.0, ge=1, description="largest uncompressed:compressed size of one zip member (zip bombs)"
    )
    max_line_chars: int = Field(default=4 * 1024 * 1024, ge=1024, description="longest physical line of a file")
    thumbnail_size: int = Field(default=256, ge=16, le=1024)
