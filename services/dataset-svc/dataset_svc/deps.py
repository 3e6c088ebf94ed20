"""dataset-svc's own dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from dataset_svc.datasets.ingest import Ingestor
from dataset_svc.settings import DatasetSettings


def _ingestor(request: Request) -> Ingestor:
    ingestor: Ingestor = request.app.state.ingestor
    return ingestor


def _settings(request: Request) -> DatasetSettings:
    settings: DatasetSettings = request.app.state.settings
    return settings


IngestorDep = Annotated[Ingestor, Depends(_ingestor)]
DatasetSettingsDep = Annotated[DatasetSettings, Depends(_settings)]
